"""The Markov kernels, by registered name: the only names the command line, ``FlowSettings``, the benchmarks and
the report use for them.

A kernel is one file in this folder with one :class:`~models.kernels.base.Kernel` subclass, and one line in
:data:`KERNELS` (its file and what it does, in a few words for help texts and tables). The registry imports nothing heavy, so settings and the command line can check names without torch;
:func:`kernel_class` imports a kernel's file when it is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import NamedTuple


class Registered(NamedTuple):
    module: str  # the file in this folder that holds the kernel
    does: str  # what it does, in a few words


#: registered name → its file and what it does
KERNELS = {
    "sw": Registered("swendsen_wang", "Swendsen–Wang with the data term: whole regions re-decided with P*'s odds"),
    "line": Registered("line", "line heat bath: every row, then every column, drawn exactly given the rest (open grids)"),
    "hb": Registered("heat_bath", "heat bath: every pixel from its conditional given its neighbours; its law is known"),
}


def kernel_class(name: str):
    """The :class:`~models.kernels.base.Kernel` subclass registered as ``name``.

    Raises:
        ValueError: an unknown name.
    """
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r} (kernels: {', '.join(KERNELS)})")
    from models.kernels.base import Kernel

    module = import_module(f"models.kernels.{KERNELS[name].module}")
    found = [k for k in vars(module).values() if isinstance(k, type) and issubclass(k, Kernel) and getattr(k, "name", None) == name]
    if len(found) != 1:
        raise LookupError(f"models/kernels/{KERNELS[name].module}.py must hold one Kernel subclass named {name!r}")
    return found[0]


def kernel_help() -> str:
    """Every kernel's name and what it does, for help texts: ``"sw (Swendsen–Wang …), line (…), hb (…)"``."""
    return ", ".join(f"{name} ({kernel.does})" for name, kernel in KERNELS.items())


def parse_schedule(schedule: str) -> tuple[str, ...]:
    """Kernel names from ``"sw,line,hb"`` (in the order they run; a name may repeat; ``""`` or ``"none"``: no sweeps).

    Raises:
        ValueError: an unknown name.
    """
    text = str(schedule).strip().lower()
    if text in ("", "none"):
        return ()
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in KERNELS:
            raise ValueError(f"unknown kernel {name!r} in {schedule!r} (kernels: {', '.join(KERNELS)}; e.g. 'sw,line,hb')")
    return names
