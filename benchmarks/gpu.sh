#!/usr/bin/env bash
# Every GPU benchmark in one go, within a time budget, on a machine with a CUDA GPU and
# genbench's dependencies (README: How it is fast, "On a GPU"). Each stage runs under what is left of
# the budget (capped per stage) and writes its JSON into OUT_DIR; a stage that fails or
# runs out of time is logged and the next one runs, except the first (a 3-epoch check of
# the whole GPU path, the compiled VAE step included: when it fails, the others would too).
#
# Usage: bash benchmarks/gpu.sh OUT_DIR [SECONDS (default 540)]
#   PYTHON=python3 by default; genbench is imported from src/ (no install needed).
#   DEVICE=cpu runs the same stages on the CPU (a check of this script, not a GPU result).
set -u
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR [SECONDS]}
budget=${2:-540}
py=${PYTHON:-python3}
dev=${DEVICE:-cuda}
end=$((SECONDS + budget))
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
# Study 000's CPU result whose 95% CIs the GPU study's quality is checked against.
baseline=benchmarks/results/toy2d-xeon-amx-compiled-holdout.json

stage() {  # stage NAME CAP_SECONDS COMMAND...
    local name=$1 cap=$2 left=$((end - SECONDS))
    shift 2
    local limit=$((left < cap ? left : cap))
    if [ "$limit" -lt 20 ]; then
        echo "== $name: skipped, ${left}s of the budget left"
        return 1
    fi
    echo "== $name (at most ${limit}s): $*"
    local start=$SECONDS
    timeout -k 5 "$limit" "$@"
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - start))s"
    return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
stage check 150 $py benchmarks/toy2d.py --quick --device $dev --ref-seeds 0 --workers 2 \
    --set models.mlp-vae.train.compile=true --out "$out/toy2d-gpu-quick.json" || exit 1
# The inductor cache is cold in the first full study (its compile time counts), warm in the second.
stage toy2d-cold 200 $py benchmarks/toy2d.py --device $dev --ref-seeds 0 --baseline $baseline \
    --out "$out/toy2d-gpu-cold.json"
stage toy2d 150 $py benchmarks/toy2d.py --device $dev --ref-seeds 0 --baseline $baseline --out "$out/toy2d-gpu.json"
stage images 120 $py benchmarks/images.py --device $dev --steps 50 --warmup 10 --repeats 2 --out "$out/images-gpu.json"
stage steps 150 $py benchmarks/device_steps.py --device $dev --steps 300 --repeats 2 --processes 1 8 \
    --out "$out/device-steps-cuda.json"
stage toy2d-1-worker 150 $py benchmarks/toy2d.py --device $dev --ref-seeds 0 --workers 1 --baseline $baseline \
    --out "$out/toy2d-gpu-1-worker.json"
echo "== done, $((end - SECONDS))s of the budget left"
