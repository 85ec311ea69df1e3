"""timm's ViT variants through the exporter: `python variants.py GROUP` (vit_tiny, registers or
deit), each net at 32×32 with `num_classes=10`, its layer norms' γ, β, class and register
tokens, position embedding and heads drawn away from their initial values, exported in float64
with three random images; PyTorch's float64 loss (attention by its math kernel) beside
`curvscope info`'s."""
import pathlib
import subprocess, sys, warnings
import numpy as np, torch, timm
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
from export_pytorch import export, Unsupported  # noqa: E402
warnings.simplefilter("ignore")
GROUPS = {
    "vit_tiny": [("vit_tiny_patch16_224", kw) for kw in (
        dict(global_pool="avg"), dict(global_pool="avg", class_token=False),
        dict(init_values=1e-5), dict(qkv_bias=False), dict(no_embed_class=True))],
    "registers": [("vit_small_patch16_224", kw) for kw in (
        dict(reg_tokens=4), dict(reg_tokens=4, global_pool="avg"),
        dict(reg_tokens=2, class_token=False, global_pool="avg"),
        dict(reg_tokens=4, no_embed_class=True))],
    "deit": [("deit_tiny_distilled_patch16_224", {}), ("deit_small_distilled_patch16_224", {})],
}
for name, kw in GROUPS[sys.argv[1]]:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, img_size=32, **kw)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
        for n, p in model.named_parameters():
            if n.endswith(("gamma", "cls_token", "reg_token", "pos_embed")): p.normal_(0.0, 0.5)
            if n.startswith("head"): p.normal_(0.0, 0.05)
    out = f"/tmp/vit44/{name}-{'_'.join(f'{k}{v}' for k, v in kw.items())}"
    model.eval()
    try:
        export(model, (3, 32, 32), out, dtype=torch.float64)
    except Unsupported as e:
        print(name, kw, "REFUSED", str(e)[:300]); continue
    x = torch.randn(3, 3, 32, 32); y = torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    m = model.double().eval()
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
    r = subprocess.run([str(ROOT / "target/release/curvscope"), "info", out, "--data",
                        f"{out}/data.npz"], capture_output=True, text=True)
    got = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("loss")]
    print(name, kw, f"PyTorch {loss!r} curvscope {got[0] if got else r.stderr[-300:]}", flush=True)
