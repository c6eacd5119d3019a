"""run/heap.py: the entry points' malloc settings take effect on glibc and are a no-op elsewhere."""

import platform

from benchmarks.output import machine
from run.heap import freed_memory_kept, keep_freed_memory


def test_keep_freed_memory_takes_effect_on_glibc_only():
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc
    assert freed_memory_kept() is on_glibc
    assert machine()["freed_memory_kept"] is on_glibc  # the benchmarks' provenance says so
