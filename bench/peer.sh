#!/usr/bin/env bash
# Measures curvscope and its PyTorch peer back to back on this machine and writes the ratios
# into docs/PERFORMANCE.md. Usage: bench/peer.sh [quick|full]  (default quick: minutes).
#
# bench/.venv (gitignored) gets numpy, scipy and PyPI's torch wheel (the Linux x86_64 wheel pulls
# CUDA libraries, ~3 GB, unused here: the CPU kernels are what is timed).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-quick}"
threads="${CURVSCOPE_THREADS:-$(nproc)}"
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/python -c "import torch, numpy, scipy" 2>/dev/null || bench/.venv/bin/pip install --quiet torch numpy scipy
mkdir -p target/bench
echo "PyTorch peer ($threads threads)" >&2
bench/.venv/bin/python bench/peer_pytorch.py target/bench/pytorch.json "$threads" "$mode"
echo "curvscope ($mode, $threads threads)" >&2
RAYON_NUM_THREADS="$threads" CURVSCOPE_BENCH="$mode" cargo bench -p curvscope --bench curvature
python3 bench/compare.py target/bench/curvature.json target/bench/pytorch.json docs/PERFORMANCE.md
