"""Real photos: the flow's pixel marginals against long checkerboard-Gibbs runs on the same energy.

    python benchmarks/photos.py [--json PATH] [--figures DIR] [--photos chelsea coffee] [--randomness local global]

For each bundled photo (``data/PHOTOS.md``: two CC0 photos) at ``--max-size 64`` with 3 k-means classes,
``python train.py --image <photo> --classes 3`` trains the flow as a user would; its marginals are those of
its integer samples (``samples.npy``, 2,048 samples). The reference is P*'s pixel marginals from
checkerboard Gibbs on the same energy (256 chains from random starts, 300 burn-in sweeps, then every state of
400 sweeps: 102,400 states; these photos' posteriors have no symmetric modes, so the chains mix). References
are kept in ``--references DIR`` (``<photo>.pt``) and reused when present: they take minutes. Reported: the mean total-variation distance of the pixel marginals over all pixels and over the
uncertain ones (the reference's largest marginal < 0.9), and the sum of per-pixel marginal entropies, flow
against reference. A figure per photo puts the per-pixel entropy of the flow beside the reference's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

import train  # noqa: E402
from benchmarks.output import write_json  # noqa: E402
from data import ImageDataModule  # noqa: E402
from callbacks.rendering import panel_figure, save_png  # noqa: E402
from callbacks.uncertainty import pixel_entropy  # noqa: E402
from models.gibbs import CheckerboardGibbs  # noqa: E402

UNCERTAIN = 0.9  # a pixel is uncertain where P*'s largest marginal is below this


# --randomness of this benchmark → the image recipe trained
RANDOMNESS = {"local": "image", "global": "image-global"}


def gibbs_marginals(energy, chains: int = 256, burn_in: int = 300, sweeps: int = 400, thin: int = 1, seed: int = 0) -> torch.Tensor:
    """``(n, c)`` pixel marginals of P* from ``chains`` checkerboard Gibbs chains (burn-in, then every ``thin``-th sweep)."""
    generator = torch.Generator().manual_seed(seed)
    gibbs = CheckerboardGibbs(energy)
    x = gibbs.random_start(chains, generator)
    for _ in range(burn_in):
        x = gibbs.sweep(x, generator)
    counts = torch.zeros(*energy.grid, energy.c, dtype=torch.float64)
    kept = 0
    for sweep in range(sweeps):
        x = gibbs.sweep(x, generator)
        if sweep % thin == 0:
            counts += torch.nn.functional.one_hot(x, energy.c).sum(0)
            kept += chains
    return (counts / kept).view(-1, energy.c)


def compare(flow: torch.Tensor, reference: torch.Tensor) -> dict:
    tv = 0.5 * (flow - reference).abs().sum(-1)
    uncertain = reference.max(-1).values < UNCERTAIN
    return {
        "tv_all": float(tv.mean()),
        "tv_uncertain": float(tv[uncertain].mean()) if uncertain.any() else None,
        "uncertain_pixels": int(uncertain.sum()),
        "entropy_sum_flow": float(pixel_entropy(flow).sum()),
        "entropy_sum_reference": float(pixel_entropy(reference).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--figures", type=Path, default=ROOT / "benchmarks" / "figures", help="uncertainty pictures go here")
    parser.add_argument("--photos", nargs="+", default=["chelsea", "coffee"])
    parser.add_argument("--randomness", nargs="+", default=["local"], choices=["local", "global"])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--root", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--references", type=Path, default=ROOT / "benchmarks" / "out", help="Gibbs references kept here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        for photo in args.photos:
            common = ["--image", f"{photo}.png", "--classes", "3", "--max-size", "64"]
            datamodule = ImageDataModule(image=str(ROOT / "data" / f"{photo}.png"), classes=3, max_size=64)  # as `common`
            energy = datamodule.energy
            cached = args.references / f"{photo}.pt"
            if cached.exists():
                reference = torch.load(cached)
            else:
                reference = gibbs_marginals(energy)
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.save(reference, cached)
            for randomness in args.randomness:
                run_root = root / f"{photo}_{randomness}"
                code = train.main([*common, "--recipe", RANDOMNESS[randomness], "--summary-samples", str(args.samples), "--quiet",
                                   "--checkpoint-every", "100000", "--root-dir", str(run_root)])
                if code:
                    raise RuntimeError(f"train.py on {photo} exited with {code}")
                folder = run_root / "lightning_logs" / "version_0"
                samples = torch.from_numpy(np.load(folder / "samples.npy")).long().view(args.samples, -1)
                flow = torch.nn.functional.one_hot(samples, energy.c).double().mean(0)
                summary = json.loads((folder / "summary.json").read_text())
                row = {"photo": photo, "grid": list(energy.grid), "randomness": randomness, **compare(flow, reference),
                       "train_seconds": summary["seconds"]}
                rows.append(row)
                print(f"{photo} ({randomness}): TV all {row['tv_all']:.4f}, uncertain {row['tv_uncertain']:.4f} "
                      f"({row['uncertain_pixels']} px); entropy sum {row['entropy_sum_flow']:.1f} vs {row['entropy_sum_reference']:.1f}; "
                      f"{row['train_seconds']:.0f} s training", flush=True)
                entropies = torch.stack([pixel_entropy(flow), pixel_entropy(reference)]).float()
                top = float(np.log(energy.c))
                picture = panel_figure(entropies, energy.grid, [f"flow ({randomness})", "Gibbs reference"], 0.0, top, "colour",
                                       scale=4, unit="nats", ncol=2)
                args.figures.mkdir(parents=True, exist_ok=True)
                save_png(picture, args.figures / f"uncertainty_{photo}_{randomness}.png")
    if args.json:
        reference = {"chains": 256, "burn_in": 300, "sweeps": 400, "thin": 1}
        write_json(args.json, {"uncertain_below": UNCERTAIN, "samples": args.samples, "reference": reference, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
