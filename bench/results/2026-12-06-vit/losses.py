"""Transformers through the exporter: each net with its layer norms' γ, β, class token,
position embedding, layer scales and head drawn away from their initial values, exported in
float64 with three random SIZE × SIZE images; PyTorch's float64 loss beside `curvscope info`'s.
`python losses.py SIZE NAMES…` (torchvision:NAME or timm:NAME)."""
import os, subprocess, sys, warnings
import numpy as np, torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../tools"))
from export_pytorch import export  # noqa: E402
warnings.simplefilter("ignore")
size = int(sys.argv[1])
for spec in sys.argv[2:]:
    source, name = spec.split(":")
    torch.manual_seed(0)
    if source == "timm":
        import timm
        model = timm.create_model(name, num_classes=10, pretrained=False, img_size=size)
    else:
        import torchvision
        model = getattr(torchvision.models, name)(num_classes=10, image_size=size)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
        for n, p in model.named_parameters():
            if n.endswith(("gamma", "class_token", "cls_token", "pos_embedding", "pos_embed")):
                p.normal_(0.0, 0.5)
            if n.startswith(("head", "heads")):
                p.normal_(0.0, 0.05)
    out = f"/tmp/vit44/{name}"
    model.eval()
    export(model, (3, size, size), out, dtype=torch.float64)
    x = torch.randn(3, 3, size, size); y = torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    m = model.double().eval()
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
    r = subprocess.run([os.path.join(os.path.dirname(__file__), "../../../target/release/curvscope"),
                        "info", out, "--data", f"{out}/data.npz"], capture_output=True, text=True)
    got = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("loss")]
    D = sum(p.numel() for p in m.parameters())
    print(f"{spec:34s} D = {D:9d}  PyTorch {loss!r:22s} curvscope {got[0] if got else r.stderr[-300:]}",
          flush=True)
