import pathlib
import sys, os, subprocess, warnings, numpy as np, torch, timm
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
from export_pytorch import export
warnings.simplefilter("ignore")
size = int(sys.argv[1])
for name in sys.argv[2:]:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, pretrained=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3); m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
        for n_, p_ in model.named_parameters():
            if n_.endswith("gamma") or n_.endswith("layer_scale"): p_.uniform_(0.5, 1.5)
    out = f"/tmp/timm43/{name}"
    model.eval()
    export(model, (3, size, size), out, dtype=torch.float64)
    x = torch.randn(3, 3, size, size); y = torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    m = model.double().eval()
    loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
    r = subprocess.run([str(ROOT / "target/release/curvscope"), "info", out, "--data", f"{out}/data.npz"], capture_output=True, text=True)
    got = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("loss")]
    D = sum(p.numel() for p in m.parameters())
    print(f"{name:24s} D = {D:9d}  PyTorch {loss!r:22s} curvscope {got[0] if got else r.stderr[-300:]}", flush=True)
