"""Photos at several sizes: the default run's finished samples against two independent chain references, the
convergence check's verdict on them and on a deliberately under-finished sampler, and the sweeps each start needs.

    python benchmarks/photo_suite.py [--photos chelsea coffee cell retina] [--sizes 48 64 128] [--json PATH] [--quick]

For each bundled photo (``data/PHOTOS.md``) at each ``--max-size`` with 3 k-means classes:

* **reference**: P*'s pixel marginals from chains of a kernel mix other than the finish's (one Swendsen–Wang sweep with
  the data term and one checkerboard heat-bath sweep per step, no line sweeps), run twice: seed 0 from uniform random
  labelings and seed 1 from the data term's argmax (``--chains`` chains, ``--burn-in`` steps, then every state of
  ``--sweeps`` steps). Their mean is the reference, their TV to each other the floor. Cached in ``benchmarks/out``
  under the hash of the energy and the settings (``benchmarks/photos.py``'s :func:`reference_key`).
* **flow**: ``python train.py --image <photo> --classes 3 --max-size <size>`` as a user runs it (the automatic finish),
  its ``samples.npy`` against the reference, and its summary's convergence check and finish rounds.
* **control**: ``python sample.py --sampler line --sweeps 2`` (chains stopped early): the check must flag it.
* **random+auto**: the automatic finish from uniform random labelings (``--samples`` chains): the sweeps the check needs
  without the flow, and their TV.

Targets (issue 31): uncertain-pixel TV ≤ 2 × the references' floor + 0.01; Σ pixel entropy within 10 % of the
reference's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

import run  # noqa: E402
import train  # noqa: E402
from benchmarks.output import command_line, write_json  # noqa: E402
from benchmarks.photos import cached_marginals, compare  # noqa: E402
from data import ImageDataModule  # noqa: E402
from models.finish.adaptive import AdaptiveFinish  # noqa: E402
from models.finish.schedule import Finish  # noqa: E402
from models.finish import DEFAULT_CAP  # noqa: E402
from run.sampling import SampleConfig, sample  # noqa: E402

REFERENCES = ({"seed": 0, "start": "random"}, {"seed": 1, "start": "data"})
KERNEL = "sw+hb"  # the references' kernel: one Swendsen–Wang and one heat-bath sweep per step


def chain_marginals(energy, chains: int, burn_in: int, sweeps: int, seed: int, start: str, kernel: str = KERNEL) -> torch.Tensor:
    """``(n, c)`` pixel marginals from ``chains`` chains of one SW + one heat-bath sweep per step."""
    generator = torch.Generator().manual_seed(seed)
    step = Finish(energy, "sw,hb")
    if start == "random":
        x = torch.randint(0, energy.c, (chains, energy.n), generator=generator)
    else:
        x = energy.unary.reshape(energy.n, energy.c).argmin(-1).expand(chains, energy.n).clone()
    for _ in range(burn_in):
        x = step(x, generator)
    counts = torch.zeros(energy.n, energy.c, dtype=torch.float64)
    for _ in range(sweeps):
        x = step(x, generator)
        counts += torch.nn.functional.one_hot(x, energy.c).sum(0)
    return counts / (chains * sweeps)


def reference(energy, folder: Path, **settings) -> tuple[torch.Tensor, str]:
    """:func:`chain_marginals`, cached in ``folder`` (:func:`benchmarks.photos.cached_marginals`)."""
    return cached_marginals(energy, folder, "chains", chain_marginals, kernel=KERNEL, **settings)


def marginals_of(folder: Path, n: int, c: int) -> torch.Tensor:
    samples = torch.from_numpy(np.load(folder / "samples.npy")).long().reshape(-1, n)
    return torch.nn.functional.one_hot(samples, c).double().mean(0)


def meets(row: dict, floor: dict) -> bool:
    ok_tv = row["tv_uncertain"] is None or row["tv_uncertain"] <= 2 * (floor["tv_uncertain"] or 0.0) + 0.01
    ok_h = abs(row["entropy_sum_flow"] - row["entropy_sum_reference"]) <= 0.1 * row["entropy_sum_reference"]
    return bool(ok_tv and ok_h)


def check_of(summary: dict) -> dict:
    check = summary.get("convergence") or {}
    return {k: check.get(k) for k in ("converged", "drift", "threshold", "statistic", "finish_rounds", "finish_sweeps", "finish_capped")}


def run_photo(photo: str, size: int, args, root: Path) -> dict:
    image = str(ROOT / "data" / f"{photo}.png")
    energy = ImageDataModule(image=image, classes=3, max_size=size).energy
    settings = {"chains": args.chains, "burn_in": args.burn_in, "sweeps": args.sweeps}
    start = time.perf_counter()
    (first, key), (second, key_second) = (reference(energy, args.references, **settings, **other) for other in REFERENCES)
    ref_seconds = time.perf_counter() - start
    ref = (first + second) / 2
    floor = compare(first, second)
    common = ["--image", image, "--classes", "3", "--max-size", str(size)]
    result = run.train(train.parse([*common, "--summary-samples", str(args.samples), "--quiet", "--checkpoint-every", "100000",
                                    "--root-dir", str(root / f"{photo}_{size}"),
                                    *([] if args.max_steps is None else ["--max-steps", str(args.max_steps)])]))
    if result.exit_code:
        raise RuntimeError(f"train.py on {photo} exited with {result.exit_code}")
    flow = {**compare(marginals_of(result.folder, energy.n, energy.c), ref), **check_of(result.summary),
            "train_seconds": result.summary["seconds"]}
    flow["meets_targets"] = meets(flow, floor)
    out = root / f"{photo}_{size}_control"
    control_summary = sample(SampleConfig(image=image, classes=3, max_size=size, sampler="line", sweeps=2, samples=args.samples, out=out))
    control = {**compare(marginals_of(out, energy.n, energy.c), ref), **check_of(control_summary)}
    control["meets_targets"] = meets(control, floor)
    g = torch.Generator().manual_seed(0)
    random = torch.randint(0, energy.c, (args.samples, energy.n), generator=g)
    t = time.perf_counter()
    with torch.no_grad():
        finished, report = AdaptiveFinish(Finish(energy, "sw,line,hb"), None, DEFAULT_CAP).run(random, g)
    random_row = {**compare(torch.nn.functional.one_hot(finished, energy.c).double().mean(0), ref), "sweeps": report.sweeps,
                  "converged": report.converged, "capped": report.capped, "seconds": time.perf_counter() - t}
    random_row["meets_targets"] = meets(random_row, floor)
    row = {"photo": photo, "max_size": size, "grid": list(energy.grid), "references_tv_all": floor["tv_all"],
           "references_tv_uncertain": floor["tv_uncertain"], "reference_seconds": ref_seconds, "reference_sha256": [key, key_second],
           "flow": flow, "control": control, "random+auto": random_row}
    print(f"{photo} {energy.grid[0]}×{energy.grid[1]}: floor {floor['tv_uncertain'] or 0:.3f}; flow TV unc {flow['tv_uncertain'] or 0:.3f} "
          f"H {flow['entropy_sum_flow']:.0f}/{flow['entropy_sum_reference']:.0f} {'✓' if flow['meets_targets'] else '✗'} "
          f"check {flow['converged']} after {flow['finish_rounds']} rounds, {flow['train_seconds']:.0f} s; "
          f"control TV {control['tv_uncertain'] or 0:.3f} check {control['converged']}; "
          f"random+auto {random_row['sweeps']} sweeps TV {random_row['tv_uncertain'] or 0:.3f} {'✓' if random_row['meets_targets'] else '✗'}",
          flush=True)
    return row


def summarise(rows: list[dict]) -> dict:
    k = len(rows)
    return {"flow_meeting_targets": sum(r["flow"]["meets_targets"] for r in rows) / k,
            "flow_flagged": [f"{r['photo']}@{r['max_size']}" for r in rows if r["flow"]["converged"] is False],
            "control_flagged": sum(r["control"]["converged"] is False for r in rows) / k,
            "flow_missed_unflagged": [f"{r['photo']}@{r['max_size']}" for r in rows
                                      if not r["flow"]["meets_targets"] and r["flow"]["converged"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/photo_suite.json (--quick: photo_suite_quick.json)")
    parser.add_argument("--photos", nargs="+", default=["chelsea", "coffee", "cell", "retina"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[48, 64, 128])
    parser.add_argument("--samples", type=int, default=1024, help="samples of each row (default: %(default)s)")
    parser.add_argument("--chains", type=int, default=64, help="chains of each reference (default: %(default)s)")
    parser.add_argument("--burn-in", type=int, default=150, help="(default: %(default)s)")
    parser.add_argument("--sweeps", type=int, default=250, help="recorded steps of each reference (default: %(default)s)")
    parser.add_argument("--references", type=Path, default=ROOT / "benchmarks" / "out", help="references kept here")
    parser.add_argument("--max-steps", type=int, help="training steps (default: the recipe's)")
    parser.add_argument("--root", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="smoke test: chelsea at 24 px, 5 steps, short references")
    args = parser.parse_args(argv)
    if args.quick:
        args.photos, args.sizes, args.max_steps, args.samples, args.chains, args.burn_in, args.sweeps = ["chelsea"], [24], 5, 64, 16, 10, 10
    if args.json is None:
        args.json = ROOT / "benchmarks" / "results" / f"photo_suite{'_quick' if args.quick else ''}.json"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    rows, planned = [], [(photo, size) for size in args.sizes for photo in args.photos]  # every photo at one size, then the next
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        for photo, size in planned:  # the JSON is rewritten after each row: an interrupted run keeps what it measured
            rows.append(run_photo(photo, size, args, root))
            summary = summarise(rows)
            write_json(args.json, {"settings": settings, "reference_kernel": KERNEL, "complete": len(rows) == len(planned),
                                   "summary": summary, "rows": rows}, command_line(__file__, argv))
    print(summary)
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()
    sys.exit(main())
