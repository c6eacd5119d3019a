"""Where the benchmarks' JSON goes: one place that writes it, with the provenance of every figure in it."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command_line(script: str | Path, argv: list[str] | None = None) -> str:
    """The command a user would retype: ``python benchmarks/<script>.py <args>``.

    Args:
        script: the benchmark's file (``__file__``).
        argv: its arguments as ``main(argv)`` got them; ``None``: the process's own (``sys.argv[1:]``).
    """
    script = Path(script).resolve()
    try:
        shown = script.relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(script)
    args = sys.argv[1:] if argv is None else [str(a) for a in argv]
    return shlex.join(["python", shown, *args])


def git_commit(root: Path = ROOT) -> str | None:
    """``git rev-parse HEAD`` of ``root``, ``-dirty`` appended when tracked files differ from it; ``None`` without git.

    The benchmarks' own outputs (``benchmarks/results``, ``benchmarks/pictures``) do not count: regenerating one
    result after another must not mark the later ones dirty."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        if head.returncode:
            return None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", ":!benchmarks/results", ":!benchmarks/pictures"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return f"{commit}-dirty" if status.returncode or status.stdout.strip() else commit


def machine() -> dict:
    """What the timings in a result depend on: platform, CPUs, torch, its threads, the load, and whether freed memory
    stays in the heap (run/heap.py)."""
    import torch

    from run.heap import freed_memory_kept

    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        load = None
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "load_average_1min": load, "freed_memory_kept": freed_memory_kept()}


def provenance(command: str | None = None) -> dict:
    """The ``provenance`` block: commit, command, UTC date and machine."""
    return {
        "commit": git_commit(),
        "command": command if command is not None else command_line(sys.argv[0]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def write_json(path: Path, result: dict, command: str | None = None) -> None:
    """Write ``result`` and its ``provenance`` as indented JSON to ``path`` (creating its folder) and say so.

    Args:
        path: where the JSON goes.
        result: the benchmark's figures (a ``provenance`` key of its own is replaced).
        command: the command that made it (see :func:`command_line`); ``None``: this process's command line.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {k: v for k, v in result.items() if k != "provenance"}
    path.write_text(json.dumps({"provenance": provenance(command), **body}, indent=2))
    print(f"wrote {path}")
