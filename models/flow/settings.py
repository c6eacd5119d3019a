"""The randomized flow's settings as one frozen, typed value, checked once when it is made.

Every setting of :class:`models.flow.randomized_flow.RandomizedFlow` but ``n, c, grid, seed`` is a field here;
the named recipes of :mod:`models.flow.recipes` are instances. Nothing here imports torch: the command line
reads the recipes to build its help text.
"""

# no ``from __future__ import annotations``: __post_init__ reads the Literal choices off the field types
import dataclasses
import math
from dataclasses import dataclass
from typing import Literal, get_args, get_origin

from models.kernels import parse_schedule


@dataclass(frozen=True)
class FlowSettings:
    """Every setting of the randomized flow; no field has a default, so a recipe states them all.

    ``__post_init__`` refuses a value out of range or settings that do not go together with a one-line
    ``ValueError`` that starts with the setting's name or names it as ``name=value`` (the command line
    replaces the name by its flag). Make variants with :meth:`replace`.
    """

    omega: Literal["dense", "conv"]
    """``"dense"`` (Theorem 1's ``max(Z+Zᵀ,0)+εI``) or ``"conv"`` (multi-channel convolution on the grid)."""
    kernel_size: int
    """Odd width ``k`` of the convolutional Ω's kernels."""
    periodic: bool
    """The conv Ω wraps around the grid (a torus); ``RandomizedFlow.from_recipe`` takes it from the energy."""
    samples_per_step: int
    """``m``, flow samples per optimisation step (≥ 2: the entropy estimate and baselines leave one out)."""
    lr: float
    """Adam step length."""
    lr_schedule: Literal["constant", "cosine"]
    """``"constant"`` or ``"cosine"`` (to ``lr · lr_final`` over the schedule)."""
    schedule_steps: int
    """Length of the lr and annealing schedules (the trainer's ``max_steps`` when set); a recipe's run length."""
    lr_final: float
    """Final learning rate of the cosine schedule as a fraction of ``lr``."""
    step_size: float
    """Euler step ``h`` of the flow."""
    end_time: float
    """Integration time ``T`` of the flow."""
    omega_mean: float
    """Initial mean ``μ`` of Ω's weights."""
    omega_variance: float
    """Initial variance ``σ²`` of Ω's weights."""
    omega_eps: float
    """``ε`` of ``εI`` added to every Ω draw."""
    symmetric: bool
    """Symmetrize each conv Ω draw so Ω is self-adjoint."""
    nonnegative: bool
    """Clamp the conv Ω's drawn weights at 0 (as ``max(·, 0)`` of Theorem 1)."""
    rounding: Literal["draw", "argmax"]
    """How a soft sample becomes a labeling: ``"draw"`` (a label per node from ``S(T)``) or ``"argmax"`` (the paper's)."""
    score_function: bool
    """Add the REINFORCE term of the label draw (only acts with ``rounding="draw"``)."""
    leave_one_out: bool
    """Evaluate estimate (23) at ``α(k)`` without sample ``k``'s own component."""
    init_std: float
    """Std of the random initial ``S0`` logits (0: uniform start, the paper's fixed point)."""
    s0_noise: float
    """Initial std of learned Gaussian noise on the ``S0`` logits (0: none)."""
    noise_rank: int
    """Rank of learned correlated Gaussian noise on the ``S0`` logits (with ``tie_labels``: the label offset; 0: none)."""
    noise_rank_init: float
    """Initial scale of that noise's factor (random entries; a constant when ``tie_labels``)."""
    anneal_fraction: float
    """Energy weight ``β_t = min(1, t / (anneal_fraction · total))`` in training (0: ``β = 1``); logged free energy at ``β = 1``."""
    tie_labels: bool
    """Make the law invariant under label permutations that keep the start logits (tied conv Ω; see ``ConvOmega``, ``TiedStart``)."""
    learn_offset_mean: bool
    """Learn the mean of the global tied label offset by a score-function term (README, "Fig. 1")."""
    offset_lr_factor: float
    """Learning rate of that offset mean as a fraction of ``lr``."""
    omega_lr_factor: float
    """Learning rate of Ω's distribution as a fraction of ``lr`` (0: Ω keeps its initial distribution)."""
    omega_noise: Literal["entry", "role"]
    """Conv Ω noise ``"entry"`` (i.i.d. per entry) or ``"role"`` (one draw per tied kernel: every draw label-symmetric)."""
    offset: Literal["global", "region"]
    """The tied label offset drawn once per sample (``"global"``) or once per uncertain region of the start logits (``"region"``)."""
    stationary: bool
    """The label-tied start's scale and offset factor are shared by every node (``models/flow/start.py``): nothing learned
    belongs to a pixel, so the model trains on crops and samples other images (``sample.py``)."""
    crop: int
    """Train on a random ``crop × crop`` window of the image per step (its own energy: the data term and edges inside it);
    0, or a crop at least the image's size: the whole image. Memory and time per step then do not grow with the image."""
    permute_labels: bool
    """Permute each sample's start labels uniformly at random (``FreeStart``): symmetric modes get equal weight. Needs an
    energy that every relabelling leaves unchanged (Ising, Potts without a field)."""
    finish_round: str
    """The finish's round: registered kernel names in the order they run after each sample's flow and rounding, e.g.
    ``"sw,line,hb"`` (``models/kernels/``: Swendsen–Wang with the data term, line heat bath, heat bath; a name may
    repeat; ``""``: no finish). Each kernel leaves P* invariant: the sweeps can only bring samples closer to it."""
    finish_rounds: int
    """Rounds of ``finish_round`` (``models/finish/adaptive.py``); 0: automatic, rounds until the convergence check passes
    (``models/finish/convergence.py``), at most ``finish_cap``."""
    finish_cap: int
    """Rounds an automatic finish runs at most (≥ 1); reaching it is reported with a one-line message."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # the Literal fields: their choices
            if get_origin(f.type) is Literal and getattr(self, f.name) not in get_args(f.type):
                allowed = " or ".join(map(repr, get_args(f.type)))
                raise ValueError(f"{f.name} must be {allowed}, got {getattr(self, f.name)!r}")
        positive = ("lr", "step_size", "end_time", "omega_variance")
        for name in positive:
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be positive{' and finite' if name == 'lr' else ''}, got {value}")
        if self.samples_per_step < 2:
            raise ValueError(f"samples_per_step must be ≥ 2, got {self.samples_per_step}")
        if self.kernel_size < 1 or self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd and positive, got {self.kernel_size}")
        if self.schedule_steps < 1:
            raise ValueError(f"schedule_steps must be ≥ 1, got {self.schedule_steps}")
        if not 0 <= self.anneal_fraction <= 1:
            raise ValueError(f"anneal_fraction must be in [0, 1], got {self.anneal_fraction}")
        schedule = self.finish_round if isinstance(self.finish_round, str) else ",".join(self.finish_round)
        try:
            object.__setattr__(self, "finish_round", ",".join(parse_schedule(schedule)))  # one spelling
        except ValueError as err:
            raise ValueError(f"finish_round: {err}") from None
        for name in ("crop", "finish_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer ≥ 0, got {value!r}")
        if isinstance(self.finish_cap, bool) or not isinstance(self.finish_cap, int) or self.finish_cap < 1:
            raise ValueError(f"finish_cap must be an integer ≥ 1, got {self.finish_cap!r}")
        for name in ("init_std", "s0_noise", "noise_rank", "noise_rank_init", "omega_eps", "lr_final", "offset_lr_factor", "omega_lr_factor"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        self._check_combination()

    def _check_combination(self) -> None:
        """Settings that do not go together."""
        if self.tie_labels and self.omega != "conv":
            raise ValueError(f"omega={self.omega!r} needs a recipe without label tying, e.g. recipe='image-untied' "
                             "(label tying ties the conv Ω's label channels; the dense Ω has none)")
        if self.omega == "dense" and self.omega_noise != "entry":
            raise ValueError(f"omega_noise={self.omega_noise!r} needs omega='conv' (the dense Ω draws its noise per entry)")
        if self.omega_noise == "role" and not self.tie_labels:
            raise ValueError("omega_noise='role' needs tie_labels (the roles are the tied kernels)")
        if self.permute_labels and self.tie_labels:
            raise ValueError("permute_labels needs a recipe without label tying, e.g. recipe='ising' (label tying already "
                             "makes the law symmetric where the start logits are)")
        if self.stationary and not self.tie_labels:
            raise ValueError("stationary needs tie_labels (it shares the label-tied start's scale and factor), e.g. recipe='image'")
        if self.crop and not (self.omega == "conv" and self.tie_labels):
            raise ValueError(f"crop={self.crop} needs a label-tied conv recipe, e.g. recipe='image' (a crop is a window of an "
                             "image grid, and only the label-tied start draws a window's nodes alone)")
        region = self.offset == "region"
        if region and not (self.tie_labels and self.noise_rank == 1):
            raise ValueError("offset='region' needs tie_labels and noise_rank=1 (it is the tied label offset, drawn per region)")
        if self.learn_offset_mean and not (self.tie_labels and self.noise_rank > 0 and not region):
            raise ValueError("learn_offset_mean needs a recipe with the global tied label offset, e.g. recipe='image-global' "
                             "(tie_labels, noise_rank > 0, offset 'global'): it learns that offset's mean")

    def replace(self, **overrides) -> "FlowSettings":
        """These settings with ``overrides`` applied (``None`` values ignored), checked again.

        Raises:
            TypeError: an override that is no setting.
            ValueError: a value out of range, or settings that do not go together.
        """
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"the flow has no setting {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def asdict(self) -> dict:
        """Every setting by name: primitives, as ``save_hyperparameters`` takes them."""
        return dataclasses.asdict(self)
