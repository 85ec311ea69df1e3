#!/usr/bin/env python3
"""Where a GPU gradient and HVP spend their time, kernel by kernel, from CubeCL's profiler log.

Usage: bench/kernel_profile.py LOG [TOP]

LOG is the CUBECL_DEBUG_LOG file of the `gpu` bench's profile mode, e.g.

    CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/lenet.log \\
        cargo bench -p curvscope --features wgpu --bench gpu -- lenet wgpu:profile

CubeCL writes one line per kernel, `| <duration> | <kernel name> | ...`, and a summary table at
every wait for the device; the bench waits before and after one gradient and after one HVP (and
every read-back waits too), so the kernel lines fall into sections: the first calls (compilation
included, one or more sections), the gradient, the HVP. For the gradient and the HVP this prints the number of kernels, their summed time, the TOP
(default 12) slowest kernels with their position in the pass (kernel names carry no shapes, so
the position tells which matrix product is which), and the time per kind of kernel.
"""
import collections
import re
import sys

UNITS = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
DURATION = re.compile(r"^([\d.]+)(ns|µs|ms|s)$")


def sections(path):
    """The kernel lines of LOG as lists of (seconds, name), each closed by a summary table."""
    parts, current, in_table = [], [], False
    try:
        lines = open(path, encoding="utf-8").readlines()
    except OSError as error:
        sys.exit(f"{path}: {error.strerror}")
    for line in lines:
        if line.startswith("|⎺"):  # a summary table opens: the section before it is complete
            if not in_table:
                parts.append(current)
                current = []
            in_table = True
            continue
        fields = [f.strip() for f in line.strip().strip("|").split("|")]
        match = DURATION.match(fields[0]) if fields else None
        if match is None:
            continue
        in_table = False
        name = fields[1]
        if name == "MatmulEntry":
            name = "matmul " + fields[-2]  # the algorithm's global partitioning, e.g. RowMajor…
        elif name.startswith("Kernel") and len(fields) > 2:
            name = f"{name} {fields[2]}"  # KernelBinop AddOp, KernelCmp GreaterOp, …
        current.append((float(match.group(1)) * UNITS[match.group(2)], name))
    if current:
        sys.exit(f"{path}: {len(current)} kernel lines after the last summary: the log was cut "
                 "short (the process exited before CubeCL's logger wrote the HVP's summary)")
    return parts


def report(label, kernels, top):
    total = sum(d for d, _ in kernels) or 1e-300  # a share of nothing is 0%, not a crash
    print(f"{label}: {len(kernels)} kernels, {total * 1e3:.2f} ms of kernel time")
    print(f"  slowest {top} (position in the pass, ms, share):")
    slowest = sorted(enumerate(kernels), key=lambda k: -k[1][0])[:top]
    for position, (d, name) in slowest:
        print(f"    #{position:<4d} {d * 1e3:9.3f}  {100 * d / total:5.1f}%  {name}")
    kinds = collections.defaultdict(lambda: [0, 0.0])
    for d, name in kernels:
        kinds[name][0] += 1
        kinds[name][1] += d
    print("  by kind (count, ms, share):")
    for name, (count, d) in sorted(kinds.items(), key=lambda k: -k[1][1])[:top]:
        print(f"    {count:4d}× {d * 1e3:9.3f}  {100 * d / total:5.1f}%  {name}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    top = sys.argv[2] if len(sys.argv) > 2 else "12"
    if not top.isdigit() or int(top) == 0:
        sys.exit(f"TOP is {top!r}: a positive whole number of kernels to list")
    top = int(top)
    parts = [p for p in sections(sys.argv[1]) if p]
    if len(parts) < 3:
        sys.exit(f"{sys.argv[1]}: {len(parts)} sections, expected first calls, gradient, HVP")
    # Every read-back also waits for the device (curvscope_model's transfer module, since
    # 2026-12-04), so the first calls may span several sections: all but the last two.
    first = [k for part in parts[:-2] for k in part]
    gradient, hvp = parts[-2:]
    print(f"first calls: {len(first)} kernels, {sum(d for d, _ in first):.3f} s")
    report("gradient", gradient, top)
    report("HVP", hvp, top)


if __name__ == "__main__":
    main()
