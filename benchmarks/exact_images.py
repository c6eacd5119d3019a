"""The flow, and the flow + the P*-invariant finish, against P* computed exactly on 6-row images.

    python benchmarks/exact_images.py [--json PATH] [--samples 4096] [--photo chelsea] [--quick]

Images (6 rows, so the column transfer matrix gives P* exactly, ``energies/transfer_matrix.py``):

* ``even``, ``lean`` and ``soft``: synthetic cat-or-lion images in ``data/make_cat_lion.py``'s colours with
  four separated subjects of 2×3, 3×4, 4×6 and 4×8 pixels. A subject's colour is the cat/lion midpoint moved
  along ``cat − lion`` so that its data term favours cat by ``lean`` nats in total (0 on ``even``); on
  ``soft`` each subject also has a one-pixel halo whose data term cannot choose between subject and
  background (its pixels' shape is uncertain: boundary fluctuations). The noise is the make_cat_lion noise,
  orthogonal to ``lion − cat`` (it cannot lean). The energy is built as
  ``ImageDataModule.build_energy`` builds it: the default labels, σ and β (``data/defaults.py``), Gaussian
  colour unaries.
* ``photo``: the 6-row strip (of those starting at multiples of 6) with the largest Σ pixel entropy under
  P* of a bundled photo at ``--max-size`` 64 with its own 3 k-means colours.

Exact figures: pixel marginals; per subject ``P(subject all a) = exp(log Z_a − log Z)`` with ``Z_a`` the
partition sum with every other label forbidden inside the subject (its unary raised by 10⁴). "Uncertain"
pixels: P*'s largest marginal < 0.9.

Rows: the ``image`` recipe's flow trained for its steps (``RandomizedFlow.from_recipe("image", …)`` + a Lightning Trainer),
its samples finished with ``sw`` Swendsen–Wang, ``line`` line heat-bath and ``hb`` heat-bath sweeps
(``models/finish/schedule.py``) for every ``sw`` in ``--sw``, ``line`` in ``--line`` and ``hb`` in ``--hb``; both orders of
the finish where they differ; mean field
(``BASELINE_MAX_STEPS``), and the same finishes from mean field's samples and from uniform random labelings.
Columns: per subject ``P(all cat)``, ``P(all lion)``, coherence (``P(all one label)``) against exact; the
largest odds error; mean pixel TV over all and over uncertain pixels; Σ pixel entropy; seconds per sample of
the start (the flow's sampling, not its training) and of the finish. Targets: odds within 0.05, TV ≤ 0.02
(all) and ≤ 0.08 (uncertain), finish no slower per sample than the flow. ``noise_floor``: the expected TV
and odds error of ``--samples`` exact samples, for scale. ``fewest_sweeps``: the finishes that meet the targets
on every image, cheapest first (by their largest cost over the flow's), and the cheapest of those that ends with
a heat-bath sweep (the entropy bound needs its law).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.output import command_line, write_json  # noqa: E402
from data import ImageDataModule  # noqa: E402
from data.data_term import gaussian_unary, parse_labels  # noqa: E402
from data.defaults import DEFAULT_BETA, DEFAULT_LABELS, DEFAULT_SIGMA  # noqa: E402
from data.energy_datamodule import GivenEnergy  # noqa: E402
from data.make_cat_lion import BACKGROUND, CAT, LION, NOISE, NOISE_BASIS, SUBJECT  # noqa: E402
from energies.grid_potts import GridPottsEnergy  # noqa: E402
from energies.transfer_matrix import transfer_matrix_inference, transfer_matrix_log_z  # noqa: E402
from models.finish.schedule import Finish  # noqa: E402
from models.baselines.mean_field import MeanField  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402
from models.flow.recipes import BASELINE_MAX_STEPS, RECIPES  # noqa: E402

ROWS = 6
UNCERTAIN = 0.9  # a pixel is uncertain where P*'s largest marginal is below this
FORBID = 1e4  # unary added to forbidden labels: e^(−10⁴) underflows to an exact 0 in the transfer matrix
TARGETS = {"odds_error": 0.05, "tv_all": 0.02, "tv_uncertain": 0.08}
SUBJECTS = [(2, 3), (3, 4), (4, 6), (4, 8)]  # (rows, columns)
# name: (each subject's cat:lion log odds of the data term in nats, the halo's margin: see synthetic_image)
IMAGES = {"even": ([0.0] * 4, None), "lean": ([1.0, -0.5, 2.0, -1.0], None), "soft": ([0.0, 1.0, -1.0, 0.5], 0.0)}
GAP = 3  # background columns around each subject (a halo takes one on each side)


# -- images and exact figures ---------------------------------------------------------------------------
def synthetic_image(leans: list[float], halo: float | None = None, seed: int = 0) -> tuple[torch.Tensor, list[dict]]:
    """``(6, W, 3)`` float RGB in [0, 1] and the subjects (name, pixel indices, lean).

    Args:
        leans: each subject's cat:lion log odds of the data term, in nats over the whole subject.
        halo: ``None``, or a soft edge: the ring of pixels around each subject (8-neighbourhood) takes a
            colour between subject and background whose data term prefers cat (and lion) over background
            by ``halo`` nats per pixel. It moves from the subject colour towards the background orthogonally
            to ``lion − cat``, so it leans to neither.
    """
    width = GAP + sum(w + GAP for _, w in SUBJECTS)
    bg, cat, lion = (np.array(v, dtype=np.float64) / 255 for v in (BACKGROUND, CAT, LION))
    d = lion - cat
    d2 = float(d @ d)
    mid = np.array(SUBJECT, dtype=np.float64) / 255
    rgb = np.tile(bg, (ROWS, width, 1))
    subjects, col = [], GAP
    for (h, w), lean in zip(SUBJECTS, leans):
        top = (ROWS - h) // 2
        if halo is not None:
            toward_bg = (bg - mid) - ((bg - mid) @ d) / d2 * d  # ⊥ d: cat and lion stay equally far
            # U_bg − U_cat is linear in the colour: the step along toward_bg that leaves `halo` nats
            gap = lambda x: (((x - bg) ** 2).sum() - ((x - cat) ** 2).sum()) / (2 * DEFAULT_SIGMA**2)  # noqa: E731
            rgb[max(top - 1, 0) : top + h + 1, col - 1 : col + w + 1] = (
                mid + (gap(mid) - halo) / (gap(mid) - gap(mid + toward_bg)) * toward_bg
            )
        # colour = midpoint − t (lion − cat): per-pixel cat:lion log odds t‖d‖²/σ², `lean` over all h·w pixels
        t = lean * DEFAULT_SIGMA**2 / (h * w * d2)
        rgb[top : top + h, col : col + w] = mid - t * d
        rows, cols = np.meshgrid(np.arange(top, top + h), np.arange(col, col + w), indexing="ij")
        subjects.append({"name": f"{h}x{w}", "pixels": (rows * width + cols).ravel().tolist(), "lean": lean})
        col += w + GAP
    rng = np.random.default_rng(seed)
    noise = rng.integers(-NOISE, NOISE + 1, size=(ROWS, width, 2)) @ NOISE_BASIS / 255  # orthogonal to lion − cat
    return torch.tensor(np.clip(rgb + noise, 0, 1), dtype=torch.float32), subjects


def image_energy(image: torch.Tensor, colours: torch.Tensor) -> GridPottsEnergy:
    """As ``ImageDataModule.build_energy``: Gaussian colour unaries (default σ) and the default β."""
    return GridPottsEnergy(gaussian_unary(image, colours, DEFAULT_SIGMA), beta=DEFAULT_BETA)


def exact_figures(energy: GridPottsEnergy, subjects: list[dict]) -> dict:
    """Exact marginals ``(n, c)``, uncertain mask, log Z and every subject's ``P(all a)`` for each label."""
    H, W = energy.grid
    e64 = GridPottsEnergy(energy.unary.double(), beta=energy.beta, dtype=torch.float64)
    result = transfer_matrix_inference(e64)
    for subject in subjects:
        p_all = []
        for a in range(energy.c):
            unary = e64.unary.clone().view(H * W, -1)
            forbidden = torch.ones(energy.c, dtype=torch.bool)
            forbidden[a] = False
            unary[torch.tensor(subject["pixels"])[:, None], forbidden.nonzero().T] += FORBID
            restricted = GridPottsEnergy(unary.view(H, W, -1), beta=energy.beta, dtype=torch.float64)
            p_all.append(math.exp(transfer_matrix_log_z(restricted) - result.log_z))
        subject["exact_p_all"] = p_all
    marginals = result.marginals
    return {"log_z": result.log_z, "marginals": marginals, "uncertain": marginals.max(1).values < UNCERTAIN}


def pixel_entropy_sum(marginals: torch.Tensor) -> float:
    p = marginals.double().clamp_min(1e-300)
    return float(-(marginals.double() * p.log()).sum())


def noise_floor(exact: dict, subjects: list[dict], m: int) -> dict:
    """Expected pixel TV and odds error of ``m`` exact samples: ``E|p̂ − p| ≈ √(2p(1−p)/(πm))``."""
    p = exact["marginals"]
    tv = 0.5 * torch.sqrt(2 * p * (1 - p) / (math.pi * m)).sum(1)
    odds = [math.sqrt(2 * q * (1 - q) / (math.pi * m)) for s in subjects for q in s["exact_p_all"]]
    unc = exact["uncertain"]
    return {"tv_all": float(tv.mean()), "tv_uncertain": float(tv[unc].mean()) if unc.any() else None,
            "odds_error_mean": float(np.mean(odds)) if odds else None}


def figures(samples: torch.Tensor, exact: dict, subjects: list[dict], labels: dict) -> dict:
    """The row's columns for integer samples ``(m, n)``."""
    c = exact["marginals"].shape[1]
    marginals = torch.nn.functional.one_hot(samples, c).double().mean(0)
    tv = 0.5 * (marginals - exact["marginals"]).abs().sum(1)
    unc = exact["uncertain"]
    out = {"tv_all": float(tv.mean()), "tv_uncertain": float(tv[unc].mean()) if unc.any() else None,
           "entropy_sum": pixel_entropy_sum(marginals), "subjects": []}
    errors = []
    for s in subjects:
        sub = samples[:, s["pixels"]]
        p_all = [float((sub == a).all(1).double().mean()) for a in range(c)]
        row = {"name": s["name"], "coherence": sum(p_all), "exact_coherence": sum(s["exact_p_all"])}
        for name in ("cat", "lion"):
            a = labels[name]
            row[f"p_all_{name}"], row[f"exact_p_all_{name}"] = p_all[a], s["exact_p_all"][a]
            errors.append(abs(p_all[a] - s["exact_p_all"][a]))
        out["subjects"].append(row)
    out["odds_error"] = max(errors) if errors else None
    out["meets_targets"] = bool(
        (out["odds_error"] is None or out["odds_error"] <= TARGETS["odds_error"])
        and out["tv_all"] <= TARGETS["tv_all"]
        and (out["tv_uncertain"] is None or out["tv_uncertain"] <= TARGETS["tv_uncertain"])
    )
    return out


# -- models ---------------------------------------------------------------------------------------------
def trainer(max_steps: int) -> L.Trainer:
    return L.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)


def train_flow(energy: GridPottsEnergy, seed: int, max_steps: int | None) -> tuple[L.LightningModule, float]:
    L.seed_everything(seed, verbose=False)
    recipe = RECIPES["image"]
    model = RandomizedFlow.from_recipe(recipe, energy, seed=seed)
    start = time.perf_counter()
    trainer(max_steps or recipe.max_steps).fit(model, GivenEnergy(energy))
    return model.attach_energy(energy), time.perf_counter() - start


def train_mean_field(energy: GridPottsEnergy, seed: int, max_steps: int | None) -> tuple[L.LightningModule, float]:
    L.seed_everything(seed, verbose=False)
    model = MeanField(energy.n, energy.c)
    start = time.perf_counter()
    trainer(max_steps or BASELINE_MAX_STEPS["meanfield"]).fit(model, GivenEnergy(energy))
    return model.attach_energy(energy), time.perf_counter() - start


def best_seconds(fn, reps: int = 3) -> float:
    """Fastest of ``reps`` calls (the machine may be shared: the minimum is the least disturbed)."""
    return min(timed_samples(fn)[1] for _ in range(reps))


def timed_samples(fn) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    with torch.no_grad():
        out = fn()
    return out, time.perf_counter() - start


# -- one image ------------------------------------------------------------------------------------------
def run_image(name: str, energy: GridPottsEnergy, subjects: list[dict], labels: dict, args) -> dict:
    m = args.samples
    exact = exact_figures(energy, subjects)
    print(f"{name}: {energy.grid[0]}×{energy.grid[1]}, {int(exact['uncertain'].sum())} uncertain pixels", flush=True)
    flow, flow_train = train_flow(energy, args.seed, args.flow_steps)
    mf, mf_train = train_mean_field(energy, args.seed, args.mf_steps)
    g = torch.Generator().manual_seed(args.seed)
    starts = {}
    starts["flow"] = timed_samples(lambda: flow.sample(m, generator=g, finish=False))
    starts["meanfield"] = timed_samples(lambda: mf.sample(m, generator=g))
    starts["random"] = timed_samples(lambda: torch.randint(0, energy.c, (m, energy.n), generator=g))
    samples = starts["flow"][0]
    one_sw, one_line, one_hb = Finish(energy, "sw"), Finish(energy, "line"), Finish(energy, "hb")
    timing = {  # seconds per sample, best of 3: the flow's sampling, one sweep of each kind
        "flow_sample": best_seconds(lambda: flow.sample(m, generator=g, finish=False)) / m,
        "sw_sweep": best_seconds(lambda: one_sw(samples, g)) / m,
        "line_sweep": best_seconds(lambda: one_line(samples, g)) / m,
        "hb_sweep": best_seconds(lambda: one_hb(samples, g)) / m,
    }
    print("  best of 3, µs per sample: " + ", ".join(f"{k} {1e6 * v:.0f}" for k, v in timing.items()), flush=True)
    combos = [(sw, line, hb, "interleaved") for sw in args.sw for line in args.line for hb in args.hb]
    combos += [(sw, line, hb, "sw_first") for sw, line, hb, _ in combos
               if sweep_schedule(sw, line, hb, "sw_first") != sweep_schedule(sw, line, hb)]
    rows = []
    for start, (samples, seconds) in starts.items():
        for sw, line, hb, order in combos:
            if order == "sw_first" and start != "flow":
                continue
            finish = Finish(energy, sweep_schedule(sw, line, hb, order))
            finished, finish_seconds = timed_samples(lambda: finish(samples, g))
            row = {"start": start, "sw": sw, "line": line, "hb": hb, "order": order,
                   "seconds_per_sample": {"start": seconds / m, "finish": finish_seconds / m},
                   **figures(finished, exact, subjects, labels)}
            row["finish_within_flow_cost"] = finish_seconds <= starts["flow"][1]
            rows.append(row)
            tvu = row["tv_uncertain"]
            print(f"  {start:9s} sw {sw:2d} line {line} hb {hb:2d} {order:11s}: odds err {row['odds_error'] if row['odds_error'] is not None else float('nan'):.3f}"
                  f"  TV {row['tv_all']:.4f} / {tvu if tvu is not None else float('nan'):.3f}  H {row['entropy_sum']:.1f}"
                  f"  {1e6 * row['seconds_per_sample']['finish']:.0f} µs/sample{'  ✓' if row['meets_targets'] else ''}", flush=True)
    return {
        "grid": list(energy.grid), "labels": labels,
        "subjects": [{k: v for k, v in s.items() if k != "pixels"} for s in subjects],
        "exact": {"log_z": exact["log_z"], "entropy_sum": pixel_entropy_sum(exact["marginals"]),
                  "uncertain_pixels": int(exact["uncertain"].sum())},
        "noise_floor": noise_floor(exact, subjects, m),
        "train_seconds": {"flow": flow_train, "meanfield": mf_train},
        "timing_best_of_3": timing,
        "rows": rows,
    }


def sweep_schedule(sw: int, line: int, hb: int, order: str = "interleaved") -> list[str]:
    """The kernel names of ``sw`` Swendsen–Wang, ``line`` line and ``hb`` heat-bath sweeps: ``"sw_first"``: all SW, then all
    line, then all heat-bath sweeps; ``"interleaved"``: rounds of one of each, a kind with fewer sweeps in the last rounds
    only (so a heat-bath sweep, when any, comes last)."""
    counts = (("sw", sw), ("line", line), ("hb", hb))
    if order == "sw_first":
        return [name for name, count in counts for _ in range(count)]
    rounds = max(count for _, count in counts)
    return [name for k in range(rounds) for name, count in counts if k >= rounds - count]


def photo_strip(photo: str) -> GridPottsEnergy:
    """The 6-row strip with the largest exact Σ pixel entropy of the photo's k-means energy at 64 px."""
    datamodule = ImageDataModule(image=str(ROOT / "data" / f"{photo}.png"), classes=3, max_size=64)
    full = datamodule.energy
    H = full.grid[0]
    best, best_h = None, -1.0
    for top in range(0, H - ROWS + 1, ROWS):
        strip = GridPottsEnergy(full.unary[top : top + ROWS].clone(), beta=full.beta)
        h = pixel_entropy_sum(transfer_matrix_inference(GridPottsEnergy(strip.unary.double(), beta=strip.beta, dtype=torch.float64)).marginals)
        if h > best_h:
            best, best_h = strip, h
    return best


def fewest_sweeps(images: dict) -> dict:
    """The flow + finish settings that meet the targets on every image, cheapest first (the largest over the
    images of the finish's cost per sample over the flow's, from the best-of-3 timings), with those costs;
    ``fewest``: the cheapest; ``fewest_with_bound``: the cheapest whose last sweep is a heat-bath one."""
    ok = None
    for result in images.values():
        met = {(r["sw"], r["line"], r["hb"], r["order"]) for r in result["rows"] if r["start"] == "flow" and r["meets_targets"]}
        ok = met if ok is None else ok & met

    def cost(sw: int, line: int, hb: int) -> dict:
        return {name: (sw * t["sw_sweep"] + line * t["line_sweep"] + hb * t["hb_sweep"]) / t["flow_sample"]
                for name, t in ((name, r["timing_best_of_3"]) for name, r in images.items())}

    ranked = sorted(ok or (), key=lambda k: (max(cost(*k[:3]).values()), k[3]))
    with_bound = [k for k in ranked if sweep_schedule(*k)[-1:] == ["hb"]]
    return {"meeting_targets": [{"sw": sw, "line": line, "hb": hb, "order": order, "finish_over_flow_cost": cost(sw, line, hb)}
                                for sw, line, hb, order in ranked],
            "fewest": list(ranked[0]) if ranked else None,
            "fewest_with_bound": list(with_bound[0]) if with_bound else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/exact_images.json (--quick: exact_images_quick.json)")
    parser.add_argument("--samples", type=int, default=4096, help="samples per row (default: %(default)s)")
    parser.add_argument("--sw", default="0,1,2,5,10", help="Swendsen–Wang sweeps (default: %(default)s)")
    parser.add_argument("--line", default="0,1", help="line heat-bath sweeps (default: %(default)s)")
    parser.add_argument("--hb", default="0,1,2,3,4,5,10", help="heat-bath sweeps (default: %(default)s)")
    parser.add_argument("--photo", default="chelsea", help="bundled photo for the strip, or 'none' (default: %(default)s)")
    parser.add_argument("--flow-steps", type=int, help="default: the image recipe's")
    parser.add_argument("--mf-steps", type=int, help="default: BASELINE_MAX_STEPS['meanfield']")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 5 training steps, 256 samples, two finishes, no photo")
    args = parser.parse_args(argv)
    args.sw = [int(v) for v in args.sw.split(",")]
    args.line = [int(v) for v in args.line.split(",")]
    args.hb = [int(v) for v in args.hb.split(",")]
    if args.quick:
        args.samples, args.flow_steps, args.mf_steps, args.photo = 256, 5, 5, "none"
        args.sw, args.line, args.hb = [0, 1], [0, 1], [0, 1]
    if args.json is None:
        args.json = ROOT / "benchmarks" / "results" / f"exact_images{'_quick' if args.quick else ''}.json"
    threads, lightning_log = torch.get_num_threads(), logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    torch.set_num_threads(args.threads)
    lightning_log.setLevel(logging.WARNING)  # no per-fit banner
    try:  # a caller in the same process (the smoke test) gets its threads and Lightning's log level back
        result = measure(args)
    finally:
        torch.set_num_threads(threads)
        lightning_log.setLevel(level)
    write_json(args.json, result, command_line(__file__, argv))
    return 0


def measure(args) -> dict:
    """Every image's exact figures and rows, and the fewest sweeps that meet the targets."""
    labels = parse_labels(DEFAULT_LABELS)
    index = {name: i for i, name in enumerate(labels.names)}
    images = {}
    for name, (leans, margin) in IMAGES.items():
        image, subjects = synthetic_image(leans, margin, args.seed)
        images[name] = run_image(name, image_energy(image, labels.colours), subjects, index, args)
    if args.photo != "none":
        images["photo"] = run_image(f"photo {args.photo}", photo_strip(args.photo), [], {}, args)
    return {
        "settings": {"samples": args.samples, "sw": args.sw, "line": args.line, "hb": args.hb, "photo": args.photo, "seed": args.seed,
                     "threads": args.threads, "flow_steps": args.flow_steps or RECIPES["image"].max_steps,
                     "mf_steps": args.mf_steps or BASELINE_MAX_STEPS["meanfield"], "sigma": DEFAULT_SIGMA,
                     "beta": DEFAULT_BETA, "uncertain_below": UNCERTAIN, "quick": args.quick},
        "targets": TARGETS,
        "images": images,
        "fewest_sweeps": fewest_sweeps(images),
    }


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
