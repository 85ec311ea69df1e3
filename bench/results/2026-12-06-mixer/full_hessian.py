"""mixer-pytorch's full Hessian in PyTorch, row by row of double backward, in curvscope's θ order."""
import pathlib
import sys, numpy as np, torch
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
from export_pytorch import mixer_net, parameter_order
import warnings; warnings.simplefilter("ignore")
fx = str(ROOT / "crates/model/tests/data/mixer-pytorch")
d = np.load(f"{fx}/data.npz"); e = np.load(f"{fx}/expected.npz")
torch.manual_seed(0)
model = mixer_net().double().eval()
named = dict(model.named_parameters())
order = parameter_order(model, (3, 8, 8))
theta = torch.from_numpy(e["theta"])
i = 0
with torch.no_grad():
    for n in order:
        p = named[n]; p.copy_(theta[i:i + p.numel()].reshape(p.shape)); i += p.numel()
params = [named[n] for n in order]
x, y = torch.from_numpy(d["x"]).double(), torch.from_numpy(d["y"])
loss = torch.nn.functional.cross_entropy(model(x), y)
print("loss", loss.item(), "expected", float(e["loss"]))
g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params, create_graph=True)])
D = g.numel()
H = torch.zeros(D, D, dtype=torch.float64)
for r in range(D):
    H[r] = torch.cat([t.reshape(-1) for t in torch.autograd.grad(g[r], params, retain_graph=True)])
H = (H + H.T) / 2
w = torch.linalg.eigvalsh(H)
print("D", D, "lambda_1", repr(w[-1].item()), "lambda_min", repr(w[0].item()), "trace", repr(torch.trace(H).item()))
print("top5", [repr(v) for v in w[-5:].flip(0).tolist()])
