"""Peer of `cargo bench -p curvscope --bench lanczos`: scipy's ARPACK eigsh (implicitly
restarted Lanczos, 41 basis vectors by default) for the top 20 of diag(1/sqrt(i + 1)) at
dimension D (argument, default 1,000,000), tol 1e-6; host seconds are the total minus the
products'. Median of 3. Prints one JSON line."""

import json
import sys
import time

import numpy as np
import scipy
from scipy.sparse.linalg import LinearOperator, eigsh

if len(sys.argv) > 2 or (len(sys.argv) == 2 and not sys.argv[1].isdigit()):
    sys.exit(f"lanczos_scipy.py: expected one argument, D, a positive integer; got {sys.argv[1:]}")
d = int(sys.argv[1]) if len(sys.argv) == 2 else 1_000_000
if d <= 20:
    sys.exit(f"lanczos_scipy.py: D must exceed k = 20 (ARPACK's eigsh needs k < D), not {d}")
diagonal = 1.0 / np.sqrt(np.arange(d, dtype=np.float64) + 1.0)
runs = []
for _ in range(3):
    spent = {"s": 0.0, "n": 0}

    def product(x):
        start = time.perf_counter()
        y = diagonal * x.ravel()
        spent["s"] += time.perf_counter() - start
        spent["n"] += 1
        return y

    op = LinearOperator((d, d), matvec=product, dtype=np.float64)
    start = time.perf_counter()
    values = eigsh(op, k=20, which="LA", tol=1e-6, return_eigenvectors=True)[0]
    total = time.perf_counter() - start
    runs.append((total - spent["s"], total, spent["n"], abs(values.max() - 1.0)))
runs.sort()
host, total, steps, error = runs[1]
print(json.dumps({"peer": "scipy eigsh (ARPACK)", "scipy": scipy.__version__,
                  "dim": d, "k": 20, "tol": 1e-6, "steps": steps, "host_s": host,
                  "total_s": total, "top_eigenvalue_error": error}))
