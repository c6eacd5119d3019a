"""Keep freed memory in the process's heap, so that big tensors are not page-faulted in on every allocation.

glibc's ``malloc`` serves a block above its mmap threshold (128 KiB, raised as blocks are freed, to at most
32 MiB) with a fresh ``mmap`` that it unmaps when the block is freed, and it returns the top of its heap to
the system beyond 128 KiB. A flow step allocates tensors of ``m·n·c`` floats (50 MB at 128² × 256 samples × 3
labels); each one was then zeroed by the kernel, page by page, on first touch, every step. PyTorch's CPU
performance guide recommends jemalloc or tcmalloc for this reason; glibc's own ``mallopt`` does the same
without an install: every block from the heap, and the heap never trimmed. Freed memory is reused, so the
peak stays near what it was (a 512² photo's run: 2.00 → 2.63 GB), and the resident size no longer shrinks
after the peak. Measured in the README ("Changes"): with the flow's layout change of the same commit, the flow
2.1–2.8× faster per sample at 64²–256², the finish's sweeps 1.8–4×, the default run 30–36 → 13–18 s.

The entry points call :func:`keep_freed_memory` (``train.py``, ``sample.py``, every benchmark); a program that
imports the models calls it itself, or sets ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``.
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_KEPT = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap threshold to 1 GiB and its trim threshold to the largest ``int``: whether it did (only
    glibc has these settings; elsewhere nothing changes)."""
    global _KEPT
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    kept = mallopt(_M_MMAP_THRESHOLD, 2**30) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    _KEPT = _KEPT or kept
    return kept


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has taken effect in this process (benchmark provenance)."""
    return _KEPT
