"""Helpers the callbacks share: argument checks, label info, fixed noise, the model's marginals, exact inference."""

from __future__ import annotations

import inspect
import weakref

import torch
from torch import Tensor

from energies.exact import MAX_STATES, ExactResult, exact_inference, is_enumerable


def check_every(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    return int(value)


def fixed_generator(seed: int, device) -> torch.Generator:
    """A generator on the model's device, reseeded identically every call: the same noise each frame."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))


def label_info(trainer, pl_module) -> tuple[list[str] | None, Tensor | None]:
    """Label names and colours: the DataModule's (``label_names``/``label_colours``), the one source of both;
    ``None`` where it has none (or not one per label)."""
    dm = getattr(trainer, "datamodule", None)
    names = getattr(dm, "label_names", None)
    colours = getattr(dm, "label_colours", None)
    if names is not None and len(names) != pl_module.c:
        names = None
    if colours is not None and len(colours) != pl_module.c:
        colours = None
    return (list(names) if names is not None else None), colours


def model_marginals(model, m: int, generator: torch.Generator | None = None) -> Tensor:
    """``model.marginals`` with ``m`` samples (and ``generator``) where its signature takes them."""
    params = inspect.signature(model.marginals).parameters
    kwargs = {}
    if "m" in params:
        kwargs["m"] = m
    if "generator" in params:
        kwargs["generator"] = generator
    return model.marginals(**kwargs)


# exact results per energy (held while the energy lives): the metrics at fit start and the summary at the end
# ask for the same one, and it can be slow (a 5×6 image with 3 labels: 40 s of enumeration)
_EXACT: "weakref.WeakKeyDictionary[object, dict[int, ExactResult | None]]" = weakref.WeakKeyDictionary()


def try_exact(energy, max_states: int = MAX_STATES) -> ExactResult | None:
    """Exact inference when the energy is enumerable (:func:`energies.exact.check_enumerable`), else ``None``;
    computed once per energy."""
    known = _EXACT.setdefault(energy, {})
    if max_states not in known:
        known[max_states] = exact_inference(energy, max_states=max_states) if is_enumerable(energy, max_states) else None
    return known[max_states]
