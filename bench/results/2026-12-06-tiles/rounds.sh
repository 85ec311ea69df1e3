#!/bin/bash
# Three alternating rounds (f32, 2 threads): time_grad at e66ff15 (base) and with the tiled
# reorder and per-call contiguous parts (new); medians of 9 gradients and 3 H·v per run.
for round in 1 2 3; do
for n in resnet50 convnext_tiny resnext50_32x4d mobilenet_v2; do
  echo "round $round $n base: $(GRADS=9 /tmp/time_grad_base /tmp/tv/$n 2>/dev/null)"
  echo "round $round $n new: $(GRADS=9 /tmp/time_grad_new2 /tmp/tv/$n 2>/dev/null)"
done
done
