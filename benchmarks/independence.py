"""Do separate regions of an image decide independently? k ambiguous subjects, each cat-or-lion.

    python benchmarks/independence.py [--json PATH] [--k 3] [--samples 2048] [--seed 0] [--root DIR]
                                      [--models default global meanfield] [--max-steps N]

The image is k cat/lion heads side by side (``data/make_cat_lion.py``, one 16×16 tile each, background
between them). Every subject's colour is exactly midway between cat and lion and its noise is orthogonal to
their difference, so swapping cat and lion on one subject leaves its data term unchanged: under P* the 2^k
combinations of the subjects' majority labels are equally probable (up to background pixels' cat/lion
terms, e^-14 and less) and the subjects are independent.

Models, each trained through ``train.py`` as a user would, with the bundled image's labels given by
``--labels`` (background, cat, lion: ``data.defaults.DEFAULT_LABELS``, the colours the tiles are drawn
with; without them ``train.py`` fits 3 k-means colours to any image but the bundled one), its defaults
otherwise (``--max-steps``, for the smoke test, overrides the steps):

* ``default``: ``python train.py --image <that image>``;
* ``global``: ``--recipe image-global``, the previous model (one Ω draw favours a label everywhere, one label
  offset per image);
* ``meanfield``: ``--model meanfield``.

Figures from ``--samples`` integer samples (``samples.npy`` of the run): the frequency of each
combination (bit i = subject i's majority is cat), its total-variation distance to uniform, the
chi-square p-value of uniformity (2^k − 1 degrees of freedom) and each subject's coherence (mean fraction
of its pixels that carry its majority label).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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
from data.defaults import DEFAULT_LABELS  # noqa: E402
from data.make_cat_lion import draw, silhouette  # noqa: E402

TILE = 16
MODELS = {"default": [], "global": ["--recipe", "image-global"], "meanfield": ["--model", "meanfield"]}


def make_image(k: int, path: Path) -> list[np.ndarray]:
    """Write the k-subject image; return each subject's ``(H, W)`` boolean mask."""
    Image.fromarray(np.concatenate([draw(TILE, TILE, seed=i) for i in range(k)], axis=1), "RGB").save(path)
    masks = []
    for i in range(k):
        mask = np.zeros((TILE, k * TILE), bool)
        mask[:, i * TILE : (i + 1) * TILE] = silhouette(TILE, TILE)
        masks.append(mask)
    return masks


def independence_figures(samples: np.ndarray, masks: list[np.ndarray], cat: int, lion: int) -> dict:
    """Combination frequencies, TV to uniform, chi-square p-value and coherence of ``samples (m, H, W)``."""
    k, m = len(masks), len(samples)
    code = np.zeros(m, np.int64)
    coherence = []
    for i, mask in enumerate(masks):
        sub = samples[:, mask]
        n_cat, n_lion = (sub == cat).sum(1), (sub == lion).sum(1)
        code += (n_cat > n_lion).astype(np.int64) << i
        coherence.append(float((np.maximum(n_cat, n_lion) / mask.sum()).mean()))
    freq = np.bincount(code, minlength=2**k) / m
    expected = m / 2**k
    chi2 = float((((freq * m) - expected) ** 2 / expected).sum())
    # P(χ²_{2^k−1} ≥ chi2) = Q((2^k − 1)/2, chi2/2), the regularised upper incomplete gamma function
    p_value = float(torch.special.gammaincc(torch.tensor((2**k - 1) / 2, dtype=torch.float64), torch.tensor(chi2 / 2, dtype=torch.float64)))
    return {
        "tv_to_uniform": float(0.5 * np.abs(freq - 1 / 2**k).sum()),
        "p_value": p_value,
        "chi2": chi2,
        "frequencies": [float(f) for f in freq],
        "coherence": coherence,
    }


def run_model(extra: list[str], image: Path, samples: int, seed: int, root: Path) -> tuple[np.ndarray, dict]:
    result = run.train(train.parse(["--image", str(image), "--summary-samples", str(samples), "--seed", str(seed), "--quiet",
                                    "--checkpoint-every", "100000", "--root-dir", str(root), *extra]))
    if result.exit_code:
        raise RuntimeError(f"train.py {' '.join(extra)} exited with {result.exit_code}")
    return np.load(result.folder / "samples.npy"), result.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--k", type=int, default=3, help="number of subjects")
    parser.add_argument("--samples", type=int, default=2048, help="integer samples scored per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--root", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps of every model (default: each one's own)")
    args = parser.parse_args(argv)
    common = ["--labels", DEFAULT_LABELS, *([] if args.max_steps is None else ["--max-steps", str(args.max_steps)])]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        image = root / f"independence_k{args.k}.png"
        masks = make_image(args.k, image)
        for name in args.models:
            samples, summary = run_model([*common, *MODELS[name]], image, args.samples, args.seed, root / name)
            labels = summary["labels"]
            row = {"model": name, **independence_figures(samples, masks, labels.index("cat"), labels.index("lion")),
                   "train_seconds": summary["seconds"]}
            rows.append(row)
            print(f"{name:10s} TV {row['tv_to_uniform']:.3f}  p {row['p_value']:.3g}  coherence "
                  f"{' '.join(f'{c:.3f}' for c in row['coherence'])}  {row['train_seconds']:.0f} s", flush=True)
    result = {"k": args.k, "samples": args.samples, "image": f"{args.k} tiles of {TILE}×{TILE}", "labels": DEFAULT_LABELS,
              "rows": rows}
    if args.json:
        write_json(args.json, result, command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
