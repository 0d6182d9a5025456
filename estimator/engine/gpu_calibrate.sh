#!/usr/bin/env bash
# Calibration sweep on a GPU host without Django: probe + sweep + fit, files into $OUT.
# Run from the repository root on a machine with torch, numpy, pandas and scipy:
#     OUT=/path/to/results bash estimator/engine/gpu_calibrate.sh [--device-slug nvidia-h200-sxm]
# Stops starting configurations after BUDGET_S (default 330 s) and is killed at 420 s; records
# are appended as they finish, so a timeout still leaves everything measured in $OUT.
# Then, where hwfit runs:  python manage.py calibrate --import-records "$OUT/records.jsonl" --device <slug>
set -uo pipefail

OUT="${OUT:-./gpu_calibrate_out}"
mkdir -p "$OUT"
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY="${PYTHON:-python3}"; fi

{ nvidia-smi || echo "nvidia-smi not available"; } > "$OUT/nvidia-smi.txt" 2>&1
timeout --kill-after=15 420 "$PY" -m estimator.engine.gpu_calibrate --out "$OUT" --budget-s "${BUDGET_S:-330}" "$@" \
    2> >(tee "$OUT/stderr.log" >&2) | tee "$OUT/table.txt"
status=${PIPESTATUS[0]}
echo "gpu_calibrate exit status: $status (124 = killed by the time limit)" | tee -a "$OUT/stderr.log" >&2
exit $status
