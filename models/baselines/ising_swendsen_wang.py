"""Swendsen–Wang cluster sampler for the zero-field Ising model on a torus: the reference of the large
Ising benchmark (``benchmarks/ising_large.py``).

``P(s) ∝ exp(β Σ_<ij> s_i s_j)`` over the ``2·H·W`` bonds of the ``H × W`` torus (Kaufman's counting, see
``energies/kaufman.py``). One sweep (Swendsen & Wang, PRL 58, 86 (1987)): every bond between equal spins
is activated with probability ``1 − exp(−2β)``, the clusters of active bonds are found, and each cluster
is flipped with probability 1/2. Near ``β_c`` its autocorrelation time stays a few sweeps, where a
single-spin Gibbs chain slows down as a power of ``L``.

Clusters: label propagation over the active bonds, all chains at once (numpy, no Python loop over
sites). Every site starts with its own index as label; each round takes the minimum over active
neighbours, lowers the label of each label's owner to it ("hooking"), and jumps pointers
(``label ← label[label]``) until they are stable. A label is always the index of a site of the same
cluster that holds an equal or lower label, so the rounds converge to the cluster's smallest index.
"""

from __future__ import annotations

import math

import numpy as np


class SwendsenWang:
    """Independent Swendsen–Wang chains ``(chains, H, W)`` of ±1 spins on the ``H × W`` torus.

    Args:
        H, W: rows and columns (each ≥ 2).
        beta: Ising coupling ``β ≥ 0``.
        chains: independent chains, updated together.
        seed: of the chains' random stream (numpy ``default_rng``).
    """

    def __init__(self, H: int, W: int, beta: float, chains: int = 32, seed: int = 0) -> None:
        if H < 2 or W < 2:
            raise ValueError(f"the torus needs at least 2 rows and 2 columns, got {H}×{W}")
        if not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be finite and ≥ 0, got {beta}")
        if chains < 1:
            raise ValueError(f"chains must be ≥ 1, got {chains}")
        self.H, self.W, self.beta, self.chains = int(H), int(W), float(beta), int(chains)
        self.p_bond = -math.expm1(-2 * self.beta)  # 1 − exp(−2β)
        self.rng = np.random.default_rng(seed)
        self.spins = self.rng.choice(np.array([-1, 1], dtype=np.int8), size=(self.chains, self.H, self.W))

    def clusters(self, right: np.ndarray, down: np.ndarray) -> np.ndarray:
        """Cluster labels ``(chains, H, W)`` (the smallest site index of each cluster) of active bonds.

        Args:
            right: ``(chains, H, W)`` bool, bond from ``(r, q)`` to ``(r, q+1 mod W)`` active.
            down: ``(chains, H, W)`` bool, bond from ``(r, q)`` to ``(r+1 mod H, q)`` active.
        """
        shape = right.shape
        label = np.arange(right.size, dtype=np.int64).reshape(shape)
        left, up = np.roll(right, 1, axis=2), np.roll(down, 1, axis=1)
        big = np.iinfo(np.int64).max
        while True:
            nb = np.minimum(
                np.minimum(np.where(right, np.roll(label, -1, axis=2), big), np.where(left, np.roll(label, 1, axis=2), big)),
                np.minimum(np.where(down, np.roll(label, -1, axis=1), big), np.where(up, np.roll(label, 1, axis=1), big)),
            )
            new = np.minimum(label, nb).ravel()
            np.minimum.at(new, label.ravel(), new)  # hooking: a label's owner takes the lowest label seen
            while True:  # pointer jumping
                jumped = new[new]
                if np.array_equal(jumped, new):
                    break
                new = jumped
            new = new.reshape(shape)
            if np.array_equal(new, label):
                return label
            label = new

    def sweep(self) -> None:
        """One Swendsen–Wang update of every chain."""
        s = self.spins
        right = (s == np.roll(s, -1, axis=2)) & (self.rng.random(s.shape) < self.p_bond)
        down = (s == np.roll(s, -1, axis=1)) & (self.rng.random(s.shape) < self.p_bond)
        label = self.clusters(right, down)
        flip = self.rng.random(s.size) < 0.5  # one coin per cluster, indexed by its label
        self.spins = np.where(flip[label], -s, s).astype(np.int8)

    def observables(self) -> tuple[np.ndarray, np.ndarray]:
        """Energy per site ``−(1/N) Σ_<ij> s_i s_j`` and ``|m| = |Σ_i s_i| / N`` of every chain, ``(chains,)`` each."""
        return ising_observables(self.spins)

    def run(self, sweeps: int, burn_in: int = 0) -> dict[str, np.ndarray]:
        """``burn_in`` sweeps, then ``sweeps`` recorded ones: ``energy`` and ``abs_m``, ``(sweeps, chains)`` each."""
        for _ in range(burn_in):
            self.sweep()
        energy = np.empty((sweeps, self.chains))
        abs_m = np.empty((sweeps, self.chains))
        for t in range(sweeps):
            self.sweep()
            energy[t], abs_m[t] = self.observables()
        return {"energy": energy, "abs_m": abs_m}

    def labels(self) -> np.ndarray:
        """The current states as Potts labels ``(chains, H·W)`` in ``{0, 1}`` (``s = 2x − 1``)."""
        return ((self.spins.reshape(self.chains, -1) + 1) // 2).astype(np.int64)


def ising_observables(spins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy per site and ``|m|`` per site of ±1 spins ``(B, H, W)`` on the torus, ``(B,)`` each."""
    s = spins.astype(np.int64)
    N = s.shape[1] * s.shape[2]
    bonds = (s * np.roll(s, -1, axis=2)).sum((1, 2)) + (s * np.roll(s, -1, axis=1)).sum((1, 2))
    return -bonds / N, np.abs(s.sum((1, 2))) / N


def mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
    """Mean of ``(sweeps, chains)`` measurements and its standard error from the independent chain means."""
    per_chain = values.mean(0)
    chains = len(per_chain)
    stderr = float(per_chain.std(ddof=1) / math.sqrt(chains)) if chains > 1 else float("nan")
    return float(per_chain.mean()), stderr
