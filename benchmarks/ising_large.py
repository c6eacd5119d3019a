"""Large Ising tori beyond enumeration: mean field, the randomized flow and the VAN at the same budget.

    python benchmarks/ising_large.py [--json PATH] [--figure PATH] [--budget 60] [--seeds 3]
                                     [--sizes 8 16] [--betas 0.3 0.4407 0.6] [--no-potts]
                                     [--flow-recipe ising-meanfield] [--after-sweeps 5]

Instances: the periodic zero-field Ising model ``P(s) ∝ exp(β Σ_<ij> s_i s_j)`` on the ``L × L`` torus
(``energies.kaufman.ising_torus_energy``: the Potts form, weight ``2β`` per disagreeing bond), exact
``log Z`` and energy per site by Kaufman's formula; plus one ``c = 3`` Potts strip (4×12, open
boundaries, random fields) with exact ``log Z``, marginals and mean energy by the transfer matrix.

Rows per instance (every figure exact, an unbiased estimate with its standard error, or a certified bound):

* ``meanfield``: ``models.MeanField`` (1,000 restarts, its 1,500 steps or the budget, whichever ends
  first); ``kl`` exact: the kept restart's free energy (eq. (16)) ``+ log Z*``.
* ``flow``: ``models.RandomizedFlow`` with ``--flow-recipe`` (default ``ising-meanfield``: S0 at a mean-field
  solution, labels permuted per sample where the energy has no field, then 1 heat-bath sweep); ``kl`` null,
  ``kl_bound`` the certified upper bound of ``models.flow.kl_bound.kl_upper_bound`` (``--bound-samples`` samples,
  ``M = --bound-components``), ``bound_gap`` = B_1 − B_M next to ``log_components`` = log M (near it, M rather
  than the model limits the bound).
* ``flow-alone``: the same trained flow without its finish's sweeps, with its own bound.
* ``flow+Ksw``: the flow's samples followed by ``K = --after-sweeps`` Swendsen–Wang sweeps
  (``models.finish.schedule.Finish`` without heat-bath sweeps). P* is invariant under them, so by data processing its KL is at most the
  flow's: it carries the flow's bound (``kl_bound_from``), and its observables show what the sweeps add.
* ``van``: ``models.baselines.van.VAN``; ``kl`` = mean of ``E(x) + log q(x) + log Z*`` over ``--eval-samples`` exact
  samples (unbiased: ``log q`` is exact), ``kl_stderr`` its standard error.
* ``reference`` (Ising): Swendsen–Wang chains (``models.baselines.ising_swendsen_wang``); its ``train_seconds`` is
  the sampling time. For the Potts strip the reference row holds the exact transfer-matrix figures.

Both sides for every learned row: ``kl_upper`` = the seed mean of the KL (or bound) + 2σ, with σ from each seed's
standard error and the spread between seeds; ``kl_lower`` = the smallest seed's Donsker–Varadhan lower bound
(``metrics.kl_lower``: evaluation samples and the exact log Z at other couplings, minus two standard errors). Each
instance's ``target``: the flow's ``kl_upper`` ≤ mean field's exact KL − log 2.

Observables: energy per site in the Ising convention ``−(1/N) Σ_<ij> s_i s_j`` (comparable with
``kaufman_energy_per_site``) on the tori, ``E(x)/n`` of the Potts energy on the strip; ``abs_magnetization``
``|Σ_i s_i| / N`` and ``susceptibility`` ``N (⟨m²⟩ − ⟨|m|⟩²)`` (null on the strip). Model figures come from
``--eval-samples`` samples each.

Budget. Every learned model trains for at most ``--budget`` wall-clock seconds (Lightning's
``max_time``); the flow and the VAN get ``max_steps`` = budget / (seconds per step, measured in a short
probe on a copy, once per model and instance), so their annealing and learning-rate schedules span
the budget. Mean field stops at its 1,500 steps when that comes first. With the defaults (budget
60 s, 3 seeds, L ∈ {8, 16}, 3 couplings + the strip: 7 instances × 3 models × 3 seeds) training takes
at most 63 min and mean field ends early; probes, the flow's two bounds (~40 s each at L = 16) and sampling add
the rest (the JSON's ``total_seconds``). L = 24 does not fit the dense Ω: one step with 128 samples holds
128 × 576² Ω entries.

Threads. ``--threads 1`` by default: on a shared machine a second intra-op thread that loses its core
stalls the other at every barrier (measured: a VAN step went from 0.26 s to 18 s with 2 threads while
another job held a core). On an idle machine ``--threads 2`` is faster; the JSON records the threads
and the load average.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.output import command_line, write_json  # noqa: E402
from callbacks.common import try_kl_lower  # noqa: E402
from data.energy_datamodule import GivenEnergy  # noqa: E402
from energies.grid_potts import GridPottsEnergy  # noqa: E402
from energies.kaufman import ising_torus_energy, kaufman_energy_per_site, kaufman_log_z, potts_log_z  # noqa: E402
from energies.sample_stats import marginal_difference, sample_marginals  # noqa: E402
from energies.transfer_matrix import transfer_matrix_inference  # noqa: E402
from models import MeanField  # noqa: E402
from models.finish.schedule import Finish  # noqa: E402
from models.flow.kl_bound import kl_upper_bound  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402
from models.flow.recipes import BASELINE_MAX_STEPS  # noqa: E402
from models.baselines.ising_swendsen_wang import SwendsenWang, ising_observables, mean_and_stderr  # noqa: E402
from models.baselines.van import VAN  # noqa: E402

MODELS = ("meanfield", "flow", "van")


# -- instances -----------------------------------------------------------------------------------------
@dataclass
class Instance:
    """One target ``P* ∝ exp(−E)`` with its exact figures."""

    name: str
    convention: str  # "ising" | "potts"
    grid: tuple[int, int]
    beta: float
    energy: GridPottsEnergy  # float64, for evaluation
    train_energy: GridPottsEnergy  # float32 copy, for training (as train.py)
    log_z: float  # of the instance's convention (Σ exp(β Σ s s) for "ising")
    log_z_potts: float  # of ``energy``: what KL = ⟨E + log q⟩ + log Z* needs
    exact_energy_per_site: float
    marginals: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def L(self) -> int:
        return max(self.grid)


def ising_instance(L_: int, beta: float) -> Instance:
    """The ``L × L`` Ising torus at ``beta`` (Potts form) with Kaufman's exact figures."""
    return Instance(
        name=f"ising L={L_} β={beta}", convention="ising", grid=(L_, L_), beta=beta,
        energy=ising_torus_energy(L_, L_, beta), train_energy=ising_torus_energy(L_, L_, beta, dtype=torch.float32),
        log_z=kaufman_log_z(L_, L_, beta), log_z_potts=potts_log_z(L_, L_, beta),
        exact_energy_per_site=kaufman_energy_per_site(L_, L_, beta),
    )


def potts_instance(H: int = 4, W: int = 12, c: int = 3, coupling: float = 1.0, field_std: float = 0.5, seed: int = 0) -> Instance:
    """An open ``H × W`` Potts strip with ``c`` labels, weight ``coupling`` per disagreeing pair and
    i.i.d. ``N(0, field_std²)`` unary fields; exact figures by the transfer matrix."""
    gen = torch.Generator().manual_seed(seed)
    unary = field_std * torch.randn(H, W, c, generator=gen, dtype=torch.float64)
    energy = GridPottsEnergy(unary, beta=coupling, dtype=torch.float64)
    exact = transfer_matrix_inference(energy)
    return Instance(
        name=f"potts {H}×{W} c={c} w={coupling}", convention="potts", grid=(H, W), beta=coupling, energy=energy,
        train_energy=GridPottsEnergy(unary.float(), beta=coupling, dtype=torch.float32),
        log_z=exact.log_z, log_z_potts=exact.log_z, exact_energy_per_site=exact.mean_energy / (H * W),
        marginals=exact.marginals, extra={"c": c, "field_std": field_std, "field_seed": seed, "exact_entropy": exact.entropy},
    )


# -- training within a wall-clock budget ---------------------------------------------------------------
class StepClock(Callback):
    """Records the time at the end of every training step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter())


def _trainer(max_steps: int, budget: float | None, callbacks=()) -> L.Trainer:
    return L.Trainer(
        max_steps=max_steps, max_time=None if budget is None else timedelta(seconds=budget), accelerator="cpu",
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=list(callbacks),
    )


def seconds_per_step(model: L.LightningModule, energy: GridPottsEnergy, steps: int = 3) -> float:
    """Seconds per training step of ``model`` on ``energy``, from ``steps`` steps of a copy (first not timed)."""
    probe = copy.deepcopy(model)
    clock = StepClock()
    _trainer(steps, None, [clock]).fit(probe, GivenEnergy(energy))
    return (clock.times[-1] - clock.times[0]) / max(1, len(clock.times) - 1)


def fit(model: L.LightningModule, energy: GridPottsEnergy, budget: float, max_steps: int) -> tuple[float, int]:
    """Train for ``max_steps`` steps or ``budget`` seconds, whichever ends first: ``(seconds, steps)``."""
    trainer = _trainer(max_steps, budget)
    start = time.perf_counter()
    trainer.fit(model, GivenEnergy(energy))
    return time.perf_counter() - start, int(trainer.global_step)


def build(kind: str, inst: Instance, seed: int, args) -> L.LightningModule:
    """A fresh model of ``kind`` for ``inst``; the flow is ``--flow-recipe`` (default ``ising-meanfield``)."""
    L.seed_everything(seed, verbose=False)
    n, c = inst.energy.n, inst.energy.c
    if kind == "meanfield":
        return MeanField(n, c, restarts=args.restarts)
    if kind == "flow":
        settings = {} if args.flow_samples is None else {"samples_per_step": args.flow_samples}
        return RandomizedFlow.from_recipe(args.flow_recipe, inst.energy, seed=seed, **settings)
    if kind == "van":
        return VAN(n, c, grid=inst.grid, channels=args.van_channels, blocks=args.van_blocks,
                   kernel_size=args.van_kernel, batch_size=args.van_batch, seed=seed)
    raise ValueError(f"unknown model {kind!r}")


# -- the flow's rows: one trained model, three samplers ------------------------------------------------
def flow_alone(model: RandomizedFlow) -> RandomizedFlow:
    """A copy of the trained flow without its finish's sweeps: the flow's own samples and bound."""
    alone = copy.deepcopy(model)
    alone.hparams.finish_round = ""  # the finish is read off the settings when sampling
    return alone


class Swept:
    """The flow's samples (with its finish) followed by ``sweeps`` Swendsen–Wang sweeps: P* stays invariant, so by data
    processing its KL is at most the flow's (and below the flow's bound); no bound of its own."""

    def __init__(self, model: RandomizedFlow, energy: GridPottsEnergy, sweeps: int) -> None:
        self.model, self.finish = model, Finish(energy, ["sw"] * sweeps)

    def eval(self) -> "Swept":
        return self

    def sample(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.finish(self.model.sample(m, generator), generator)


def views(kind: str, model, inst: Instance, args) -> dict[str, tuple[object, bool]]:
    """The rows a trained ``kind`` gives: ``{row name: (sampler, whether it has its own bound)}``."""
    if kind != "flow":
        return {kind: (model, True)}
    out = {"flow": (model, True)}
    if model.hparams.finish_round:
        out["flow-alone"] = (flow_alone(model), True)
    if args.after_sweeps:
        out[f"flow+{args.after_sweeps}sw"] = (Swept(model, inst.energy, args.after_sweeps), False)
    return out


# -- evaluation ----------------------------------------------------------------------------------------
def draw(model, m: int, seed: int, chunk: int = 1024) -> torch.Tensor:
    """``m`` integer samples in chunks (bounded memory: the dense flow holds ``chunk × n²`` Ω entries)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([model.sample(min(chunk, m - i), generator=generator) for i in range(0, m, chunk)])


def observables(samples: torch.Tensor, inst: Instance) -> dict:
    """Energy per site (the instance's convention), |m| and the susceptibility ``N (⟨m²⟩ − ⟨|m|⟩²)`` of integer
    samples, with standard errors (the susceptibility's from 10 batches)."""
    if inst.convention == "ising":
        H, W = inst.grid
        spins = (2 * samples.cpu().numpy() - 1).reshape(-1, H, W)
        e, m = ising_observables(spins)
        sqrt = math.sqrt(len(e))
        chi = [H * W * float(part.var()) for part in np.array_split(m, 10)]
        return {"energy_per_site": float(e.mean()), "energy_per_site_stderr": float(e.std(ddof=1) / sqrt),
                "abs_magnetization": float(m.mean()), "abs_magnetization_stderr": float(m.std(ddof=1) / sqrt),
                "susceptibility": H * W * float(m.var()), "susceptibility_stderr": float(np.std(chi, ddof=1) / math.sqrt(len(chi)))}
    E = inst.energy.energy(samples).double() / inst.energy.n
    out = {"energy_per_site": float(E.mean()), "energy_per_site_stderr": float(E.std() / math.sqrt(len(E))),
           "abs_magnetization": None}
    if inst.marginals is not None:
        out["marginal_diff"] = marginal_difference(sample_marginals(samples, inst.energy.c), inst.marginals)
    return out


def evaluate(kind: str, model, inst: Instance, seed: int, args, own_bound: bool = True) -> dict:
    """KL (exact or estimated) or the flow's KL bound (``own_bound``), and the observables of ``--eval-samples`` samples."""
    model.eval()
    out: dict = {"kl": None, "kl_bound": None}
    start = time.perf_counter()
    if kind == "meanfield":
        with torch.no_grad():
            model.attach_energy(inst.energy)  # exact free energy in float64
            out["kl"] = float(model.free_energies().min()) + inst.log_z_potts  # eq. (16): exact
        samples = draw(model, args.eval_samples, 10_000 + seed)
    elif kind.startswith("flow"):
        if own_bound:
            bound = kl_upper_bound(model, inst.energy, inst.log_z_potts, samples=args.bound_samples,
                                   components=args.bound_components, groups=args.bound_groups,
                                   chunk=min(1024, args.bound_components), generator=torch.Generator().manual_seed(20_000 + seed))
            out.update(kl_bound=bound.bound, kl_bound_stderr=bound.stderr, bound_components=bound.components,
                       bound_samples=bound.samples, bound_groups=bound.groups, log_components=math.log(bound.components),
                       bound_gap=bound.own_log_p - bound.mean_log_p)  # B_1 − B_M ≤ log M: near it, M limits the bound
        samples = draw(model, args.eval_samples, 10_000 + seed)
    else:
        generator = torch.Generator().manual_seed(10_000 + seed)
        with torch.no_grad():
            samples, log_q = model.sample_with_log_prob(args.eval_samples, generator)
        terms = inst.energy.energy(samples).double() + log_q.double() + inst.log_z_potts
        out["kl"] = float(terms.mean())
        out["kl_stderr"] = float(terms.std() / math.sqrt(len(terms)))
        out["entropy_per_site"] = float(-log_q.double().mean()) / inst.energy.n
    lower = try_kl_lower(inst.energy)  # Donsker–Varadhan from exact log Z at other couplings (Kaufman, transfer matrix)
    if lower is not None:
        out["kl_lower"] = lower.of_samples(samples).certified
    out.update(observables(samples, inst))
    out["eval_seconds"] = time.perf_counter() - start
    out["eval_samples"] = args.eval_samples
    out["_preview"] = samples[: args.preview]  # for the figure; dropped from the JSON
    return out


def learned_rows(kind: str, inst: Instance, args, step_cache: dict) -> list[dict]:
    """Train ``kind`` with every seed within the budget; a row per view of it (:func:`views`) with the seed mean and
    each seed's value."""
    per_view: dict[str, list[dict]] = {}
    for seed in range(args.seeds):
        model = build(kind, inst, seed, args)
        if kind == "meanfield":
            max_steps = args.meanfield_steps
        else:
            key = (kind, inst.name)
            if key not in step_cache:  # seeds share the probe: same model size, same instance
                step_cache[key] = seconds_per_step(model, inst.train_energy)
            max_steps = max(2, int(args.budget / step_cache[key]))
        seconds, steps = fit(model, inst.train_energy, args.budget, max_steps)
        for name, (sampler, own_bound) in views(kind, model, inst, args).items():
            figures = evaluate(name, sampler, inst, seed, args, own_bound)
            if not own_bound:  # data processing: the flow's bound holds for it too
                flow = per_view["flow"][-1]
                figures.update(kl_bound=flow["kl_bound"], kl_bound_stderr=flow["kl_bound_stderr"], kl_bound_from="flow")
            figures.update(seed=seed, train_seconds=seconds, steps=steps, max_steps=max_steps)
            if kind != "meanfield":
                figures["probe_seconds_per_step"] = step_cache[(kind, inst.name)]
            per_view.setdefault(name, []).append(figures)
            shown = figures["kl"] if figures["kl"] is not None else figures["kl_bound"]
            print(f"    {name:<12} seed {seed}: {'KL' if figures['kl'] is not None else 'KL ≤'} {shown:8.4f}  "
                  f"e/site {figures['energy_per_site']:8.4f}  steps {steps:5d}  ({seconds:5.1f} s train, "
                  f"{figures['eval_seconds']:4.1f} s eval)", flush=True)
    return [seed_row(name, seeds) for name, seeds in per_view.items()]


def seed_row(name: str, seeds: list[dict]) -> dict:
    """One row from every seed's figures: seed means, each seed's values, both bounds (:func:`combine_seeds`)."""
    row: dict = {"model": name}
    for key in ("kl", "kl_bound", "energy_per_site", "abs_magnetization", "susceptibility", "train_seconds"):
        values = [s.get(key) for s in seeds]
        row[key] = None if values[0] is None else statistics.mean(values)
        row[f"{key}_seeds"] = values
    for key in ("kl_stderr", "kl_bound_stderr", "kl_lower", "bound_gap", "marginal_diff", "steps", "bound_components",
                "bound_samples", "log_components", "kl_bound_from"):
        if key in seeds[0]:
            row[f"{key}_seeds"] = [s[key] for s in seeds]
    combine_seeds(row)
    row["seeds"] = [{k: v for k, v in s.items() if not k.startswith("_")} for s in seeds]
    row["_preview"] = seeds[0]["_preview"]
    return row


def combine_seeds(row: dict) -> dict:
    """Row-level standard errors of the seed means (independent seeds), the bound's sizes, and both sides:

    * ``kl_upper`` = the seed mean of the KL (exact, estimated or the flow's bound) ``+ 2σ``, with
      ``σ² = Σ_s stderr_s² / S² + var_s / S``: each seed's own noise and the spread between seeds;
    * ``kl_lower`` = the smallest seed's Donsker–Varadhan bound (each already minus two standard errors).
    """
    for key in ("kl_stderr", "kl_bound_stderr"):
        values = row.get(f"{key}_seeds")
        if values:
            row[key] = math.sqrt(sum(v * v for v in values)) / len(values)
    for key in ("bound_components", "bound_samples", "log_components", "kl_bound_from"):
        if row.get(f"{key}_seeds"):
            row[key] = row[f"{key}_seeds"][0]
    values = row["kl_seeds"] if row["kl"] is not None else row["kl_bound_seeds"]
    if values[0] is not None:
        stderr = (row.get("kl_stderr") if row["kl"] is not None else row.get("kl_bound_stderr")) or 0.0  # mean field: exact
        spread = statistics.variance(values) / len(values) if len(values) > 1 else 0.0
        row["kl_upper"] = statistics.mean(values) + 2 * math.sqrt(stderr**2 + spread)
    if row.get("kl_lower_seeds"):
        row["kl_lower"] = min(row["kl_lower_seeds"])
    return row


def reference_row(inst: Instance, args) -> dict:
    """Swendsen–Wang on the torus; the exact transfer-matrix figures on the strip."""
    if inst.convention == "potts":
        return {"model": "reference", "kl": None, "kl_bound": None, "energy_per_site": inst.exact_energy_per_site,
                "abs_magnetization": None, "train_seconds": 0.0, "source": "transfer matrix (exact)"}
    start = time.perf_counter()
    H, W = inst.grid
    sw = SwendsenWang(H, W, inst.beta, chains=args.sw_chains, seed=0)
    run = sw.run(args.sw_sweeps, args.sw_burn_in)
    e, de = mean_and_stderr(run["energy"])
    m, dm = mean_and_stderr(run["abs_m"])
    chi = H * W * run["abs_m"].var(0)  # per chain over its sweeps
    return {"model": "reference", "kl": None, "kl_bound": None, "energy_per_site": e, "energy_per_site_stderr": de,
            "abs_magnetization": m, "abs_magnetization_stderr": dm, "susceptibility": float(chi.mean()),
            "susceptibility_stderr": float(chi.std(ddof=1) / math.sqrt(len(chi))), "train_seconds": time.perf_counter() - start,
            "source": "Swendsen-Wang", "chains": args.sw_chains, "sweeps": args.sw_sweeps, "burn_in": args.sw_burn_in,
            "_preview": torch.from_numpy(sw.labels()[: args.preview])}


# -- output --------------------------------------------------------------------------------------------
def fmt(value, width: int = 8, digits: int = 4) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def print_instance(inst_json: dict) -> None:
    print(f"\n{inst_json['name']}: log Z = {inst_json['log_z']:.4f}, exact energy/site = {inst_json['exact_energy_per_site']:.4f}")
    print(f"  {'model':<12} {'KL ≥':>8} {'KL':>8} {'KL ≤':>8} {'e/site':>8} {'Δe':>8} {'|m|':>8} {'χ':>8} {'train s':>8}")
    for row in inst_json["rows"]:
        delta = row["energy_per_site"] - inst_json["exact_energy_per_site"]
        print(f"  {row['model']:<12} {fmt(row.get('kl_lower'))} {fmt(row['kl'])} {fmt(row.get('kl_upper'))} "
              f"{fmt(row['energy_per_site'])} {delta:8.4f} {fmt(row['abs_magnetization'])} {fmt(row.get('susceptibility'), 8, 2)} "
              f"{row['train_seconds']:8.1f}", flush=True)
    target = inst_json.get("target")
    if target:
        print(f"  target: flow's KL ≤ {target['flow_upper']:.4f} against mean field's KL − log 2 = {target['mean_field_minus_log2']:.4f}: "
              f"{'met' if target['met'] else 'missed'}")


def target(rows: list[dict]) -> dict | None:
    """Issue 20's target: the flow's upper bound + 2σ (``kl_upper``) ≤ mean field's exact KL − log 2."""
    by_model = {r["model"]: r for r in rows}
    flow, mf = by_model.get("flow"), by_model.get("meanfield")
    if flow is None or mf is None or flow.get("kl_upper") is None:
        return None
    goal = mf["kl"] - math.log(2)
    return {"flow_upper": flow["kl_upper"], "mean_field_minus_log2": goal, "met": flow["kl_upper"] <= goal}


def public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def run_instance(inst: Instance, args, step_cache: dict) -> tuple[dict, dict]:
    """All rows of one instance: ``(its JSON, {model: preview samples})``."""
    print(f"\n== {inst.name} ==", flush=True)
    rows = [reference_row(inst, args)]
    for kind in args.models:
        rows.extend(learned_rows(kind, inst, args, step_cache))
    previews = {row["model"]: row["_preview"] for row in rows if "_preview" in row}
    out = {
        "name": inst.name, "L": inst.L, "grid": list(inst.grid), "beta": inst.beta, "log_z": inst.log_z,
        "log_z_potts": inst.log_z_potts, "convention": inst.convention,
        "exact_energy_per_site": inst.exact_energy_per_site, "rows": [public(r) for r in rows], "target": target(rows),
        **inst.extra,
    }
    print_instance(out)
    return out, previews


def instances(args) -> list[Instance]:
    out = [ising_instance(L_, beta) for L_ in args.sizes for beta in args.betas]
    if not args.no_potts:
        H, W = args.potts_grid
        out.append(potts_instance(H, W, c=3, coupling=args.potts_coupling, field_std=args.potts_field))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path (after every instance)")
    parser.add_argument("--figure", type=Path, default=None, help="write the figure (PNG) to this path")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per model, instance and seed (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per model (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], help="torus sizes L (default: %(default)s)")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.3, 0.4407, 0.6], help="Ising couplings (default: %(default)s)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="learned models (default: all)")
    parser.add_argument("--no-potts", action="store_true", help="leave out the c = 3 Potts strip")
    parser.add_argument("--potts-grid", type=int, nargs=2, default=[4, 12], metavar=("H", "W"), help="Potts strip (default: 4 12)")
    parser.add_argument("--potts-coupling", type=float, default=1.0, help="Potts weight per disagreeing pair (default: %(default)s)")
    parser.add_argument("--potts-field", type=float, default=0.5, help="std of the Potts strip's unary fields (default: %(default)s)")
    parser.add_argument("--eval-samples", type=int, default=10_000, help="samples per model evaluation (default: %(default)s)")
    parser.add_argument("--bound-samples", type=int, default=2048, help="samples of the flow's KL bound (default: %(default)s)")
    parser.add_argument("--bound-components", type=int, default=1024, help="M of the flow's KL bound (default: %(default)s)")
    parser.add_argument("--bound-groups", type=int, default=16, help="independent groups of the KL bound (default: %(default)s)")
    parser.add_argument("--restarts", type=int, default=1000, help="mean-field restarts (default: %(default)s)")
    parser.add_argument("--meanfield-steps", type=int, default=BASELINE_MAX_STEPS["meanfield"], help="mean-field Adam steps (default: %(default)s)")
    parser.add_argument("--flow-recipe", default="ising-meanfield", help="the flow's recipe (default: %(default)s)")
    parser.add_argument("--flow-samples", type=int, default=None, help="flow samples per step (default: the recipe's)")
    parser.add_argument("--after-sweeps", type=int, default=5,
                        help="Swendsen–Wang sweeps after the flow's samples in the flow+Ksw row (0: no such row; default: %(default)s)")
    parser.add_argument("--van-channels", type=int, default=32, help="VAN channels (default: %(default)s)")
    parser.add_argument("--van-blocks", type=int, default=3, help="VAN residual blocks (default: %(default)s)")
    parser.add_argument("--van-kernel", type=int, default=3, help="VAN masked kernel size (default: %(default)s)")
    parser.add_argument("--van-batch", type=int, default=256, help="VAN samples per step (default: %(default)s)")
    parser.add_argument("--sw-chains", type=int, default=64, help="Swendsen-Wang chains (default: %(default)s)")
    parser.add_argument("--sw-sweeps", type=int, default=2000, help="recorded Swendsen-Wang sweeps (default: %(default)s)")
    parser.add_argument("--sw-burn-in", type=int, default=200, help="Swendsen-Wang burn-in sweeps (default: %(default)s)")
    parser.add_argument("--preview", type=int, default=6, help="samples per model in the figure (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s; see the module docstring)")
    args = parser.parse_args(argv)
    if args.budget <= 0 or args.seeds < 1 or args.eval_samples < 2:
        parser.error("--budget must be > 0, --seeds ≥ 1 and --eval-samples ≥ 2")
    # one thread and no per-fit banners while the benchmark runs; both restored after (a caller, e.g. a test, goes on)
    threads, lightning_log = torch.get_num_threads(), logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    torch.set_num_threads(args.threads)
    lightning_log.setLevel(logging.WARNING)
    try:
        return run_benchmark(args, command_line(__file__, argv))
    finally:
        torch.set_num_threads(threads)
        lightning_log.setLevel(level)


def run_benchmark(args: argparse.Namespace, command: str | None = None) -> int:
    """Every instance and model of :func:`main`'s arguments; writes the JSON (made by ``command``) and the figure."""
    start = time.perf_counter()
    result = {"instances": [], "budget_seconds": float(args.budget), "seeds": args.seeds,
              "eval_samples": args.eval_samples, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    previews, step_cache = {}, {}
    for inst in instances(args):
        inst_json, previews[inst.name] = run_instance(inst, args, step_cache)
        result["instances"].append(inst_json)
        result["total_seconds"] = time.perf_counter() - start
        result["load_average_at_end"] = os.getloadavg()[0]
        if args.json is not None:
            write_json(args.json, result, command)
    print_summary(result)
    if args.figure is not None:
        write_figure(args.figure, result, previews)
        print(f"wrote {args.figure}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def print_summary(result: dict) -> None:
    """One line per instance: every model's KL upper figure (mean field exact; + 2σ otherwise) and the target."""
    names = list(dict.fromkeys(r["model"] for inst in result["instances"] for r in inst["rows"] if r["model"] != "reference"))
    print(f"\nsummary (budget {result['budget_seconds']:.0f} s per model and seed): KL ≤ (mean field: its exact KL)")
    print(f"  {'instance':<28} " + " ".join(f"{m:>12}" for m in names) + "   target")
    for inst in result["instances"]:
        rows = {r["model"]: r for r in inst["rows"]}
        uppers = [rows.get(m, {}).get("kl_upper") for m in names]
        goal = inst.get("target")
        print(f"  {inst['name']:<28} " + " ".join(fmt(u, 12) for u in uppers)
              + ("" if goal is None else f"   {'met' if goal['met'] else 'missed'} (≤ {goal['mean_field_minus_log2']:.3f})"))


# -- the figure (Pillow only) --------------------------------------------------------------------------
COLOURS = {"meanfield": (200, 60, 40), "flow": (40, 110, 200), "van": (40, 150, 60), "reference": (90, 90, 90)}


def write_figure(path: Path, result: dict, previews: dict, scale: int = 4) -> None:
    """Left: KL (VAN, mean field) or its bound (flow) against β at the largest L, log scale. Right: a row of
    samples per model at the β closest to β_c (black = label 1)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    tori = [i for i in result["instances"] if i["convention"] == "ising"]
    if not tori:
        return
    L_ = max(i["L"] for i in tori)
    tori = sorted((i for i in tori if i["L"] == L_), key=lambda i: i["beta"])
    plot_w, plot_h, margin = 360, 260, 50
    critical = min(tori, key=lambda i: abs(i["beta"] - 0.4407))
    shown = [m for m in ("reference", *MODELS) if m in previews.get(critical["name"], {})]
    count = max((len(previews[critical["name"]][m]) for m in shown), default=0)
    panel_w = 90 + count * (L_ * scale + 6)
    img = Image.new("RGB", (plot_w + 2 * margin + panel_w + 20, max(plot_h + 2 * margin + 30, 40 + len(shown) * (L_ * scale + 14))), "white")
    d = ImageDraw.Draw(img)
    # KL against β, log10 axis
    points = []
    for inst in tori:
        for row in inst["rows"]:
            value = row["kl"] if row["kl"] is not None else row.get("kl_bound")
            if row["model"] in MODELS and value is not None:
                points.append((inst["beta"], max(value, 1e-3), row["model"], row["kl"] is None))
    if points:
        x0, x1 = min(p[0] for p in points) - 0.05, max(p[0] for p in points) + 0.05
        lo = math.floor(math.log10(min(p[1] for p in points)))
        hi = math.ceil(math.log10(max(p[1] for p in points)))
        hi = max(hi, lo + 1)
        ox, oy = margin, margin + plot_h

        def xy(beta: float, value: float) -> tuple[float, float]:
            return ox + (beta - x0) / (x1 - x0) * plot_w, oy - (math.log10(value) - lo) / (hi - lo) * plot_h

        d.line([(ox, margin), (ox, oy), (ox + plot_w, oy)], fill="black")
        for e in range(lo, hi + 1):
            _, y = xy(x0, 10.0**e)
            d.line([(ox - 4, y), (ox, y)], fill="black")
            d.line([(ox + 1, y), (ox + plot_w, y)], fill=(225, 225, 225))
            d.text((ox - 44, y - 6), f"1e{e}", fill="black", font=font)
        for inst in tori:
            x, _ = xy(inst["beta"], 1.0)
            d.line([(x, oy), (x, oy + 4)], fill="black")
            d.text((x - 14, oy + 6), f"{inst['beta']:g}", fill="black", font=font)
        d.text((ox + plot_w / 2 - 10, oy + 20), "beta", fill="black", font=font)
        d.text((ox, margin - 34), f"L={L_} torus: KL[q : P*] (flow: certified upper bound)", fill="black", font=font)
        for model in MODELS:
            series = sorted((p for p in points if p[2] == model), key=lambda p: p[0])
            coords = [xy(b, v) for b, v, _, _ in series]
            if len(coords) > 1:
                d.line(coords, fill=COLOURS[model], width=2)
            for (b, v, _, is_bound), (x, y) in zip(series, coords):
                box = [(x - 4, y - 4), (x + 4, y + 4)]
                d.ellipse(box, outline=COLOURS[model], fill="white" if is_bound else COLOURS[model], width=2)
                d.text((x + 6, y - 12 + 12 * MODELS.index(model) - 12), f"{v:.3g}", fill=COLOURS[model], font=font)
        for k, model in enumerate(MODELS):
            y = margin - 18 + 0 * k
            x = ox + 10 + 110 * k
            d.rectangle([(x, y), (x + 10, y + 10)], fill=COLOURS[model])
            d.text((x + 14, y - 1), model + (" (bound)" if model == "flow" else ""), fill="black", font=font)
    # samples at the coupling closest to β_c
    left = plot_w + 2 * margin + 20
    d.text((left, 8), f"samples at beta={critical['beta']:g}, L={L_}", fill="black", font=font)
    H, W = critical["grid"]
    for r, model in enumerate(shown):
        y = 30 + r * (L_ * scale + 14)
        d.text((left, y + L_ * scale / 2 - 6), model, fill=COLOURS.get(model, "black"), font=font)
        for k, x in enumerate(previews[critical["name"]][model]):
            pixels = ((1 - x.view(H, W).cpu().numpy().clip(0, 1)) * 255).astype(np.uint8)
            tile = Image.fromarray(pixels, "L").resize((W * scale, H * scale), Image.NEAREST)
            x0_ = left + 80 + k * (W * scale + 6)
            img.paste(tile, (x0_, int(y)))
            d.rectangle([(x0_ - 1, int(y) - 1), (x0_ + W * scale, int(y) + H * scale)], outline=(160, 160, 160))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
