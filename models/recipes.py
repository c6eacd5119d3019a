"""Named training recipes of the randomized flow: the one place their settings live.

Each recipe is complete: every constructor argument of :class:`models.randomized_flow.RandomizedFlow`
(so nothing depends on another argument's default), how ``S0`` starts, and how long it trains.
``train.py`` and the benchmarks build models from here; explicit arguments override single settings.

* ``image``: the image model (README, "Fig. 1" and "Local randomness"): label-tied conv Ω and S0, each Ω
  draw label-symmetric and one label offset per uncertain region of the data term, so separate regions
  decide independently (k = 3 subjects: TV to uniform 0.75 → 0.02); S0 from the data term, argmax
  rounding, T = 4 in steps of 0.4, Ω variance 1, the energy weight annealed over the first 37.5 %.
* ``image-global``: the previous image model: Ω noise per entry and one label offset per image (every
  region follows the same draw). Kept for comparisons and for ``learn_offset_mean``.
* ``image-untied``: conv Ω without label tying (symmetric modes get unequal weight: cat share 0.004–0.934
  over 5 seeds).
* ``ising``: ours on small graphs (Table 1: KL ≈ 0.09): dense Ω, drawn labels with the score-function
  term, S0 noise, β-annealing, cosine lr (benchmarks/flow_experiments.md).
* ``paper``: §5 as written (argmax, constant lr 5e-3, 5k iterations); collapses to a single labeling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

# every constructor argument of RandomizedFlow but n, c, grid and seed
_ISING = dict(
    omega="dense", kernel_size=3, periodic=False, samples_per_step=512, lr=1e-2, lr_schedule="cosine", schedule_steps=4000, lr_final=0.05,
    step_size=0.1, end_time=1.0, omega_mean=1 / 20, omega_variance=0.1, omega_eps=1e-3, symmetric=True, nonnegative=True,
    rounding="draw", score_function=True, leave_one_out=False, init_std=1.0, s0_noise=0.5, noise_rank=0,
    noise_rank_init=0.1, anneal_fraction=0.375, tie_labels=False, learn_offset_mean=False, offset_lr_factor=0.1,
    omega_noise="entry", offset="global",
)
_PAPER = {
    **_ISING, "rounding": "argmax", "score_function": False, "init_std": 0.1, "s0_noise": 0.0, "lr": 5e-3,
    "lr_schedule": "constant", "schedule_steps": 5000, "anneal_fraction": 0.0,
}
_IMAGE = {
    **_ISING, "omega": "conv", "samples_per_step": 64, "schedule_steps": 600, "end_time": 4.0, "step_size": 0.4,
    "omega_variance": 1.0, "rounding": "argmax", "score_function": False, "s0_noise": 0.0, "tie_labels": True,
    "noise_rank": 1, "noise_rank_init": 1.0, "omega_noise": "role", "offset": "region",
}
_IMAGE_GLOBAL = {**_IMAGE, "omega_noise": "entry", "offset": "global"}
_IMAGE_UNTIED = {**_IMAGE, "tie_labels": False, "noise_rank": 0, "noise_rank_init": 0.1, "omega_noise": "entry", "offset": "global"}


@dataclass(frozen=True)
class Recipe:
    """A complete way to train the flow.

    Attributes:
        name: the recipe's name in :data:`RECIPES`.
        flow: every keyword argument of ``RandomizedFlow`` but ``n, c, grid, seed``.
        start: ``"data"`` (S0 logits = ``−unary`` of the energy: the data term's pixelwise posterior) or
            ``"random"`` (the recipe's random logits).
    """

    name: str
    flow: MappingProxyType = field(repr=False)
    start: str

    @property
    def max_steps(self) -> int:
        """Optimizer steps of a run: the length of the recipe's lr and annealing schedules."""
        return self.flow["schedule_steps"]

    def settings(self, **overrides) -> dict:
        """The flow's keyword arguments with ``overrides`` (``None`` values ignored) applied."""
        unknown = set(overrides) - set(self.flow)
        if unknown:
            raise TypeError(f"recipe {self.name!r} has no setting {', '.join(sorted(unknown))}")
        return {**self.flow, **{k: v for k, v in overrides.items() if v is not None}}

    def build(self, energy, seed: int = 0, start: str | None = None, **overrides):
        """A ``RandomizedFlow`` for ``energy`` (its ``n, c, grid``), with S0 set by ``start`` (default: the recipe's)."""
        from models.randomized_flow import RandomizedFlow

        start = start or self.start
        if start not in ("data", "random"):
            raise ValueError(f"start must be 'data' or 'random', got {start!r}")
        overrides.setdefault("periodic", bool(getattr(energy, "periodic", False)))  # Ω follows the energy's topology
        model = RandomizedFlow(energy.n, energy.c, grid=energy.grid, seed=seed, recipe=self.name, **self.settings(**overrides))
        if start == "data":
            model.initialise_start(-energy.factors()[0])  # S0 = softmax(−unary): on the cat/lion subject 1/2 each
        return model


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("image", MappingProxyType(_IMAGE), start="data"),
        Recipe("image-global", MappingProxyType(_IMAGE_GLOBAL), start="data"),
        Recipe("image-untied", MappingProxyType(_IMAGE_UNTIED), start="data"),
        Recipe("ising", MappingProxyType(_ISING), start="random"),
        Recipe("paper", MappingProxyType(_PAPER), start="random"),
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
