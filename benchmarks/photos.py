"""Real photos: the flow's pixel marginals against long checkerboard-Gibbs runs on the same energy.

    python benchmarks/photos.py [--json PATH] [--pictures DIR] [--photos chelsea coffee] [--randomness local global]
                                [--max-size 64] [--max-steps N] [--gibbs-chains 256] [--gibbs-burn-in 300] [--gibbs-sweeps 400]

For each bundled photo (``data/PHOTOS.md``: two CC0 photos) at ``--max-size 64`` with 3 k-means classes,
``python train.py --image <photo> --classes 3`` trains the flow as a user would; its marginals are those of
its integer samples (``samples.npy``, 2,048 samples). The reference is P*'s pixel marginals from
checkerboard Gibbs on the same energy (256 chains, 300 burn-in sweeps, then every state of 400 sweeps: 102,400
states), run twice, independently: seed 0 from uniformly random labelings and seed 1 from the data term's argmax.
The reference is their mean; their TV to each other (``references_tv_*``) shows that the chains converged and is
the noise floor below which no model's TV can be told apart. References
take minutes; they are kept in ``--references DIR`` under the hash of what they depend on (the energy's
unary potentials and edge weights β, and the Gibbs settings: :func:`reference_key`), so a changed image,
label fit, σ, β or size gets a new reference, never a stale one. Reported: the mean total-variation distance
of the pixel marginals over all pixels and over the uncertain ones (the reference's largest marginal < 0.9),
and the sum of per-pixel marginal entropies, flow against reference. A figure per photo puts the per-pixel
entropy of the flow beside the reference's. ``--max-steps`` (default: the recipe's) and the smaller sizes
exist for the smoke test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

import run  # noqa: E402
import train  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from data import ImageDataModule  # noqa: E402
from pictures.rendering import panel_figure, save_png  # noqa: E402
from metrics.uncertainty import pixel_entropy  # noqa: E402
from models.kernels.heat_bath import CheckerboardGibbs  # noqa: E402
from run.sampling import SampleConfig, sample  # noqa: E402

UNCERTAIN = 0.9  # a pixel is uncertain where P*'s largest marginal is below this


# the two independent Gibbs references of each photo
REFERENCES = ({"seed": 0, "start": "random"}, {"seed": 1, "start": "data"})

# --randomness of this benchmark → the image recipe trained
RANDOMNESS = {"local": "image", "global": "image-global", "stationary": "image-stationary"}


def gibbs_marginals(energy, chains: int = 256, burn_in: int = 300, sweeps: int = 400, thin: int = 1, seed: int = 0,
                    start: str = "random") -> torch.Tensor:
    """``(n, c)`` pixel marginals of P* from ``chains`` checkerboard Gibbs chains (burn-in, then every ``thin``-th sweep),
    started from uniformly random labelings (``start="random"``) or all from the data term's argmax (``"data"``)."""
    generator = torch.Generator().manual_seed(seed)
    gibbs = CheckerboardGibbs(energy)
    if start == "random":
        x = gibbs.random_start(chains, generator)
    elif start == "data":
        x = energy.unary.argmin(-1).expand(chains, *energy.grid).clone()
    else:
        raise ValueError(f"start must be 'random' or 'data', got {start!r}")
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


def reference_key(energy, **settings) -> str:
    """SHA-256 of the energy's parameters (unary potentials, edge weights β) and the Gibbs ``settings``."""
    digest = hashlib.sha256()
    for name, buf in sorted(energy.named_buffers()):
        digest.update(name.encode())
        digest.update(str(tuple(buf.shape)).encode())
        digest.update(buf.detach().cpu().double().contiguous().numpy().round(9).tobytes())
    digest.update(json.dumps({"periodic": bool(getattr(energy, "periodic", False)), **settings}, sort_keys=True).encode())
    return digest.hexdigest()


def reference_marginals(energy, folder: Path, **settings) -> tuple[torch.Tensor, str]:
    """P*'s pixel marginals by :func:`gibbs_marginals`, cached in ``folder`` under :func:`reference_key`."""
    return cached_marginals(energy, folder, "gibbs", gibbs_marginals, **settings)


def cached_marginals(energy, folder: Path, prefix: str, compute, **settings) -> tuple[torch.Tensor, str]:
    """``compute(energy, **settings)``, kept in ``folder`` as ``<prefix>-<key>.pt`` under :func:`reference_key` of the energy
    and ``settings``: a changed image, label fit, σ, β, size or setting gets a new reference, never a stale one."""
    key = reference_key(energy, **settings)
    cached = folder / f"{prefix}-{key[:24]}.pt"
    if cached.exists():
        saved = torch.load(cached)
        if saved.get("key") == key:
            return saved["marginals"], key
    marginals = compute(energy, **settings)
    folder.mkdir(parents=True, exist_ok=True)
    part = cached.with_suffix(".part")
    torch.save({"key": key, "settings": settings, "marginals": marginals}, part)
    part.replace(cached)
    return marginals, key


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


def reused_rows(args, checkpoints: dict, references: dict, trained_rows: list[dict], root: Path) -> list[dict]:
    """Each photo B sampled by ``sample.py`` with the model trained on each other photo A (no training on B), scored
    against B's reference, beside the model trained on B (``tv_minus_trained``: what reuse costs)."""
    rows = []
    for (photo_a, randomness), ckpt in checkpoints.items():
        if RANDOMNESS[randomness] != "image-stationary":
            continue  # a per-pixel start samples only its own image
        for photo_b, (reference, floor, key, key_second, energy) in references.items():
            if photo_b == photo_a:
                continue
            out = root / f"{photo_b}_from_{photo_a}_{randomness}"
            config = SampleConfig(checkpoint=ckpt, image=str(ROOT / "data" / f"{photo_b}.png"), classes=3, max_size=args.max_size,
                                  samples=args.samples, out=out)
            summary = sample(config)
            samples = torch.from_numpy(np.load(out / "samples.npy")).long().view(args.samples, -1)
            flow = torch.nn.functional.one_hot(samples, energy.c).double().mean(0)
            trained = next(r for r in trained_rows if r["photo"] == photo_b and r["randomness"] == randomness)
            row = {"photo": photo_b, "grid": list(energy.grid), "randomness": randomness, "trained_on": photo_a,
                   **compare(flow, reference), "references_tv_all": floor["tv_all"], "references_tv_uncertain": floor["tv_uncertain"],
                   "train_seconds": 0.0, "sample_seconds": summary["seconds"], "reference_sha256": [key, key_second]}
            row["tv_minus_trained"] = row["tv_all"] - trained["tv_all"]
            rows.append(row)
            print(f"{photo_b} by the model trained on {photo_a} ({randomness}): TV all {row['tv_all']:.4f} "
                  f"({row['tv_minus_trained']:+.4f} against the model trained on {photo_b}), uncertain {row['tv_uncertain'] or 0:.4f}; "
                  f"entropy sum {row['entropy_sum_flow']:.1f} vs {row['entropy_sum_reference']:.1f}; {row['sample_seconds']:.0f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--pictures", type=Path, default=ROOT / "benchmarks" / "pictures", help="uncertainty pictures go here")
    parser.add_argument("--photos", nargs="+", default=["chelsea", "coffee"])
    parser.add_argument("--randomness", nargs="+", default=["local"], choices=list(RANDOMNESS),
                        help="the image recipes trained: local (image), global (image-global), stationary (image-stationary)")
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--root", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--references", type=Path, default=ROOT / "benchmarks" / "out", help="Gibbs references kept here")
    parser.add_argument("--max-size", type=int, default=64, help="longer side of the training grid (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--gibbs-chains", type=int, default=256, help="(default: %(default)s)")
    parser.add_argument("--gibbs-burn-in", type=int, default=300, help="(default: %(default)s)")
    parser.add_argument("--gibbs-sweeps", type=int, default=400, help="recorded sweeps (default: %(default)s)")
    parser.add_argument("--reuse", action="store_true", help="also sample each photo with the stationary model trained on the other "
                        "ones (sample.py; needs --randomness stationary)")
    args = parser.parse_args(argv)
    settings = {"chains": args.gibbs_chains, "burn_in": args.gibbs_burn_in, "sweeps": args.gibbs_sweeps, "thin": 1}
    rows, checkpoints, references = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        for photo in args.photos:
            common = ["--image", f"{photo}.png", "--classes", "3", "--max-size", str(args.max_size),
                      *([] if args.max_steps is None else ["--max-steps", str(args.max_steps)])]
            datamodule = ImageDataModule(image=str(ROOT / "data" / f"{photo}.png"), classes=3, max_size=args.max_size)  # as `common`
            energy = datamodule.energy
            # two independent references (different seeds and starts): their mean is the reference, their TV to
            # each other the noise floor no model can be shown to beat
            (first, key), (second, key_second) = (reference_marginals(energy, args.references, **settings, **other)
                                                  for other in REFERENCES)
            reference = (first + second) / 2
            floor = compare(first, second)
            for randomness in args.randomness:
                run_root = root / f"{photo}_{randomness}"
                result = run.train(train.parse([*common, "--recipe", RANDOMNESS[randomness], "--summary-samples", str(args.samples),
                                                "--quiet", "--checkpoint-every", "100000", "--root-dir", str(run_root)]))
                if result.exit_code:
                    raise RuntimeError(f"train.py on {photo} exited with {result.exit_code}")
                checkpoints[photo, randomness] = result.folder / "checkpoints" / "last.ckpt"
                references[photo] = (reference, floor, key, key_second, energy)
                samples = torch.from_numpy(np.load(result.folder / "samples.npy")).long().view(args.samples, -1)
                flow = torch.nn.functional.one_hot(samples, energy.c).double().mean(0)
                summary = result.summary
                row = {"photo": photo, "grid": list(energy.grid), "randomness": randomness, **compare(flow, reference),
                       "references_tv_all": floor["tv_all"], "references_tv_uncertain": floor["tv_uncertain"],
                       "train_seconds": summary["seconds"], "reference_sha256": [key, key_second]}
                rows.append(row)
                uncertain = "none" if row["tv_uncertain"] is None else f"{row['tv_uncertain']:.4f}"
                print(f"{photo} ({randomness}): TV all {row['tv_all']:.4f}, uncertain {uncertain} "
                      f"({row['uncertain_pixels']} px; the two references differ by {floor['tv_all']:.4f} / "
                      f"{floor['tv_uncertain'] or 0:.4f}); entropy sum {row['entropy_sum_flow']:.1f} vs {row['entropy_sum_reference']:.1f}; "
                      f"{row['train_seconds']:.0f} s training", flush=True)
                entropies = torch.stack([pixel_entropy(flow), pixel_entropy(reference)]).float()
                top = float(np.log(energy.c))
                picture = panel_figure(entropies, energy.grid, [f"flow ({randomness})", "Gibbs reference"], 0.0, top, "colour",
                                       scale=4, unit="nats", ncol=2)
                args.pictures.mkdir(parents=True, exist_ok=True)
                save_png(picture, args.pictures / f"uncertainty_{photo}_{randomness}.png")
        if args.reuse:
            rows += reused_rows(args, checkpoints, references, rows, root)
    if args.json:
        reference = {**settings, "runs": list(REFERENCES)}
        write_json(args.json, {"uncertain_below": UNCERTAIN, "samples": args.samples, "reference": reference, "rows": rows},
                   command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
