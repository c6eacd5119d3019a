"""The samplers against P* computed exactly on a generated suite of images, and the convergence check's verdicts.

    python benchmarks/exact_suite.py [--count 48] [--samples 2048] [--json PATH] [--quick]

Instances: :func:`benchmarks.exact_suite_images.generate_suite` (6–10 rows, 2–4 labels, 16–40 columns, β 0.8–2.5,
σ 0.08–0.2, per-edge contrast weights on some; blobs, rings, lines, touching pairs, three-colour subjects, ramps,
halos, pure pixels in ambiguous subjects) and the four named images of ``benchmarks/exact_images.py``. P* by the column
transfer matrix: pixel marginals, and per subject the probability that it is all one label.

Rows (``--samples`` labelings each):

* ``exact``: drawn from P* by the transfer matrix: the convergence check's false alarms;
* ``flow``: the ``image`` recipe's flow trained for its steps, alone;
* ``flow+1``: with one fixed round of the finish (1 Swendsen–Wang + 1 line + 1 heat-bath sweep: the default until
  the automatic finish);
* ``flow+auto``: with the automatic finish (rounds until the check passes, :mod:`models.finish.adaptive`);
* ``meanfield+auto``, ``random+auto``: the automatic finish from mean field's samples and from uniform random labelings
  (the sweeps the check needs from each start: what the flow buys);
* ``random+same``: chains from random labelings with as many sweeps as ``flow+auto`` used.

Columns: worst subject error (over subjects and labels, ``|P(all a) − P*(all a)|``), pixel TV over all and over
uncertain pixels (P*'s largest marginal < 0.9), Σ pixel entropy against P*'s, sweeps, seconds per sample (start and
finish), and the convergence check of the row's samples (2 more rounds; ``models/finish/convergence.py``). Targets: every
subject within 0.05, TV ≤ 0.02 (all) and ≤ 0.06 (uncertain).

Summary: the share of instances meeting the targets per row; the check's false alarms on exact samples; whether it
flags every instance on which ``flow+1`` misses a target; the sweeps each start needs.
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

from benchmarks.exact_suite_images import exact_reference, generate_suite, named_instances  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from callbacks.evaluation import CHECK_ROUNDS  # noqa: E402
from data.energy_datamodule import GivenEnergy  # noqa: E402
from energies.transfer_matrix import transfer_matrix_sample  # noqa: E402
from models.finish.adaptive import AdaptiveFinish  # noqa: E402
from models.finish.convergence import check_with  # noqa: E402
from models.finish.schedule import Finish  # noqa: E402
from models.baselines.mean_field import MeanField  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402
from models.finish import DEFAULT_CAP  # noqa: E402
from models.flow.recipes import BASELINE_MAX_STEPS, RECIPES  # noqa: E402

TARGETS = {"subject_error": 0.05, "tv_all": 0.02, "tv_uncertain": 0.06}


ROWS = ("exact", "flow", "flow+1", "flow+auto", "meanfield+auto", "random+auto", "random+same")


def trainer(max_steps: int) -> L.Trainer:
    return L.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)


def figures(samples: torch.Tensor, exact: dict, subjects: list[dict]) -> dict:
    """The row's accuracy columns for labelings ``(m, n)`` against the exact reference."""
    c = exact["marginals"].shape[1]
    marginals = torch.nn.functional.one_hot(samples, c).double().mean(0)
    tv = 0.5 * (marginals - exact["marginals"]).abs().sum(1)
    unc = exact["uncertain"]
    p = marginals.clamp_min(1e-300)
    errors = [abs(float((samples[:, s["pixels"]] == a).all(1).double().mean()) - q)
              for s, p_all in zip(subjects, exact["p_all"]) for a, q in enumerate(p_all)]
    out = {"subject_error": max(errors) if errors else 0.0, "tv_all": float(tv.mean()),
           "tv_uncertain": float(tv[unc].mean()) if unc.any() else 0.0,
           "entropy_sum": float(-(marginals * p.log()).sum()), "exact_entropy_sum": exact["entropy_sum"]}
    out["meets_targets"] = all(out[k] <= v for k, v in TARGETS.items())
    return out


def checked(energy, samples: torch.Tensor, generator: torch.Generator) -> dict:
    """The convergence check of ``samples`` (``CHECK_ROUNDS`` more rounds of 1 + 1 + 1 sweeps)."""
    _, check = check_with(Finish(energy, "sw,line,hb"), energy, samples, CHECK_ROUNDS, generator)
    return {"converged": check.converged, "drift": check.drift, "threshold": check.threshold, "group": check.group,
            "statistic": check.statistic}


def timed(fn):
    start = time.perf_counter()
    with torch.no_grad():
        out = fn()
    return out, time.perf_counter() - start


def run_instance(instance, args) -> dict:
    energy, m = instance.energy, args.samples
    exact, ref_seconds = timed(lambda: exact_reference(instance))
    g = torch.Generator().manual_seed(args.seed)
    wanted = set(args.rows)
    flow_train, starts = None, {}
    if wanted & {"flow", "flow+1", "flow+auto", "random+same"}:
        L.seed_everything(args.seed, verbose=False)
        flow = RandomizedFlow.from_recipe("image", energy, seed=args.seed)
        _, flow_train = timed(lambda: trainer(args.flow_steps or RECIPES["image"].max_steps).fit(flow, GivenEnergy(energy)))
        flow.attach_energy(energy)
        starts["flow"] = timed(lambda: flow.sample(m, generator=g, finish=False))
    if "meanfield+auto" in wanted:
        L.seed_everything(args.seed, verbose=False)
        mf = MeanField(energy.n, energy.c)
        trainer(args.mf_steps or BASELINE_MAX_STEPS["meanfield"]).fit(mf, GivenEnergy(energy))
        mf.attach_energy(energy)
        starts["meanfield"] = timed(lambda: mf.sample(m, generator=g))
    one_round = Finish(energy, RECIPES["image"].settings.finish_round)
    auto = AdaptiveFinish(one_round, None, DEFAULT_CAP)
    fixed = AdaptiveFinish(one_round, 1)
    starts["random"] = timed(lambda: torch.randint(0, energy.c, (m, energy.n), generator=g))
    rows = {"exact": {"samples": timed(lambda: transfer_matrix_sample(energy, m, g)), "sweeps": 0, "start": "exact"}}
    for name, finish, start in (("flow", None, "flow"), ("flow+1", fixed, "flow"), ("flow+auto", auto, "flow"),
                                ("meanfield+auto", auto, "meanfield"), ("random+auto", auto, "random")):
        if name not in wanted and not (name == "flow+auto" and "random+same" in wanted):
            continue
        samples, seconds = starts[start]
        if finish is None:
            rows[name] = {"samples": (samples, 0.0), "sweeps": 0, "start": start}
            continue
        (finished, report), finish_seconds = timed(lambda: finish.run(samples, g))
        rows[name] = {"samples": (finished, finish_seconds), "sweeps": report.sweeps, "start": start, "capped": report.capped}
    if "random+same" in wanted:
        same = rows["flow+auto"]["sweeps"] // 3
        rows["random+same"] = {"samples": timed(lambda: AdaptiveFinish(one_round, max(same, 1)).run(starts["random"][0], g)[0]),
                               "sweeps": 3 * max(same, 1), "start": "random"}
    out_rows = {}
    for name, row in rows.items():
        if name not in wanted:
            continue
        samples, finish_seconds = row["samples"]
        start_seconds = starts[row["start"]][1] if row["start"] in starts else 0.0
        out_rows[name] = {**figures(samples, exact, instance.subjects), "sweeps": row["sweeps"],
                          "seconds_per_sample": {"start": start_seconds / m, "finish": finish_seconds / m},
                          "check": checked(energy, samples, g), **({"capped": row["capped"]} if "capped" in row else {})}
    print(f"{instance.name:24s} {energy.grid[0]}×{energy.grid[1]} c{energy.c} "
          + "  ".join(f"{k} {r['subject_error']:.3f}/{r['tv_all']:.3f}/{r['tv_uncertain']:.3f}"
                      f"{'✓' if r['meets_targets'] else '✗'}{'' if r['check']['converged'] else '!'}{r['sweeps']}"
                      for k, r in out_rows.items() if k != "flow"), flush=True)
    return {"name": instance.name, "params": instance.params, "grid": list(energy.grid), "c": energy.c,
            "subjects": [{"name": s["name"], "kind": s.get("kind"), "size": len(s["pixels"]), "exact_p_all": p}
                         for s, p in zip(instance.subjects, exact["p_all"])],
            "exact": {"log_z": exact["log_z"], "entropy_sum": exact["entropy_sum"], "uncertain_pixels": int(exact["uncertain"].sum()),
                      "seconds": ref_seconds},
            "train_seconds": flow_train, "rows": out_rows}


def summarise(instances: list[dict]) -> dict:
    rows = list(instances[0]["rows"]) if instances else []
    k = len(instances)
    meets = {r: sum(i["rows"][r]["meets_targets"] for i in instances) / k for r in rows}
    alarms = {r: sum(not i["rows"][r]["check"]["converged"] for i in instances) / k for r in rows}
    missed = [i["name"] for i in instances if "flow+1" in i["rows"] and not i["rows"]["flow+1"]["meets_targets"]]
    unflagged = [n for n in missed if next(i for i in instances if i["name"] == n)["rows"]["flow+1"]["check"]["converged"]]
    sweeps = {r: {"median": float(np.median([i["rows"][r]["sweeps"] for i in instances])),
                  "max": int(max(i["rows"][r]["sweeps"] for i in instances))}
              for r in ("flow+auto", "meanfield+auto", "random+auto") if r in rows}
    return {"instances": k, "share_meeting_targets": meets, "check_alarm_rate": alarms,
            "exact_false_alarm_rate": alarms.get("exact"), "flow+1_missed": missed, "flow+1_missed_unflagged": unflagged,
            "sweeps_needed": sweeps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/exact_suite.json (--quick: exact_suite_quick.json)")
    parser.add_argument("--count", type=int, default=48, help="generated instances (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=2048, help="samples per row (default: %(default)s)")
    parser.add_argument("--named", choices=("yes", "no"), default="yes", help="add the four named exact images (default: yes)")
    parser.add_argument("--flow-steps", type=int, help="default: the image recipe's")
    parser.add_argument("--mf-steps", type=int, help="default: BASELINE_MAX_STEPS['meanfield']")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suite-seed", type=int, default=0, help="seed of the generated images (default: %(default)s)")
    parser.add_argument("--only", help="comma-separated instance names")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows (default: all; e.g. exact,random+auto: "
                        "no training)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 instances, 5 training steps, 256 samples")
    args = parser.parse_args(argv)
    args.rows = [r for r in args.rows.split(",") if r]
    if set(args.rows) - set(ROWS):
        parser.error(f"--rows: choose from {', '.join(ROWS)}")
    if args.quick:
        args.count, args.samples, args.flow_steps, args.mf_steps, args.named = 3, 256, 5, 5, "no"
    if args.json is None:
        args.json = ROOT / "benchmarks" / "results" / f"exact_suite{'_quick' if args.quick else ''}.json"
    threads, lightning_log = torch.get_num_threads(), logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    torch.set_num_threads(args.threads)
    lightning_log.setLevel(logging.WARNING)
    try:
        suite = (named_instances(args.seed) if args.named == "yes" else []) + generate_suite(args.count, args.suite_seed)
        if args.only:
            keep = set(args.only.split(","))
            suite = [i for i in suite if i.name in keep]
        instances = [run_instance(instance, args) for instance in suite]
    finally:
        torch.set_num_threads(threads)
        lightning_log.setLevel(level)
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "targets": TARGETS, "check_rounds": CHECK_ROUNDS, "summary": summarise(instances), "instances": instances}
    write_json(args.json, result, command_line(__file__, argv))
    print({k: v for k, v in result["summary"].items()})
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()
    sys.exit(main())
