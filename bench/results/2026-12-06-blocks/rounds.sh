#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)  # the repository
# Two alternating rounds on each net (f32, 2 threads, 64 images): PyTorch (time.py of
# ../2026-12-06-vit), then curvscope's time_grad (../2026-12-05-grouped/time_grad.rs with the
# binary's allocator and a block size from SPB, built at bc68b46 as time_grad_old and with
# this folder's changes as time_grad_new): blocks of 50 and 14 as before, blocks of 32 and 32
# with the transposes as copies (bc68b46, SPB=32), and the new code (two blocks of 32, its
# default, transposes held lazily).
for round in 1 2; do
for net in timm_mixer_s_p4 timm_resmlp_12_p4 timm_gmlp_ti_p4; do
  echo "round $round $net pytorch: $(/tmp/torchenv/bin/python $ROOT/bench/results/2026-12-06-vit/time.py $net 64 2>&1 | grep median)"
  echo "round $round $net bc68b46, blocks 50+14: $(/tmp/time_grad_old /tmp/vit44/$net)"
  echo "round $round $net bc68b46, blocks 32+32: $(SPB=32 /tmp/time_grad_old /tmp/vit44/$net)"
  echo "round $round $net new: $(/tmp/time_grad_new /tmp/vit44/$net)"
done; done
