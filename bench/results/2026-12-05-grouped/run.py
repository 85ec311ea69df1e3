import pathlib
import sys, os, subprocess, time
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
import numpy as np, torch, torchvision
from export_pytorch import export
torch.manual_seed(0)
name, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = getattr(torchvision.models, name)(num_classes=10)
# batch-norm statistics away from their initial values
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3); m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
out = f"/tmp/tv/{name}"
t = time.time()
export(model, (3, size, size), out, dtype=torch.float64)
print(f"export {time.time()-t:.1f} s")
x = torch.randn(n, 3, size, size)
y = torch.randint(0, 10, (n,))
np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
m = model.double().eval()
loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
print(f"D = {sum(p.numel() for p in m.parameters())}, PyTorch float64 loss {loss!r}")
