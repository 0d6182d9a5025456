#!/usr/bin/env bash
# The measured records: one command per line, JSON into estimator/engine/measurements/cpu-2core-xeon/<name>.json
set -u
cd /work/main
E=".venv/bin/python -m estimator.engine"
TH="--threads 1"
T="$TH --prompt-len 32 --gen-len 64 --no-passes --quiet"
D="$TH --preset diffusiongemma-26b-a4b --scale 0.25 --prompt-len 128 --no-passes --quiet"
run() { name=$1; shift; echo "== $name: $*"; /usr/bin/time -f "$name %e s" "$@" --out estimator/engine/measurements/cpu-2core-xeon/$name.json > /dev/null; }
run probe                     $E probe $TH
run tiny_ar                   $E --preset tiny-moe --mode ar $T
run tiny_mask_threshold       $E --preset tiny-moe --mode block_mask --commit-rule threshold --threshold 0.9 $T
run tiny_mask_schedule4       $E --preset tiny-moe --mode block_mask --commit-rule schedule --tokens-per-step 4 $T
run tiny_uniform_entropy      $E --preset tiny-dgemma --mode block_uniform $T
run tiny_uniform_schedule4    $E --preset tiny-dgemma --mode block_uniform --commit-rule schedule --tokens-per-step 4 $T
run tiny_full_nocache         $E --preset tiny-llada --mode full_nocache --commit-rule schedule --tokens-per-step 2 $T
run tiny_full_prefix_cache    $E --preset tiny-llada --mode full_prefix_cache --commit-rule schedule --tokens-per-step 2 $T
run dgemma_ar                 $E $D --mode ar --gen-len 256
run dgemma_uniform_s16        $E $D --mode block_uniform --commit-rule schedule --tokens-per-step 16 --gen-len 512
run dgemma_uniform_s64        $E $D --mode block_uniform --commit-rule schedule --tokens-per-step 64 --gen-len 512
run dgemma_uniform_cap48      $E $D --mode block_uniform --gen-len 256
run dgemma_ar_bf16            $E $D --mode ar --gen-len 256 --dtype bf16
run dgemma_uniform_s16_bf16   $E $D --mode block_uniform --commit-rule schedule --tokens-per-step 16 --gen-len 512 --dtype bf16
# Both cores, run at a quiet moment (load < 1.2):
E2=".venv/bin/python -m estimator.engine --threads 2 --preset diffusiongemma-26b-a4b --scale 0.25 --prompt-len 128 --no-passes --quiet"
run dgemma_ar_2threads          $E2 --mode ar --gen-len 256
run dgemma_uniform_s16_2threads $E2 --mode block_uniform --commit-rule schedule --tokens-per-step 16 --gen-len 512
