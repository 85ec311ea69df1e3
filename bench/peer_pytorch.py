"""The PyTorch peer of `cargo bench -p curvscope --bench curvature`: the same LeNet, the same
1,200 Fashion-MNIST samples (first 1,000 with their labels, the next 200 with random labels),
at the same briefly trained θ (PyTorch init, 10 full-batch GD steps, lr 0.1): loss, gradient, HVP
by double backward and by torch.func jvp-over-grad, per-sample gradients by torch.func.vmap, exact
Tr(HΣ) (vmapped HVPs on the per-sample gradient deviations), expected sharpness (M = 1,000
perturbed losses) and, in full mode, top-20 Lanczos (scipy's ARPACK eigsh on the HVP, as
curvlinops does); in float32 and float64; medians of 5 runs after a warm-up (1 run for the
multi-second rows), written as JSON. Quick mode times Tr(HΣ) on 16 of its N deviations and
sharpness on 50 of its 1,000 losses and scales linearly, as the Rust bench does.

Usage: python peer_pytorch.py OUT.json [THREADS] [quick|full]
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


def timed(f, reps=5, warmup=True):
    """Median and min of `reps` runs of f (after one warm-up run), and f's last result."""
    if warmup:
        f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    return {"reps": reps, "median_s": statistics.median(times), "min_s": min(times)}, result


def trained(theta, x, y, steps=10, lr=0.1):
    """The bench's θ: `steps` full-batch GD steps from θ (in float32, as the Rust bench)."""
    t = theta.to(torch.float32)
    x = x.to(torch.float32)
    for _ in range(steps):
        t = t - lr * grad(loss)(t, x, y)
    return t.to(torch.float64)


def bench(dtype, x, y, theta0, quick):
    x = x.to(dtype)
    theta = theta0.to(dtype).detach()
    n = len(y)
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

    def hvp(u):
        return jvp(lambda t: grad(loss)(t, x, y), (theta,), (u,))[1]

    mean_grad = run_grad()

    def run_trace_h_sigma(k, chunk=64):
        """(1/N) Σ_i d_iᵀ H d_i over the first k deviations d_i = g_i − ḡ, HVPs vmapped."""
        d = vmap(grad(one_loss), in_dims=(None, 0, 0))(theta, x[:k], y[:k]) - mean_grad
        return sum(
            (dc * vmap(hvp)(dc)).sum() for dc in torch.split(d, chunk)
        ) / n

    def run_sharpness(m, sigma=0.01):
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            base = loss(theta, x, y)
            return sum(
                loss(theta + sigma * torch.randn(theta.shape, generator=gen, dtype=dtype), x, y)
                - base
                for _ in range(m)
            ) / m

    def run_lanczos():
        from scipy.sparse.linalg import LinearOperator, eigsh

        calls = [0]

        def matvec(u):
            calls[0] += 1
            return hvp(torch.from_numpy(np.ascontiguousarray(u).reshape(-1)).to(dtype)).double().numpy()

        op = LinearOperator((theta.numel(), theta.numel()), matvec=matvec, dtype=np.float64)
        values = eigsh(op, k=20, which="LA", tol=1e-6, return_eigenvectors=False)
        return values, calls[0]

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

    def record(op, f, reps=5, subset=None, note=""):
        """Times f; the single-run rows (minutes long) run once, without a warm-up, as in the
        Rust bench. Returns f's result."""
        times, result = timed(f, reps, warmup=reps > 1)
        r = {"op": op, "backend": "pytorch", "precision": name, **times}
        if subset:
            k, total = subset
            r["median_s"] *= total / k
            r["min_s"] *= total / k
            r["extrapolated_from"] = f"{k} of {total}"
        r["note"] = note
        print(f"  {op:<34} {name} {r['median_s']:10.4f} s {note}", file=sys.stderr)
        rows.append(r)
        return result

    for op, f in ops.items():
        record(op, f)
    k = 16 if quick else n
    record("Tr(HΣ) exact", lambda: run_trace_h_sigma(k), 1, (k, n) if quick else None,
           "per-sample grads (vmap) + vmapped jvp-over-grad HVPs in chunks of 64")
    m = 50 if quick else 1000
    record("expected sharpness (M=1000)", lambda: run_sharpness(m), 1,
           (m, 1000) if quick else None, "one no-grad loss per perturbation")
    if not quick:
        values, calls = record("top-20 Lanczos", run_lanczos, 1, None,
                               "scipy eigsh (ARPACK) on jvp-over-grad HVPs")
        rows[-1]["note"] += f": {calls} HVPs, λ₁ = {max(values):.4f}"
    return rows


def main():
    out = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    quick = (sys.argv[3] if len(sys.argv) > 3 else "quick") == "quick"
    torch.set_num_threads(threads)
    x, y = dataset()
    theta0 = trained(init_theta(), x, y)
    rows = bench(torch.float32, x, y, theta0, quick) + bench(torch.float64, x, y, theta0, quick)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_samples": len(y),
        "dim": int(theta0.numel()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mode": "quick" if quick else "full",
        "unix_time": int(time.time()),
        "rows": rows,
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
