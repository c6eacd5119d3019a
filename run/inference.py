"""``posterior(unary, image) -> Posterior``: the grid Potts posterior of a segmentation as arrays, for Python callers::

    from run import posterior

    post = posterior(probabilities)  # (H, W, c): your network's softmax output
    post.map, post.entropy, post.marginals, post.samples, post.convergence

The pieces of ``sample.py`` (:mod:`run.sampling`) without its files: :class:`data.ImageDataModule` checks the arrays
as it checks a file's contents, the checkpoint's flow or chains from random labelings draw the samples, and
:func:`callbacks.evaluation.convergence_figures` checks them. Nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from callbacks.common import affordable
from callbacks.evaluation import convergence_figures, evaluating, noise
from energies.sample_stats import sample_marginals
from metrics.uncertainty import pixel_entropy
from run.errors import UsageError
from run.sampling import SampleConfig, load_checkpoint, sampler_for

#: :func:`posterior`'s names of the options that :class:`~run.sampling.SampleConfig` and the DataModule name otherwise
RENAMED = {"unary_kind": "kind", "unary_scale": "scale", "unary_key": "key"}


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value to compare fields by
class Posterior:
    """What :func:`posterior` found, as numpy arrays on the grid ``(H, W)`` of the image sampled.

    Attributes:
        marginals: ``(H, W, c)`` float32: the share of the samples with each label at each pixel (rows sum to 1).
        samples: ``(m, H, W)`` int32: the joint samples, labelings of the whole image.
        entropy: ``(H, W)`` float32: the entropy of ``marginals`` per pixel, in nats (0: certain, ``log c``: undecided).
        map: ``(H, W)`` int32: the most probable label per pixel, the argmax of ``marginals``.
        convergence: the convergence check of the samples (:func:`callbacks.evaluation.convergence_figures`:
            ``converged``, ``drift``, ``threshold``, …), ``None`` where no check applies.
        labels: the label names, one per index of the last axis of ``marginals``.
    """

    marginals: np.ndarray
    samples: np.ndarray
    entropy: np.ndarray
    map: np.ndarray
    convergence: dict | None
    labels: tuple[str, ...]


def posterior(
    unary: np.ndarray | str | Path | None = None,
    image: np.ndarray | str | Path | None = None,
    *,
    kind: str = "probabilities",
    scale: float = 1.0,
    key: str | None = None,
    labels: str | None = None,
    beta: float | None = None,
    contrast: float | None = None,
    contrast_floor: float | None = None,
    checkpoint: str | Path | None = None,
    sampler: str | None = None,
    sweeps: int = 100,
    samples: int = 256,
    seed: int = 0,
    device: str = "cpu",
) -> Posterior:
    """Samples of the grid Potts model of a data term and what they say per pixel, as ``sample.py`` draws them.

    Args:
        unary: your network's per-pixel scores, an ``(H, W, c)`` array or a ``.npy``/``.npz`` file; ``None``: the colour
            model of ``image`` (k-means colours, or the colours ``labels`` gives; the image at its own size, downscaled to
            512 pixels on its longer side when larger), or the checkpoint's own data term.
        image: ``(H, W, 3)`` RGB (uint8 in ``[0, 255]`` or floats in ``[0, 1]``) or an image file; with ``unary``
            optional, of the array's size, and needed by ``contrast``.
        kind, scale, key: what ``unary`` holds (``"probabilities"``, ``"logits"`` or ``"energies"``), the temperature
            its unary is divided by, and its array in a ``.npz`` (see :mod:`data.unary_array`); ``unary`` only.
        labels: the label names (``"road,car,sky"``, optionally ``=#rrggbb`` each; default ``class0, …``), or an
            image's label colours.
        beta, contrast, contrast_floor: the Potts weight (default 2, or the checkpoint's) and edges that follow the
            image (:mod:`data.contrast`; default: β on every edge, or the checkpoint's).
        checkpoint: a ``train.py`` checkpoint whose flow samples (a stationary one on a new data term, as
            ``sample.py CHECKPOINT``).
        sampler: ``"flow"`` (the default with a checkpoint), or chains from uniform random labelings of a kernel
            (``models/kernels/``): ``"line"`` (the default without one: line heat-bath sweeps, which mix along whole rows
            and columns), ``"hb"`` (heat bath), ``"sw"`` (Swendsen–Wang with the data term), or a schedule ``"sw,hb"``.
        sweeps: the chains' sweeps (``sample.py``'s default; :attr:`Posterior.convergence` says whether they were enough).
        samples: samples drawn (≥ 2; at most 2²³ / pixels on large images, as the run summary draws).
        seed: seeds the samples (the caller's random state is left as it was).
        device: ``"cpu"``, ``"cuda"``, …

    Raises:
        ValueError: one line, for bad input (an array or file the DataModule refuses, a bad option); nothing is written.
    """
    try:
        return _posterior(unary, image, kind, scale, key, labels, beta, contrast, contrast_floor, checkpoint, sampler, sweeps,
                          samples, seed, device)
    except UsageError as err:
        raise ValueError(_named(err)) from None


def _posterior(unary, image, kind, scale, key, labels, beta, contrast, contrast_floor, checkpoint, sampler, sweeps, samples, seed,
               device) -> Posterior:
    for name, value in (("unary", unary), ("image", image), ("checkpoint", checkpoint)):
        if value is not None and not isinstance(value, (str, Path) if name == "checkpoint" else (np.ndarray, str, Path)):
            what = "a path" if name == "checkpoint" else "a numpy array or a path"
            raise UsageError(f"{name} must be {what}, got {type(value).__name__}")
    if unary is None and (kind != "probabilities" or scale != 1.0):
        raise UsageError("kind and scale describe unary (your network's scores); without it they do not apply")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise UsageError(f"samples must be an integer ≥ 2, got {samples!r}")
    config = SampleConfig(
        checkpoint=checkpoint, image=image, labels=labels, beta=beta, unary=unary, unary_kind=None if unary is None else kind,
        unary_scale=None if unary is None else scale, unary_key=key, contrast=contrast, contrast_floor=contrast_floor,
        samples=int(samples), sampler=sampler or ("flow" if checkpoint is not None else "line"), sweeps=sweeps, seed=seed, device=device,
    )
    ckpt = load_checkpoint(Path(checkpoint).expanduser()) if checkpoint is not None else None
    datamodule, model = sampler_for(config, ckpt)
    energy, at = model.energy, model.device
    with torch.random.fork_rng(devices=[at.index or 0] if at.type == "cuda" else []), evaluating(model):
        torch.manual_seed(seed)
        x = model.sample(affordable(samples, energy.n), generator=noise(seed, "samples", at)).cpu()  # sample.py's draws
        convergence = convergence_figures(model, x, seed)
    H, W = energy.grid
    marginals = sample_marginals(x, energy.c)
    names = getattr(datamodule, "label_names", None) or [str(a) for a in range(energy.c)]
    return Posterior(
        marginals=marginals.reshape(H, W, energy.c).numpy().astype(np.float32),
        samples=x.reshape(-1, H, W).numpy().astype(np.int32),
        entropy=pixel_entropy(marginals).reshape(H, W).numpy().astype(np.float32),
        map=marginals.argmax(-1).reshape(H, W).numpy().astype(np.int32),
        convergence=convergence,
        labels=tuple(names),
    )


def _named(err: UsageError) -> str:
    """The one line of ``err`` with :func:`posterior`'s names for the options (``kind``, not ``unary_kind``)."""
    text = err.message(lambda field: RENAMED.get(field, field)) if err.owner is None else str(err)
    return " ".join(re.sub(r"\b(" + "|".join(RENAMED) + r")\b", lambda m: RENAMED[m[1]], text).split())
