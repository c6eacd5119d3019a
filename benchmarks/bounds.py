"""The figures TensorBoard shows at every size (metrics/bounds.py), checked where the answer is known.

    python benchmarks/bounds.py [--json PATH] [--max-steps N] [--every 100] [--photo-size 64] [--kl-samples 1000000]
                                [--references DIR] [--instances tiny strip photo]

Three instances, one per kind of reference:

* **tiny** (2×4 pixels, 3 labels: 6,561 labelings): for three samplers (the flow with one heat-bath sweep, the
  flow with the recipe's finish, the flow alone with drawn labels), the logged ``kl_lower`` and ``kl_upper``
  beside the KL measured from ``--kl-samples`` samples against exact enumeration (with the plug-in's bias
  bound, (support − 1)/2N).
* **strip** (the 6×64 strip of chelsea of ``benchmarks/exact_images.py``, solved by the transfer matrix): every
  image recipe and mean field trained with :class:`callbacks.SampleMetrics` as ``train.py`` runs it; the
  logged ``kl_lower`` / ``kl_upper`` at each measurement, and the exact pixel-marginal TV of the final samples.
* **photo** (chelsea at ``--photo-size`` px, 3 k-means classes: no exact ``log Z``): the same models; the logged
  ``free_energy_upper`` at each measurement, and the pixel-marginal TV to the Gibbs reference of
  ``benchmarks/photos.py`` (cached in ``benchmarks/out``). Does the bound fall during training, and does it
  order the models as the reference does?
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.exact_images import photo_strip  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from benchmarks.photos import REFERENCES, reference_marginals  # noqa: E402
from callbacks import SampleMetrics  # noqa: E402
from callbacks.common import try_exact, try_kl_lower  # noqa: E402
from data import ImageDataModule  # noqa: E402
from data.energy_datamodule import GivenEnergy  # noqa: E402
from energies.exact import exact_inference  # noqa: E402
from energies.grid_potts import GridPottsEnergy  # noqa: E402
from energies.sample_stats import marginal_difference, sample_marginals  # noqa: E402
from metrics.bounds import bound_figures  # noqa: E402
from models import MeanField, RandomizedFlow  # noqa: E402
from models.flow.recipes import BASELINE_MAX_STEPS, RECIPES  # noqa: E402

MODELS = ("image", "image-global", "image-untied", "meanfield")
TINY_SAMPLERS = {
    "flow + 1 heat-bath sweep": dict(finish_round="hb"),
    "flow + the recipe's finish": {},
    "flow alone, drawn labels": dict(finish_round="", rounding="draw"),
}
PHOTO_SETTINGS = {"chains": 256, "burn_in": 300, "sweeps": 400, "thin": 1, **REFERENCES[0]}  # benchmarks/photos.py's first reference


def tiny_instance(kl_samples: int) -> list[dict]:
    """The bounds of three untrained samplers against the KL measured from ``kl_samples`` samples."""
    energy = GridPottsEnergy(1.5 * torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0)), beta=1.0, dtype=torch.float64)
    exact = exact_inference(energy)
    states = torch.cartesian_prod(*[torch.arange(3)] * energy.n)
    log_p = -energy.energy(states) - exact.log_z
    codes = 3 ** torch.arange(energy.n - 1, -1, -1)
    rows = []
    for name, overrides in TINY_SAMPLERS.items():
        model = RandomizedFlow.from_recipe("image", energy, seed=0, **overrides)
        g = torch.Generator().manual_seed(1)
        counts = torch.zeros(len(states), dtype=torch.float64)
        for k in range(0, kl_samples, 2**16):
            counts += torch.bincount((model.sample(min(2**16, kl_samples - k), g) * codes).sum(1), minlength=len(states)).double()
        q, seen = counts / kl_samples, counts > 0
        kl = float((q[seen] * (q[seen].log() - log_p[seen])).sum())
        bounds = bound_figures(model, model.sample(256, g), exact.log_z, try_kl_lower(energy), g)
        row = {"sampler": name, "kl_lower": bounds["kl_lower"], "kl_measured": kl,
               "plugin_bias_at_most": (int(seen.sum()) - 1) / (2 * kl_samples), "kl_upper": bounds["kl_upper"],
               "bracketed": bounds["kl_lower"] <= kl and bounds["kl_upper"] >= kl - (int(seen.sum()) - 1) / (2 * kl_samples)}
        print(f"tiny, {name}: {row['kl_lower']:.3f} ≤ KL {kl:.4f} ≤ {row['kl_upper']:.3f}", flush=True)
        rows.append(row)
    return rows


def train_logged(name: str, energy, max_steps: int | None, every: int) -> tuple[L.LightningModule, list[dict], float]:
    """Train one model as ``train.py`` does, with the metrics callback it logs through; its logged rows."""
    L.seed_everything(0, verbose=False)
    if name == "meanfield":
        model, steps = MeanField(energy.n, energy.c), BASELINE_MAX_STEPS["meanfield"]
    else:
        model, steps = RandomizedFlow.from_recipe(name, energy, seed=0), RECIPES[name].max_steps
    steps = max_steps or steps
    metrics = SampleMetrics(every_n_steps=max(1, min(every, steps // 2)), samples=256)
    start = time.perf_counter()
    L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, callbacks=[metrics]).fit(model, GivenEnergy(energy))
    seconds = time.perf_counter() - start
    keep = ("kl_lower", "kl_upper", "free_energy_upper", "entropy_lower", "bound_gap", "marginal_diff", "energy", "pixel_entropy")
    rows = [{"step": r["step"], **{k: r[f"eval/{k}"] for k in keep if f"eval/{k}" in r}} for r in metrics.logged]
    return model.attach_energy(energy), rows, seconds


def final_tv(model, reference: torch.Tensor) -> float:
    samples = model.sample(2048, torch.Generator(device=model.device).manual_seed(7))
    return marginal_difference(sample_marginals(samples, model.c), reference)


def order(rows: list[dict], key: str) -> list[str]:
    return [r["model"] for r in sorted(rows, key=lambda r: r[key])]


def strip_instance(max_steps: int | None, every: int) -> dict:
    energy = photo_strip("chelsea")
    exact = try_exact(energy)
    rows = []
    for name in MODELS:
        model, logged, seconds = train_logged(name, energy, max_steps, every)
        last = logged[-1]
        row = {"model": name, "train_seconds": round(seconds, 1), "tv_exact": final_tv(model, exact.marginals.double()),
               "kl_lower": last["kl_lower"], "kl_upper": last.get("kl_upper"), "logged": logged}
        print(f"strip {tuple(energy.grid)}, {name}: {row['kl_lower']:.2f} ≤ KL ≤ {row['kl_upper']}, exact TV {row['tv_exact']:.4f}", flush=True)
        rows.append(row)
    return {"grid": list(energy.grid), "rows": rows, "order_by_tv": order(rows, "tv_exact"),
            "order_by_kl_upper": order([r for r in rows if r["kl_upper"] is not None], "kl_upper")}


def photo_instance(size: int, max_steps: int | None, every: int, references: Path) -> dict:
    energy = ImageDataModule(image=str(ROOT / "data" / "chelsea.png"), classes=3, max_size=size).energy  # as train.py builds it
    reference, key = reference_marginals(energy, references, **PHOTO_SETTINGS)
    rows = []
    for name in MODELS:
        model, logged, seconds = train_logged(name, energy, max_steps, every)
        bounds = [r["free_energy_upper"] for r in logged]
        row = {"model": name, "train_seconds": round(seconds, 1), "tv_reference": final_tv(model, reference),
               "free_energy_upper_first": bounds[0], "free_energy_upper_last": bounds[-1],
               "falls": bounds[-1] < bounds[0], "logged": logged}
        print(f"photo {tuple(energy.grid)}, {name}: free energy ≤ {bounds[0]:.1f} → {bounds[-1]:.1f}, TV to reference "
              f"{row['tv_reference']:.4f}", flush=True)
        rows.append(row)
    return {"grid": list(energy.grid), "reference_sha256": key, "rows": rows, "order_by_tv": order(rows, "tv_reference"),
            "order_by_free_energy_upper": order(rows, "free_energy_upper_last")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: each model's own)")
    parser.add_argument("--every", type=int, default=100, help="steps between measurements (default: %(default)s)")
    parser.add_argument("--photo-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--kl-samples", type=int, default=10**6, help="(default: %(default)s)")
    parser.add_argument("--references", type=Path, default=ROOT / "benchmarks" / "out", help="Gibbs references kept here")
    parser.add_argument("--instances", nargs="+", default=["tiny", "strip", "photo"], choices=["tiny", "strip", "photo"])
    args = parser.parse_args(argv)
    result = {}
    if "tiny" in args.instances:
        result["tiny"] = tiny_instance(args.kl_samples)
    if "strip" in args.instances:
        result["strip"] = strip_instance(args.max_steps, args.every)
    if "photo" in args.instances:
        result["photo"] = photo_instance(args.photo_size, args.max_steps, args.every, args.references)
    if args.json:
        write_json(args.json, result, command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
