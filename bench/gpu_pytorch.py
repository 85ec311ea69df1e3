#!/usr/bin/env python3
"""PyTorch's peer of `cargo bench -p curvscope --bench gpu` on one device: gradient, HVP (double
backward), top-20 Lanczos (scipy's ARPACK eigsh on the HVP, v in and H·v out each call, as
curvlinops does and as curvscope's Lanczos does), stochastic Tr(HΣ) (per probe one weighted
gradient v = Σ w_i g_i, w centred Gaussian / √N, and vᵀHv: curvscope's estimator) and
per-sample gradients (torch.func.vmap of grad), float32 with TF32 off (curvscope computes in
plain f32).

lenet: the 1,200 Fashion-MNIST samples and θ of bench/peer_pytorch.py. vgg11: 1,000 random
CIFAR-shaped images, PyTorch's initialisation (seed 0); the values differ from curvscope's draw,
the costs do not.

Usage: gpu_pytorch.py NET OUT.json [cuda|cpu] [probes|basic|trace]  (basic: first calls,
gradient, HVP and per-sample gradients only, no Lanczos or Tr(HΣ), for a short lease; trace:
those and Tr(HΣ), no Lanczos)
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_pytorch  # noqa: E402
import vgg11_pytorch  # noqa: E402


def lenet(device):
    x, y = peer_pytorch.dataset()
    theta = peer_pytorch.trained(peer_pytorch.init_theta(), x, y).to(torch.float32)
    return (lambda t, xs: peer_pytorch.logits(t, xs)), theta.to(device), x.to(device), y.to(device)


def vgg11(device):
    torch.manual_seed(0)
    model = vgg11_pytorch.vgg11().to(device)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    x, y = torch.rand(1000, 3, 32, 32), torch.randint(0, 10, (1000,))

    def logits(t, xs):
        params, o = {}, 0
        for name, shape in zip(names, shapes):
            k = int(np.prod(shape))
            params[name] = t[o: o + k].reshape(shape)
            o += k
        return torch.func.functional_call(model, params, (xs,))

    return logits, theta, x.to(device), y.to(device)


def main():
    net, out = sys.argv[1], sys.argv[2]
    device = sys.argv[3] if len(sys.argv) > 3 else "cuda"
    mode = sys.argv[4] if len(sys.argv) > 4 else "full"
    if mode not in ("full", "basic", "trace") and not (mode.isdigit() and int(mode) >= 2):
        sys.exit(f"gpu_pytorch.py: mode {mode!r}: a number of probes (at least 2, for the "
                 "standard error), basic or trace")
    basic, trace_only = mode == "basic", mode == "trace"
    probes = int(mode) if mode.isdigit() else 10
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    logits, theta, x, y = {"lenet": lenet, "vgg11": vgg11}[net](device)
    n, dim = len(y), theta.numel()
    v = torch.rand(dim, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def timed(f):
        sync()
        start = time.perf_counter()
        result = f()
        sync()
        return time.perf_counter() - start, result

    def grad(w=None):
        t = theta.clone().requires_grad_()
        losses = F.cross_entropy(logits(t, x), y, reduction="none")
        total = losses.mean() if w is None else (losses * w).sum()
        return torch.autograd.grad(total, t)[0]

    def hvp(u):
        t = theta.clone().requires_grad_()
        g = torch.autograd.grad(F.cross_entropy(logits(t, x), y), t, create_graph=True)[0]
        return torch.autograd.grad(g @ u, t)[0]

    row = {"net": net, "backend": f"pytorch-{device}", "torch": torch.__version__, "n": n, "dim": dim}
    if device == "cuda":
        row["card"] = torch.cuda.get_device_name()
    row["first_gradient_s"], _ = timed(grad)
    row["first_hvp_s"], _ = timed(lambda: hvp(v))
    for name, f in [("gradient", grad), ("hvp", lambda: hvp(v))]:
        times = sorted(timed(f)[0] for _ in range(5))
        row[f"{name}_median_s"], row[f"{name}_min_s"] = statistics.median(times), times[0]
    print(json.dumps(row), file=sys.stderr)

    def lanczos():
        from scipy.sparse.linalg import LinearOperator, eigsh

        calls = [0]

        def matvec(u):
            calls[0] += 1
            u = torch.from_numpy(np.ascontiguousarray(u).reshape(-1)).to(device, torch.float32)
            return hvp(u).double().cpu().numpy()

        op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
        values = eigsh(op, k=20, which="LA", tol=1e-6, return_eigenvectors=False)
        return sorted(values, reverse=True), calls[0]

    if not basic and not trace_only:
        row["lanczos_s"], (values, calls) = timed(lanczos)
        row["lanczos_hvps"], row["top5"] = calls, [float(e) for e in values[:5]]

    def trace_h_sigma():
        gen = torch.Generator().manual_seed(0)
        samples = []
        for _ in range(probes):
            eps = torch.randn(n, generator=gen, dtype=torch.float64)
            w = ((eps - eps.mean()) / n ** 0.5).to(device, torch.float32)
            u = grad(w)
            samples.append(float(u @ hvp(u)))
        return statistics.mean(samples), statistics.stdev(samples) / probes ** 0.5

    if not basic:
        row["trace_h_sigma_s"], (value, stderr) = timed(trace_h_sigma)
        row.update(trace_h_sigma=value, trace_h_sigma_stderr=stderr, trace_h_sigma_probes=probes)

    # Per-sample gradients as curvscope's bench times them: LeNet's all N, VGG-11's first 16.
    rows = n if net == "lenet" else min(n, 16)

    def per_sample_grads():
        def loss_one(t, xi, yi):
            return F.cross_entropy(logits(t, xi[None]), yi[None])

        per_sample = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))
        return per_sample(theta, x[:rows], y[:rows])

    row["per_sample"] = rows
    row["first_per_sample_s"], _ = timed(per_sample_grads)
    row["per_sample_s"], _ = timed(per_sample_grads)
    print(json.dumps(row))
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
