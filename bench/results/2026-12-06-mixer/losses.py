"""timm's MLP-Mixers, ResMLPs, gMLPs and gMixers, its ViT with RMS norms, and its MetaFormers
(PoolFormer v1 and v2, ConvFormer, FastViT, MobileOne) through the exporter: each net with
`num_classes=10` (32×32 images; `mixer_s32_224`, one token at 32×32, and the MetaFormers at
64×64), its layer, group and RMS norms' γ (β), ResMLP's affine α, β, layer scales and
StarReLU's scale and bias, gMLP's gate projection, class token, position embedding and the
head drawn away from their initial values, exported in float64 with three random images; D,
PyTorch's float64 loss (attention by its math kernel) beside `curvscope info`'s."""
import pathlib
import subprocess, sys, warnings
import numpy as np, torch, timm
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
from export_pytorch import export, Unsupported
warnings.simplefilter("ignore")
RMS = dict(norm_layer="rmsnorm")
# (net, image size, keyword arguments); mixers and ViTs are told the image size.
NETS = [*((name, 32, dict(img_size=32)) for name in (
            "gmlp_ti16_224", "gmlp_s16_224", "mixer_s16_224", "mixer_b16_224", "resmlp_12_224",
            "resmlp_24_224", "gmixer_12_224", "gmixer_24_224")),
        ("mixer_s32_224", 64, dict(img_size=64)),
        ("vit_tiny_patch16_224", 32, dict(img_size=32, **RMS)),
        ("vit_small_patch16_224", 32, dict(img_size=32, **RMS, global_pool="avg",
                                           class_token=False)),
        *((name, 64, {}) for name in ("poolformer_s12", "poolformerv2_s12", "convformer_s18",
                                      "fastvit_s12", "mobileone_s0"))]
for name, size, kw in NETS:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, **kw)
    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__ in ("LayerNorm", "RmsNorm", "GroupNorm1", "GroupNorm1NoBias"):
                m.weight.uniform_(0.5, 1.5)
                if getattr(m, "bias", None) is not None: m.bias.uniform_(-0.3, 0.3)
        for n, p in model.named_parameters():
            if n.endswith(("alpha", "beta", "ls1", "ls2")): p.normal_(0.5, 0.5)
            if n.endswith("scale"): p.uniform_(0.5, 1.5)
            if n.endswith("act1.bias") or n.endswith("act2.bias"): p.uniform_(-0.5, 0.5)
            if n.endswith(("cls_token", "pos_embed")): p.normal_(0.0, 0.5)
            if n.startswith("head"): p.normal_(0.0, 0.05)
            if "gate.proj" in n: p.normal_(1.0 if n.endswith("bias") else 0.0, 0.3)
    model.eval()
    out = f"/tmp/mix45/{name}-{size}-{'_'.join(f'{k}{v}' for k, v in kw.items())}"
    try:
        export(model, (3, size, size), out, dtype=torch.float64)
    except Unsupported as e:
        print(name, kw, "REFUSED", str(e)[:300]); continue
    x = torch.randn(3, 3, size, size); y = torch.randint(0, 10, (3,))
    np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
    m = model.double().eval()
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        loss = torch.nn.functional.cross_entropy(m(x.double()), y).item()
    D = sum(p.numel() for p in m.parameters())
    r = subprocess.run([str(ROOT / "target/release/curvscope"), "info", out, "--data",
                        f"{out}/data.npz"], capture_output=True, text=True)
    got = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("loss")]
    print(name, size, kw or "", D, f"PyTorch {loss!r} curvscope {got[0] if got else r.stderr[-300:]}",
          flush=True)
