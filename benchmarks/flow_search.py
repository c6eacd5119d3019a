"""Train one RandomizedFlow config on Table 1 (3×8 Ising) and evaluate it with integer samples.

    python benchmarks/flow_search.py '{"steps": 4000, ...model settings}' [eval_samples] [seed] [--json PATH]

One config per run (``benchmarks/flow_experiments.md`` is the search it served). The config is the flow's
settings over the ``ising`` recipe, plus ``steps`` (default 4000) and optionally ``seed``. Prints one line of
JSON (KL, marginal difference, energy, entropy, support from ``eval_samples`` integer samples, default
200,000; integrality of 4,096 soft samples; training seconds); ``--json`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.output import command_line, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=json.loads, help='the flow\'s settings as JSON, e.g. \'{"steps": 4000, "lr": 0.01}\'')
    parser.add_argument("eval_samples", type=int, nargs="?", default=200_000, help="integer samples scored (default: %(default)s)")
    parser.add_argument("seed", type=int, nargs="?", default=0, help="(default: %(default)s; a \"seed\" in the config wins)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result to this path")
    args = parser.parse_args(argv)
    if not isinstance(args.config, dict):
        parser.error("the config must be a JSON object")

    import lightning as L
    import torch

    from data.ising_datamodule import IsingDataModule
    from energies.exact import exact_inference
    from energies.sample_stats import sample_figures
    from models import RandomizedFlow

    cfg = dict(args.config)
    steps = cfg.pop("steps", 4000)
    seed = cfg.pop("seed", args.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            L.seed_everything(seed, verbose=False)
            dm = IsingDataModule()
            model = RandomizedFlow(24, 2, grid=(3, 8), seed=seed, **cfg)
            trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu", log_every_n_steps=50)
            t0 = time.time()
            trainer.fit(model, datamodule=dm)
            train_s = time.time() - t0
            energy = dm.energy
            ex = exact_inference(energy)
            model.attach_energy(energy)
            gen = torch.Generator().manual_seed(1234 + seed)
            t1 = time.time()
            samples = model.sample(args.eval_samples, generator=gen)
            fig = sample_figures(samples, energy, ex)
            with torch.no_grad():
                S = model.soft_samples(4096, gen)
            integ = float(S.max(-1).values.mean())
            free_energy = float(trainer.callback_metrics.get("train/free_energy", float("nan")))
        result = {"cfg": cfg, "steps": steps, "seed": seed, "kl": round(fig["kl"], 4), "marg": round(fig["marginal_diff"], 4),
                  "E": round(fig["energy"], 3), "H": round(fig["entropy"], 3), "support": fig["support"],
                  "integrality": round(integ, 3), "train_s": round(train_s, 1), "eval_s": round(time.time() - t1, 1),
                  "train_F": round(free_energy, 3) if math.isfinite(free_energy) else None, "evals": args.eval_samples}
        print(json.dumps(result))
        if args.json is not None:  # while one thread is set: the provenance records the threads it ran with
            write_json(args.json, result, command_line(__file__, argv))
    finally:
        torch.set_num_threads(threads)
        lightning_log.setLevel(level)
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
