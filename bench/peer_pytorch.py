"""The PyTorch peer of `cargo bench -p curvscope --bench curvature`: the same LeNet, the same
1,200 Fashion-MNIST samples (first 1,000 with their labels, the next 200 with random labels),
loss, gradient, HVP by double backward and by torch.func jvp-over-grad, per-sample gradients by
torch.func.vmap, in float32 and float64; medians of 5 runs after a warm-up, written as JSON.

Usage: python peer_pytorch.py OUT.json [THREADS]
"""
import gzip
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp, vmap  # noqa: F401  (functional_call: doc)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "fashion-mnist")
SHAPES = [  # LeNet's state_dict order, as in crates/model/src/arch.rs
    (10, 1, 5, 5), (10,), (10, 10, 5, 5), (10,), (50, 160), (50,), (10, 50), (10,),
]


def idx(path):
    """An IDX file (gzip) as a numpy array, per its header."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def dataset(clean=1000, random=200, seed=0):
    x = idx(os.path.join(DATA, "train-6k-images-idx3-ubyte.gz"))[: clean + random]
    y = idx(os.path.join(DATA, "train-6k-labels-idx1-ubyte.gz"))[: clean + random].astype(np.int64)
    y = y.copy()
    y[clean:] = np.random.default_rng(seed).integers(0, 10, size=random)
    x = torch.from_numpy(x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(y)


def init_theta(seed=0):
    """PyTorch's default init (U(±1/√fan_in) for weights and biases), flattened."""
    g = torch.Generator().manual_seed(seed)
    parts, fan_in = [], 1
    for s in SHAPES:
        if len(s) >= 2:
            fan_in = int(np.prod(s[1:]))
        bound = 1.0 / fan_in ** 0.5
        parts.append((torch.rand(int(np.prod(s)), generator=g, dtype=torch.float64) * 2 - 1) * bound)
    return torch.cat(parts)


def unflatten(theta):
    out, o = [], 0
    for s in SHAPES:
        n = int(np.prod(s))
        out.append(theta[o: o + n].reshape(s))
        o += n
    return out


def logits(theta, x):
    w1, b1, w2, b2, w3, b3, w4, b4 = unflatten(theta)
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)
    h = F.relu(F.linear(h.flatten(1), w3, b3))
    return F.linear(h, w4, b4)


def loss(theta, x, y):
    return F.cross_entropy(logits(theta, x), y)


def one_loss(theta, x, y):
    return loss(theta, x.unsqueeze(0), y.unsqueeze(0))


def timed(f, reps=5):
    f()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return {"reps": reps, "median_s": statistics.median(times), "min_s": min(times)}


def bench(dtype, x, y, theta0):
    x = x.to(dtype)
    theta = theta0.to(dtype).detach()
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    v /= v.norm()

    def run_loss():
        with torch.no_grad():
            return loss(theta, x, y)

    def run_grad():
        t = theta.clone().requires_grad_()
        return torch.autograd.grad(loss(t, x, y), t)[0]

    def run_hvp_double_backward():
        t = theta.clone().requires_grad_()
        g = torch.autograd.grad(loss(t, x, y), t, create_graph=True)[0]
        return torch.autograd.grad(g @ v, t)[0]

    def run_hvp_jvp_over_grad():
        return jvp(lambda t: grad(loss)(t, x, y), (theta,), (v,))[1]

    def run_per_sample_vmap():
        return vmap(grad(one_loss), in_dims=(None, 0, 0))(theta, x, y)

    assert torch.allclose(run_hvp_double_backward(), run_hvp_jvp_over_grad(), rtol=1e-3, atol=1e-6)
    ops = {
        "loss": run_loss,
        "gradient": run_grad,
        "hvp (double backward)": run_hvp_double_backward,
        "hvp (torch.func jvp over grad)": run_hvp_jvp_over_grad,
        "per-sample grads (vmap, all N)": run_per_sample_vmap,
    }
    name = "f32" if dtype == torch.float32 else "f64"
    rows = []
    for op, f in ops.items():
        r = {"op": op, "backend": "pytorch", "precision": name, **timed(f)}
        print(f"  {op:<34} {name} {r['median_s']:10.4f} s", file=sys.stderr)
        rows.append(r)
    return rows


def main():
    out = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    torch.set_num_threads(threads)
    x, y = dataset()
    theta0 = init_theta()
    rows = bench(torch.float32, x, y, theta0) + bench(torch.float64, x, y, theta0)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_samples": len(y),
        "dim": int(theta0.numel()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "unix_time": int(time.time()),
        "rows": rows,
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
