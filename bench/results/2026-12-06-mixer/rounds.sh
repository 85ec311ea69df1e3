#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)  # the repository
# Three alternating rounds of PyTorch and curvscope on each net (f32, 2 threads; time.py of
# ../2026-12-06-vit, time_grad of ../2026-12-05-grouped built beside the binary, with its
# allocator, as ../2026-12-05-products/README.md says).
for round in 1 2 3; do
for n in "timm_mixer_s_p4 64" "timm_resmlp_12_p4 64" "timm_gmlp_ti_p4 64"; do
  set -- $n
  echo "round $round $1 × $2 pytorch: $(/tmp/torchenv/bin/python $ROOT/bench/results/2026-12-06-vit/time.py $1 $2 2>&1 | grep median)"
  echo "round $round $1 × $2 curvscope: $($ROOT/target/release/examples/time_grad /tmp/vit44/$1)"
done; done
