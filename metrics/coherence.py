"""Fig. 1 in numbers: how coherently samples label the subject, and which way.

The one place these figures are computed (the callbacks, the run report and the benchmarks call it), and the one
place that decides where they mean something (:func:`fig1_labels`): only for labels like the bundled
default's, a ``background`` and exactly two subject labels.

* subject = pixels whose background marginal is below 0.5;
* *subject coherence* = mean over samples of the fraction of subject pixels that carry the sample's
  majority subject label (a subject label is any label but the background; a subject pixel labelled
  background counts against coherence);
* *cat share* = fraction of samples whose subject is mostly ``cat`` (the first subject label when no
  label is called ``cat``);
* the same coherence for samples drawn pixel by pixel from the same marginals.
"""

from __future__ import annotations

import torch
from torch import Tensor


def fig1_labels(names: list[str] | None, c: int) -> tuple[int, int, int] | None:
    """The labels Fig. 1's figures are about, or ``None`` when the run's labels have no such split.

    The rule: exactly three labels, one of them named ``background`` (case-insensitive) and two others,
    the two subjects (the bundled default: background, cat, lion). Only then do "subject", "coherence"
    and "cat share" mean something; k-means classes (``class0``…), Ising spins and other label sets get
    no Fig. 1 figures. The metrics, the run summary and the run report all go through this rule.

    Returns:
        ``(background, cat, other)`` label indices (``cat``: the label called ``cat``, else the first
        subject label), or ``None``.
    """
    if names is None or c != 3 or len(names) != 3:
        return None
    lowered = [str(n).lower() for n in names]
    if lowered.count("background") != 1:
        return None
    bg, cat = background_index(names), cat_index(names, c)
    return bg, cat, next(a for a in range(c) if a not in (bg, cat))


def background_index(names: list[str] | None) -> int:
    """Index of the label called ``background`` (case-insensitive), else 0."""
    lowered = [n.lower() for n in names or []]
    return lowered.index("background") if "background" in lowered else 0


def cat_index(names: list[str] | None, c: int) -> int:
    """Index of the label called ``cat``, else the first label that is not the background."""
    lowered = [n.lower() for n in names or []]
    if "cat" in lowered:
        return lowered.index("cat")
    bg = background_index(names)
    return next(a for a in range(c) if a != bg)


def pixelwise_samples(marginals: Tensor, m: int, generator: torch.Generator | None = None) -> Tensor:
    """``m`` samples ``(m, n)`` drawn independently per node from ``marginals (n, c)``."""
    probs = marginals.detach().double().clamp_min(0).cpu()
    probs = probs / probs.sum(1, keepdim=True)
    return torch.multinomial(probs, m, replacement=True, generator=generator).T.contiguous()


def subject_mask(marginals: Tensor, background: int) -> Tensor:
    """``(n,)`` bool: nodes whose background marginal is below 0.5."""
    return marginals[:, background].detach().cpu() < 0.5


def subject_coherence(samples: Tensor, mask: Tensor, background: int, c: int) -> tuple[float, Tensor]:
    """Mean fraction of subject pixels carrying each sample's majority subject label.

    Returns:
        ``(coherence, majority)`` with ``majority (m,)`` the majority subject label of every sample.
        An empty subject gives coherence ``nan``.
    """
    sub = samples.detach().cpu().long()[:, mask]
    if sub.shape[1] == 0:
        return float("nan"), torch.full((samples.shape[0],), -1, dtype=torch.long)
    counts = torch.nn.functional.one_hot(sub, c).sum(1)  # (m, c)
    counts[:, background] = -1
    best, majority = counts.max(1)
    return float((best.double() / sub.shape[1]).mean()), majority


def fig1_figures(
    samples: Tensor,
    marginals: Tensor,
    names: list[str] | None = None,
    generator: torch.Generator | None = None,
    pixelwise: Tensor | None = None,
) -> dict:
    """Subject coherence, cat share and pixelwise coherence of joint ``samples (m, n)``.

    Args:
        samples: joint samples of the model.
        marginals: ``(n, c)`` the model's marginals (they define the subject and the pixelwise samples).
        names: label names (to find ``background`` and ``cat``).
        generator: for the pixelwise samples (``m`` of them), unless ``pixelwise`` is given.
        pixelwise: pixelwise-independent samples to score instead of drawing new ones.
    """
    c = marginals.shape[1]
    bg, cat = background_index(names), cat_index(names, c)
    mask = subject_mask(marginals, bg)
    coherence, majority = subject_coherence(samples, mask, bg, c)
    if pixelwise is None:
        pixelwise = pixelwise_samples(marginals, samples.shape[0], generator)
    pw_coherence, _ = subject_coherence(pixelwise, mask, bg, c)
    valid = majority >= 0
    return {
        "subject_coherence": coherence,
        "cat_share": float((majority[valid] == cat).double().mean()) if valid.any() else float("nan"),
        "pixelwise_coherence": pw_coherence,
        "subject_pixels": int(mask.sum()),
        "cat_label": (names[cat] if names else cat),
        "samples": int(samples.shape[0]),
    }
