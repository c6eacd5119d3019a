"""Speed of the pieces, and the flow against a Gibbs sampler on the cat/lion default.

    python benchmarks/perf.py [--json PATH] [--device cpu|cuda] [--quick]

(``--sizes``, ``--kl-*``, ``--flow-*`` and ``--gibbs-*`` shrink it to the smoke test's seconds.)

Figures (all measured on the machine that runs it):
  exact_seconds_2p24        exact log Z + marginals of the Table 1 instance (2^24 states), best of 5
  samples_per_second_S      integer joint samples per second, initialised conv flow with one round of the image recipe's finish, S×S grid, 3 labels
  samples_per_second_flow_alone_S   the same, the flow alone (sample(finish=False))
  seconds_per_step_S        one training step at S×S (the image recipe's samples per step)
  kernel_ns_S               ns per pixel and sample of one sweep of every registered kernel (models/kernels/), S×S,
                            on the initialised flow's own samples, as the finish runs them (``kernels``: compiled
                            where models/kernels/native builds, else the torch code)
  kernel_ns_torch_S         the same, the kernels' torch code (RAF_NATIVE=0)
  kernel_bound_ns           each kernel's arithmetic bound: its operations per pixel and sample (``KERNEL_OPS``, counted
                            in kernels.c) at this CPU's peak (``peak_ops_per_ns``: cores × clock × SIMD lanes of a
                            double × 2 vector ports), as if every operation were vectorised; ``kernel_ns_S`` over it is
                            how far the compiled kernel runs from that limit
  seconds_to_kl_0599        training seconds until the KL on Table 1 (200k samples) first ≤ 0.599
  mode_ess_ratio_af_over_gibbs  ESS/s of the subject's cat-or-lion indicator, flow over Gibbs
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ess import effective_sample_size  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from metrics.coherence import background_index, cat_index, subject_coherence, subject_mask  # noqa: E402
from data import ImageDataModule, IsingDataModule  # noqa: E402
from energies import GridPottsEnergy, table1_energy  # noqa: E402
from energies.exact import exact_inference  # noqa: E402
from energies.sample_stats import sample_figures  # noqa: E402
from models.kernels import native  # noqa: E402
from models.kernels import KERNELS, kernel_class  # noqa: E402
from models.kernels.heat_bath import CheckerboardGibbs  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402
from models.flow.recipes import RECIPES  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, min_seconds: float = 1.0, min_reps: int = 2) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), repeated for at least ``min_seconds``."""
    fn()
    sync(device)
    reps, start = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - start < min_seconds:
        fn()
        reps += 1
    sync(device)
    return (time.perf_counter() - start) / reps


def exact_seconds() -> float:
    energy = table1_energy()
    exact_inference(energy)
    return min(_clock(lambda: exact_inference(energy)) for _ in range(5))


def _clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def image_flow(size: int, device: torch.device, seed: int = 0) -> RandomizedFlow:
    """An initialised conv flow on a random 3-label Potts image energy of ``size×size``, finished by one round of the
    image recipe's schedule: the automatic finish would run rounds until its check passes, on these random unaries up to
    its cap (64 rounds: 7.6 samples/s at 128²), which measures the energy rather than the code."""
    g = torch.Generator().manual_seed(seed)
    energy = GridPottsEnergy(torch.rand(size, size, 3, generator=g) * 4, beta=2.0)
    return RandomizedFlow.from_recipe("image", energy, finish_rounds=1).to(device).attach_energy(energy)


def flow_speed(size: int, device: torch.device, batch: int) -> tuple[float, float, float]:
    """Integer samples per second with the recipe's finish and of the flow alone, and seconds per training step."""
    model = image_flow(size, device)
    generator = torch.Generator(device=device).manual_seed(0)
    per_batch = timed(lambda: model.sample(batch, generator=generator), device)
    per_batch_alone = timed(lambda: model.sample(batch, generator=generator, finish=False), device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        model.free_energy_terms()["loss"].backward()
        optimizer.step()

    return batch / per_batch, batch / per_batch_alone, timed(step, device, min_seconds=2.0)


#: arithmetic operations per pixel and sample of one sweep of each compiled kernel (kernels.c) with ``c`` labels, loads
#: and stores not counted; a random number is 17 (xoshiro256**: 14 integer operations, 3 to make a double), a draw from
#: c weights 4c − 2 (c sums, one product, c − 1 running sums, compares and counts)
KERNEL_OPS = {
    # per label 4 compares, 4 selects, 4 products (a neighbour's factor each); one draw, one random number
    "hb": lambda c: 12 * c + (4 * c - 2) + 17,
    # two pairs of bonds (2 random numbers, 2 label compares, 2 threshold compares), ~7 for the union-find's joins and
    # compression, c sums of the cluster's energies; a cluster's draw (c exponentials) is shared by its pixels: not counted
    "sw": lambda c: 2 * 17 + 4 + 7 + c,
    # twice (rows, then columns) per pixel: the filter's 2 compares, 2 selects, 2 products per label, its 3 operations per
    # label from the previous pixel and c + 1 to normalise plus c products; the backward draw's 4 per label, a draw and
    # a random number
    "line": lambda c: 2 * ((6 * c) + (3 * c) + (2 * c + 1) + 4 * c + (4 * c - 2) + 17),
}


def peak_ops_per_ns() -> float | None:
    """This CPU's arithmetic peak in operations per ns: cores × clock (GHz) × lanes of a double in its widest vectors
    × 2 vector ports (``None`` where ``/proc/cpuinfo`` does not say the clock)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    clock = next((float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")), None)
    if clock is None:
        return None
    flags = next((line.split(":")[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    lanes = 8 if "avx512f" in flags else 4 if "avx2" in flags else 2
    return (os.cpu_count() or 1) * clock / 1e3 * lanes * 2


def kernel_bound_ns(c: int, peak: float) -> dict[str, float]:
    """ns per pixel and sample of each kernel's :data:`KERNEL_OPS` at ``peak`` operations per ns."""
    return {name: ops(c) / peak for name, ops in KERNEL_OPS.items()}


def kernel_ns(size: int, device: torch.device, batch: int, compiled: bool = True) -> dict[str, float]:
    """ns per pixel and sample of one sweep of each registered kernel, on ``batch`` of the flow's own samples at
    ``size²``; ``compiled=False``: their torch code (``RAF_NATIVE=0``, :mod:`models.kernels.native`)."""
    model = image_flow(size, device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        x = model.sample(batch, generator=generator, finish=False).view(batch, size, size)
    out = {}
    saved = os.environ.get("RAF_NATIVE")
    os.environ["RAF_NATIVE"] = "1" if compiled else "0"
    try:
        for name in KERNELS:
            kernel = kernel_class(name)(model.energy)
            out[name] = 1e9 * timed(lambda: kernel.sweep(x, generator), device) / (batch * size * size)
    finally:
        if saved is None:
            del os.environ["RAF_NATIVE"]
        else:
            os.environ["RAF_NATIVE"] = saved
    return out


class KLClock(L.Callback):
    """Evaluates the KL every ``every`` steps; stops once it is ≤ ``target``. Counts training time only."""

    def __init__(self, exact, target: float, every: int, samples: int) -> None:
        self.exact, self.target, self.every, self.samples = exact, target, every, samples
        self.eval_seconds, self.history, self.reached = 0.0, [], None

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        begin = time.perf_counter()
        train_seconds = begin - self.start - self.eval_seconds
        with torch.no_grad():
            samples = pl_module.sample(self.samples, generator=torch.Generator(pl_module.device).manual_seed(step))
        kl = sample_figures(samples.cpu(), pl_module.energy.cpu(), self.exact)["kl"]
        pl_module.energy.to(pl_module.device)
        self.history.append({"step": step, "train_seconds": train_seconds, "kl": kl})
        print(f"  step {step:5d}: KL {kl:.3f} after {train_seconds:.0f} s of training", flush=True)
        if kl <= self.target and self.reached is None:
            self.reached = train_seconds
            trainer.should_stop = True
        self.eval_seconds += time.perf_counter() - begin


def seconds_to_kl(target: float, every: int, samples: int, max_steps: int, accelerator: str) -> dict:
    L.seed_everything(0, verbose=False)
    datamodule = IsingDataModule()
    exact = exact_inference(datamodule.energy)
    model = RandomizedFlow.from_recipe("ising", datamodule.energy)
    clock = KLClock(exact, target, every, samples)
    trainer = L.Trainer(
        max_steps=max_steps, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock],
    )
    trainer.fit(model, datamodule)
    return {"seconds": clock.reached, "history": clock.history}


def mode_ess(accelerator: str, device: torch.device, flow_samples: int, chains: int, burn_in: int, sweeps: int,
             steps: int | None = None) -> dict:
    """Flow versus Gibbs on the default cat/lion energy: ESS per second of the cat-or-lion indicator.

    The flow trains ``steps`` steps (``None``: the image recipe's).
    """
    L.seed_everything(0, verbose=False)
    datamodule = ImageDataModule()  # the bundled image with its default labels, as `python train.py`
    energy = datamodule.energy
    recipe = RECIPES["image"]
    model = RandomizedFlow.from_recipe(recipe, energy)
    trainer = L.Trainer(
        max_steps=steps or recipe.max_steps, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    train_seconds = _clock(lambda: trainer.fit(model, datamodule))
    model = model.to(device)
    names = datamodule.label_names
    bg, cat = background_index(names), cat_index(names, energy.c)
    generator = torch.Generator(device=device).manual_seed(0)
    marginals = model.marginals(generator=generator).cpu()
    mask = subject_mask(marginals, bg)

    def indicator(samples):  # 1 where the subject is mostly cat
        return (subject_coherence(samples.cpu(), mask, bg, energy.c)[1] == cat).double()

    sync(device)
    start = time.perf_counter()
    flow_states = model.sample(flow_samples, generator=generator)
    sync(device)
    flow_seconds = time.perf_counter() - start
    flow_x = indicator(flow_states)
    flow_ess = effective_sample_size(flow_x.view(1, -1)) if flow_x.var() > 0 else float(flow_samples)

    gibbs = CheckerboardGibbs(energy.to(device))
    x = gibbs.random_start(chains, generator)
    for _ in range(burn_in):
        x = gibbs.sweep(x, generator)
    sync(device)
    start = time.perf_counter()
    states = []
    for _ in range(sweeps):
        x = gibbs.sweep(x, generator)
        states.append(indicator(x.reshape(chains, -1)))
    sync(device)
    gibbs_seconds = time.perf_counter() - start
    gibbs_x = torch.stack(states, 1)  # (chains, sweeps)
    gibbs_ess = effective_sample_size(gibbs_x)
    flow_rate, gibbs_rate = flow_ess / flow_seconds, gibbs_ess / gibbs_seconds
    return {
        "flow_train_seconds": train_seconds, "flow_samples": flow_samples, "flow_seconds": flow_seconds,
        "flow_cat_share": float(flow_x.mean()), "flow_ess": flow_ess, "flow_ess_per_second": flow_rate,
        "gibbs_chains": chains, "gibbs_burn_in": burn_in, "gibbs_sweeps": sweeps, "gibbs_seconds": gibbs_seconds,
        "gibbs_cat_share": float(gibbs_x.mean()), "gibbs_switches": int((gibbs_x[:, 1:] != gibbs_x[:, :-1]).sum()),
        "gibbs_ess": gibbs_ess, "gibbs_ess_per_second": gibbs_rate, "ratio": flow_rate / gibbs_rate,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this path")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument("--sizes", default="64,128,256", help="grid sizes for the speed figures (default: %(default)s)")
    parser.add_argument("--sample-batch", type=int, default=256, help="samples per timed call (default: %(default)s)")
    parser.add_argument("--kl-every", type=int, default=100, help="steps between KL evaluations (default: %(default)s)")
    parser.add_argument("--kl-max-steps", type=int, default=4000, help="give up after this many steps (default: %(default)s)")
    parser.add_argument("--gibbs-chains", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--gibbs-sweeps", type=int, default=500, help="recorded sweeps after burn-in (default: %(default)s)")
    parser.add_argument("--gibbs-burn-in", type=int, default=100, help="(default: %(default)s)")
    parser.add_argument("--kl-samples", type=int, default=200_000, help="integer samples per KL evaluation (default: %(default)s)")
    parser.add_argument("--flow-steps", type=int, default=None, help="training steps of the flow in the ESS comparison (default: the image recipe's)")
    parser.add_argument("--flow-samples", type=int, default=4096, help="flow samples of the ESS comparison (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="speed figures only (no training)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    accelerator = "gpu" if device.type == "cuda" else "cpu"

    result = {
        "machine": {
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        },
        "kernels": "compiled" if native.runs_on(torch.zeros(1, 1, 1, dtype=torch.long, device=device)) else "torch",
    }
    peak = peak_ops_per_ns() if device.type == "cpu" else None
    result["peak_ops_per_ns"] = peak
    result["kernel_ops"] = {name: ops(3) for name, ops in KERNEL_OPS.items()}  # 3 labels, as every figure here
    if peak is not None:
        result["kernel_bound_ns"] = kernel_bound_ns(3, peak)
    result["exact_seconds_2p24"] = exact_seconds()
    print(f"exact log Z + marginals, 2^24 states: {result['exact_seconds_2p24'] * 1000:.1f} ms", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        rate, rate_alone, step = flow_speed(size, device, args.sample_batch)
        result[f"samples_per_second_{size}"] = rate
        result[f"samples_per_second_flow_alone_{size}"] = rate_alone
        result[f"seconds_per_step_{size}"] = step
        print(f"{size}×{size}: {rate:8.1f} samples/s with the finish, {rate_alone:8.1f} the flow alone, "
              f"{step:.3f} s per training step", flush=True)
        result[f"kernel_ns_{size}"] = kernel_ns(size, device, args.sample_batch)
        result[f"kernel_ns_torch_{size}"] = kernel_ns(size, device, args.sample_batch, compiled=False)
        print("  one sweep, ns per pixel and sample: " + ", ".join(
            f"{k} {v:.1f} (torch code {result[f'kernel_ns_torch_{size}'][k]:.1f})" for k, v in result[f"kernel_ns_{size}"].items()),
            flush=True)
        if peak is not None:
            print("  its arithmetic bound: " + ", ".join(
                f"{k} {result['kernel_bound_ns'][k]:.2f} ({v / result['kernel_bound_ns'][k]:.0f}× from it)"
                for k, v in result[f"kernel_ns_{size}"].items()), flush=True)
    if not args.quick:
        kl = seconds_to_kl(0.599, args.kl_every, args.kl_samples, args.kl_max_steps, accelerator)
        result["seconds_to_kl_0599"], result["kl_history"] = kl["seconds"], kl["history"]
        print(f"seconds to KL ≤ 0.599 on Table 1: {kl['seconds']}", flush=True)
        ess = mode_ess(accelerator, device, args.flow_samples, args.gibbs_chains, args.gibbs_burn_in, args.gibbs_sweeps, args.flow_steps)
        result["mode_ess_ratio_af_over_gibbs"], result["mode_ess"] = ess["ratio"], ess
        print(
            f"cat-or-lion ESS/s: flow {ess['flow_ess_per_second']:.1f}, Gibbs {ess['gibbs_ess_per_second']:.3f} "
            f"({ess['gibbs_switches']} mode switches in {args.gibbs_chains} chains × {args.gibbs_sweeps} sweeps) "
            f"→ ratio {ess['ratio']:.0f}",
            flush=True,
        )
    if args.json is not None:
        write_json(args.json, result, command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
