"""Swendsen–Wang with the data term for the grid Potts energy (kernel ``sw``).

Edwards–Sokal coupling of ``E(x) = Σ_i U_i(x_i) + Σ_{i~j} w_ij [x_i ≠ x_j]``: every bond between equal neighbours
is active with probability ``1 − e^(−w_ij)``; the clusters of active bonds are found; each cluster ``C`` takes label
``a`` with probability ``∝ exp(−Σ_{i∈C} U_i(a))``. A whole region changes its decision in one step, with P*'s odds.

Everything is batched over the samples on their device: clusters by label propagation (minimum over active
neighbours, hooking, pointer jumping — the algorithm of :mod:`models.baselines.ising_swendsen_wang`, in torch and
with node ids global over the batch), cluster energies by one scatter-add, labels by a Gumbel-max draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.kernels import native
from models.kernels.base import Kernel


@dataclass(frozen=True)
class Clusters:
    """The clusters of a batch of labelings, found on row runs (maximal runs of active horizontal bonds).

    Runs are numbered ``0…R−1`` in the order of their first nodes (global indices ``b·H·W + r·W + q``), so
    the smallest run of a cluster holds its smallest node. Working on runs instead of nodes shrinks the
    union-find by the mean run length (long on the flow's coherent samples).

    Attributes:
        run: ``(B·H·W,)`` the run of every node.
        first: ``(R,)`` the first (global) node of every run.
        root: ``(R,)`` the smallest run of every run's cluster.
    """

    run: Tensor
    first: Tensor
    root: Tensor

    def node_ids(self, shape: torch.Size) -> Tensor:
        """``(B, H, W)``: every node's cluster as the smallest global node index in it."""
        return self.first.index_select(0, self.root).index_select(0, self.run).view(shape)


def find_clusters(right: Tensor, down: Tensor) -> Clusters:
    """Connected components of active bonds, all samples at once.

    Row runs of active horizontal bonds come first (a cumulative sum of run starts); the remaining bonds
    (vertical ones, and the wrap-around ones of a periodic grid) join runs: each run hooks the larger of the
    two roots it joins under the smaller, then pointer jumping makes every run point at its root again; a
    few rounds join everything. A vertical bond that joins the same two runs as the bond to its left is
    skipped (it adds nothing).

    Args:
        right: ``(B, H, W)`` bool, bond from ``(r, q)`` to ``(r, q+1 mod W)`` active.
        down: ``(B, H, W)`` bool, bond from ``(r, q)`` to ``(r+1 mod H, q)`` active.
    """
    if right.shape != down.shape or right.dim() != 3:
        raise ValueError(f"right and down must be (B, H, W) alike, got {tuple(right.shape)} and {tuple(down.shape)}")
    B, H, W = right.shape
    n, dev = H * W, right.device
    col = torch.arange(W, device=dev)
    # a node starts a run unless the bond from its left neighbour (not the wrap-around one) is active
    starts = ~(right.roll(1, 2) & (col > 0))
    run = starts.view(-1).cumsum(0) - 1
    first = starts.view(-1).nonzero().squeeze(1)
    run3 = run.view(B, H, W)
    below = run3.roll(-1, 1)  # the run of the node under each node (row H−1: row 0, the periodic bond)
    same_as_left = down.roll(1, 2) & (run3 == run3.roll(1, 2)) & (below == below.roll(1, 2)) & (col > 0)
    a_down = (down & ~same_as_left).view(-1).nonzero().squeeze(1)
    b_down = torch.where(a_down % n >= n - W, a_down + W - n, a_down + W)  # row H−1 → row 0 (periodic)
    a_wrap = (right & (col == W - 1)).view(-1).nonzero().squeeze(1)
    a = run.index_select(0, torch.cat([a_down, a_wrap]))
    b = run.index_select(0, torch.cat([b_down, a_wrap - (W - 1)]))
    root = torch.arange(len(first), device=dev)
    while True:
        ra, rb = root.index_select(0, a), root.index_select(0, b)
        if torch.equal(ra, rb):
            return Clusters(run, first, root)
        # hooking: each root takes the smallest root it is joined to (roots only decrease: no cycles)
        root = root.scatter_reduce(0, torch.maximum(ra, rb), torch.minimum(ra, rb), reduce="amin", include_self=True)
        while True:  # pointer jumping until every run points at a root
            jumped = root.index_select(0, root)
            if torch.equal(jumped, root):
                break
            root = jumped


def cluster_ids(right: Tensor, down: Tensor) -> Tensor:
    """``(B, H, W)`` long: every node's cluster of active bonds as the smallest global node index in it
    (:func:`find_clusters`)."""
    return find_clusters(right, down).node_ids(right.shape)


def _gumbel_argmax(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    # float32 uniforms (resolution 2⁻²⁴, far below any probability that matters) on float64 logits
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_min(1e-30).to(logits.dtype)
    return (logits - (-u.log()).log()).argmax(-1)


class PottsSwendsenWang(Kernel):
    """Swendsen–Wang sweeps with the data term for a :class:`GridPottsEnergy` (open or periodic grid).

    Args:
        energy: the grid Potts energy; its edge weights must be ``≥ 0`` (ferromagnetic).

    Raises:
        TypeError: for another energy.  ValueError: for a negative edge weight.
    """

    name, title = "sw", "Swendsen–Wang"

    def __init__(self, energy: GridPottsEnergy) -> None:
        super().__init__(energy)
        if (energy.weights_h < 0).any() or (energy.weights_v < 0).any():
            raise ValueError("Swendsen–Wang needs edge weights ≥ 0 (a ferromagnetic Potts model)")
        H, W = energy.grid
        # bond probabilities 1 − e^(−w) on the (H, W) layout of `right`/`down`; 0 where an open grid has no edge;
        # compared with float32 uniforms (resolution 2⁻²⁴)
        p_right = torch.zeros(H, W, dtype=torch.float64, device=energy.unary.device)
        p_down = torch.zeros_like(p_right)
        if energy.periodic:
            p_right[:], p_down[:] = -torch.expm1(-energy.weights_h.double()), -torch.expm1(-energy.weights_v.double())
        else:
            p_right[:, : W - 1] = -torch.expm1(-energy.weights_h.double())
            p_down[: H - 1] = -torch.expm1(-energy.weights_v.double())
        self.p_right, self.p_down = p_right.float(), p_down.float()
        # sums over big clusters in float64; a run's unary is a difference of prefix sums along its row
        unary = energy.unary.detach().double().reshape(H, W, energy.c)
        self.unary = unary.reshape(H * W, energy.c)
        self.row_prefix = unary.cumsum(1).reshape(H * W, energy.c)  # Σ of the unary from the row's start to each node

    def bonds(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Active bonds ``(right, down)``, each ``(B, H, W)`` bool, of labelings ``x (B, H, W)``."""
        shape = x.shape
        right = (x == x.roll(-1, 2)) & (torch.rand(shape, generator=generator, device=x.device) < self.p_right)
        down = (x == x.roll(-1, 1)) & (torch.rand(shape, generator=generator, device=x.device) < self.p_down)
        return right, down

    def recolour(self, clusters: Clusters, shape: torch.Size, generator: torch.Generator | None = None) -> Tensor:
        """A label per cluster drawn ``∝ exp(−Σ_{i∈C} U_i(a))``, given back to every node: ``(B, H, W)``."""
        n = self.unary.shape[0]
        first = clusters.first % n
        last = torch.cat([clusters.first[1:], clusters.first.new_tensor([clusters.run.numel()])]) - 1
        last = last % n  # a run ends where the next one starts (every row starts a run)
        run_energy = self.row_prefix.index_select(0, last) - self.row_prefix.index_select(0, first) + self.unary.index_select(0, first)
        cluster_energy = torch.zeros_like(run_energy).index_add_(0, clusters.root, run_energy)  # at each cluster's root run
        label = _gumbel_argmax(-cluster_energy, generator)  # rows of runs that are no root are unused
        return label.index_select(0, clusters.root).index_select(0, clusters.run).view(shape)

    def sweep(self, x: Tensor, generator: torch.Generator | None = None, sweeps: int = 1) -> Tensor:
        """``sweeps`` Swendsen–Wang updates of every labeling ``x (B, H, W)`` long."""
        if native.runs_on(x):  # the unary (n, c) in float64 and the bond probabilities (H, W) of the compiled sweep
            tables = (self.unary.cpu().contiguous(), self.p_right.cpu().contiguous(), self.p_down.cpu().contiguous())
            return native.sweep("swendsen_wang", x, generator, sweeps, tables)
        for _ in range(sweeps):
            x = self.recolour(find_clusters(*self.bonds(x, generator)), x.shape, generator)
        return x
