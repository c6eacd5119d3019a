"""Randomized assignment flow (§3–§5): P = E_Ω[T(S(Ω))], trained by minimising the free energy (14).

A sample is one flow run ``S(T) = flow(S0, Ω)`` with a fresh ``Ω ~ μ`` (and, optionally, fresh noise on
``S0``), made integral by ``rounding``:

* ``"draw"`` (default): an independent label per node from ``S(T)``. The model is then exactly the
  mixture of product distributions ``E_Ω[T(S(Ω))]`` of eq. (6) at finite ``T``, so estimate (23)
  evaluated at the drawn labels is an honest entropy estimate even while samples are soft.
* ``"argmax"``: the paper's rounding (exact only in the limit of integral ``S(T)``, Theorem 1).

Training minimises ``⟨P, E⟩ − Ĥ(P)``: the energy term by eq. (17) (``expected_energy`` of the soft
samples, reparameterized), the entropy by eqs. (22)–(23). Under ``"draw"`` the labels depend on
``S(T)`` through a discrete draw, so a score-function (REINFORCE) term with a leave-one-out baseline
carries the gradient of that draw.

The settings (:class:`models.flow.settings.FlowSettings`) come from a named recipe (:mod:`models.flow.recipes`:
``image``, ``ising``, ``paper``, …); explicit constructor arguments override single settings.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from energies.base import label_symmetric
from energies.grid_potts import GridPottsEnergy
from models.baselines.mean_field import mean_field_solution
from models.energy_model import EnergyModel
from models.finish.adaptive import AdaptiveFinish, FinishReport
from models.finish.convergence import LEAST_SAMPLES
from models.finish.schedule import Finish
from models.flow.assignment_flow import AssignmentFlow
from models.flow.entropy import first_argmax, log_component_probs, log_mixture_prob
from models.flow.omega_conv import ConvOmega
from models.flow.omega_dense import DenseOmega
from models.flow.recipes import Recipe, check_start
from models.flow.recipes import recipe as find_recipe
from models.flow.start import TiedStart, flow_start
from models.kernels import kernel_class, parse_schedule
from models.last_draw import LastDraw


#: the largest ``(samples, n, c)`` tensor that sampling makes at once (32 MiB of float32): see ``RandomizedFlow.chunk``
CHUNK_ELEMENTS = 2**23
#: chains an automatic finish's check must have had before its rounds are reused for further samples (fewer where an
#: evaluation draws fewer, see ``RandomizedFlow.settle_samples``)
SETTLE_SAMPLES = 64
#: chains an automatic finish decides its rounds on at least, drawing more than a sampling asks for where it asks for
#: fewer (within :data:`NODE_SAMPLES`): the check's power grows with its chains. On coffee at 48 px (one trained model,
#: six noise seeds) a decision on 256 chains (``train.py``'s default summary) stopped after 4–32 rounds, median 6, with the
#: uncertain-pixel TV still 0.03–0.04 after 4; on 1,024 chains (what ``benchmarks/photo_suite.py`` validated the check
#: on) three seeds flagged every window up to 16–32 rounds (TV 0.011–0.013 at 64); on 2,048 every window up to 32
#: (docs/convergence.md)
DECIDE_CHAINS = 1024
#: node-samples (samples × nodes) one evaluation draws at most: 512 samples of a 128² image, 32 of a 512² one, so that
#: evaluating a large image takes bounded time and memory (``callbacks.common.affordable``)
NODE_SAMPLES = 2**23


def _where(energy) -> tuple:
    """Device and dtype of an energy's tensors: what a finish built for it depends on."""
    return energy.unary.device, energy.unary.dtype


@dataclass(frozen=True)
class Window:
    """A crop of the image grid that a training step runs on: its energy, its node indices in the whole grid
    (row-major), its ``(height, width)``."""

    energy: GridPottsEnergy
    nodes: Tensor
    grid: tuple[int, int]


def draw_labels(S: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One label per node from the rows of ``S (m, n, c)`` by inverse-CDF sampling: ``(m, n)`` long."""
    u = torch.rand(S.shape[:-1] + (1,), generator=generator, device=S.device, dtype=S.dtype)
    return (u > S.cumsum(-1)).sum(-1).clamp_max(S.shape[-1] - 1)


class RandomizedFlow(EnergyModel):
    """The randomized assignment flow as a LightningModule.

    Args:
        n: number of nodes.  c: number of labels.
        grid: ``(H, W)`` of an image graph (needed by ``omega="conv"``).
        recipe: a name in :data:`models.flow.recipes.RECIPES` or :data:`~models.flow.recipes.ALIASES` (default ``"ising"``,
            the dense-Ω recipe for small graphs); it gives every setting.
        seed: seeds the initial ``S0`` logits.
        **settings: fields of :class:`~models.flow.settings.FlowSettings` (each documented there) that override
            the recipe's; ``None`` keeps the recipe's value.

    Raises:
        TypeError: a setting the flow does not have.
        ValueError: a setting out of range, or settings that do not go together (``FlowSettings`` checks them).

    :meth:`from_recipe` builds the model a recipe trains on an energy (its periodicity, its data-term start).
    The hyperparameters are ``n, c, grid, recipe, seed`` and every setting, all primitives, so
    ``load_from_checkpoint(path)`` needs nothing else.
    """

    def __init__(
        self,
        n: int,
        c: int,
        grid: tuple[int, int] | None = None,
        recipe: str = "ising",
        seed: int = 0,
        **settings,
    ) -> None:
        super().__init__(n, c)
        settings = legacy_settings(settings)
        chosen = find_recipe(recipe)  # an alias saved in an old checkpoint becomes the recipe's name
        flow_settings = chosen.settings.replace(**settings)  # an unknown setting is a TypeError, as in a signature
        grid = None if grid is None else (int(grid[0]), int(grid[1]))
        self.save_hyperparameters(dict(n=int(n), c=int(c), grid=grid, recipe=chosen.name, seed=int(seed), **flow_settings.asdict()))
        hp = self.hparams
        self.flow = AssignmentFlow(hp.step_size, hp.end_time)
        if hp.omega == "dense":
            self.omega = DenseOmega(n, hp.omega_mean, hp.omega_variance, hp.omega_eps)
        else:
            if grid is None:
                raise ValueError("omega='conv' needs grid=(H, W)")
            self.omega = ConvOmega(
                c, grid, kernel_size=hp.kernel_size, mean=hp.omega_mean, variance=hp.omega_variance, symmetric=hp.symmetric,
                nonnegative=hp.nonnegative, eps=hp.omega_eps, tie_labels=hp.tie_labels, noise=hp.omega_noise,
                periodic=hp.periodic,
            )
        if hp.omega_lr_factor == 0:
            self.omega.requires_grad_(False)  # Ω keeps its initial distribution
        self.start = flow_start(n, c, flow_settings, generator=torch.Generator().manual_seed(seed))
        if hp.offset == "region":  # regions follow the start logits: now, and again whenever they are set
            self.start.set_regions(grid)

    @classmethod
    def from_recipe(cls, recipe: str | Recipe, energy, seed: int = 0, start: str | None = None, **overrides) -> "RandomizedFlow":
        """The model ``recipe`` trains on ``energy`` (its ``n, c, grid``): what ``train.py`` and the benchmarks train.

        Args:
            recipe: a name in :data:`models.flow.recipes.RECIPES` (or an alias), or one of its recipes.
            energy: the energy; a periodic one (a torus) gives the conv Ω ``periodic=True`` and the finish no line
                sweeps unless overridden, and one with a field turns a recipe's ``permute_labels`` off unless overridden.
            seed: seeds the initial ``S0`` logits.
            start: ``"data"`` (S0 = ``softmax(−unary)`` of the energy), ``"random"`` or ``"mean-field"`` (S0 = a
                mean-field solution of the energy); default: the recipe's.
            **overrides: settings that replace the recipe's (``None`` keeps the recipe's value).

        Raises:
            TypeError: an override that is no setting.
            ValueError: an unknown recipe, a bad ``start``, or settings out of range or that do not go together.
        """
        chosen = find_recipe(recipe) if isinstance(recipe, str) else recipe
        start = check_start(start or chosen.start)
        overrides = legacy_settings(overrides)  # the settings of an old checkpoint (sample.py on a new image)
        overrides.setdefault("periodic", bool(getattr(energy, "periodic", False)))  # Ω follows the energy's topology
        if getattr(energy, "periodic", False) and overrides.get("finish_round") is None:
            # kernels that cannot run on a torus (line sweeps: its lines are cycles) leave the recipe's round unless asked
            overrides["finish_round"] = ",".join(k for k in parse_schedule(chosen.settings.finish_round) if kernel_class(k).on_torus)
        if chosen.settings.permute_labels:  # the recipe's relabelling, where the energy allows it (no field)
            overrides.setdefault("permute_labels", label_symmetric(energy))
        settings = chosen.settings.replace(**overrides)
        model = cls(energy.n, energy.c, grid=energy.grid, recipe=chosen.name, seed=seed, **settings.asdict())
        model.attach_energy(energy)  # the finish's sweeps checked against it before anything is trained
        if start == "data":
            model.initialise_start(-energy.factors()[0])  # S0 = softmax(−unary): on the cat/lion subject 1/2 each
        elif start == "mean-field":  # where the mean-field baseline ends (its restarts seeded by the model's seed)
            model.initialise_start(mean_field_solution(energy, generator=torch.Generator().manual_seed(seed)))
        return model

    def initialise_start(self, logits: Tensor) -> "RandomizedFlow":
        """Set the learned start logits (e.g. ``−unary``: S0 = the data term's pixelwise posterior)."""
        if logits.shape != (self.n, self.c):
            raise ValueError(f"start logits must have shape ({self.n}, {self.c}), got {tuple(logits.shape)}")
        with torch.no_grad():
            self.start.logits.copy_(logits.to(self.start.logits))
        if self.hparams.offset == "region":
            self.start.set_regions(self.hparams.grid)
        return self

    def attach_energy(self, energy) -> "RandomizedFlow":
        """Attach ``energy`` and build the finish's sweeps for it (one-line ``ValueError`` where they cannot run)."""
        if self.hparams.permute_labels and not label_symmetric(energy):
            raise ValueError("permute_labels needs an energy that every relabelling leaves unchanged (no field, Potts "
                             "pairs); this one has a field or asymmetric pairs: set permute_labels=False")
        finish = self._build_finish(energy)  # checked before the energy is taken
        self.__dict__["_finisher"] = (_where(energy), finish)
        return super().attach_energy(energy)

    def _has_finish(self) -> bool:
        return bool(self.hparams.finish_round)

    def _build_finish(self, energy) -> AdaptiveFinish | None:
        hp = self.hparams
        if not self._has_finish():
            return None
        if not isinstance(energy, GridPottsEnergy):
            raise ValueError(f"finish_round {hp.finish_round!r} needs a grid Potts energy, got {type(energy).__name__}; "
                             "set finish_round='none'")
        try:  # the kernels' own checks: edge weights ≥ 0, a torus with even sides for heat bath, an open grid for line sweeps
            one_round = Finish(energy, hp.finish_round)
        except ValueError as err:
            raise ValueError(f"finish_round: {err}") from None
        return AdaptiveFinish(one_round, hp.finish_rounds or None, hp.finish_cap)

    def finisher(self) -> AdaptiveFinish | None:
        """The P*-invariant finish of the attached energy on its device (``None`` without sweeps); rebuilt only
        when the energy has moved (``model.to(device)`` carries the energy, not the finish's tensors)."""
        if not self._has_finish():
            return None  # the flow alone samples without an energy (a model loaded from its checkpoint)
        energy = self.energy
        built_for, finish = self.__dict__.get("_finisher", (None, None))
        if built_for != _where(energy):
            finish = self._build_finish(energy)
            self.__dict__["_finisher"] = (_where(energy), finish)
        return finish

    # -- the model ---------------------------------------------------------------------------------
    def log_soft_samples(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``(m, n, c)`` log S(T), each from its own ``Ω`` draw (and ``S0`` noise); differentiable."""
        return self.run_flow(m, generator)[0]

    def run_flow(self, m: int, generator: torch.Generator | None = None, window: "Window | None" = None) -> tuple[Tensor, Tensor | None]:
        """``(log S(T), offset)``: :meth:`log_soft_samples` and the start's drawn label offsets (``None`` unless
        the offset's mean is learned); on a ``window`` of the grid (:meth:`training_window`): the flow on its nodes alone."""
        if window is None:
            log_s0, offset = self.start.draw(m, generator)
            return self.flow(log_s0, self.omega(m, generator), self.omega.layout), offset
        log_s0, offset = self.start.draw(m, generator, window.nodes)
        return self.flow(log_s0, self.omega(m, generator, window.grid), self.omega.layout), offset

    def training_window(self) -> "Window | None":
        """This step's random ``crop × crop`` window of the image (``None``: the whole image). Its place comes from the
        global seed and the step, so every DDP process trains on the same window and a resumed run on the windows
        the uninterrupted run would have used."""
        H, W = self.hparams.grid or (0, 0)
        size = self.hparams.crop
        if not size or (size >= H and size >= W):
            return None
        h, w = min(size, H), min(size, W)
        step = self.trainer.global_step if self._trainer is not None else 0
        place = torch.Generator().manual_seed((torch.initial_seed() + 7_919 * step) % 2**63)
        top, left = (int(torch.randint(0, span + 1, (), generator=place)) for span in (H - h, W - w))
        rows = torch.arange(top, top + h, device=self.device)[:, None]
        nodes = (rows * W + torch.arange(left, left + w, device=self.device)).reshape(-1)
        return Window(self.energy.crop(top, left, h, w), nodes, (h, w))

    def soft_samples(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``(m, n, c)`` soft samples ``S(T)``; ``generator`` must live on ``self.device``."""
        with torch.no_grad():
            return self.log_soft_samples(m, generator).exp()

    def round(self, S: Tensor, generator: torch.Generator | None = None, log: bool = False) -> Tensor:
        """Integer labelings ``(m, n)`` from soft samples ``S`` (``log``: given as log S), by the model's ``rounding``."""
        if self.hparams.rounding == "argmax":
            return S.argmax(-1)  # the same for log S: no exp needed
        return draw_labels(S.exp() if log else S, generator)

    def chunk(self) -> int:
        """Samples drawn together: as many as keep one ``(chunk, n, c)`` tensor within :data:`CHUNK_ELEMENTS`, so
        sampling a large image needs bounded memory (512² × 3: 10 at a time)."""
        return max(1, CHUNK_ELEMENTS // (self.n * self.c))

    def sample_chunks(self, m: int, generator: torch.Generator | None = None, finish: bool = True):
        """:meth:`sample`'s ``m`` labelings as ``(k, n)`` chunks of at most :meth:`chunk` samples, each drawn when asked for.

        An automatic finish decides its rounds once per sampling, on its first :meth:`decide_samples` samples finished
        together (the flow draws them in chunks; on a small image all of them, and at least :data:`DECIDE_CHAINS` where
        the budget allows: a sampling of fewer draws the rest for the decision alone), and runs as many on the others; a
        decision on :meth:`settle_samples` samples or more also serves later samplings until the model trains on
        (:meth:`settled_rounds`)."""
        finisher = self.finisher() if finish else None
        decided = self.settled_rounds() if finisher is not None else None
        cap = self.__dict__.get("finish_cap_now")
        checks = finisher is not None and decided is None and finisher.automatic and (cap is None or cap > 1)
        # chains the decision is made on: more than asked for only where a check decides (not one capped round)
        deciders = min(max(m, DECIDE_CHAINS), self.decide_samples()) if checks else min(m, self.decide_samples())
        total = max(m, deciders)
        pending, reports, drawn, given = [], [], 0, 0
        while drawn < total:
            k = min(self.chunk(), total - drawn)
            drawn += k
            with torch.no_grad():
                labels = self.round(self.log_soft_samples(k, generator), generator, log=True)
            if finisher is None:
                yield labels.long()
                continue
            deciding = decided is None and finisher.automatic
            if deciding:  # one check on enough chains, not one per chunk
                pending.append(labels)
                if sum(len(p) for p in pending) < deciders and drawn < total:
                    continue
                labels, pending = torch.cat(pending), []
            with torch.no_grad():
                labels, report = finisher.run(labels, generator, rounds=decided, cap=cap)
            reports.append(report)
            self.__dict__["last_finish"] = FinishReport.merge(reports)  # what the latest sampling's finish did
            if deciding:
                decided = report.rounds
                if report.check is not None and report.check.samples >= self.settle_samples():
                    self.__dict__["settled"] = (self._step_now(), report.rounds)
            labels = labels[: m - given]  # the chains drawn only for the decision are not returned
            given += len(labels)
            for j in range(0, len(labels), self.chunk()):
                yield labels[j : j + self.chunk()].long()

    def decide_samples(self) -> int:
        """Chains whose check decides an automatic finish's rounds: as many as an evaluation draws at most
        (:data:`NODE_SAMPLES` ``// n``: 512 at 128², 32 at 512²), at least the check's least. The check's power grows with
        the chains: deciding on 64 of a 48 px photo's 1,024 samples passed after 2 rounds a finish whose 1,024 samples
        the same check then flagged (coffee, ``benchmarks/photo_suite.py``)."""
        return max(LEAST_SAMPLES, NODE_SAMPLES // self.n)

    def settle_samples(self) -> int:
        """Chains a decision must have been made on to serve later samplings: :data:`SETTLE_SAMPLES`, fewer where an
        evaluation draws fewer (:meth:`decide_samples`)."""
        return min(SETTLE_SAMPLES, self.decide_samples())

    def _step_now(self) -> int:
        return self.trainer.global_step if self._trainer is not None else -1

    def settled_rounds(self) -> int | None:
        """The rounds the automatic finish found at this training step (``None``: not yet, or a fixed finish): samplings
        at the same step reuse them instead of checking again (the end-of-run summary draws samples, bounds and marginals)."""
        step, rounds = self.__dict__.get("settled", (None, None))
        return rounds if step == self._step_now() else None

    @contextmanager
    def finish_capped(self, cap: int | None):
        """Within the block an automatic finish runs at most ``cap`` rounds (``None``: its own cap) and settles nothing:
        the periodic evaluations during training, which only watch the run."""
        saved = self.__dict__.get("finish_cap_now"), self.__dict__.get("settled", (None, None))
        self.__dict__["finish_cap_now"] = cap
        try:
            yield self
        finally:
            self.__dict__["finish_cap_now"], self.__dict__["settled"] = saved

    def sample(self, m: int, generator: torch.Generator | None = None, finish: bool = True) -> Tensor:
        """``m`` integer labelings ``(m, n)``: a flow run to ``T`` per sample, then ``rounding``
        (``"draw"``: an independent label per node from ``S(T)``; ``"argmax"``: the argmax per node), then the
        finish's rounds of sweeps (``finish_round``; ``finish_rounds``, automatic
        when 0; ``finish=False``: the flow alone). :meth:`finish_report` says what the finish did."""
        return torch.cat(list(self.sample_chunks(m, generator, finish)))

    def finish_report(self) -> FinishReport | None:
        """What the finish of the latest :meth:`sample` did (rounds, the check; its chunks merged), ``None`` before one."""
        return self.__dict__.get("last_finish")

    def last_draw_missing(self) -> str | None:
        """Why the model's samples have no :class:`~models.last_draw.LastDraw` (``None`` when they have one)."""
        finisher = self.finisher()
        if finisher is not None:
            return None if finisher.ends_with_draw() else "the finish's last sweep is no heat-bath one, so its law is not a product"
        if self.hparams.rounding == "argmax":
            return "argmax rounding with no heat-bath sweep after it: each component is one labeling, so a bound credits at most log M nats"
        return None

    def last_draw(self, m: int, generator: torch.Generator | None = None) -> LastDraw:
        """``m`` samples, as :meth:`sample` draws them, with the law of their last random step: the label draw
        from ``S(T)`` for the flow alone, the last heat-bath sweep when the finish ends with one.

        Raises:
            ValueError: for a model without one (:meth:`last_draw_missing` says why).
        """
        missing = self.last_draw_missing()
        if missing is not None:
            raise ValueError(missing)
        finisher = self.finisher()
        with torch.no_grad():
            log_S = self.log_soft_samples(m, generator)
            if finisher is None:  # draw rounding: component k is T(S_k) itself
                return LastDraw(draw_labels(log_S.exp(), generator), log_S, log_S.new_zeros(m))
            return finisher.as_draw(self.round(log_S, generator, log=True), generator, rounds=self.settled_rounds(),
                                    cap=self.__dict__.get("finish_cap_now"))

    def marginals(self, m: int | None = 4096, generator: torch.Generator | None = None) -> Tensor:
        """``(n, c)`` marginals over ``m`` samples (default 4096): ``E_Ω[S(Ω)]`` by eq. (24) for the flow alone,
        the label frequencies of the finished samples when the model has a finish."""
        m = m or 4096
        total = self.start.logits.new_zeros(self.n, self.c)
        if self.finisher() is None:
            for i in range(0, m, self.chunk()):
                total += self.soft_samples(min(self.chunk(), m - i), generator).sum(0)
        else:
            for labels in self.sample_chunks(m, generator):
                total += torch.nn.functional.one_hot(labels, self.c).sum(0)
        return total / m

    def expectation(self, phi: Tensor, m: int = 4096, generator: torch.Generator | None = None) -> float:
        """``E_P[Qφ]`` for ``φ (n, c)`` over ``m`` samples: ``E_Ω[⟨S(Ω), φ⟩]`` (eq. (25)) for the flow alone,
        ``⟨marginals, φ⟩`` of the finished samples when the model has a finish."""
        if phi.shape != (self.n, self.c):
            raise ValueError(f"phi must have shape ({self.n}, {self.c}), got {tuple(phi.shape)}")
        if self.finisher() is not None:
            return float((self.marginals(m, generator) * phi.to(self.start.logits)).sum())
        S = self.soft_samples(m, generator)
        return float((S * phi.to(S)).sum((1, 2)).mean())

    # -- training ----------------------------------------------------------------------------------
    def free_energy_terms(self, m: int | None = None) -> dict[str, Tensor]:
        """One Monte Carlo estimate of the free energy and the surrogate loss whose gradient is its gradient.

        Returns:
            dict with ``loss`` (differentiable surrogate), ``free_energy``, ``energy``, ``entropy``
            (estimate (22)–(23), detached) and ``integrality`` (mean of ``max_c S``).
        """
        hp = self.hparams
        m = m or hp.samples_per_step
        world, rank = self.world()
        if m % world:
            raise ValueError(f"samples_per_step={m} must be divisible by the number of processes ({world})")
        local = m // world  # under DDP every process draws its share of the m samples
        generator = self.training_generator()
        window = self.training_window()
        if self.trains_samples_last():
            return self._free_energy_terms_samples_last(local, generator, window)
        log_S, offset = self.run_flow(local, generator, window)
        S = log_S.exp()
        # eq. (17): exact given S, reparameterized; on a crop its own energy
        energy = (self.energy if window is None else window.energy).expected_energy(S)
        beta = self.energy_weight()
        with torch.no_grad():
            labels = self.round(S, generator)
        # the mixture of eq. (23) runs over all m components: gathered from every process, with gradients
        log_S_all = self.gather(log_S)
        owner = rank * local + torch.arange(local, device=self.device) if hp.leave_one_out else None
        log_q = log_mixture_prob(log_S_all, labels, owner)  # eq. (23) at α(k)
        surrogate = beta * energy + log_q
        if hp.rounding == "draw" and hp.score_function:
            # d/dθ E_{α~T(S)}[log P̂(α)] also has the term E[(log P̂(α) − b) ∇ log T(S)_α];
            # b is the leave-one-out mean over the other samples (a baseline that adds no bias).
            own = log_component_probs(log_S, labels).diagonal()
            w = log_q.detach()
            baseline = (self.gather(w).sum() - w) / (m - 1)
            surrogate = surrogate + (w - baseline) * own
        if hp.learn_offset_mean:
            # a sample's mode is a discontinuous function of its offset η ~ N(μ, I): μ gets the score-function
            # gradient E[(cost − b) ∇_μ log N(η; μ, I)] of the per-sample free energy, b = leave-one-out mean
            cost = (beta * energy + log_q).detach()
            baseline = (self.gather(cost).sum() - cost) / (m - 1)
            surrogate = surrogate + (cost - baseline) * self.start.offset_log_prob(offset)
        return {
            "loss": surrogate.mean(),
            "free_energy": (energy + log_q).mean().detach(),
            "energy": energy.mean().detach(),
            "entropy": -log_q.mean().detach(),
            "integrality": S.max(-1).values.mean().detach(),
        }

    def trains_samples_last(self) -> bool:
        """Whether a training step keeps S in ``(c, n, m)`` from the start's draw to the loss: the image recipes (a depthwise
        Ω integrated in that layout, argmax rounding, no score-function or offset-mean terms) on one process. The same
        draws and the same loss as the ``(m, n, c)`` path, to float rounding, without a copy of S in or out of the flow
        (``tests/test_fused_step.py``)."""
        hp = self.hparams
        return (self.omega.layout == "cnm" and hp.rounding == "argmax" and not hp.learn_offset_mean and not hp.leave_one_out
                and self.world()[0] == 1 and isinstance(self.start, TiedStart))

    def _free_energy_terms_samples_last(self, m: int, generator: torch.Generator, window: "Window | None") -> dict[str, Tensor]:
        """:meth:`free_energy_terms` with S as ``(c, n, m)`` throughout (:meth:`trains_samples_last`)."""
        energy_of = self.energy if window is None else window.energy
        log_s0, _ = self.start.draw(m, generator, None if window is None else window.nodes, samples_last=True)
        omega = self.omega(m, generator, None if window is None else window.grid)
        log_S = self.flow(log_s0, omega, "cnm", in_layout=True)  # (c, n, m)
        S = log_S.exp()
        energy = energy_of.expected_energy_samples_last(S)  # eq. (17)
        with torch.no_grad():
            labels = first_argmax(log_S).t()  # argmax rounding, (m, n)
        log_q = log_mixture_prob(log_S, labels, samples_last=True)  # eq. (23) at α(k)
        surrogate = self.energy_weight() * energy + log_q
        return {
            "loss": surrogate.mean(),
            "free_energy": (energy + log_q).mean().detach(),
            "energy": energy.mean().detach(),
            "entropy": -log_q.mean().detach(),
            "integrality": S.amax(0).mean().detach(),
        }

    def world(self) -> tuple[int, int]:
        """``(number of processes, this process's rank)``; ``(1, 0)`` outside a trainer."""
        if self._trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def gather(self, x: Tensor) -> Tensor:
        """``x`` of every process concatenated along dim 0, gradients flowing back to their owners."""
        if self.world()[0] == 1:
            return x
        return self.all_gather(x, sync_grads=True).flatten(0, 1)

    def training_generator(self) -> torch.Generator:
        """The generator of every training draw (Ω, S0 noise, labels), on ``self.device``.

        Seeded from the global seed and the process rank (each DDP process gets its own stream), and
        saved in checkpoints: a resumed run draws exactly what the uninterrupted run would have drawn.
        """
        generator = self.__dict__.get("_training_generator")
        if generator is None or generator.device != self.device:
            world, rank = self.world()
            generator = torch.Generator(device=self.device)
            generator.manual_seed((torch.initial_seed() + 1_000_003 * rank) % 2**63)
            state = self.__dict__.pop("_pending_generator_state", None)
            if state is not None:
                generator.set_state(state)
            self.__dict__["_training_generator"] = generator
        return generator

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # one state per process (rank 0 writes the file): a resumed DDP run keeps distinct streams
        state = self.training_generator().get_state()
        world, _ = self.world()
        states = [state]
        if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            states = [None] * world
            torch.distributed.all_gather_object(states, state)
        checkpoint["training_generator"] = states

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("training_generator")
        if states is None:
            return
        _, rank = self.world()
        # applied when the generator is first used; a process the checkpoint has no state for (more
        # processes than when it was saved) keeps its freshly seeded stream
        if rank < len(states):
            self.__dict__["_pending_generator_state"] = states[rank]
            self.__dict__.pop("_training_generator", None)

    def energy_weight(self) -> float:
        """``β_t`` of the annealing schedule (1 outside training or without annealing)."""
        fraction = self.hparams.anneal_fraction
        if fraction <= 0 or self._trainer is None or not self.training:
            return 1.0
        return min(1.0, self.trainer.global_step / max(1.0, fraction * self.total_steps()))

    def total_steps(self) -> int:
        """Length of the lr and annealing schedules: the trainer's ``max_steps`` when set."""
        max_steps = getattr(self._trainer, "max_steps", -1) if self._trainer is not None else -1
        return max_steps if max_steps and max_steps > 0 else self.hparams.schedule_steps

    def training_step(self, batch, batch_idx) -> Tensor:
        terms = self.free_energy_terms()
        sync = self.world()[0] > 1
        self.log("train/free_energy", terms["free_energy"], prog_bar=True, sync_dist=sync)
        for key in ("energy", "entropy", "integrality"):
            self.log(f"train/{key}", terms[key], sync_dist=sync)
        self.log("train/beta", self.energy_weight())
        return terms["loss"]

    def configure_optimizers(self):
        hp = self.hparams
        # the offset mean learns from a score-function term: a noisy gradient that Adam's normalisation
        # would turn into a random walk at full lr (share 0.26–0.43 on the symmetric image; 1/10: ≈ 0.5)
        mu = getattr(self.start, "offset_mean", None)
        # Ω at its own rate; at 0 it has no gradient (__init__) and Adam skips it, at 1 it trains with the rest
        omega = list(self.omega.parameters()) if hp.omega_lr_factor not in (0, 1) else []
        apart = {id(p) for p in [mu, *omega] if p is not None}
        groups = [{"params": [p for p in self.parameters() if id(p) not in apart]}]
        if mu is not None:
            groups.append({"params": [mu], "lr": hp.lr * hp.offset_lr_factor})
        if omega:
            groups.append({"params": omega, "lr": hp.lr * hp.omega_lr_factor})
        opt = torch.optim.Adam(groups, lr=hp.lr)
        if hp.lr_schedule == "constant":
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(self.total_steps(), hp.lr_final))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def cosine_factor(total: int, final: float):
    """Cosine decay of the learning-rate factor from 1 to ``final`` over ``total`` steps, then flat."""

    def factor(step: int) -> float:
        t = min(step, total) / max(total, 1)
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


#: per-kernel sweep counts of checkpoints saved before the finish became a schedule of named kernels
LEGACY_COUNTS = (("sw_sweeps", "sw"), ("line_sweeps", "line"), ("heat_bath_sweeps", "hb"))


def legacy_settings(settings: dict) -> dict:
    """``settings`` with the per-kernel counts of an old checkpoint (``sw_sweeps``, ``line_sweeps``,
    ``heat_bath_sweeps``) as the ``finish_round`` they ran: rounds of one sweep of each kind, a kind with fewer sweeps
    in the last rounds only (so a heat-bath sweep, when any, came last)."""
    if not any(old in settings for old, _ in LEGACY_COUNTS):
        return settings
    settings = dict(settings)
    counts = [(name, int(settings.pop(old, 0) or 0)) for old, name in LEGACY_COUNTS]
    if settings.get("finish_round") is None:
        rounds = max(count for _, count in counts)
        settings["finish_round"] = ",".join(name for k in range(rounds) for name, count in counts if k >= rounds - count)
    return settings
