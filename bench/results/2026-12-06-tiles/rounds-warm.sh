#!/bin/bash
# Three alternating rounds (f32, 2 threads) with an H·v warm-up: PyTorch (data_warm.py: see
# README.md), then
# time_grad at e66ff15 (base) and at 998b927 (new), each timing 5 gradients after 2 warm-ups and
# 5 H·v after one warm-up H·v (the first H·v allocates its memory: 3 s for resnet50 × 16 here).
for round in 1 2 3; do
for n in "resnet50 16" "resnext50_32x4d 16" "convnext_tiny 16" "mobilenet_v2 64"; do
  set -- $n
  echo "round $round $1 × $2 pytorch: $(/tmp/torchenv/bin/python /tmp/rounds47/data_warm.py $1 $2 2>&1 | grep median)"
  echo "round $round $1 × $2 base: $(GRADS=5 HVPS=5 /tmp/tg_base_warm /tmp/tv/$1 2>/dev/null)"
  echo "round $round $1 × $2 new: $(GRADS=5 HVPS=5 /tmp/tg_new_warm /tmp/tv/$1 2>/dev/null)"
done
done
