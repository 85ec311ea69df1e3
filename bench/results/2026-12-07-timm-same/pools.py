"""timm's MaxPool2dSame and AvgPool2dSame through the exporter (2026-12-07).

1. Every kernel 1..5, stride 1..4, size 3..11 (360 cases), each with ceil_mode either way
   (which changes nothing after "SAME" padding; timm's MaxPool2dSame even passes it where
   nn.MaxPool2d takes return_indices), count_include_pad alternating: export_pytorch's
   `architecture` (whose own check compares the written layers, run by F.max_pool2d and
   F.avg_pool2d, with the module on random inputs) must export each or refuse an odd padding at
   stride 1 (max pooling only).
2. A net of Conv2dSame and both poolings exported in float64 at three sizes: PyTorch's loss
   beside `curvscope info`'s.
"""
import itertools, pathlib, re, subprocess, sys, warnings
import numpy as np, torch
import torch.nn.functional as F
from torch import nn
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
import export_pytorch as ep
from timm.layers import Conv2dSame
from timm.layers.pool2d_same import AvgPool2dSame, MaxPool2dSame
warnings.simplefilter("ignore")

ok = refused = unexpected = 0
for n, k, s, ceil, kind in itertools.product(range(3, 12), range(1, 6), range(1, 5),
                                             [False, True], ["max", "avg"]):
    pool = (MaxPool2dSame(k, s, ceil_mode=ceil) if kind == "max"
            else AvgPool2dSame(k, s, ceil_mode=ceil, count_include_pad=bool(n % 2)))
    model = nn.Sequential(nn.Conv2d(1, 2, 1), pool, nn.Flatten())
    try:
        ep.architecture(model, (1, n, n))
        ok += 1
    except ep.Unsupported as e:
        if kind == "max" and s == 1 and "at stride 1" in str(e):
            refused += 1
        else:
            unexpected += 1
            print(n, k, s, ceil, kind, e)
print(f"of 720 (360 cases × ceil_mode both ways): exported {ok}, refused (odd padding at "
      f"stride 1) {refused}, unexpected {unexpected}")

torch.manual_seed(3)
for n in (8, 9, 11):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), MaxPool2dSame(3, 2),
                          Conv2dSame(4, 5, 2, stride=2),
                          AvgPool2dSame(3, 2, count_include_pad=False),
                          MaxPool2dSame((2, 3), (3, 2)), nn.Flatten(), nn.LazyLinear(4)).double()
    x = torch.randn(6, 3, n, n, dtype=torch.float64)
    model(x)
    model.eval()
    y = torch.randint(0, 4, (6,))
    out = f"/tmp/pools-{n}"
    ep.export(model, (3, n, n), out, dtype=torch.float64)
    np.savez(f"{out}/data.npz", x=x.float().numpy(), y=y.numpy())
    loss = F.cross_entropy(model(x.float().double()), y).item()
    r = subprocess.run([str(ROOT / "target/release/curvscope"), "info", out, "--data",
                        f"{out}/data.npz"], capture_output=True, text=True)
    got = re.findall(r"loss\s+([0-9.e+-]+)", r.stdout)
    print(f"{n} × {n}: PyTorch {loss!r}, curvscope {got[0] if got else r.stderr[-300:]}")
