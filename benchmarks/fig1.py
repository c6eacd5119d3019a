"""Fig. 1 of the paper on the bundled cat/lion image, measured three ways.

    python benchmarks/fig1.py [--json PATH] [--seeds 5] [--small-seeds 2] [--root DIR]

1. ``default``: ``python train.py --seed s`` for each seed (the product's Fig. 1 figures and time).
2. ``gibbs_reference``: P*'s own within-mode figures on the 24×24 image, from checkerboard Gibbs chains
   started in the all-cat and the all-lion subject (Gibbs cannot switch modes here; the two modes have
   equal probability by construction): subject coherence and mean energy of P*.
3. ``small_exact``: a 5×6 crop-size version of the image, where P* is enumerable (3^30 states): the exact
   KL from integer samples of the label-tied flow, the untied flow and mean field, through ``train.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

import train  # noqa: E402
from benchmarks.output import write_json  # noqa: E402
from data import ImageDataModule  # noqa: E402
from callbacks.figures import fig1_figures  # noqa: E402
from data.make_cat_lion import draw  # noqa: E402
from models.gibbs import CheckerboardGibbs  # noqa: E402


def train_run(argv: list[str], root: Path) -> dict:
    """``train.py argv`` under ``root``; returns its summary.json."""
    code = train.main([*argv, "--root-dir", str(root), "--checkpoint-every", "100000"])
    if code:
        raise RuntimeError(f"train.py {' '.join(argv)} exited with {code}")
    return json.loads(max((root / "lightning_logs").glob("version_*/summary.json")).read_text())


def default_runs(seeds: int, root: Path) -> list[dict]:
    out = []
    for seed in range(seeds):
        s = train_run(["--seed", str(seed)], root / f"default_{seed}")
        row = {"seed": seed, "seconds": s["seconds"], **s["fig1"], "energy": s["samples"]["energy"]}
        print(f"  seed {seed}: coherence {row['subject_coherence']:.3f}, cat share {row['cat_share']:.3f}, "
              f"pixelwise {row['pixelwise_coherence']:.3f}, energy {row['energy']:.1f}, {row['seconds']:.0f} s", flush=True)
        out.append(row)
    return out


def gibbs_reference(chains: int = 512, sweeps: int = 1000, seed: int = 0) -> dict:
    datamodule = ImageDataModule()  # the bundled image and labels, as `python train.py`
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


def small_exact(seeds: int, root: Path) -> dict:
    image = root / "cat_lion_5x6.png"
    Image.fromarray(draw(5, 6), "RGB").save(image)
    common = ["--image", str(image), "--summary-samples", "4096", "--exact", "on"]
    variants = {"flow, label-tied, local randomness (default)": [], "flow, label-tied, --recipe image-global": ["--recipe", "image-global"],
                "flow, untied": ["--recipe", "image-untied"], "mean field": ["--model", "meanfield"]}
    out = {}
    for name, extra in variants.items():
        rows = []
        for seed in range(seeds if name != "mean field" else 1):
            s = train_run([*common, *extra, "--seed", str(seed)], root / f"small_{len(out)}_{seed}")["samples"]
            rows.append({k: s[k] for k in ("kl", "energy", "entropy", "marginal_diff", "support")})
            print(f"  {name}, seed {seed}: KL {s['kl']:.3f}, energy {s['energy']:.2f}, entropy {s['entropy']:.3f}, "
                  f"support {s['support']}", flush=True)
        out[name] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the default run")
    parser.add_argument("--small-seeds", type=int, default=2, help="seeds per flow variant on the 5×6 image")
    parser.add_argument("--root", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        print("default runs (python train.py --seed s):")
        result = {"default": default_runs(args.seeds, root)}
        print("Gibbs reference (P* within each mode):")
        result["gibbs_reference"] = gibbs_reference()
        print(f"  coherence {result['gibbs_reference']['subject_coherence']:.4f}, energy {result['gibbs_reference']['energy']:.2f}")
        print("5×6 image, exact KL from 4096 integer samples:")
        result["small_exact"] = small_exact(args.small_seeds, root)
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
