#!/usr/bin/env python3
"""Gradient and exact HVP (double backward) of VGG-11 without batch norm (the `vgg11` preset) on
N CIFAR-shaped random images in float32, the peer of `cargo bench -p curvscope --bench vgg11`.
Usage: vgg11_pytorch.py [N] [threads]."""

import sys
import time

import torch
from torch import nn


def vgg11():
    layers, channels = [], 3
    for width in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if width == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
    layers.append(nn.AvgPool2d(1, 1))
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), nn.Linear(512, 10))


def timed(f, reps=3):
    f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], times[0]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = vgg11()
    params = list(model.parameters())
    x, y = torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,))
    v = [torch.randn_like(p) for p in params]

    def grad():
        loss = nn.functional.cross_entropy(model(x), y)
        return torch.autograd.grad(loss, params)

    def hvp():
        loss = nn.functional.cross_entropy(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), params)

    print(f"PyTorch {torch.__version__} vgg11, N = {n}, float32, {threads} threads")
    for name, f in [("gradient", grad), ("HVP", hvp)]:
        median, low = timed(f)
        print(f"{name:<9} median {median:.3f} s  min {low:.3f} s")


if __name__ == "__main__":
    main()
