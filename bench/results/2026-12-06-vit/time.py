"""A CIFAR-sized vision transformer (or MLP-Mixer, ResMLP, gMLP: ../2026-12-06-mixer) timed in
PyTorch: `python time.py NAME N` builds NAME (below)
with its layer norms, tokens and head drawn as losses.py draws them, exports it in float32 to
/tmp/vit44/NAME with N random 3×32×32 images (seed 1), and prints PyTorch's f32 gradient and
double-backward H·v on 2 threads (medians of 5 and 3; the gradient by PyTorch's fastest
attention kernel, H·v by its math kernel, the one with a double backward)."""
import os, sys, time, warnings
import numpy as np, torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../tools"))
from export_pytorch import export  # noqa: E402
warnings.simplefilter("ignore")
name, n = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
# timm's mixer_s16_224, resmlp_12_224 and gmlp_ti16_224 (their constructors' arguments) on
# 32×32 in patches of 4: 64 tokens.
MIXERS = {"timm_mixer_s_p4": dict(num_blocks=8, embed_dim=512),
          "timm_resmlp_12_p4": dict(num_blocks=12, embed_dim=384, mlp_ratio=4,
                                    block_layer="ResBlock", norm_layer="Affine"),
          "timm_gmlp_ti_p4": dict(num_blocks=30, embed_dim=128, mlp_ratio=6,
                                  block_layer="SpatialGatingBlock", mlp_layer="GatedMlp")}
if name == "timm_vit_tiny_p4":  # timm's ViT-Tiny on 32×32 in patches of 4: 65 tokens of 192
    import timm
    model = timm.create_model("vit_tiny_patch16_224", num_classes=10, img_size=32, patch_size=4)
elif name in MIXERS:
    from timm.models import mlp_mixer
    kw = {k: getattr(mlp_mixer, v) if k.endswith("layer") else v for k, v in MIXERS[name].items()}
    model = mlp_mixer.MlpMixer(num_classes=10, img_size=32, patch_size=4, **kw)
else:  # torchvision's ViT, 6 blocks of 8 heads, 256 features, patches of 4
    from torchvision.models.vision_transformer import VisionTransformer
    model = VisionTransformer(image_size=32, patch_size=4, num_layers=6, num_heads=8,
                              hidden_dim=256, mlp_dim=512, num_classes=10)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
    for k, p in model.named_parameters():
        if k.endswith(("class_token", "cls_token", "pos_embedding", "pos_embed")):
            p.normal_(0.0, 0.5)
        if k.startswith(("head", "heads")):
            p.normal_(0.0, 0.05)
model.eval()
out = f"/tmp/vit44/{name}"
if not os.path.exists(out):
    export(model, (3, 32, 32), out)
torch.manual_seed(1)
x = torch.randn(n, 3, 32, 32); y = torch.randint(0, 10, (n,))
np.savez(f"{out}/data.npz", x=x.numpy(), y=y.numpy())
torch.set_num_threads(2)
params = list(model.parameters())
def grad():
    loss = torch.nn.functional.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, params)
def hvp(v):
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
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
D = sum(p.numel() for p in params)
print(f"D = {D}: PyTorch f32 2 threads: grad median {sorted(ts)[2]:.3f} s, hvp median {sorted(hs)[1]:.3f} s")
