#!/usr/bin/env python3
"""Writes crates/model/tests/data/sequential-pytorch: a sequential net using every layer kind
curvscope supports (tools/export_pytorch.py's every_layer_net), exported by export_pytorch.py in
float64, with batch norm's running statistics and affine parameters set away from their initial
values, 8 random float32 images [3, 16, 16] with labels in 0..5, and what PyTorch computes in
float64 in eval mode: logits, mean cross-entropy, its gradient and H·v (double backward) for a
fixed random v. Run once with torch 2.x: `python tools/make_sequential_fixture.py`.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from export_pytorch import every_layer_net, export  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "crates/model/tests/data/sequential-pytorch")


def main():
    torch.manual_seed(2019)
    model = every_layer_net().double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.num_batches_tracked.fill_(7)
    model.eval()
    export(model, (3, 16, 16), OUT, dtype=torch.float64, step=0, seed=2019,
           note="made by tools/make_sequential_fixture.py with torch " + torch.__version__)

    x = torch.rand(8, 3, 16, 16, dtype=torch.float32)
    y = torch.randint(0, 5, (8,), dtype=torch.int64)
    np.savez(os.path.join(OUT, "data.npz"), x=x.numpy(), y=y.numpy())

    params = [p for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in params])
    v = torch.randn(theta.numel(), dtype=torch.float64)
    logits = model(x.double())
    loss = torch.nn.functional.cross_entropy(logits, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    grad = torch.cat([g.reshape(-1) for g in grads])
    hvp = torch.autograd.grad(grad @ v, params)
    hvp = torch.cat([h.reshape(-1) for h in hvp])
    np.savez(os.path.join(OUT, "expected.npz"), theta=theta.numpy(),
             logits=logits.detach().numpy(), loss=loss.detach().numpy(),
             grad=grad.detach().numpy(), v=v.numpy(), hvp=hvp.numpy())
    print(f"wrote {OUT}: D = {theta.numel()}, loss = {loss.item():.6f}")


if __name__ == "__main__":
    main()
