import sys, os, subprocess, warnings, numpy as np, torch, timm
sys.path.insert(0, "/work/main/tools")
from export_pytorch import export, Unsupported
warnings.simplefilter("ignore")
for name, kw in [("deit_tiny_distilled_patch16_224", {}), ("deit_small_distilled_patch16_224", {})]:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, img_size=32, **kw)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
        for n, p in model.named_parameters():
            if n.endswith(("gamma", "cls_token", "reg_token", "pos_embed")): p.normal_(0.0, 0.5)
            if n.startswith("head"): p.normal_(0.0, 0.05)
    out = f"/tmp/vit44/deit-{name}-{'_'.join(f'{k}{v}' for k, v in kw.items())}"
    model.eval()
    try:
        export(model, (3, 32, 32), out, dtype=torch.float64)
    except Unsupported as e:
        print(kw, "REFUSED", str(e)[:300]); continue
    x = torch.randn(3, 3, 32, 32); y = torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    m = model.double().eval()
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
    r = subprocess.run(["/work/main/target/release/curvscope", "info", out, "--data", f"{out}/data.npz"], capture_output=True, text=True)
    got = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("loss")]
    print(kw, f"PyTorch {loss!r} curvscope {got[0] if got else r.stderr[-300:]}", flush=True)
