#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)  # the repository
# Two alternating rounds (f32, 2 threads) of torchvision's nets and timm's ViT of
# ../2026-12-05-products and ../2026-12-06-vit: PyTorch (data64.py / time.py there), then
# time_grad built at bc68b46 (time_grad_old: 16 images in one block, 64 in 50 and 14) and with
# this folder's blocks (time_grad_new: two blocks of 8 or 32).
for round in 1 2; do
for n in "resnet50 16" "convnext_tiny 16" "mobilenet_v2 64" "efficientnet_b0 64"; do
  set -- $n
  echo "round $round $1 × $2 pytorch: $(/tmp/torchenv/bin/python /tmp/data64.py $1 $2 2>&1 | grep median)"
  echo "round $round $1 × $2 bc68b46: $(/tmp/time_grad_old /tmp/tv/$1)"
  echo "round $round $1 × $2 new: $(/tmp/time_grad_new /tmp/tv/$1)"
done
echo "round $round timm_vit_tiny_p4 × 64 pytorch: $(/tmp/torchenv/bin/python $ROOT/bench/results/2026-12-06-vit/time.py timm_vit_tiny_p4 64 2>&1 | grep median)"
echo "round $round timm_vit_tiny_p4 × 64 bc68b46: $(/tmp/time_grad_old /tmp/vit44/timm_vit_tiny_p4)"
echo "round $round timm_vit_tiny_p4 × 64 new: $(/tmp/time_grad_new /tmp/vit44/timm_vit_tiny_p4)"
done
