"""The convergence check: do more P*-invariant sweeps move the samples' statistics beyond their noise?

If labelings ``x_1 … x_m`` (independent chains) are drawn from P*, so are ``y_i = K(x_i)`` for any P*-invariant
kernel ``K``, and every statistic ``f`` has ``E[f(y) − f(x)] = 0``. The check measures the paired drifts
``d_ij = f_j(y_i) − f_j(x_i)`` of many statistics at once. Each is standardised as ``z_j = Σ_i d_ij / √(Σ_i d_ij²)``,
which is what the sum becomes under random sign flips of the chains' drifts (its variance is ``Σ_i d_ij²``), and the
largest ``|z_j|`` is compared with its distribution over :data:`FLIPS` random sign flips of whole chains (Westfall and
Young's max-T: the flips keep the statistics' correlation, so many correlated statistics cost no power). Four tests,
each at ``α / 4``:

* ``energy``: the energy, its unary and pair parts, and each label's count on the uncertain pixels: over-dispersed or
  over-coherent samples anywhere move these;
* ``regions``: per connected region of uncertain pixels (two pixels or more), its share of each label and whether it is
  all that label: a region's odds;
* ``pixels``: each uncertain pixel's label indicators: the pixel marginals;
* ``spread``: the same indicators all together, ``Σ_j z_j² / k`` (about 1 under the null) against its sign-flip
  distribution: many pixels that each move a little, none of them beyond the max-T threshold (coffee at 48 px,
  ``benchmarks/photo_suite.py``). Its flips cost ``m²`` each: ``Σ_j (Σ_i s_i a_ij)² = sᵀ (A Aᵀ) s``.

Uncertain pixels: largest marginal below :data:`UNCERTAIN` in the pooled ``x`` and ``y``, or in the data term's posterior
``softmax(−U)``. The pooled marginals do not change when ``x`` and ``y`` swap, so choosing statistics by them keeps the
sign-flip null.

A drift test sees only what its sweeps move: a mode that ``K`` does not reach in those sweeps passes. The adaptive
finish (:mod:`models.finish.adaptive`) therefore compares the state after ``t`` rounds with the state after ``2t``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.finish.schedule import Finish
from models.kernels import KERNELS, kernel_class
from models.kernels.swendsen_wang import find_clusters

ALPHA = 0.01  # false alarms on exact samples: at most this often (benchmarks/exact_suite.py measures it)
FLIPS = 999  # random sign flips that make the null distribution
UNCERTAIN = 0.9  # a pixel is uncertain where its largest marginal is below this
LEAST_SAMPLES = 8  # fewer chains cannot make a null distribution worth the name (2^7 sign patterns)
GROUPS = ("energy", "regions", "pixels", "spread")
FEATURE_CHUNK = 4096  # statistics whose sign-flip sums are formed at once: (FLIPS × chunk) floats


@dataclass(frozen=True)
class GroupDrift:
    """One group's test: the largest standardised drift, the sign-flip threshold it is compared with, which statistic."""

    name: str
    drift: float
    threshold: float
    p_value: float
    statistic: str
    statistics: int


@dataclass(frozen=True)
class ConvergenceCheck:
    """The verdict on ``m`` samples: ``converged`` unless some group's drift is beyond its threshold.

    ``drift``, ``threshold``, ``group`` and ``statistic`` are the group with the largest ratio of drift to threshold;
    ``sweeps``: the sweeps between the two states compared.
    """

    converged: bool
    drift: float
    threshold: float
    group: str
    statistic: str
    sweeps: int
    samples: int
    groups: tuple[GroupDrift, ...]

    def as_dict(self) -> dict:
        out = asdict(self)
        out["groups"] = {g.name: {k: v for k, v in asdict(g).items() if k != "name"} for g in self.groups}
        return out

    def line(self) -> str:
        """One line for a report."""
        verdict = "converged" if self.converged else "NOT converged"
        return (f"{verdict}: {self.sweeps} more sweeps moved the samples' statistics by at most {self.drift:.2f} "
                f"(threshold {self.threshold:.2f}, worst: {self.statistic})")


def uncertain_pixels(energy: GridPottsEnergy, x: Tensor, y: Tensor) -> Tensor:
    """``(n,)`` bool: largest pooled marginal of ``x`` and ``y`` or of ``softmax(−U)`` below :data:`UNCERTAIN`."""
    c = energy.c
    counts = torch.zeros(energy.n, c, device=x.device)
    for z in (x, y):
        counts.scatter_add_(1, z.t(), torch.ones_like(z.t(), dtype=counts.dtype))
    pooled = counts / (2 * len(x))
    data = torch.softmax(-energy.unary.detach().reshape(energy.n, c).float(), -1).to(x.device)
    return (pooled.max(1).values < UNCERTAIN) | (data.max(1).values < UNCERTAIN)


def uncertain_regions(energy: GridPottsEnergy, uncertain: Tensor) -> Tensor:
    """``(n,)`` long: each uncertain pixel's region (4-connected, along the energy's edges) as ``0…R−1`` in order of
    first pixel, ``−1`` for certain pixels and regions of one pixel."""
    H, W = energy.grid
    u = uncertain.view(1, H, W)
    right, down = u & u.roll(-1, 2), u & u.roll(-1, 1)
    if not energy.periodic:  # no wrap-around edges
        right[..., W - 1] = False
        down[:, H - 1] = False
    ids = find_clusters(right, down).node_ids(u.shape).view(-1)
    ids = torch.where(uncertain, ids, torch.full_like(ids, -1))
    roots, inverse, sizes = torch.unique(ids, return_inverse=True, return_counts=True)
    keep = (roots >= 0) & (sizes >= 2)
    number = torch.cumsum(keep.long(), 0) - 1
    return torch.where(keep[inverse], number[inverse], torch.full_like(ids, -1))


def _statistics(energy: GridPottsEnergy, x: Tensor, uncertain: Tensor, region: Tensor) -> dict[str, Tensor]:
    """Per labeling ``(m, k)`` float64 statistics of each group."""
    c, n = energy.c, energy.n
    e = energy.energy(x).double()
    unary = energy.unary.detach().reshape(n, c).double().to(x.device)
    u = unary.gather(1, x.t()).sum(0)
    onehot = torch.nn.functional.one_hot(x[:, uncertain], c).double()  # (m, U, c)
    out = {"energy": torch.cat([torch.stack([e, u, e - u], 1), onehot.sum(1)], 1), "pixels": onehot.reshape(len(x), -1)}
    R = int(region.max()) + 1 if region.numel() else 0
    if R:
        r = region[uncertain]
        inside = r >= 0
        counts = torch.zeros(len(x), R, c, dtype=torch.float64, device=x.device)
        counts.index_add_(1, r[inside], onehot[:, inside])
        size = torch.bincount(r[inside], minlength=R).double()
        share = counts / size[:, None]
        out["regions"] = torch.cat([share.reshape(len(x), -1), (share == 1).double().reshape(len(x), -1)], 1)
    else:
        out["regions"] = torch.zeros(len(x), 0, dtype=torch.float64, device=x.device)
    return out


def _names(group: str, index: int, energy: GridPottsEnergy, uncertain: Tensor, region: Tensor, regions: int) -> str:
    """What statistic ``index`` of ``group`` is, in words; pixels by row and column (0-based, from the top left)."""
    c = energy.c
    if group == "energy":
        return ("energy", "unary energy", "pair energy")[index] if index < 3 else f"label {index - 3} count on uncertain pixels"
    if group == "pixels":
        row, column = divmod(int(uncertain.nonzero()[index // c]), energy.grid[1])
        return f"pixel (row {row}, column {column})'s label {index % c}"
    if group == "spread":
        return "all uncertain pixels together (mean z²)"
    kind, rest = divmod(index, regions * c)
    pixels = (region == rest // c).nonzero()
    row, column = divmod(int(pixels[0]), energy.grid[1])
    where = f"the {len(pixels)}-pixel region from (row {row}, column {column})"
    return f"{where}: {'its share of label' if kind == 0 else 'all label'} {rest % c}"


def _standardised(d: Tensor) -> tuple[Tensor, Tensor]:
    """Drifts ``d (m, k)`` of the statistics that moved, each divided by its sign-flip standard deviation
    ``√(Σ_i d_ij²)``, and their indices."""
    norm = d.square().sum(0).sqrt()
    moved = norm > 0
    return d[:, moved] / norm[moved], moved.nonzero().squeeze(1)


def _spread(d: Tensor, signs: Tensor) -> tuple[float, Tensor]:
    """``Σ_j z_j² / k`` of drifts ``d (m, k)`` and its sign-flip null ``(FLIPS,)`` (``0`` and zeros if nothing moved)."""
    a, _ = _standardised(d)
    m, k = a.shape
    if k == 0:
        return 0.0, torch.zeros(len(signs))
    if m <= k:  # sᵀ (A Aᵀ) s = Σ_j (Σ_i s_i a_ij)²: m² per flip
        gram = a @ a.T
        null = ((signs.double() @ gram) * signs.double()).sum(1)
    else:  # few statistics, many chains: the sums themselves, k at a time
        null = torch.zeros(len(signs), dtype=torch.float64)
        for start in range(0, k, FEATURE_CHUNK):
            null += (signs.double() @ a[:, start : start + FEATURE_CHUNK]).square().sum(1)
    return float(a.sum(0).square().sum()) / k, null.float() / k


def _max_t(d: Tensor, signs: Tensor) -> tuple[float, int, Tensor]:
    """The largest ``|z_j|`` of drifts ``d (m, k)``, its index, and its sign-flip null ``(FLIPS,)``."""
    z, index = _standardised(d)
    if z.shape[1] == 0:
        return 0.0, 0, torch.zeros(len(signs))
    z = z.float()
    observed = z.sum(0).abs()
    worst = int(observed.argmax())
    null = torch.zeros(len(signs))
    for start in range(0, z.shape[1], FEATURE_CHUNK):
        null = torch.maximum(null, (signs @ z[:, start : start + FEATURE_CHUNK]).abs().max(1).values)
    return float(observed[worst]), int(index[worst]), null


def drift_check(energy: GridPottsEnergy, before: Tensor, after: Tensor, sweeps: int, alpha: float = ALPHA,
                seed: int = 0) -> ConvergenceCheck | None:
    """The check of labelings ``before (m, n)`` against ``after``, the same chains ``sweeps`` P*-invariant sweeps later.

    Returns ``None`` with fewer than :data:`LEAST_SAMPLES` chains. ``seed`` seeds the sign flips (CPU).
    """
    if before.shape != after.shape or before.dim() != 2 or before.shape[1] != energy.n:
        raise ValueError(f"before and after must both be (m, {energy.n}), got {tuple(before.shape)} and {tuple(after.shape)}")
    m = len(before)
    if m < LEAST_SAMPLES:
        return None
    before, after = before.long(), after.long().to(before.device)
    with torch.no_grad():
        uncertain = uncertain_pixels(energy, before, after)
        region = uncertain_regions(energy, uncertain)
        R = int(region.max()) + 1
        f_before = _statistics(energy, before, uncertain, region)
        f_after = _statistics(energy, after, uncertain, region)
        signs = torch.randint(0, 2, (FLIPS, m), generator=torch.Generator().manual_seed(seed)).float() * 2 - 1
        level = alpha / len(GROUPS)
        rank = min(FLIPS - 1, math.ceil((FLIPS + 1) * (1 - level)) - 1)  # the null's (1 − level) quantile
        groups = []
        f_before["spread"], f_after["spread"] = f_before["pixels"], f_after["pixels"]
        for name in GROUPS:
            d = (f_after[name] - f_before[name]).cpu()
            if name == "spread":
                (observed, null), index = _spread(d, signs), 0
            else:
                observed, index, null = _max_t(d, signs)
            threshold = float(null.sort().values[rank])
            p_value = (1 + int((null >= observed).sum())) / (FLIPS + 1)
            statistic = _names(name, index, energy, uncertain, region, R) if d.shape[1] else "none"
            groups.append(GroupDrift(name, observed, threshold, p_value, statistic, d.shape[1]))
    converged = all(g.p_value > level for g in groups)
    worst = max(groups, key=lambda g: g.drift / g.threshold if g.threshold > 0 else 0.0)
    return ConvergenceCheck(converged, worst.drift, worst.threshold, worst.name, worst.statistic, int(sweeps), m, tuple(groups))


def check_with(kernel, energy: GridPottsEnergy, labels: Tensor, rounds: int, generator: torch.Generator | None = None,
               alpha: float = ALPHA) -> tuple[Tensor, ConvergenceCheck | None]:
    """``rounds`` applications of ``kernel`` (a P*-invariant ``(labels, generator) → labels`` with a ``schedule()``) to
    ``labels``, and the check of the labels before against after: ``(after, check)``."""
    after = labels
    for _ in range(rounds):
        after = kernel(after, generator)
    return after, drift_check(energy, labels, after, rounds * len(kernel.schedule()), alpha)


def check_kernel(model) -> Finish | None:
    """The round of sweeps that checks ``model``'s samples: one sweep of each kernel its own finish runs (the flow, the
    chains), else one of every registered kernel that runs on the energy (Swendsen–Wang, line on open grids, heat bath
    on tori with even sides), in the registry's order; ``None`` where no kernel applies (an energy that is no
    ferromagnetic grid Potts energy)."""
    finisher = model.finisher() if hasattr(model, "finisher") else getattr(model, "finish", None)
    if finisher is not None:
        own = getattr(finisher, "round", finisher)
        return Finish(own.energy, [name for name in KERNELS if name in own.schedule()])
    energy = getattr(model, "energy", None)
    if not isinstance(energy, GridPottsEnergy) or (energy.weights_h < 0).any() or (energy.weights_v < 0).any():
        return None
    return Finish(energy, [name for name in KERNELS if _runs_on(name, energy)])


def _runs_on(name: str, energy: GridPottsEnergy) -> bool:
    try:
        kernel_class(name)(energy)
    except ValueError:  # e.g. line sweeps on a torus, heat bath on a torus with an odd side
        return False
    return True
