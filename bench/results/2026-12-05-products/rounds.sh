#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)  # the repository
# Three alternating rounds of PyTorch and curvscope on each net (f32, 2 threads).
for round in 1 2 3; do
for n in "mobilenet_v2 64" "resnext50_32x4d 16" "resnet50 16" "efficientnet_b0 64" "regnet_y_400mf 64" "mobilenet_v3_large 64"; do
  set -- $n
  echo "round $round $1 × $2 pytorch: $(/tmp/torchenv/bin/python /tmp/data64.py $1 $2 2>&1 | grep median)"
  echo "round $round $1 × $2 curvscope: $($ROOT/target/release/examples/time_grad /tmp/tv/$1)"
done; done
