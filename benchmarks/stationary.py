"""The stationary start against the per-node one, on the exact 6-row images of ``benchmarks/exact_images.py``.

    python benchmarks/stationary.py [--json PATH] [--seeds 2] [--images even lean soft] [--samples 4096]

The ``image`` recipe with ``stationary`` on (the ``image-stationary`` recipe: the start's scale a function of the
start entropy, the region offset's factor a constant) and off (its default: a scale and a factor per node), trained on each
image for the recipe's steps and scored against P* from the transfer matrix: the largest subject-odds error and
the pixel TV over all and over uncertain pixels, for the flow alone and with its finish. The stationary model is
the one that can train on crops and sample other images; this shows what it costs on images where P* is exact.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.exact_images import IMAGES, exact_figures, figures, image_energy, synthetic_image, trainer  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from data.data_term import parse_labels  # noqa: E402
from data.defaults import DEFAULT_LABELS  # noqa: E402
from data.energy_datamodule import GivenEnergy  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402
from models.flow.recipes import RECIPES  # noqa: E402

KEYS = ("odds_error", "tv_all", "tv_uncertain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--images", nargs="+", default=list(IMAGES), choices=list(IMAGES))
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the recipe's)")
    args = parser.parse_args(argv)
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.ERROR)  # no per-fit banner
    try:  # a caller in the same process (the smoke test) gets Lightning's log level back
        rows = compare(args)
    finally:
        lightning_log.setLevel(level)
    if args.json:
        write_json(args.json, {"samples": args.samples, "rows": rows}, command_line(__file__, argv))
    return 0


def compare(args) -> list[dict]:
    labels = parse_labels(DEFAULT_LABELS)
    index = {name: a for a, name in enumerate(labels.names)}
    rows = []
    for name in args.images:
        image, subjects = synthetic_image(*IMAGES[name])
        energy = image_energy(image, labels.colours)
        exact = exact_figures(energy, subjects)
        for stationary in (True, False):
            for seed in range(args.seeds):
                L.seed_everything(seed, verbose=False)
                model = RandomizedFlow.from_recipe("image", energy, seed=seed, stationary=stationary)
                start = time.perf_counter()
                trainer(args.max_steps or RECIPES["image"].max_steps).fit(model, GivenEnergy(energy))
                seconds = time.perf_counter() - start
                model.attach_energy(energy)
                g = torch.Generator().manual_seed(seed)
                alone = figures(model.sample(args.samples, g, finish=False), exact, subjects, index)
                finished = figures(model.sample(args.samples, g), exact, subjects, index)
                row = {"image": name, "stationary": stationary, "seed": seed, "train_seconds": seconds,
                       "alone": {k: alone[k] for k in KEYS}, "finished": {k: finished[k] for k in KEYS}}
                rows.append(row)
                show = lambda f: " / ".join("–" if f[k] is None else f"{f[k]:.3f}" for k in KEYS)  # noqa: E731
                print(f"{name} stationary={stationary} seed {seed}: alone {show(row['alone'])}; finished {show(row['finished'])} "
                      "(odds error / TV all / TV uncertain)", flush=True)
    return rows


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
