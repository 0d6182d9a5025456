#!/usr/bin/env bash
# Device check for the reference engine: probes + engine runs, JSON into $OUT.
# Run from the repository root on a machine with an NVIDIA GPU and torch installed:
#     OUT=/path/to/results bash estimator/engine/gpu_check.sh
# Finishes within ~8 minutes: the Python driver stops starting sections after 420 s and the
# whole thing is killed at 470 s; results are rewritten after every section, so whatever ran
# is in $OUT even then. Without a GPU it runs the same plan on a scaled-down model on the CPU.
set -uo pipefail

OUT="${OUT:-./gpu_check_out}"
mkdir -p "$OUT"
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY="${PYTHON:-python3}"; fi

{ nvidia-smi || echo "nvidia-smi not available"; } > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' \
    > "$OUT/torch.txt" 2>&1

timeout --kill-after=15 470 "$PY" -m estimator.engine.gpu_check --out "$OUT" --budget-s "${BUDGET_S:-420}" "$@" \
    2> >(tee "$OUT/stderr.log" >&2)
status=$?
echo "gpu_check exit status: $status (124 = killed by the time limit)" | tee -a "$OUT/stderr.log" >&2
exit $status
