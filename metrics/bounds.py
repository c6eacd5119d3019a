"""The figures of a model that hold at any size: each is exact, a bound, or absent (README, "Reading the figures").

* ``kl_upper`` / ``free_energy_upper`` / ``entropy_lower``: the semi-implicit bound (:mod:`models.flow.kl_bound`)
  from the law of the model's last draw, plus / minus two standard errors. ``kl_upper`` needs the exact
  ``log Z*``; the free-energy bound does not.
* ``kl_lower``: Donsker–Varadhan from exact ``log Z`` at other weights (:mod:`metrics.kl_lower`), minus two
  standard errors and never below 0.
* ``bound_gap``: ``B_1 − B_M``, what the ``M − 1`` fresh components added to the bound; it is at most ``log M``,
  and near ``log M`` the bound is limited by ``M`` rather than by the model.
* ``pixel_entropy``: the mean entropy of the samples' per-node marginals (a description, not a bound).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energies.sample_stats import sample_marginals
from metrics.kl_lower import DonskerVaradhan
from metrics.uncertainty import pixel_entropy
from models.flow.kl_bound import kl_upper_bound

COMPONENTS = 32  # M of the semi-implicit bound
GROUPS = 8  # independent groups of samples (its standard error)


def bound_figures(
    model,
    labelings: Tensor,
    log_z: float | None,
    kl_lower: DonskerVaradhan | None,
    generator: torch.Generator | None,
    components: int = COMPONENTS,
    groups: int = GROUPS,
    max_node_draws: int | None = None,
) -> dict:
    """The bounds of ``model`` (on its attached energy) and of its samples ``labelings (m, n)``.

    The upper bounds draw ``m`` (rounded down to a multiple of ``groups``) fresh samples and
    ``groups·(components − 1)`` components with ``generator``, unless those draws would exceed ``max_node_draws``
    samples × nodes; ``"bound_missing"`` says why a model has none.
    """
    energy = model.energy
    c = energy.c
    out: dict = {"pixel_entropy": float(pixel_entropy(sample_marginals(labelings, c)).mean())}
    if kl_lower is not None:
        out["kl_lower"] = kl_lower.of_samples(labelings).certified
    missing = model.last_draw_missing()
    samples = labelings.shape[0] // groups * groups
    draws = energy.n * (samples + groups * (components - 1))
    if missing is None and max_node_draws is not None and draws > max_node_draws:
        missing = f"the bound's {samples + groups * (components - 1)} draws of {energy.n} nodes exceed the evaluation's budget"
    if missing is None and samples:
        b = kl_upper_bound(model, energy, 0.0, samples=samples, components=components, groups=groups, chunk=256, generator=generator)
        out["free_energy_upper"] = b.bound + 2 * b.stderr
        out["entropy_lower"] = -b.mean_log_p - 2 * b.log_p_stderr
        out["bound_gap"] = b.own_log_p - b.mean_log_p
        if log_z is not None:
            out["kl_upper"] = b.bound + log_z + 2 * b.stderr
    elif missing is not None:
        out["bound_missing"] = missing
    return {k: v for k, v in out.items() if not isinstance(v, float) or math.isfinite(v)}
