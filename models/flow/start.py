"""Learned start point ``S0`` of the flow, with learned noise on its logits; one class per kind of start.

* :class:`FreeStart`: learned logits per node and label, noise per entry, optional low-rank noise that
  correlates nodes (the dense-Ω recipes);
* :class:`TiedStart`: label-tied: fixed logits (the data term's), a learned per-node scale, and one random
  label offset per sample shared by the nodes, so a label swap that leaves the logits unchanged is a
  symmetry of the model's law (the ``image-global`` recipe);
* :class:`RegionStart`: label-tied with one label offset per uncertain region, so separate regions decide
  independently (the ``image`` recipe).

The label-tied starts can be **stationary**: their scale (and noise std) are learned functions of a node's start
entropy (piecewise linear, :data:`KNOTS` knots), not numbers per node, and the label offset's factor is a constant,
so nothing learned belongs to a pixel and a trained model samples any image of any size (``sample.py --image``).
Both kinds train on crops (``draw(..., nodes)``): a per-node start reads its crop's rows.

A uniform ``S0`` is a fixed point of the flow (``ΩS`` then has equal entries per row), so the logits start
random unless set (``RandomizedFlow.initialise_start``). Every start has ``draw(m, generator) → (logits,
offset)``: ``log S0`` up to a constant per node and sample (the flow normalises; a ``log_softmax`` over the labels
of an ``(m, n, 3)`` tensor costs about as much as two Euler steps), and ``offset``, the drawn label offsets where
a score-function term needs them, else ``None``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.flow.settings import FlowSettings
from models.flow.omega_dense import _inverse_softplus


def flow_start(n: int, c: int, settings: FlowSettings, generator: torch.Generator | None = None) -> nn.Module:
    """The start that ``settings`` describe (``tie_labels``, ``offset``, ``init_std``, ``s0_noise``, ``noise_rank``,
    ``noise_rank_init``, ``learn_offset_mean``; checked together by :class:`FlowSettings`)."""
    s = settings
    common = dict(init_std=s.init_std, noise_std=s.s0_noise, generator=generator)
    if s.offset == "region":
        return RegionStart(n, c, rank_init=s.noise_rank_init, stationary=s.stationary, **common)
    if s.tie_labels:
        return TiedStart(n, c, noise_rank=s.noise_rank, rank_init=s.noise_rank_init, learn_offset_mean=s.learn_offset_mean,
                         stationary=s.stationary, **common)
    return FreeStart(n, c, noise_rank=s.noise_rank, rank_init=s.noise_rank_init, permute_labels=s.permute_labels, **common)


class FreeStart(nn.Module):
    """``log S0 = log_softmax(logits + noise_std ⊙ ε + F η)``, ``ε ~ N(0, I_{nc})``, ``η ~ N(0, I_r)`` per sample.

    The low-rank term ``F η`` (``F ∈ R^{nc×r}``) correlates the start noise across nodes, so one draw can
    move a whole region of the graph at once; the flow then sharpens it.

    With ``permute_labels`` every sample's logits get a uniformly random permutation of the labels (the dense Ω
    acts on every label alike, so the flow commutes with it): the model is the mixture of its unpermuted law over
    all ``c!`` relabellings. For an energy that every relabelling leaves unchanged (Ising, Potts without a field)
    the symmetric modes then get equal weight without tuning, and a start at one magnetized mean-field solution
    becomes the mixture of it and its mirror images (``log 2`` nats more entropy for Ising when they barely overlap).

    Args:
        n: number of nodes.  c: number of labels.
        init_std: std of the random initial logits (0: uniform start, the paper's fixed point).
        noise_std: initial std of the learned logit noise (0: none).
        noise_rank: rank ``r`` of the learned correlated noise (0: none).
        rank_init: initial std of the entries of ``F``.
        generator: seeds the initial logits and ``F`` (the module's only randomness at construction).
        permute_labels: permute each sample's labels uniformly at random.
    """

    def __init__(self, n: int, c: int, init_std: float = 1.0, noise_std: float = 0.0, noise_rank: int = 0,
                 rank_init: float = 0.1, generator: torch.Generator | None = None, permute_labels: bool = False) -> None:
        super().__init__()
        self.n, self.c = int(n), int(c)
        self.logits = nn.Parameter(torch.randn(n, c, generator=generator) * init_std)
        self.noisy = noise_std > 0
        if self.noisy:
            self.noise_rho = nn.Parameter(torch.full((n, c), _inverse_softplus(noise_std)))
        self.noise_rank = int(noise_rank)
        if self.noise_rank > 0:
            self.factor = nn.Parameter(torch.randn(n * c, self.noise_rank, generator=generator) * rank_init)
        self.permute_labels = bool(permute_labels)

    @property
    def noise_std(self) -> Tensor | None:
        return F.softplus(self.noise_rho) if self.noisy else None

    def draw(self, m: int, generator: torch.Generator | None = None) -> tuple[Tensor, None]:
        logits = _with_noise(self, self.logits.expand(m, self.n, self.c), generator)
        if self.noise_rank > 0:
            eta = _randn(self.logits, (m, self.noise_rank), generator)
            logits = logits + (eta @ self.factor.T).reshape(m, self.n, self.c)
        if self.permute_labels:  # a uniform permutation per sample: the argsort of c uniforms
            perm = torch.rand(m, self.c, generator=generator, device=logits.device).argsort(-1)
            logits = logits.gather(2, perm[:, None, :].expand(m, self.n, self.c))
        return logits, None

    def forward(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``(m, n, c)`` logits of S0 (log S0 up to a constant per node) for ``m`` samples."""
        return self.draw(m, generator)[0]


class TiedStart(nn.Module):
    """Label-tied start: ``log S0 = log_softmax(τ ⊙ logits + noise_std ⊙ ε + F η)``.

    The logits are fixed (set them with ``logits.copy_``, e.g. to ``−unary``); learned are a per-node scale
    ``τ (n, 1)``, a per-node noise std shared by the labels, and ``F (n, r)`` with ``η (r, c)`` i.i.d. per
    label: a random label offset per sample. ``F`` starts constant, so every node gets the same offsets (one
    global symmetry-breaking draw per sample). Any label swap the logits are invariant under is then a
    symmetry of the model's law.

    Args:
        n, c, init_std, noise_std, rank_init, generator: as :class:`FreeStart` (``init_std`` only until the
            logits are set).
        noise_rank: rank ``r`` of the label offset (0: none).
        learn_offset_mean: ``η ~ N(μ, I)`` with a learned ``μ (r, c)``: which mode a sample takes is a
            discontinuous function of ``η`` that pathwise gradients miss, so ``μ`` learns from a
            score-function term (:meth:`offset_log_prob`, used by ``RandomizedFlow``).
        stationary: ``τ`` and the noise std are piecewise-linear functions of a node's start entropy
            (:func:`entropy_basis`; ``(KNOTS, 1)`` values at the knots) and ``F`` is the constant ``rank_init`` (a
            buffer ``(1, r)``): nothing learned belongs to a node, so the start applies to any grid's logits.
    """

    def __init__(self, n: int, c: int, init_std: float = 1.0, noise_std: float = 0.0, noise_rank: int = 0,
                 rank_init: float = 0.1, generator: torch.Generator | None = None, learn_offset_mean: bool = False,
                 stationary: bool = False) -> None:
        super().__init__()
        self.n, self.c = int(n), int(c)
        self.stationary = bool(stationary)
        rows = KNOTS if self.stationary else self.n
        self.register_buffer("logits", torch.randn(n, c, generator=generator) * init_std)
        self.scale = nn.Parameter(torch.ones(rows, 1))
        self.noisy = noise_std > 0
        if self.noisy:
            self.noise_rho = nn.Parameter(torch.full((rows, 1), _inverse_softplus(noise_std)))
        self.noise_rank = int(noise_rank)
        if self.noise_rank > 0:
            factor = torch.full((1 if self.stationary else self.n, self.noise_rank), float(rank_init))
            if self.stationary:  # a constant: trained, one shared factor shrinks to ≈ 0 (docs/research.md, "A stationary start")
                self.register_buffer("factor", factor)
            else:
                self.factor = nn.Parameter(factor)
        self.learn_offset_mean = bool(learn_offset_mean)
        if self.learn_offset_mean:
            self.offset_mean = nn.Parameter(torch.zeros(self.noise_rank, c))

    noise_std = FreeStart.noise_std

    def rows(self, p: Tensor, nodes: Tensor | None) -> Tensor:
        """The values of a learned per-node parameter ``p`` at ``nodes`` (all nodes: ``None``): its rows, or, when
        stationary, its knots interpolated at each node's start entropy."""
        if self.stationary:
            return p if p.shape[0] == 1 else entropy_basis(self.logits if nodes is None else self.logits[nodes]) @ p
        return p if nodes is None else p[nodes]

    def tied_logits(self, m: int, generator: torch.Generator | None, nodes: Tensor | None = None) -> Tensor:
        """``(m, k, c)``: the scaled logits of ``nodes`` (all ``n`` by default) with their per-node noise (the same
        std for every label)."""
        logits = self.logits if nodes is None else self.logits[nodes]
        logits = (self.rows(self.scale, nodes) * logits).expand(m, *logits.shape)
        if not self.noisy:
            return logits
        return logits + self.rows(self.noise_std, nodes) * _randn(logits, logits.shape, generator)

    def tied_logits_samples_last(self, m: int, generator: torch.Generator | None, nodes: Tensor | None = None) -> Tensor:
        """:meth:`tied_logits` as ``(c, k, m)``: the same draws, the samples innermost."""
        logits = self.logits if nodes is None else self.logits[nodes]
        scaled = (self.rows(self.scale, nodes) * logits).t()[:, :, None]
        if not self.noisy:
            return scaled.expand(*scaled.shape[:2], m)
        noise = _randn(self.logits, (m, *logits.shape), generator).permute(2, 1, 0)
        return scaled + self.rows(self.noise_std, nodes).t()[:, :, None] * noise

    def draw(self, m: int, generator: torch.Generator | None = None, nodes: Tensor | None = None,
             samples_last: bool = False) -> tuple[Tensor, Tensor | None]:
        """``(logits of S0, offset)`` of ``m`` samples on ``nodes`` (a crop's node indices; all nodes by default): the logits
        ``(m, k, c)``, or ``(c, k, m)`` with ``samples_last`` (the same draws)."""
        if samples_last:
            logits = self.tied_logits_samples_last(m, generator, nodes)
        else:
            logits = self.tied_logits(m, generator, nodes)
        if self.noise_rank == 0:
            return logits, None
        eta = _randn(self.logits, (m, self.noise_rank, self.c), generator)
        if self.learn_offset_mean:
            eta = eta + self.offset_mean.detach()  # no pathwise gradient to μ: see offset_log_prob
        factor = self.rows(self.factor, nodes)
        logits = logits + torch.einsum("nr,mrc->cnm" if samples_last else "nr,mrc->mnc", factor, eta)
        return logits, (eta if self.learn_offset_mean else None)

    def offset_log_prob(self, offset: Tensor) -> Tensor:
        """``(m,)`` ``log N(η; μ, I)`` (up to a constant) of drawn offsets ``η (m, r, c)``, differentiable in ``μ``:
        the score ``∇_μ log N = η − μ`` of the REINFORCE term that learns ``μ``."""
        return -0.5 * (offset - self.offset_mean).pow(2).sum((1, 2))

    forward = FreeStart.forward


class RegionStart(TiedStart):
    """Label-tied start with one ``N(0, I_c)`` label offset per uncertain region (rank 1), none on certain nodes.

    Node ``i`` takes the offset drawn for its region, the one of node ``representative[i]`` (the region's
    first node), or none (−1); :meth:`set_regions` computes the regions from the start logits. Separate
    regions then decide independently (k = 3 subjects: TV to uniform 0.75 with one offset per image → 0.02).
    """

    def __init__(self, n: int, c: int, init_std: float = 1.0, noise_std: float = 0.0, rank_init: float = 1.0,
                 generator: torch.Generator | None = None, stationary: bool = False) -> None:
        super().__init__(n, c, init_std, noise_std, noise_rank=1, rank_init=rank_init, generator=generator, stationary=stationary)
        self.register_buffer("representative", torch.full((n,), -1, dtype=torch.long))

    def set_regions(self, grid: tuple[int, int], threshold: float = 0.9) -> None:
        """Regions: 4-connected components of the nodes whose start distribution ``softmax(logits)`` is
        uncertain (largest probability below ``threshold``)."""
        self.representative.copy_(uncertain_regions(torch.softmax(self.logits.detach(), -1), grid, threshold))

    def draw(self, m: int, generator: torch.Generator | None = None, nodes: Tensor | None = None,
             samples_last: bool = False) -> tuple[Tensor, None]:
        logits = self.tied_logits_samples_last(m, generator, nodes) if samples_last else self.tied_logits(m, generator, nodes)
        rep = self.representative if nodes is None else self.representative[nodes]
        # one offset per region present (memory m·regions·c, not m·n·c); index 0 stands for "no region"
        regions, index = torch.unique(rep, return_inverse=True)
        eta = _randn(self.logits, (m, len(regions), self.c), generator)
        weight = self.rows(self.factor, nodes) * (rep >= 0).to(eta.dtype)[:, None]  # (k, 1): 0 off the regions
        if samples_last:
            return logits + weight[None] * torch.index_select(eta.permute(2, 1, 0), 1, index), None
        return logits + weight * torch.index_select(eta, 1, index), None


#: knots of a stationary start's functions of the start entropy, evenly spaced over [0, log c]
KNOTS = 5


def entropy_basis(logits: Tensor) -> Tensor:
    """``(k, KNOTS)``: the hat-function weights of each node's start entropy ``H(softmax(logits)) / log c`` at
    :data:`KNOTS` evenly spaced knots (rows sum to one): ``entropy_basis(logits) @ values`` interpolates linearly."""
    log_p = torch.log_softmax(logits, -1)
    h = -(log_p.exp() * log_p).sum(-1) / math.log(logits.shape[-1])
    x = h.clamp(0, 1) * (KNOTS - 1)
    low = x.floor().clamp_max(KNOTS - 2)
    frac = (x - low)[:, None]
    knots = torch.arange(KNOTS, device=logits.device, dtype=logits.dtype)
    return (knots == low[:, None]) * (1 - frac) + (knots == low[:, None] + 1) * frac


def _randn(like: Tensor, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def _with_noise(start: nn.Module, logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """``logits + noise_std ⊙ ε`` when the start is noisy."""
    if not start.noisy:
        return logits
    return logits + start.noise_std * _randn(logits, logits.shape, generator)


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
