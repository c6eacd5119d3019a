#!/usr/bin/env bash
# The GPU figures in one go (issue 34): the default image run, a 512 × 512 photo's default run, perf.py's speed figures
# and sample.py, each on the GPU, into benchmarks/results/gpu.json. Run it whenever a GPU is at hand:
#
#     bash benchmarks/gpu_check.sh [DEVICE]        # DEVICE: cuda (default); cpu only for the smoke test
#
# Targets on a GPU: the default run ≤ 10 s, a 512² photo ≤ 30 s, ≥ 20,000 finished samples/s at 128².
# GPU_CHECK_QUICK=1 shrinks everything to seconds (the smoke test: 2 steps, a 32² photo, 2 sweeps); its figures are
# not the targets'.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cuda}"
PYTHON="${PYTHON:-python}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
STEPS=(); SAMPLING=(); SIZE=512; PERF_SIZE=128
if [[ -n "${GPU_CHECK_QUICK:-}" ]]; then STEPS=(--max-steps 2); SAMPLING=(--sweeps 2 --samples 64 --max-size 32); SIZE=32; PERF_SIZE=16; fi
if [[ "$DEVICE" == cpu ]]; then ACCEL=(--accelerator cpu); else ACCEL=(--accelerator gpu --devices 1); fi

seconds() {  # run a command, print its wall-clock seconds (stdout and stderr to $OUT/log)
  local start end
  start=$(date +%s%N)
  "$@" >>"$OUT/log" 2>&1 || { tail -n 20 "$OUT/log" >&2; echo "gpu_check: failed: $*" >&2; exit 1; }
  end=$(date +%s%N)
  awk "BEGIN { print ($end - $start) / 1e9 }"
}

"$PYTHON" -c "from PIL import Image; Image.open('data/chelsea.png').convert('RGB').resize(($SIZE, $SIZE), Image.BICUBIC).save('$OUT/photo.png')"
DEFAULT_S=$(seconds "$PYTHON" train.py --quiet "${ACCEL[@]}" "${STEPS[@]}" --root-dir "$OUT/default")
FULL_S=$(seconds "$PYTHON" train.py --quiet "${ACCEL[@]}" "${STEPS[@]}" --image "$OUT/photo.png" --classes 3 --root-dir "$OUT/full")
PERF_S=$(seconds "$PYTHON" benchmarks/perf.py --device "$DEVICE" --quick --sizes "$PERF_SIZE" --json "$OUT/perf.json")
SAMPLE_S=$(seconds "$PYTHON" sample.py --sampler line --image data/chelsea.png --classes 3 --device "$DEVICE" "${SAMPLING[@]}" --out "$OUT/sample")

"$PYTHON" - "$DEVICE" "$DEFAULT_S" "$FULL_S" "$PERF_S" "$SAMPLE_S" "$OUT" "$SIZE" "$PERF_SIZE" "${GPU_CHECK_QUICK:-}" "${GPU_CHECK_JSON:-benchmarks/results/gpu.json}" <<'EOF'
import json, sys
from pathlib import Path

import torch

from benchmarks.output import write_json

device, default_s, full_s, perf_s, sample_s, out, size, perf_size, quick, path = sys.argv[1:]
perf = json.loads((Path(out) / "perf.json").read_text())
sample = json.loads((Path(out) / "sample" / "summary.json").read_text())
summaries = {name: json.loads(next((Path(out) / name).glob("lightning_logs/version_*/summary.json")).read_text())
             for name in ("default", "full")}
write_json(Path(path), {
    "device": torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else device,
    "quick": bool(quick), "full_size": int(size), "perf_size": int(perf_size),
    "targets": {"default_run_seconds": 10, "full_size_seconds_512": 30, "finished_samples_per_second_128": 20000},
    "default_run_seconds": float(default_s), "default_run_train_seconds": summaries["default"]["seconds"],
    "full_size_seconds": float(full_s), "full_size_train_seconds": summaries["full"]["seconds"],
    "full_size_converged": summaries["full"].get("convergence", {}).get("converged"),
    "finished_samples_per_second": perf[f"samples_per_second_{perf_size}"],
    "flow_alone_samples_per_second": perf[f"samples_per_second_flow_alone_{perf_size}"],
    "perf_seconds": float(perf_s),
    "sample_line_chelsea_seconds": float(sample_s), "sample_converged": sample.get("convergence", {}).get("converged"),
}, f"{'GPU_CHECK_QUICK=1 ' if quick else ''}bash benchmarks/gpu_check.sh {device}")
EOF
