#!/usr/bin/env bash
# One prepared check for a machine with a GPU (or TPU), under 6 minutes:
#   1. the fused-loss equality tests on the device,
#   2. the fused vs reference loss memory table at global batch 64k and 256k,
#   3. training images/s and MFU for ViT-B-16 in bfloat16 at the largest batch that fits.
# Run from the repository root: bash bench/device_check.sh  (uses the machine's python3 with JAX).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
unset XLA_FLAGS
echo "== device"; $PY -c "import jax; print(jax.__version__, jax.devices())"
echo "== 1. loss equality on the device"
XLA_FLAGS= JAX_PLATFORMS= timeout 150 $PY -m pytest -q -p no:cacheprovider -o addopts="" \
  tests/test_losses.py -k "mesh_shape0 or bfloat16 or extreme or memory" 2>&1 | tail -5
echo "== 2. loss memory (global batch 65536, 262144)"
timeout 150 $PY bench/loss_memory.py --on-device --batches 65536 262144 --reference-limit-gb 24 --repeats 3
echo "== 3. ViT-B-16 bfloat16 training throughput"
timeout 180 $PY bench/train_throughput.py --model ViT-B-16 --dtype bfloat16 --batches 1024 512 256
