"""Runs that share the machine: the default run alone and several started together, per OpenMP wait policy.

    python benchmarks/sharing.py [--json PATH] [--runs 3] [--policies ACTIVE PASSIVE] [--max-steps N] [--threads N]

Each run is ``python train.py --quiet`` (the bundled default) in its own process, as a user would start it. For each
environment (``ACTIVE``: OpenMP threads that spin while they wait; ``default``: what ``run/threads.py`` sets, passive
waiting after a short spin; ``PASSIVE``, or ``KEY=VALUE`` variables such as ``GOMP_SPINCOUNT``) it times one run alone,
then ``--runs`` runs started together. Target (issue 34): each of three runs started together
finishes within 4× of one run alone, and one run alone is not slower than with spinning threads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.output import command_line, write_json  # noqa: E402

TARGET_RATIO = 4.0


def _environment(policy: str) -> dict[str, str]:
    """``default``: what ``train.py`` sets (``run/threads.py``); ``ACTIVE`` or ``PASSIVE``: that ``OMP_WAIT_POLICY``;
    ``KEY=VALUE,…`` (e.g. ``GOMP_SPINCOUNT=20000``): those variables (``train.py`` sets the others)."""
    if policy == "default":
        return {}
    if "=" not in policy:  # libgomp's own spin for that policy (train.py's GOMP_SPINCOUNT would replace it)
        return {"OMP_WAIT_POLICY": policy, "GOMP_SPINCOUNT": "INFINITY" if policy == "ACTIVE" else "0"}
    return dict(item.split("=", 1) for item in policy.split(","))


def _runs(k: int, policy: str, folder: Path, extra: list[str]) -> list[float]:
    """Wall-clock seconds of ``k`` default runs started together with the environment of ``policy``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | _environment(policy)
    start = time.perf_counter()
    children = [subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--quiet", "--root-dir", str(folder / f"{policy.replace('=', '_').replace(',', '_')}_{k}_{i}"), *extra],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(k)]
    seconds = []
    for child in children:
        _, err = child.communicate()
        if child.returncode:
            raise RuntimeError(f"train.py failed: {err[-2000:]}")
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--runs", type=int, default=3, help="runs started together")
    parser.add_argument("--policies", nargs="+", default=["ACTIVE", "default"],
                        help="OMP_WAIT_POLICY values to compare, or KEY=VALUE,… environments (e.g. GOMP_SPINCOUNT=20000)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=None, help="train.py --threads (default: one per core)")
    args = parser.parse_args(argv)
    extra = [*([] if args.max_steps is None else ["--max-steps", str(args.max_steps)]),
             *([] if args.threads is None else ["--threads", str(args.threads)])]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policies:
            alone = _runs(1, policy, Path(tmp), extra)[0]
            together = _runs(args.runs, policy, Path(tmp), extra)
            row = {"policy": policy, "alone_seconds": alone, "together_seconds": together,
                   "worst_ratio": max(together) / alone, "met": max(together) / alone <= TARGET_RATIO}
            rows.append(row)
            print(f"{policy if '=' in policy else 'OMP_WAIT_POLICY=' + policy}: alone {alone:.1f} s, {args.runs} together "
                  f"{', '.join(f'{s:.1f}' for s in together)} s: worst {row['worst_ratio']:.1f}× (target ≤ {TARGET_RATIO}×)", flush=True)
    if args.json:
        write_json(args.json, {"runs": args.runs, "threads": args.threads, "cpus": os.cpu_count(), "target_ratio": TARGET_RATIO,
                               "rows": rows}, command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
