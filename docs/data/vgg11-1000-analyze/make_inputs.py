#!/usr/bin/env python3
"""The inputs of this folder's analysis (issue 15, must-show 2): VGG-11 without batch norm (the
`vgg11` preset, bench/vgg11_pytorch.py's module) at PyTorch's initialisation (seed 0), exported by
tools/export_pytorch.py to vgg11-init/, and 1,000 CIFAR-shaped random images (uniform pixels,
random labels 0–9, numpy seed 0) as cifar-shaped-1000.npz. Run it from the folder to write them to.

Usage: python make_inputs.py   (needs torch, numpy, safetensors)
"""
import os
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path[:0] = [os.path.join(ROOT, "tools"), os.path.join(ROOT, "bench")]
from export_pytorch import export  # noqa: E402
from vgg11_pytorch import vgg11  # noqa: E402

torch.manual_seed(0)
export(vgg11(), input_shape=(3, 32, 32), out="vgg11-init")
rng = np.random.default_rng(0)
np.savez(
    "cifar-shaped-1000.npz",
    x=rng.random((1000, 3, 32, 32), dtype=np.float32),
    y=rng.integers(0, 10, 1000).astype(np.int64),
)
