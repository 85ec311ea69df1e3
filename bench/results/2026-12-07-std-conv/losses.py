"""timm's weight-standardised nets through the exporter: each net's gains, norms' γ and β and
other 1-D parameters drawn away from their initial values (NFNets' skip-init gains from 0, so
every residual branch counts), exported in float64 at `size` × `size`, and PyTorch's float64
loss on three random images beside `curvscope info`'s. A net may be given with keyword
arguments for `timm.create_model`, Python literals after a colon, separated by semicolons.

    python3 losses.py 64 resnetv2_50x1_bit nf_resnet26 ...
    python3 losses.py 64 "focalnet_tiny_srf:depths=[1, 1, 1, 1];normalize_modulator=True"
"""
import ast
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import timm
import torch

ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
from export_pytorch import export  # noqa: E402


def drawn(net):
    """timm's net `name[:keyword=literal;…]` for 10 classes in eval mode, seeded, its parameters
    drawn as above."""
    name, _, given = net.partition(":")
    options = dict(option.split("=", 1) for option in given.split(";") if option)
    options = {key: ast.literal_eval(value) for key, value in options.items()}
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, pretrained=False, **options).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            if p.dim() <= 1 or key.endswith("gain"):
                p.uniform_(0.5, 1.5)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return model


def compare(name, size):
    """One line: the net's D, PyTorch's float64 loss and curvscope's on the same images."""
    model, out = drawn(name), f"/tmp/std-conv/{''.join(c if c.isalnum() else '_' for c in name)}"
    export(model, (3, size, size), out, dtype=torch.float64)
    x, y = torch.randn(3, 3, size, size), torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    model = model.double()
    loss = torch.nn.functional.cross_entropy(model(x.double()), y).item()
    info = subprocess.run([str(ROOT / "target/release/curvscope"), "info", out, "--data",
                           f"{out}/data.npz"], capture_output=True, text=True)
    ours = [line.split()[1] for line in info.stdout.splitlines() if line.startswith("loss")]
    d = sum(p.numel() for p in model.parameters())
    return (f"{name:20s} D = {d:9d}  PyTorch {loss!r:22s} curvscope "
            f"{ours[0] if ours else info.stderr[-300:]}")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for net in sys.argv[2:]:
        print(compare(net, int(sys.argv[1])), flush=True)
