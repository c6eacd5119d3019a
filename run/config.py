"""The settings of one run: every option of ``train.py``, by the same name (``--max-steps`` is ``max_steps``).

Nothing heavy is imported here (``train.py --help`` builds its defaults from this module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from data.defaults import UNARY_KINDS
from models.flow.recipes import BASELINE_MAX_STEPS, RECIPES
from models.kernels import parse_schedule
from run.errors import UsageError

MODELS = ("flow", "meanfield", "van")
EXACT = ("auto", "on", "off")
# options of images only, and options of some models only (the others would ignore them)
IMAGE_ONLY = ("image", "labels", "classes", "sigma", "beta", "max_size", "unary", "unary_kind", "unary_scale", "unary_key", "contrast",
              "contrast_floor")
UNARY_ONLY = ("unary_kind", "unary_scale", "unary_key")  # options of --unary's array
NOT_WITH_UNARY = ("classes", "sigma", "max_size")  # options of the image's colour model: the array replaces it
_FLOW = ("flow",)
MODEL_ONLY = {
    "recipe": _FLOW, "omega": _FLOW, "kernel_size": _FLOW, "end_time": _FLOW, "step_size": _FLOW, "omega_variance": _FLOW,
    "rounding": _FLOW, "anneal": _FLOW, "learn_offset": _FLOW, "start": _FLOW, "finish": _FLOW, "finish_cap": _FLOW, "samples": ("flow", "van"), "restarts": ("meanfield",),
}


@dataclass(frozen=True)
class RunConfig:
    """One run of training: each field is the command-line option of that name (``kernel_size`` is
    ``--kernel-size``); ``None`` means "not given", so the owner's default applies (the bundled image's, the
    recipe's, the model's). ``train.py --help`` describes every option.

    Made, it is checked: the run's length and periods, and options that exclude each other or that the run
    would ignore (a :class:`~run.errors.UsageError` naming the fields). Every other value is checked by the
    class that owns it when the run is built. Variants: ``dataclasses.replace(config, seed=1)``.
    """

    # data: an image (or your own data term ``unary``, with or without its image), or the Ising grid of ``ising``
    image: str | Path | None = None
    labels: str | None = None
    classes: int | None = None
    sigma: float | None = None
    beta: float | None = None
    max_size: int | None = None
    unary: str | Path | None = None
    unary_kind: str | None = None
    unary_scale: float | None = None
    unary_key: str | None = None
    contrast: float | None = None
    contrast_floor: float | None = None
    ising: str | None = None
    coupling: float | None = None
    # the model: the flow from its recipe with single settings overridden, or a baseline
    model: str = "flow"
    recipe: str | None = None
    samples: int | None = None
    lr: float | None = None
    omega: str | None = None
    kernel_size: int | None = None
    end_time: float | None = None
    step_size: float | None = None
    omega_variance: float | None = None
    rounding: str | None = None
    anneal: float | None = None
    learn_offset: bool = False
    start: str | None = None
    finish: str | int | None = None
    finish_cap: int | None = None
    restarts: int | None = None
    # training
    max_steps: int | None = None
    seed: int = 0
    root_dir: str | Path = "."
    resume: str | Path | None = None
    accelerator: str = "auto"
    devices: int | str = "1"
    strategy: str = "auto"
    checkpoint_every: int = 100
    log_every: int | None = None  # None: default_log_every(n), resolved when the run is built
    summary_samples: int = 256
    exact: str = "auto"
    quiet: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        _choice("model", self.model, MODELS)
        _choice("exact", self.exact, EXACT)
        if self.recipe is not None:
            _choice("recipe", self.recipe, tuple(RECIPES))
        if self.threads is not None and self.threads < 1:
            raise UsageError(lambda n: f"{n('threads')} must be ≥ 1, got {self.threads}")
        for name in ("max_steps", "checkpoint_every", "log_every"):
            value = self.steps if name == "max_steps" else getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(lambda n, name=name, value=value: f"{n(name)} must be ≥ 1, got {value}")
        if self.max_size is not None and self.max_size < 0:
            raise UsageError(lambda n: f"{n('max_size')} must be ≥ 0 (0 keeps the size), got {self.max_size}")
        if self.ising is not None:
            image_opts = [k for k in IMAGE_ONLY if getattr(self, k) is not None]
            if image_opts:
                raise UsageError(lambda n: f"{n('ising')} trains a synthetic grid: drop {', '.join(map(n, image_opts))}")
        elif self.coupling is not None:
            raise UsageError(lambda n: f"{n('coupling')} applies to {n('ising')} only (images use {n('beta')})")
        self._check_data_term()
        unused = [k for k, models in MODEL_ONLY.items() if self.model not in models and getattr(self, k) not in (None, False)]
        if unused:
            verb = "does" if len(unused) == 1 else "do"
            raise UsageError(lambda n: f"{', '.join(map(n, unused))} {verb} not apply to {n('model')} {self.model}")
        if self.model == "flow" and self.kernel_size is not None and (self.omega or RECIPES[self.flow_recipe].settings.omega) != "conv":
            raise UsageError(lambda n: f"{n('kernel_size')} applies to the conv Ω; this run's Ω is dense")
        if self.ising is not None:
            parse_size(self.ising)
        parse_finish(self.finish)
        device_count(self.devices)

    def _check_data_term(self) -> None:
        """Options of ``unary`` and ``contrast`` that another option excludes, or that the run would ignore."""
        if self.unary_kind is not None:
            _choice("unary_kind", self.unary_kind, UNARY_KINDS)
        if self.unary is None:
            unused = [k for k in UNARY_ONLY if getattr(self, k) is not None]
            if unused:
                verb = "applies" if len(unused) == 1 else "apply"
                raise UsageError(lambda n: f"{', '.join(map(n, unused))} {verb} to {n('unary')} only")
        else:
            unused = [k for k in NOT_WITH_UNARY if getattr(self, k) is not None]
            if unused:
                verb = "does" if len(unused) == 1 else "do"
                raise UsageError(lambda n: f"{', '.join(map(n, unused))} {verb} not apply to {n('unary')}: the array is the data term "
                                 f"(its last axis the labels), and neither it nor {n('image')} is resized")
            if self.contrast is not None and self.image is None:
                raise UsageError(lambda n: f"{n('contrast')} needs {n('image')}: with {n('unary')} alone there is no image to take the "
                                 "edge weights from")
        if self.contrast_floor is not None and self.contrast is None:
            raise UsageError(lambda n: f"{n('contrast_floor')} applies to {n('contrast')} only")

    @property
    def flow_recipe(self) -> str:
        """The flow's recipe: the one given, else ``ising`` on the Ising grid and ``image`` on images."""
        return self.recipe or ("ising" if self.ising is not None else "image")

    @property
    def steps(self) -> int:
        """``max_steps``, or the default of the model (the flow's: its recipe's)."""
        if self.max_steps is not None:
            return self.max_steps
        return BASELINE_MAX_STEPS[self.model] if self.model != "flow" else RECIPES[self.flow_recipe].max_steps


def parse_size(text: str) -> tuple[int, int]:
    """``(H, W)`` of an Ising grid given as ``"HxW"`` (``"3x8"``)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not match:
        raise UsageError(lambda n: f"{n('ising')} {text!r}: expected HxW, e.g. 3x8")
    h, w = int(match.group(1)), int(match.group(2))
    if h < 1 or w < 2:
        raise UsageError(lambda n: f"{n('ising')} {text!r}: the grid needs at least 1x2 nodes")
    return h, w


def parse_finish(finish: str | int | None) -> tuple[int | None, str | None]:
    """``--finish`` as ``(finish_rounds, finish_round)``, ``None`` where the recipe's stays:

    ``"auto"`` → ``(0, None)``: the recipe's round until the convergence check passes; ``N`` → ``(N, None)``: N rounds
    of it; a schedule ``"sw,line,hb"`` → ``(1, "sw,line,hb")``: those sweeps once; ``"auto:sw,hb"`` or ``"3:hb"``:
    rounds of a schedule; ``"none"`` → ``(1, "")``: no finish.
    """
    if finish is None:
        return None, None
    text = str(finish).strip().lower()
    rounds_text, _, schedule = text.rpartition(":") if ":" in text else ("", "", text)
    if not rounds_text and (schedule == "auto" or schedule.lstrip("-").isdigit()):
        rounds_text, schedule = schedule, None
    expected = "'auto', a number of rounds ≥ 1, a schedule such as 'sw,line,hb', 'ROUNDS:SCHEDULE' or 'none'"
    try:
        round_ = None if schedule is None else ",".join(parse_schedule(schedule))
    except ValueError as err:
        reason = str(err)
        raise UsageError(lambda n: f"{n('finish')} must be {expected}: {reason}") from None
    if round_ == "":
        if rounds_text:  # "auto:" or "3:none": rounds of nothing
            raise UsageError(lambda n: f"{n('finish')} {finish!r}: rounds of no sweeps; give a schedule after ':' or 'none'")
        return 1, ""
    if rounds_text in ("", "auto"):
        return (1 if rounds_text == "" else 0), round_
    if not rounds_text.isdigit() or int(rounds_text) < 1:
        raise UsageError(lambda n: f"{n('finish')} must be {expected}, got {finish!r}")
    return int(rounds_text), round_


def device_count(devices: int | str) -> int | str:
    """``devices`` as the Trainer takes it: a count ≥ 1, or ``"auto"``."""
    if devices == "auto":
        return "auto"
    try:
        value = int(devices)
    except (TypeError, ValueError):
        raise UsageError(lambda n: f"{n('devices')} must be an integer or 'auto', got {devices!r}") from None
    if value < 1:
        raise UsageError(lambda n: f"{n('devices')} must be ≥ 1, got {value}")
    return value


def _choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise UsageError(lambda n: f"{n(name)} must be one of {', '.join(choices)}, got {value!r}")
