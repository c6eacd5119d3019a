"""Photos at full size with the default recipe: wall-clock, peak memory and the end-of-run evaluation.

    python benchmarks/full_size.py [--json PATH] [--sizes 128 256 512] [--max-steps N]

Each size runs ``python train.py --image <photo> --max-size 0 --classes 3`` in its own process, as a user would,
with the default recipe (``image``: training on 128 × 128 crops, evaluation samples capped by
``callbacks.common.NODE_SAMPLES``). The photo is the bundled ``chelsea.png`` (128 × 85) resized to size × size
with bicubic interpolation: the project ships no larger photo. Reported per size: the run's wall-clock, the
training seconds (``summary.json``), the rest (start-up, the end-of-run evaluation and writing), and the process's
peak resident memory (``ru_maxrss`` of the child). Targets (issue 19): 512²: training ≤ 10 min, peak RSS ≤ 4 GB,
end-of-run evaluation ≤ 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from benchmarks.output import command_line, write_json  # noqa: E402

TARGETS = {"train_seconds_512": 600, "peak_rss_gb_512": 4.0, "evaluation_seconds_512": 60}


def one_size(size: int, folder: Path, max_steps: int | None) -> dict:
    photo = folder / f"chelsea_{size}.png"
    Image.open(ROOT / "data" / "chelsea.png").convert("RGB").resize((size, size), Image.BICUBIC).save(photo)
    root = folder / f"runs_{size}"
    command = [sys.executable, str(ROOT / "train.py"), "--image", str(photo), "--max-size", "0", "--classes", "3", "--quiet",
               "--root-dir", str(root), *([] if max_steps is None else ["--max-steps", str(max_steps)])]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    stderr = child.stderr.read()
    if status != 0:
        raise RuntimeError(f"train.py at {size}² failed: {stderr[-2000:]}")
    summary = json.loads(next(root.glob("lightning_logs/version_*/summary.json")).read_text())
    row = {"size": size, "steps": summary["steps"], "wall_seconds": wall, "train_seconds": summary["seconds"],
           "rest_seconds": wall - summary["seconds"], "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9,
           "evaluation_samples": summary["samples"]["m"], "bound_missing": summary["samples"].get("bound_missing")}
    print(f"{size}²: {row['steps']} steps, training {row['train_seconds']:.0f} s, start-up + evaluation {row['rest_seconds']:.0f} s, "
          f"peak RSS {row['peak_rss_gb']:.2f} GB, {row['evaluation_samples']} evaluation samples", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the recipe's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_size(size, Path(tmp), args.max_steps) for size in args.sizes]
    largest = {row["size"]: row for row in rows}.get(512)
    if largest is not None:
        met = {"train_seconds_512": largest["train_seconds"] <= TARGETS["train_seconds_512"],
               "peak_rss_gb_512": largest["peak_rss_gb"] <= TARGETS["peak_rss_gb_512"],
               "evaluation_seconds_512": largest["rest_seconds"] <= TARGETS["evaluation_seconds_512"]}
        print("targets: " + ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in met.items()))
    if args.json:
        write_json(args.json, {"photo": "data/chelsea.png resized to size × size (bicubic)", "targets": TARGETS, "rows": rows},
                   command_line(__file__, argv))
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
