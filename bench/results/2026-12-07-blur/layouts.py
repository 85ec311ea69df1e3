"""PyTorch's own float64 loss of each net twice, in NCHW and in channels-last memory layout
(the same function, its sums in another order), of the nets of
`../2026-12-07-std-conv/losses.py` (drawn as there) on three random images of its own (seed 0):
how far rounding alone moves a deep net's loss.

    python3 layouts.py 64 tresnet_m tresnet_l ...
"""
import pathlib
import sys
import warnings

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "2026-12-07-std-conv"))
from losses import drawn  # noqa: E402


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    size = int(sys.argv[1])
    for name in sys.argv[2:]:
        model = drawn(name).double()
        torch.manual_seed(0)
        x, y = torch.randn(3, 3, size, size, dtype=torch.float64), torch.randint(0, 10, (3,))
        nchw = torch.nn.functional.cross_entropy(model(x), y).item()
        model = model.to(memory_format=torch.channels_last)
        last = torch.nn.functional.cross_entropy(
            model(x.to(memory_format=torch.channels_last)), y).item()
        print(f"{name:20s} NCHW {nchw!r:22s} channels-last {last!r:22s} "
              f"relative {abs(nchw - last) / abs(nchw):.1e}", flush=True)
