"""The models' C code: each source built on first use into a cache, loaded by ctypes, or ``None`` where it cannot be.

A plain shared library without torch headers (``gcc -O3 -march=native -fopenmp``, about a second), built once per
source, flags and CPU into ``$RAF_CACHE`` (default ``~/.cache/randomized-assignment-flows``). Its users keep their
torch code for where it cannot run (a GPU, no compiler, ``RAF_NATIVE=0`` in the environment): the finish's kernels
(``models/kernels/native/``) and the flow's fused Euler step (``models/flow/fused_step.py``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c11"]


def enabled() -> bool:
    """Whether compiled code may run (``RAF_NATIVE=0`` turns it off)."""
    return os.environ.get("RAF_NATIVE", "1") != "0"


def _machine() -> str:
    """What ``-march=native`` compiles for: the CPU's model and flags (a cache shared by several machines keeps one
    library per CPU)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [line for line in info.splitlines() if line.startswith(("model name", "flags", "Features"))][:2]
    except OSError:
        lines = []
    return platform.machine() + "".join(lines)


def _path(source: Path) -> Path:
    key = hashlib.sha256(source.read_bytes() + " ".join(FLAGS).encode() + _machine().encode()).hexdigest()[:16]
    cache = Path(os.environ.get("RAF_CACHE") or Path.home() / ".cache" / "randomized-assignment-flows")
    return cache / f"{source.stem}-{key}.so"


def _build(source: Path, target: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise OSError("no C compiler (gcc or cc) on the PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:  # built aside, then moved: two processes may build at once
        built = Path(tmp) / target.name
        done = subprocess.run([compiler, *FLAGS, str(source), "-o", str(built), "-lm"], capture_output=True, text=True)
        if done.returncode:
            raise OSError(f"{compiler} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        os.replace(built, target)


def load(source: Path, signatures: dict[str, list]) -> ctypes.CDLL:
    """The library built from ``source`` (built now if the cache lacks it), each function in ``signatures`` given its
    argument types and no result.

    Raises:
        OSError: it cannot be built or loaded here.
    """
    target = _path(source)
    if not target.exists():
        _build(source, target)
    lib = ctypes.CDLL(str(target))
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, None
    return lib


class NativeLibrary:
    """A C source of the models as a callable: the library, built and loaded on the first call, or ``None`` where it
    cannot be (said once, as a warning naming ``what`` could not be built and ``fallback``, what runs instead)."""

    def __init__(self, source: Path, signatures: dict[str, list], what: str, fallback: str) -> None:
        self.source, self.signatures, self.what, self.fallback = source, signatures, what, fallback
        self.loaded: ctypes.CDLL | None | bool = None  # None: not tried yet; False: cannot be built here

    def __call__(self) -> ctypes.CDLL | None:
        if self.loaded is None:
            try:
                self.loaded = load(self.source, self.signatures)
            except OSError as err:
                warnings.warn(f"{self.what} could not be built ({err}); {self.fallback} (set RAF_NATIVE=0 to silence this)",
                              RuntimeWarning, stacklevel=3)
                self.loaded = False
        return self.loaded or None
