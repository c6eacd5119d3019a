"""Fig. 1 of the paper on the bundled cat/lion image, measured three ways.

    python benchmarks/fig1.py [--json PATH] [--figure PATH] [--seeds 5] [--small-seeds 2] [--root DIR]
                              [--max-steps N] [--max-size N] [--gibbs-chains 512] [--gibbs-sweeps 1000] [--small-grid 5x6] [--small-samples 4096]

1. ``default``: ``python train.py --seed s`` for each seed (the product's Fig. 1 figures and time);
   ``--figure`` keeps seed 0's ``fig1.png`` (``benchmarks/pictures/fig1_default.png``).
2. ``gibbs_reference``: P*'s own within-mode figures on the 24×24 image, from checkerboard Gibbs chains
   started in the all-cat and the all-lion subject (Gibbs cannot switch modes here; the two modes have
   equal probability by construction): subject coherence and mean energy of P*.
3. ``small_exact``: a 5×6 crop-size version of the image, where P* is enumerable (3^30 states): the exact
   KL from integer samples of the label-tied flow, the untied flow and mean field, through ``train.py``.
   The runs get the bundled image's labels (background, cat, lion: ``data.defaults.DEFAULT_LABELS``) with
   ``--labels``: on any image but the bundled one, ``train.py`` would otherwise fit 3 k-means colours, a
   different energy from the one in ``results/fig1.json``.

``--max-steps`` (default: the recipes' own), ``--max-size`` (default runs on a downscaled bundled image) and
the smaller sizes exist for the smoke test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

import run  # noqa: E402
import train  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from data import ImageDataModule  # noqa: E402
from metrics.coherence import fig1_figures  # noqa: E402
from data.defaults import DEFAULT_LABELS  # noqa: E402
from data.make_cat_lion import draw  # noqa: E402
from energies.sample_stats import miller_madow, plugin_entropy  # noqa: E402
from models.kernels.heat_bath import CheckerboardGibbs  # noqa: E402


def train_run(argv: list[str], root: Path) -> run.RunResult:
    """``train.py argv`` under ``root``; returns its result (``summary``, run ``folder``)."""
    result = run.train(train.parse([*argv, "--root-dir", str(root), "--checkpoint-every", "100000"]))
    if result.exit_code:
        raise RuntimeError(f"train.py {' '.join(argv)} exited with {result.exit_code}")
    return result


def default_runs(seeds: int, root: Path, extra: list[str] = (), figure: Path | None = None) -> list[dict]:
    """``python train.py --seed s`` (plus ``extra``) for each seed; seed 0's ``fig1.png`` is copied to ``figure``."""
    out = []
    for seed in range(seeds):
        result = train_run(["--seed", str(seed), *extra], root / f"default_{seed}")
        s = result.summary
        if figure is not None and seed == 0:
            figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.folder / "fig1.png", figure)
            print(f"wrote {figure}")
        row = {"seed": seed, "seconds": s["seconds"], **s["fig1"], "energy": s["samples"]["energy"]}
        print(f"  seed {seed}: coherence {row['subject_coherence']:.3f}, cat share {row['cat_share']:.3f}, "
              f"pixelwise {row['pixelwise_coherence']:.3f}, energy {row['energy']:.1f}, {row['seconds']:.0f} s", flush=True)
        out.append(row)
    return out


def gibbs_reference(chains: int = 512, sweeps: int = 1000, seed: int = 0, max_size: int | None = None) -> dict:
    """P*'s coherence and mean energy on the default runs' image (``max_size``: downscaled as theirs)."""
    sized = {} if max_size is None else {"max_size": max_size}
    datamodule = ImageDataModule(**sized)  # the bundled image and labels, as `python train.py`
    energy, names = datamodule.energy, datamodule.label_names
    H, W = energy.grid
    gibbs = CheckerboardGibbs(energy)
    background, cat, lion = names.index("background"), names.index("cat"), names.index("lion")
    subject = energy.unary[..., background] > energy.unary[..., cat]
    x = torch.full((chains, H, W), background)
    x[: chains // 2, subject] = cat
    x[chains // 2 :, subject] = lion
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(sweeps):
        x = gibbs.sweep(x, generator)
    samples = x.reshape(chains, -1)
    marginals = torch.nn.functional.one_hot(samples, energy.c).double().mean(0)
    figures = fig1_figures(samples, marginals, names, generator=generator)
    return {
        "chains": chains, "sweeps": sweeps, "seconds": time.perf_counter() - start,
        "subject_coherence": figures["subject_coherence"], "energy": float(energy.energy(samples).mean()),
    }


def small_exact(seeds: int, root: Path, grid: tuple[int, int] = (5, 6), samples: int = 4096, train_args: list[str] = ()) -> dict:
    """Exact KL of each model on a ``grid`` version of the bundled image, with the bundled labels (and ``train_args``)."""
    image = root / f"cat_lion_{grid[0]}x{grid[1]}.png"
    Image.fromarray(draw(*grid), "RGB").save(image)
    common = ["--image", str(image), "--labels", DEFAULT_LABELS, "--summary-samples", str(samples), "--exact", "on", *train_args]
    variants = {"flow, label-tied, local randomness (default)": [], "flow, label-tied, --recipe image-global": ["--recipe", "image-global"],
                "flow, untied": ["--recipe", "image-untied"], "mean field": ["--model", "meanfield"]}
    out = {}
    for name, extra in variants.items():
        rows = []
        for seed in range(seeds if name != "mean field" else 1):
            result = train_run([*common, *extra, "--seed", str(seed)], root / f"small_{len(out)}_{seed}")
            s = dict(result.summary["samples"])
            # the plug-in KL (eq. (14b), Miller–Madow) even where the run withholds it for low coverage: these rows
            # compare with earlier ones; the run's own bounds stand beside it
            x = torch.from_numpy(np.load(result.folder / "samples.npy")).long().reshape(samples, -1)
            plugin, support = plugin_entropy(x, 3)
            s["entropy"] = miller_madow(plugin, support, samples)
            s["kl"] = s["energy"] - s["entropy"] + s["exact"]["log_z"]
            rows.append({k: s.get(k) for k in ("kl", "energy", "entropy", "marginal_diff", "support", "coverage", "kl_lower", "kl_upper")})
            print(f"  {name}, seed {seed}: KL {s['kl']:.3f}, energy {s['energy']:.2f}, entropy {s['entropy']:.3f}, "
                  f"support {s['support']}", flush=True)
        out[name] = rows
    return out


def grid_size(text: str) -> tuple[int, int]:
    """``"HxW"`` → ``(H, W)``; W even (the image's noise comes in mirror pairs)."""
    try:
        H, W = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 5x6, got {text!r}") from None
    if H < 1 or W < 2 or W % 2:
        raise argparse.ArgumentTypeError(f"need H ≥ 1 and an even W ≥ 2, got {text!r}")
    return H, W


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the default run")
    parser.add_argument("--small-seeds", type=int, default=2, help="seeds per flow variant on the 5×6 image")
    parser.add_argument("--root", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--figure", type=Path, default=None, help="copy seed 0's fig1.png here (benchmarks/pictures/fig1_default.png)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps of every run (default: each recipe's own)")
    parser.add_argument("--max-size", type=int, default=None, help="downscale the bundled image of the default runs to this longer side")
    parser.add_argument("--gibbs-chains", type=int, default=512, help="Gibbs chains of the reference, half per mode")
    parser.add_argument("--gibbs-sweeps", type=int, default=1000, help="Gibbs sweeps of the reference")
    parser.add_argument("--small-grid", type=grid_size, default=(5, 6), metavar="HxW", help="the enumerable image (default: 5x6)")
    parser.add_argument("--small-samples", type=int, default=4096, help="integer samples scored on the small image")
    args = parser.parse_args(argv)
    extra = [] if args.max_steps is None else ["--max-steps", str(args.max_steps)]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        print("default runs (python train.py --seed s):")
        sized = [] if args.max_size is None else ["--max-size", str(args.max_size)]
        result = {"default": default_runs(args.seeds, root, [*extra, *sized], args.figure)}
        print("Gibbs reference (P* within each mode):")
        result["gibbs_reference"] = gibbs_reference(args.gibbs_chains, args.gibbs_sweeps, max_size=args.max_size)
        print(f"  coherence {result['gibbs_reference']['subject_coherence']:.4f}, energy {result['gibbs_reference']['energy']:.2f}")
        H, W = args.small_grid
        print(f"{H}×{W} image, exact KL from {args.small_samples} integer samples:")
        result["small_exact"] = small_exact(args.small_seeds, root, args.small_grid, args.small_samples, extra)
        result["small_grid"], result["labels"] = [H, W], DEFAULT_LABELS
    if args.json:
        write_json(args.json, result, command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
