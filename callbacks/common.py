"""Helpers the callbacks share: argument checks, label info, fixed noise, the model's marginals, exact references."""

from __future__ import annotations

import inspect
import weakref

import torch
from torch import Tensor

from energies.exact import MAX_STATES, ExactResult, exact_inference, is_enumerable
from energies.log_partition import LogPartition
from energies.transfer_matrix import transfer_matrix_inference
from metrics.kl_lower import DonskerVaradhan
from models.flow.randomized_flow import NODE_SAMPLES


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


def input_image(datamodule, grid: tuple[int, int] | None) -> Tensor | None:
    """The ``(H, W, 3)`` image the data term came from (the DataModule's ``image``), shown beside the maps; ``None``
    without a grid, without an image (an Ising energy) or when it is not of the grid's size."""
    image = getattr(datamodule, "image", None) if grid is not None else None
    if image is None or tuple(image.shape) != (*grid, 3):
        return None
    return image


def affordable(m: int, n: int, least: int = 16) -> int:
    """``m`` samples, or fewer on a large grid: at most ``NODE_SAMPLES // n``, and never fewer than ``least``."""
    return min(int(m), max(least, NODE_SAMPLES // n))


def drawn_once(model, key: tuple, draw):
    """``draw()``, or what it returned before for ``key`` while ``model`` is unchanged (same step, same parameters, same
    finish cap). The end of a run asks for the same draws several times (the metrics, the pictures and the summary each
    draw their samples and marginals with the same fixed noise), and on a large image each costs the automatic finish's
    rounds (512²: 32 samples × 32 rounds ≈ 150 s on 2 cores)."""
    known = drawn(model)
    if key not in known:
        known[key] = draw()
    return known[key]


def drawn(model) -> dict:
    """What :func:`drawn_once` holds for ``model`` in its present state, by key (emptied when the state changes)."""
    trainer = getattr(model, "_trainer", None)
    state = (trainer.global_step if trainer is not None else None, model.__dict__.get("finish_cap_now"),
             tuple(p._version for p in model.parameters()))  # every draw runs in eval mode (callbacks.evaluation.evaluating)
    known_state, known = model.__dict__.get("_drawn", (None, {}))
    if known_state != state:
        known = {}
        model.__dict__["_drawn"] = (state, known)
    return known


def model_marginals(model, m: int, generator: torch.Generator | None = None) -> Tensor:
    """``model.marginals`` with ``m`` samples (at most :func:`affordable`; and ``generator``) where its signature takes them."""
    params = inspect.signature(model.marginals).parameters
    kwargs = {}
    if "m" in params:
        kwargs["m"] = affordable(m, model.n)
    if "generator" in params:
        kwargs["generator"] = generator
    return model.marginals(**kwargs)


# exact results per energy (held while the energy lives): the metrics at fit start and the summary at the end
# ask for the same one, and it can be slow (a 5×6 image with 3 labels: 40 s of enumeration)
_EXACT: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _once(energy, key, compute):
    known = _EXACT.setdefault(energy, {})
    if key not in known:
        known[key] = compute()
    return known[key]


def try_exact(energy, max_states: int = MAX_STATES) -> ExactResult | None:
    """Exact inference when the energy is enumerable (:func:`energies.exact.check_enumerable`) or solved by the
    column transfer matrix (an open grid of a few rows, :mod:`energies.transfer_matrix`), else ``None``;
    computed once per energy."""

    def compute() -> ExactResult | None:
        if is_enumerable(energy, max_states):
            return exact_inference(energy, max_states=max_states)
        if LogPartition(energy).method == "transfer matrix":
            return transfer_matrix_inference(energy)
        return None

    return _once(energy, max_states, compute)


def try_kl_lower(energy) -> DonskerVaradhan | None:
    """The Donsker–Varadhan lower bound of the energy when its ``log Z`` is exact at other weights, else ``None``;
    built once per energy (it computes a grid of ``log Z``)."""

    def compute() -> DonskerVaradhan | None:
        log_partition = LogPartition(energy)
        return DonskerVaradhan(log_partition) if log_partition.method is not None else None

    return _once(energy, "kl_lower", compute)
