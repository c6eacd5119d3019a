"""Where the model is unsure, for any image: per-pixel entropy of the marginals and label changes.

* *pixel entropy* ``H_i = −Σ_a p_ia log p_ia`` of the marginals ``p (n, c)``, in nats (0: certain,
  ``log c``: all labels equally likely);
* *label changes*: the expected number of pixels whose label differs between two independent samples
  ``x, x'`` of the model, ``E[Σ_i 1{x_i ≠ x'_i}]``.

The label changes of a **joint** distribution depend on its marginals only. ``x`` and ``x'`` are
independent draws, so at every pixel ``P(x_i = a, x'_i = a) = P(x_i = a)·P(x'_i = a) = p_ia²`` however
strongly the pixels of one sample are correlated; by linearity of expectation

    E[Σ_i 1{x_i ≠ x'_i}] = Σ_i (1 − Σ_a p_ia²),

the same number as for the product of the marginals. A model that flips a whole coherent subject
between two samples (cat or lion) and one that flips its pixels independently with the same marginals
change the same number of pixels on average; they differ in *which* pixels change together. So the
marginal formula (:func:`label_changes_from_marginals`) is the figure, and
:func:`label_changes_from_samples` measures it from pairs of joint samples as a check (tested against
each other in ``tests/test_run_output.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def pixel_entropy(marginals: Tensor) -> Tensor:
    """``(n,)`` entropy in nats of each row of ``marginals (n, c)`` (0 log 0 = 0)."""
    p = marginals.detach().double().clamp_min(0)
    p = p / p.sum(-1, keepdim=True)
    return -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(-1)


def label_changes_from_marginals(marginals: Tensor) -> float:
    """``Σ_i (1 − Σ_a p_ia²)``: expected pixels that differ between two independent samples (see module doc)."""
    p = marginals.detach().double()
    return float((1 - (p * p).sum(-1)).sum())


def label_changes_from_samples(samples: Tensor, c: int) -> float:
    """Mean number of differing pixels over all pairs of distinct samples ``(m, n)`` (``m ≥ 2``).

    Equal to averaging the Hamming distance of every one of the ``m(m−1)/2`` pairs, computed from the
    label counts ``k_ia`` per pixel: ``Σ_i (1 − Σ_a k_ia(k_ia − 1) / (m(m − 1)))``. An unbiased estimate of
    :func:`label_changes_from_marginals` of the model's marginals.
    """
    m = samples.shape[0]
    if m < 2:
        raise ValueError(f"label changes need at least 2 samples, got {m}")
    counts = torch.nn.functional.one_hot(samples.detach().cpu().long(), c).sum(0).double()  # (n, c)
    same = (counts * (counts - 1)).sum(-1) / (m * (m - 1))
    return float((1 - same).sum())
