"""Puts the ratios curvscope / PyTorch of one back-to-back run into docs/PERFORMANCE.md,
between the `<!-- measured -->` markers (the rest of the file is left as it is).

Usage: python3 compare.py curvature.json pytorch.json PERFORMANCE.md
"""
import datetime
import json
import platform
import subprocess
import sys

OURS = {  # our op -> the PyTorch op it is compared with
    "loss": "loss",
    "gradient": "gradient",
    "hvp": "hvp (double backward)",
    "per-sample grads (all N)": "per-sample grads (vmap, all N)",
    "top-20 Lanczos": "top-20 Lanczos",
    "Tr(HΣ) exact": "Tr(HΣ) exact",
    "expected sharpness (M=1000)": "expected sharpness (M=1000)",
}
BEGIN, END = "<!-- measured -->", "<!-- /measured -->"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    ours, torch = (json.load(open(p)) for p in sys.argv[1:3])
    doc = sys.argv[3]
    t = {(r["op"], r["precision"]): r for r in torch["rows"]}
    o = {(r["op"], r["backend"], r["precision"]): r for r in ours["rows"]}
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        BEGIN,
        f"Measured {datetime.date.today()} at commit {rev} ({ours['mode']} mode) on {cpu_model()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores (shared VM), "
        f"{ours['rayon_threads']} rayon threads; PyTorch {torch['torch']} with {torch['threads']} threads; "
        f"LeNet (D = {ours['dim']}) on N = {ours['n_samples']}. Medians; both measured back to back by `bench/peer.sh`.",
        "",
        "| operation | precision | curvscope burn-flex (s) | burn-ndarray (s) | PyTorch (s) | flex / PyTorch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for prec in ("f32", "f64"):
        for op, top in OURS.items():
            ours_r, nd = o.get((op, "burn-flex", prec)), o.get((op, "burn-ndarray", prec))
            peer = t.get((top, prec))
            if not ours_r or not peer:
                continue
            nd_s = f"{nd['median_s']:.4f}" if nd else "–"
            label = op if op == top else f"{op} (vs {top})"
            if ours_r.get("extrapolated_from"):
                label += f" ¹"
            lines.append(
                f"| {label} | {prec} | {ours_r['median_s']:.4f} | {nd_s} | {peer['median_s']:.4f} "
                f"| {ours_r['median_s'] / peer['median_s']:.2f}× |"
            )
    lines.append("")
    if any(l.startswith("|") and " ¹ |" in l for l in lines):
        lines.append(
            "¹ Quick mode: timed on a subset (16 of N Tr(HΣ) terms, 50 of 1,000 sharpness samples) on "
            "both sides and scaled linearly."
        )
        lines.append("")
    for prec in ("f32", "f64"):
        hvp, g = o.get(("hvp", "burn-flex", prec)), o.get(("gradient", "burn-flex", prec))
        jvp = t.get(("hvp (torch.func jvp over grad)", prec))
        tg, th = t.get(("gradient", prec)), t.get(("hvp (double backward)", prec))
        if hvp and g and jvp and tg and th:
            lines.append(
                f"- {prec}: our HVP / our gradient = {hvp['median_s'] / g['median_s']:.2f} "
                f"(PyTorch: double backward {th['median_s'] / tg['median_s']:.2f}, jvp-over-grad "
                f"{jvp['median_s'] / tg['median_s']:.2f}; our HVP / PyTorch jvp-over-grad = "
                f"{hvp['median_s'] / jvp['median_s']:.2f})."
            )
    lines.append(END)
    text = open(doc).read() if _exists(doc) else f"# Performance\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    open(doc, "w").write(head + "\n".join(lines) + tail)
    print("\n".join(lines))


def _exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
