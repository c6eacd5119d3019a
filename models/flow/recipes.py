"""Named training recipes of the randomized flow: the one place their settings live.

Each recipe is complete: every setting of the flow (a :class:`~models.flow.settings.FlowSettings`, so nothing
depends on a default), how ``S0`` starts, and how long it trains. ``train.py`` and the benchmarks build models
with ``RandomizedFlow.from_recipe(name, energy, **overrides)``; overrides replace single settings. This module
imports neither torch nor the model (the command line reads it for its help text).

* ``image``: the image model (README, "Fig. 1" and "Local randomness"): label-tied conv Ω and S0, each Ω
  draw label-symmetric and one label offset per uncertain region of the data term, so separate regions
  decide independently (k = 3 subjects: TV to uniform 0.75 → 0.02); S0 from the data term, argmax
  rounding, T = 4 in steps of 0.4, Ω variance 1, the energy weight annealed over the first 37.5 %; each
  sample finished by rounds of 1 Swendsen–Wang, 1 line and 1 heat-bath sweep until the convergence check passes
  (P*'s region odds and pixel fluctuations).
* ``image-stationary``: ``image`` with a stationary start (its scale a function of the start entropy, the offset
  factor a constant): nothing learned belongs to a pixel, so a trained model samples other images (``sample.py``).
* ``image-global``: the previous image model: Ω noise per entry and one label offset per image (every
  region follows the same draw). Kept for comparisons and for ``learn_offset_mean``.
* ``image-untied``: conv Ω without label tying (symmetric modes get unequal weight: cat share 0.004–0.934
  over 5 seeds).
* ``ising``: ours on small graphs (Table 1: KL ≈ 0.09): dense Ω, drawn labels with the score-function
  term, S0 noise, β-annealing, cosine lr (benchmarks/flow_experiments.md).
* ``ising-meanfield``: ``ising`` started at a mean-field solution with each sample's labels permuted at random
  (energies without a field), a tiny Ω draw and no annealing: never worse than mean field (issue 20, large tori).
* ``paper``: §5 as written (argmax, constant lr 5e-3, 5k iterations); collapses to a single labeling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.finish import DEFAULT_CAP
from models.flow.settings import FlowSettings

_ISING = FlowSettings(
    omega="dense", kernel_size=3, periodic=False, samples_per_step=512, lr=1e-2, lr_schedule="cosine", schedule_steps=4000, lr_final=0.05,
    step_size=0.1, end_time=1.0, omega_mean=1 / 20, omega_variance=0.1, omega_eps=1e-3, symmetric=True, nonnegative=True,
    rounding="draw", score_function=True, leave_one_out=False, init_std=1.0, s0_noise=0.5, noise_rank=0,
    noise_rank_init=0.1, anneal_fraction=0.375, tie_labels=False, learn_offset_mean=False, offset_lr_factor=0.1, omega_lr_factor=1.0,
    omega_noise="entry", offset="global", stationary=False, crop=0, permute_labels=False, finish_round="",
    finish_rounds=1, finish_cap=DEFAULT_CAP,
)
# starts where mean field ends: S0 = its solution, mixed over the label permutations (its mirror images), a tiny Ω draw
# that stays (trained, Ω's 65k means drift under the noisy gradient: +0.7 nats at L = 16, β_c after 70 Adam steps), no
# annealing; 1 heat-bath sweep finishes each sample (its law is the semi-implicit bound's component: L = 16, β_c 4.65 → 1.8)
_ISING_MEANFIELD = _ISING.replace(
    omega_mean=0.0, omega_variance=1e-6, omega_lr_factor=0.0, s0_noise=0.01, anneal_fraction=0.0, permute_labels=True,
    lr=1e-3, samples_per_step=128, finish_round="hb",
)
_PAPER = _ISING.replace(
    rounding="argmax", score_function=False, init_std=0.1, s0_noise=0.0, lr=5e-3, lr_schedule="constant", schedule_steps=5000,
    anneal_fraction=0.0,
)
_IMAGE = _ISING.replace(
    omega="conv", samples_per_step=64, schedule_steps=600, end_time=4.0, step_size=0.4, omega_variance=1.0, rounding="argmax",
    score_function=False, s0_noise=0.0, tie_labels=True, noise_rank=1, noise_rank_init=1.0, omega_noise="role", offset="region",
    # the P*-invariant finish (benchmarks/exact_images.py, seeds 0–2): one SW sweep re-decides each region with P*'s odds;
    # soft's one-pixel halos need their domain walls moved: pixel TV over all pixels 0.004–0.005 with 1 SW + 1 line + 1
    # heat-bath sweep, 0.008–0.018 with 1 SW + 4 heat-bath sweeps (the default until 2026-12), which cost ~25 % more; the
    # last heat-bath sweep gives the entropy bound its law (models/last_draw.py)
    finish_round="sw,line,hb",
    # rounds of that schedule until the convergence check passes (models/finish/adaptive.py): one fixed round missed P*'s
    # odds on images it was not chosen on (benchmarks/exact_suite.py)
    finish_rounds=0,
    # larger images train on 128² crops (a scale and an offset factor per pixel, trained while its pixel is in the crop)
    stationary=False, crop=128,
)
# nothing learned belongs to a pixel: samples any image without training (sample.py --image); on photos its pixel TV is
# worse than the per-pixel start's (chelsea at 64 px: 0.070 against 0.015), on the soft-edged exact image better
_IMAGE_STATIONARY = _IMAGE.replace(stationary=True)
_IMAGE_GLOBAL = _IMAGE.replace(omega_noise="entry", offset="global")
_IMAGE_UNTIED = _IMAGE.replace(tie_labels=False, noise_rank=0, noise_rank_init=0.1, omega_noise="entry", offset="global",
                               stationary=False, crop=0)


@dataclass(frozen=True)
class Recipe:
    """A complete way to train the flow; build its model with ``RandomizedFlow.from_recipe``.

    Attributes:
        name: the recipe's name in :data:`RECIPES`.
        settings: every setting of the flow.
        start: ``"data"`` (S0 logits = ``−unary`` of the energy: the data term's pixelwise posterior),
            ``"random"`` (the recipe's random logits) or ``"mean-field"`` (a mean-field solution's log marginals,
            ``models.baselines.mean_field.mean_field_solution``).
    """

    name: str
    settings: FlowSettings
    start: Literal["data", "random", "mean-field"]

    def __post_init__(self) -> None:
        check_start(self.start)

    @property
    def max_steps(self) -> int:
        """Optimizer steps of a run: the length of the recipe's lr and annealing schedules."""
        return self.settings.schedule_steps


#: how S0 can start (``Recipe.start``)
STARTS = ("data", "random", "mean-field")


def check_start(start: str) -> str:
    """How S0 starts: one of :data:`STARTS`."""
    if start not in STARTS:
        raise ValueError(f"start must be {', '.join(map(repr, STARTS[:-1]))} or {STARTS[-1]!r}, got {start!r}")
    return start


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("image", _IMAGE, start="data"),
        Recipe("image-stationary", _IMAGE_STATIONARY, start="data"),
        Recipe("image-global", _IMAGE_GLOBAL, start="data"),
        Recipe("image-untied", _IMAGE_UNTIED, start="data"),
        Recipe("ising", _ISING, start="random"),
        Recipe("ising-meanfield", _ISING_MEANFIELD, start="mean-field"),
        Recipe("paper", _PAPER, start="random"),
    )
}

#: optimizer steps of the baselines' runs (their other settings are their constructors' defaults)
BASELINE_MAX_STEPS = {"meanfield": 1500, "van": 2000}


#: earlier names, so that checkpoints saved under them load: ``"flow"`` was the ``ising`` recipe
ALIASES = {"flow": "ising"}


def recipe(name: str) -> Recipe:
    """The recipe called ``name`` or one of its :data:`ALIASES` (a one-line error naming the choices otherwise)."""
    name = ALIASES.get(name, name)
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[name]
