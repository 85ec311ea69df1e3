import pathlib
import sys, numpy as np, torch, time, torchvision
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
name, n = sys.argv[1], int(sys.argv[2])
torch.manual_seed(1)
x = torch.randn(n, 3, 32, 32); y = torch.randint(0, 10, (n,))
np.savez(f"/tmp/tv/{name}/data.npz", x=x.numpy(), y=y.numpy())
from safetensors.torch import load_file
model = getattr(torchvision.models, name)(num_classes=10)
sd = load_file(f"/tmp/tv/{name}/model.safetensors")
model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
model.eval()
torch.set_num_threads(2)
params = list(model.parameters())
def grad():
    loss = torch.nn.functional.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, params)
def hvp(v):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)
    return torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, v)), params)
grad(); grad()
ts = []
for _ in range(5):
    s = time.perf_counter(); grad(); ts.append(time.perf_counter() - s)
v = grad(); hs = []
for _ in range(3):
    s = time.perf_counter(); hvp(v); hs.append(time.perf_counter() - s)
print(f"PyTorch f32 2 threads: grad median {sorted(ts)[2]:.3f} s, hvp median {sorted(hs)[1]:.3f} s")
