"""Learned start point ``S0`` of the flow, optionally with learned Gaussian noise on its logits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.omega_dense import _inverse_softplus


class FlowStart(nn.Module):
    """``log S0 = log_softmax(logits + noise_std ⊙ ε + F η)``, ``ε ~ N(0, I_{nc})``, ``η ~ N(0, I_r)`` per sample.

    The optional low-rank term ``F η`` (``F ∈ R^{nc×r}``) correlates the start noise across nodes, so one
    draw can move a whole region of the graph at once; the flow then sharpens it.

    A uniform ``S0`` is a fixed point of the flow (``ΩS`` then has equal entries per row), so the
    logits start random by default.

    Args:
        n: number of nodes.  c: number of labels.
        init_std: std of the random initial logits (0: uniform start, the paper's fixed point).
        noise_std: initial std of the learned logit noise; 0 disables the noise.
        noise_rank: rank ``r`` of the learned correlated noise (0: none).
        rank_init: initial std of the entries of ``F``.
        generator: seeds the initial logits and ``F`` (the module's only randomness at construction).
        tie_labels: label-permutation-equivariant start: the logits are fixed (set them with
            ``logits.copy_``, e.g. to ``−unary``) and only a per-node scale ``τ`` of them is learned,
            ``log S0 = log_softmax(τ ⊙ logits + noise)``, with one noise std per node shared by its labels.
            Any label swap that the logits are invariant under is then a symmetry of the model's law.
        learn_offset_mean: learn the mean of the tied offset (see :meth:`offset_log_prob`).
        offset: ``"global"``: the tied label offset is one draw per sample for every node; ``"region"``: one draw
            per uncertain region (:meth:`set_regions`), none on certain nodes, so separate regions decide
            independently (needs ``tie_labels`` and ``noise_rank=1``).
    """

    def __init__(
        self,
        n: int,
        c: int,
        init_std: float = 1.0,
        noise_std: float = 0.0,
        noise_rank: int = 0,
        rank_init: float = 0.1,
        generator: torch.Generator | None = None,
        tie_labels: bool = False,
        learn_offset_mean: bool = False,
        offset: str = "global",
    ) -> None:
        super().__init__()
        if offset not in ("global", "region"):
            raise ValueError(f"offset must be 'global' or 'region', got {offset!r}")
        if offset == "region" and not (tie_labels and noise_rank == 1):
            raise ValueError("offset='region' needs tie_labels and noise_rank=1 (it is the tied label offset, drawn per region)")
        if offset == "region" and learn_offset_mean:
            raise ValueError("learn_offset_mean works with the global offset only")
        self.offset = offset
        self.n, self.c = int(n), int(c)
        self.tie_labels = bool(tie_labels)
        logits = torch.randn(n, c, generator=generator) * init_std
        per_node = (n, 1) if self.tie_labels else (n, c)
        if self.tie_labels:
            self.register_buffer("logits", logits)
            self.scale = nn.Parameter(torch.ones(n, 1))
        else:
            self.logits = nn.Parameter(logits)
        self.noisy = noise_std > 0
        if self.noisy:
            self.noise_rho = nn.Parameter(torch.full(per_node, _inverse_softplus(noise_std)))
        self.noise_rank = int(noise_rank)
        if self.noise_rank > 0 and self.tie_labels:
            # tied: F (n, r) is shared by the labels, η (r, c) i.i.d. per label; F starts as a constant, so
            # every node gets the same random label offsets (one global symmetry-breaking draw per sample)
            self.factor = nn.Parameter(torch.full((n, self.noise_rank), float(rank_init)))
        elif self.noise_rank > 0:
            self.factor = nn.Parameter(torch.randn(n * c, self.noise_rank, generator=generator) * rank_init)
        if learn_offset_mean and not (self.tie_labels and self.noise_rank > 0):
            raise ValueError("learn_offset_mean needs tie_labels and noise_rank > 0 (it is the mean of the tied offset)")
        self.learn_offset_mean = bool(learn_offset_mean)
        if self.learn_offset_mean:
            # η ~ N(μ, I) instead of N(0, I); μ moves by the score-function term (RandomizedFlow), because
            # which mode a sample takes is a discontinuous function of η that pathwise gradients miss
            self.offset_mean = nn.Parameter(torch.zeros(self.noise_rank, c))
        self.last_offset: Tensor | None = None
        # offset="region": node i takes the offset drawn at node representative[i] (its uncertain region's
        # first node), or none (−1: a certain node); set by set_regions from the start logits
        if offset == "region":
            self.register_buffer("representative", torch.full((n,), -1, dtype=torch.long))

    def set_regions(self, grid: tuple[int, int], threshold: float = 0.9) -> None:
        """Regions of the region offset: 4-connected components of the nodes whose start distribution
        ``softmax(logits)`` is uncertain (largest probability below ``threshold``)."""
        self.representative.copy_(uncertain_regions(torch.softmax(self.logits.detach(), -1), grid, threshold))

    def offset_log_prob(self) -> Tensor:
        """``(m,)`` ``log N(η; μ, I)`` (up to a constant) of the last forward's offsets, differentiable in ``μ``:
        the score ``∇_μ log N = η − μ`` of the REINFORCE term that learns ``μ``."""
        if self.last_offset is None:
            raise RuntimeError("offset_log_prob needs a forward pass with learn_offset_mean")
        return -0.5 * (self.last_offset - self.offset_mean).pow(2).sum((1, 2))

    @property
    def noise_std(self) -> Tensor | None:
        return F.softplus(self.noise_rho) if self.noisy else None

    def forward(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``(m, n, c)`` log S0 for ``m`` samples."""
        logits = (self.scale * self.logits if self.tie_labels else self.logits).expand(m, self.n, self.c)
        if self.noisy:
            noise = torch.randn(m, self.n, self.c, generator=generator, device=self.logits.device, dtype=self.logits.dtype)
            logits = logits + self.noise_std * noise  # (n, 1) std when tied: the same for every label
        if self.offset == "region":
            # one N(0, I_c) offset per uncertain region: separate regions decide independently
            eta = torch.randn(m, self.n, self.c, generator=generator, device=self.logits.device, dtype=self.logits.dtype)
            rep = self.representative
            eta = eta[:, rep.clamp_min(0)] * (rep >= 0).to(eta.dtype)[:, None]
            logits = logits + self.factor[:, :1] * eta
        elif self.noise_rank > 0 and self.tie_labels:
            eta = torch.randn(m, self.noise_rank, self.c, generator=generator, device=self.logits.device, dtype=self.logits.dtype)
            if self.learn_offset_mean:
                eta = eta + self.offset_mean.detach()  # no pathwise gradient to μ: see offset_log_prob
                self.last_offset = eta
            logits = logits + torch.einsum("nr,mrc->mnc", self.factor, eta)
        elif self.noise_rank > 0:
            eta = torch.randn(m, self.noise_rank, generator=generator, device=self.logits.device, dtype=self.logits.dtype)
            logits = logits + (eta @ self.factor.T).reshape(m, self.n, self.c)
        return torch.log_softmax(logits, -1)


def uncertain_regions(probs: Tensor, grid: tuple[int, int], threshold: float = 0.9) -> Tensor:
    """``(n,)`` long: for each node of an ``H×W`` grid whose largest probability in ``probs (n, c)`` is below
    ``threshold``, the smallest node index of its 4-connected component of such nodes; −1 for the others."""
    H, W = grid
    uncertain = (probs.max(-1).values < threshold).view(H, W)
    big = H * W
    ids = torch.where(uncertain, torch.arange(big, device=probs.device).view(H, W), torch.full_like(uncertain, big, dtype=torch.long))
    while True:  # propagate the minimum id through uncertain neighbours until it settles
        padded = torch.nn.functional.pad(ids, (1, 1, 1, 1), value=big)
        neighbours = torch.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:], ids]).min(0).values
        new = torch.where(uncertain, neighbours, ids)
        if torch.equal(new, ids):
            break
        ids = new
    return torch.where(uncertain, ids, torch.full_like(ids, -1)).view(-1)
