"""The PyTorch + LAPACK peer of `cargo bench -p curvscope --bench full_spectrum`: the whole
Hessian spectrum of the same LeNet (D = 11,330) on the same 1,200 Fashion-MNIST samples at the
same briefly trained θ (bench/peer_pytorch.py), in float64: H built column by column from HVPs
(torch.func jvp over grad, vmapped over blocks of unit vectors), then every eigenvalue by
`scipy.linalg.eigh` (LAPACK, values only). Writes the times, the top 20 and the counts of
negative and near-zero eigenvalues as JSON.

Usage: python full_spectrum_pytorch.py OUT.json [THREADS] [COLUMNS]
COLUMNS (default: all D) times only the first COLUMNS columns and extrapolates the build to D,
then decomposes a random symmetric D×D matrix instead of H.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import scipy.linalg
import torch
from torch.func import grad, jvp, vmap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_pytorch import dataset, init_theta, loss, trained  # noqa: E402

BLOCK = int(os.environ.get("CURVSCOPE_PT_BLOCK", 16))  # unit vectors per vmapped pass


def main():
    out = sys.argv[1]
    # Opened now, so an unwritable OUT fails before hours of work rather than after.
    result_file = open(out, "w")
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    if BLOCK < 1:
        sys.exit(f"CURVSCOPE_PT_BLOCK is {BLOCK}: at least one unit vector per pass")
    torch.set_num_threads(threads)
    x, y = dataset()
    theta = trained(init_theta(), x, y)
    x = x.to(torch.float64)
    d = theta.numel()
    columns = int(sys.argv[3]) if len(sys.argv) > 3 else d
    if not 1 <= columns <= d:
        sys.exit(f"COLUMNS is {columns}: between 1 and D = {d}")

    def hvp(u):
        return jvp(lambda t: grad(loss)(t, x, y), (theta,), (u,))[1]

    batched = vmap(hvp)
    h = np.zeros((d, d))
    start = time.perf_counter()
    for j in range(0, columns, BLOCK):
        k = min(BLOCK, columns - j)
        units = torch.zeros(k, d, dtype=torch.float64)
        units[torch.arange(k), torch.arange(j, j + k)] = 1.0
        h[:, j: j + k] = batched(units).numpy().T
        if (j // BLOCK) % 20 == 0:
            print(f"{j + k} of {d} columns, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    build = time.perf_counter() - start
    full = columns == d
    if full:
        asymmetry = float(np.abs(h - h.T).max() / np.abs(h).max())
        h = (h + h.T) / 2
    else:
        rng = np.random.default_rng(0)
        h = rng.uniform(-1, 1, (d, d))
        h = (h + h.T) / 2
    start = time.perf_counter()
    values = scipy.linalg.eigh(h, eigvals_only=True, overwrite_a=True, check_finite=False)[::-1]
    eigh = time.perf_counter() - start
    scale = float(np.abs(values).max())
    result = {
        "peer": f"PyTorch {torch.__version__} float64, scipy {scipy.__version__} eigh",
        "dim": d,
        "threads": threads,
        "columns_timed": columns,
        "build_s": build * d / columns,
        "build_extrapolated": not full,
        "eigh_s": eigh,
        "eigh_matrix": "the Hessian" if full else "random symmetric",
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }
    if full:
        result.update({
            "asymmetry": asymmetry,
            "top20": values[:20].tolist(),
            "negative_below_1e-6": int((values < -1e-6 * scale).sum()),
            "zero_within_1e-6": int((np.abs(values) <= 1e-6 * scale).sum()),
        })
    text = json.dumps(result, indent=2)
    print(text)
    with result_file:
        result_file.write(text)


if __name__ == "__main__":
    main()
