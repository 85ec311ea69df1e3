#!/bin/bash
# Five alternating rounds of resnet50 × 16 and resnext50_32x4d × 16 (f32, 2 threads), base then new,
# medians of 3 gradients and 3 H·v per run.
for round in 1 2 3 4 5; do
for n in resnet50 resnext50_32x4d; do
  echo "round $round $n base: $(GRADS=3 /tmp/time_grad_base /tmp/tv/$n 2>/dev/null)"
  echo "round $round $n new: $(GRADS=3 /tmp/time_grad_new2 /tmp/tv/$n 2>/dev/null)"
done
done
