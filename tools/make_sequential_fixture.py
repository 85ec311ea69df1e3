#!/usr/bin/env python3
"""Writes the sequential fixtures of crates/model/tests/data, each a net exported by
export_pytorch.py in float64 with random inputs and what PyTorch computes for it in float64 in
eval mode: logits, mean cross-entropy, its gradient and H·v (double backward) for a fixed random
v. Run once with torch 2.x: `python tools/make_sequential_fixture.py
[sequential|activations|more-activations|normalization|residual|traced|grouped|concat|product|
shuffle|channels-last|functional|vit|tokens|mixer|metaformer|padding|std-conv|eca|grn|blur|
split-attention|gate|focal]`
(all by default; residual, product, shuffle, channels-last, vit and tokens need torchvision,
padding, std-conv, eca, grn, blur, split-attention and focal need timm).

- sequential-pytorch: every_layer_net (every layer kind but the smooth activations below), batch
  norm's running statistics and affine parameters set away from their initial values, 8 random
  float32 images [3, 16, 16] with labels in 0..5.
- activations-pytorch: smooth_activations_net (GELU both ways, SiLU, ELU, Softplus), 16
  standard normal float32 samples [2, 6, 6] with labels in 0..4.
- more-activations-pytorch: more_activations_net (Hardswish, PReLU per channel and shared, Mish,
  Hardtanh, ReLU6), the linear layers before Hardtanh and ReLU6 scaled by 3 and 25 so that
  their inputs pass the corners, 16
  float32 samples [2, 6, 6] of 3 × standard normal with labels in 0..4; every piece of each
  piecewise activation is taken.
- normalization-pytorch: normalization_net (layer norm over maps, over their last axis, over
  features, without β, without γ and β; group norm on maps and on features; batch norm without
  β on maps, without γ and β on features), its γ and β set away from 1 and 0 and batch norm's
  running statistics away from 0 and 1, 16 standard normal float32 samples [4, 5, 5] with labels in
  0..4.
- residual-pytorch: residual_net (torchvision's BasicBlock, with and without its downsampling
  shortcut, and Bottleneck; a `Residual` on features), batch norm's statistics and affine
  parameters set away from their initial values, 16 standard normal float32 images [3, 8, 8]
  with labels in 0..5.
- traced-pytorch: traced_net (a small ResNet written as classes with functional layers, read
  from its forward by torch.fx), batch norm set as in residual-pytorch, 16 standard normal
  float32 images [3, 16, 16] with labels in 0..5.
- grouped-pytorch: grouped_net (grouped, depthwise and dilated convolutions: MobileNetV2's
  inverted residual block, a ResNeXt-style grouped 3×3, a dilated one with padding='same'),
  batch norm set as in residual-pytorch, 16 standard normal float32 images [3, 12, 12] with
  labels in 0..5.
- concat-pytorch: concat_net (concatenations: kuangliu's DenseNet layers, a torchvision-style
  dense block, an Inception module, flat features joined), batch norm set as in
  residual-pytorch, 16 standard normal float32 images [3, 8, 8] with labels in 0..5.
- product-pytorch: product_net (products of paths: MobileNetV3's and EfficientNet's blocks with
  torchvision's squeeze-and-excitation, a scale read second, a gated linear unit, a gate on
  features), batch norm set as in residual-pytorch, 16 standard normal float32 images
  [3, 8, 8] with labels in 0..5.
- shuffle-pytorch: shuffle_net (torchvision's ShuffleNetV2 blocks, split by `x.chunk(2, dim=1)`
  and shuffled by its `channel_shuffle`; nn.ChannelShuffle; a gated linear unit and parts of a
  split by sizes on features), batch norm set as in residual-pytorch, 16 standard normal float32
  images [3, 8, 8] with labels in 0..5.
- channels-last-pytorch: channels_last_net (a small ConvNeXt: torchvision's LayerNorm2d and
  CNBlock, timm's block with its layer scale among channels-last values, a hand-written
  LayerNorm2d), every layer norm's γ, β and layer scale drawn away from their initial values,
  16 standard normal float32 images [3, 8, 8] with labels in 0..5. Its θ, gradient and H·v
  list the parameters in curvscope's order (`parameter_order`: CNBlock's layer scale after its
  block's), as every fixture's do.
- functional-pytorch: functional_net (timm's way: `BatchNormAct2d` and `Linear` calling
  F.batch_norm and F.linear with their own tensors, batch norm on features the same way, layer
  scales stored [C] and viewed [1, C, 1, 1] by view, reshape and unsqueeze), batch norm set as in
  residual-pytorch and the scales drawn from U(0.5, 1.5), 16 standard normal float32 images
  [3, 8, 8] with labels in 0..5; in curvscope's parameter order, as channels-last-pytorch.
- vit-pytorch: vit_net (torchvision's VisionTransformer, 2 encoder blocks of 2 heads, 8
  features), every layer norm's γ, β, the class token, the position embedding and the head
  (torchvision's starts at 0) drawn away from their initial values, 16 standard normal float32 images [3, 8, 8] with labels in 0..5;
  in curvscope's parameter order (the class token after the patch convolution).
- tokens-pytorch: tokens_net (timm's ways: `flatten(2).transpose(1, 2)`, a position embedding
  stored [T, E], attention without biases scaled by a layer scale, a layer norm over [T, E],
  the tokens flattened), drawn as vit-pytorch and the layer scale from U(0.5, 1.5), 16 standard
  normal float32 images [3, 8, 8] with labels in 0..5; in curvscope's parameter order.
- mixer-pytorch: mixer_net (MLP-Mixer, ResMLP and gMLP blocks and a gated MLP, timm's ways:
  tokens transposed for MLPs across them, timm's `Affine` by `torch.addcmul`, an affine written
  `alpha * x + beta`, layer scales, a shift of the patch convolution's maps, tokens' features
  split in halves and multiplied, RMS norms by `nn.RMSNorm` with and without ε, `F.rms_norm`
  without γ and timm's `RmsNorm`), every layer and RMS norm's γ, β, every scale and shift
  drawn away from their initial values, 16 standard normal float32 images [3, 8, 8] with
  labels in 0..5; in curvscope's parameter order.
- metaformer-pytorch: metaformer_net (PoolFormer's `pool(x) - x` after a group norm without β,
  StarReLU's `s * relu(x) ** 2 + b` of one-value parameters, a sum with 0, differences and
  squares of paths), group norms' γ, the layer scale and StarReLU's s and b drawn away from their
  initial values, 16 standard normal float32 images [3, 8, 8] with labels in 0..5; in
  curvscope's parameter order.
- padding-pytorch: padding_net (uneven zero padding: nn.ZeroPad2d, nn.ConstantPad2d of zeros,
  padding='same' of an even and of a dilated kernel, timm's Conv2dSame at strides 2 and (2, 3),
  F.pad of rows, columns and channels), batch norm set as in residual-pytorch, 16 standard normal
  float32 images [3, 9, 9] with labels in 0..5.
- std-conv-pytorch: std_conv_net (timm's weight-standardised convolutions: StdConv2d,
  StdConv2dSame, ScaledStdConv2d grouped, ScaledStdConv2dSame dilated), the Scaled ones' gains
  and the group norm's γ drawn from U(0.5, 1.5), 16 standard normal float32 images [3, 10, 10]
  with labels in 0..5.
- eca-pytorch: eca_net (timm's EcaModule with kernels 3 and 5 after convolutions), batch norm
  set as in residual-pytorch and the ECA convolutions' weights drawn from N(0, 1) (PyTorch's
  init is small for a kernel of 3 or 5), 16 standard normal float32 images [3, 8, 8] with
  labels in 0..5.
- grn-pytorch: grn_net (timm's GlobalResponseNorm on maps, with a channel of norm 0, and in
  ConvNeXtBlocks with 1×1-convolution and with linear MLPs; γ, β ~ N(0, 1)), 16 standard normal
  float32 images [3, 8, 8] with labels in 0..5.
- blur-pytorch: blur_net (timm's SpaceToDepth, its BlurPool2d padding by reflection,
  replication, circularly and with zeros, and a space-to-depth written as a view, a permute
  and a view), 16 standard normal float32 images [3, 32, 32] with labels in 0..5.
- split-attention-pytorch: split_attention_net (timm's SplitAttn of radix 2 in 2 groups and of
  radix 1, its SelectiveKernel of three paths and of two on runs of the channels), batch norm
  set as in residual-pytorch, 16 standard normal float32 images [3, 8, 8] with labels in 0..5.
- gate-pytorch: gate_net (a spatial gate [1, H, W] times maps, a scale [C, 1, 1] times a gate
  [1, H, W], as PyTorch broadcasts them), 16 standard normal float32 images [3, 8, 8] with
  labels in 0..5.
- focal-pytorch: focal_net (timm's FocalModulation of two focal levels with its layer norm and
  normalize_modulator, and of one level), its layer norm's γ and β drawn away from 1 and 0, 16
  standard normal float32 images [3, 8, 8] with labels in 0..5.
"""

import contextlib
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from export_pytorch import (_RmsNorm, channels_last_net, concat_net,  # noqa: E402
                            every_layer_net, export, functional_net, grouped_net,
                            metaformer_net, mixer_net,
                            more_activations_net, normalization_net, padding_net,
                            std_conv_net, eca_net, grn_net, blur_net,
                            split_attention_net, gate_net, focal_net,
                            parameter_order,
                            product_net, residual_net, shuffle_net, smooth_activations_net,
                            tokens_net, traced_net, vit_net)

DATA = os.path.join(os.path.dirname(__file__), "..", "crates/model/tests/data")


def write(model, x, y, seed, out):
    """Exports `model` (float64, eval mode) to `out` with `x`, `y` as data.npz and PyTorch's
    values as expected.npz; returns the loss. Draws v after everything else, as it always has.
    The gradient and H·v (double backward) run through hardsigmoid written as relu6(x + 3)/6:
    the same function, but PyTorch's own has no double backward, and its backward is not exact
    in float64 (below)."""
    export(model, tuple(x.shape[1:]), out, dtype=torch.float64, step=0, seed=seed,
           note="made by tools/make_sequential_fixture.py with torch " + torch.__version__)
    np.savez(os.path.join(out, "data.npz"), x=x.numpy(), y=y.numpy())
    named = dict(model.named_parameters())
    params = [named[name] for name in parameter_order(model, tuple(x.shape[1:]))]
    theta = torch.cat([p.detach().reshape(-1) for p in params])
    v = torch.randn(theta.numel(), dtype=torch.float64)
    logits = model(x.double())
    loss = torch.nn.functional.cross_entropy(logits, y)
    own = torch.autograd.grad(loss, params, create_graph=True)
    with twice_differentiable_hardsigmoid(model):
        loss = torch.nn.functional.cross_entropy(model(x.double()), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
    # PyTorch's own hardsigmoid backward (2.15, CPU) scales by 1/6 rounded to float32
    # (0.1666666716…) even in float64: its gradient is 3e-8 off, relative, where the rewritten
    # one is exact. Elsewhere the two are one computation.
    scale = max(g.abs().max().item() for g in grads)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-7 * scale) for a, b in zip(own, grads))
    grad = torch.cat([g.reshape(-1) for g in grads])
    hvp = torch.autograd.grad(grad @ v, params)
    hvp = torch.cat([h.reshape(-1) for h in hvp])
    np.savez(os.path.join(out, "expected.npz"), theta=theta.numpy(),
             logits=logits.detach().numpy(), loss=loss.detach().numpy(),
             grad=grad.detach().numpy(), v=v.numpy(), hvp=hvp.numpy())
    print(f"wrote {out}: D = {theta.numel()}, loss = {loss.item():.6f}")


@contextlib.contextmanager
def twice_differentiable_hardsigmoid(model):
    """Runs each `nn.Hardsigmoid` of `model` as relu6(x + 3)/6 within the block."""
    hard = [m for m in model.modules() if isinstance(m, torch.nn.Hardsigmoid)]
    for module in hard:
        module.forward = lambda x: torch.nn.functional.relu6(x + 3) / 6
    try:
        yield
    finally:
        for module in hard:
            del module.forward


def trained_batch_norm(model):
    """Sets every batch norm's running statistics and γ, β (where it has them) away from their
    initial values, as training would (`model` double, then in eval mode)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                if module.weight is not None:
                    module.weight.uniform_(0.5, 1.5)
                if module.bias is not None:
                    module.bias.uniform_(-0.5, 0.5)
                module.num_batches_tracked.fill_(7)
    model.eval()


def sequential():
    torch.manual_seed(2019)
    model = every_layer_net().double()
    trained_batch_norm(model)
    x = torch.rand(8, 3, 16, 16, dtype=torch.float32)
    y = torch.randint(0, 5, (8,), dtype=torch.int64)
    write(model, x, y, 2019, os.path.join(DATA, "sequential-pytorch"))


def activations():
    torch.manual_seed(2026)
    model = smooth_activations_net().double().eval()
    x = torch.randn(16, 2, 6, 6, dtype=torch.float32)
    y = torch.randint(0, 4, (16,), dtype=torch.int64)
    # Softplus(beta=2, threshold=0.2) is linear where 2z > 0.2: both branches must be taken.
    z = model[:10](x.double())
    linear = int((2 * z > 0.2).sum())
    assert 0 < linear < z.numel(), f"{linear} of {z.numel()} softplus inputs past the threshold"
    print(f"softplus: {linear} of {z.numel()} inputs past the threshold")
    write(model, x, y, 2026, os.path.join(DATA, "activations-pytorch"))


def more_activations():
    torch.manual_seed(2028)
    model = more_activations_net().double().eval()
    with torch.no_grad():
        model[6].weight.mul_(3.0)
        model[8].weight.mul_(25.0)
    x = 3 * torch.randn(16, 2, 6, 6, dtype=torch.float32)
    y = torch.randint(0, 4, (16,), dtype=torch.int64)
    inputs = {}
    hooks = [model[index].register_forward_hook(
        lambda module, args, out, index=index: inputs.__setitem__(index, args[0]))
        for index in [1, 2, 7, 9, 11]]
    model(x.double())
    for hook in hooks:
        hook.remove()
    # Every piece of each piecewise activation is taken.
    for index, corners in [(1, (-3, 3)), (7, (-0.5, 0.5)), (9, (0, 6)), (2, (0,)), (11, (0,))]:
        z = inputs[index]
        edges = [-float("inf"), *corners, float("inf")]
        counts = [int(((z > lo) & (z < hi)).sum()) for lo, hi in zip(edges, edges[1:])]
        assert all(counts), (index, counts)
        print(f"layer {index} ({type(model[index]).__name__}): {counts} of {z.numel()} inputs")
    write(model, x, y, 2028, os.path.join(DATA, "more-activations-pytorch"))


def normalization():
    torch.manual_seed(2027)
    model = normalization_net().double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.BatchNorm1d,
                                   torch.nn.BatchNorm2d)):
                if module.weight is not None:
                    module.weight.uniform_(0.5, 1.5)
                if module.bias is not None:
                    module.bias.uniform_(-0.5, 0.5)
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(7)
    x = torch.randn(16, 4, 5, 5, dtype=torch.float32)
    y = torch.randint(0, 4, (16,), dtype=torch.int64)
    write(model, x, y, 2027, os.path.join(DATA, "normalization-pytorch"))


def image_fixture(seed, net, image, name, prepare=lambda model: None):
    """A small image net's fixture: `net()` with batch norm set as training would, then
    `prepare(model)` (without gradients), 16 standard normal images of shape `image`, labels
    in 0..5."""
    torch.manual_seed(seed)
    model = net().double()
    trained_batch_norm(model)
    with torch.no_grad():
        prepare(model)
    x = torch.randn(16, *image, dtype=torch.float32)
    y = torch.randint(0, 5, (16,), dtype=torch.int64)
    write(model, x, y, seed, os.path.join(DATA, name))


def draw_layer_scales(model, names):
    """Every parameter whose name ends in one of `names` drawn from U(0.5, 1.5)."""
    for name, parameter in model.named_parameters():
        if name.endswith(names):
            parameter.uniform_(0.5, 1.5)


def traced():
    image_fixture(2030, traced_net, (3, 16, 16), "traced-pytorch")


def residual():
    image_fixture(2029, residual_net, (3, 8, 8), "residual-pytorch")


def grouped():
    image_fixture(2031, grouped_net, (3, 12, 12), "grouped-pytorch")


def concat():
    image_fixture(2032, concat_net, (3, 8, 8), "concat-pytorch")


def product():
    image_fixture(2033, product_net, (3, 8, 8), "product-pytorch")


def shuffle():
    image_fixture(2034, shuffle_net, (3, 8, 8), "shuffle-pytorch")


def channels_last():
    def prepare(model):  # layer norms' γ, β and the layer scales away from 1, 0 and 1e-6
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):  # LayerNorm2d too
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        draw_layer_scales(model, ("layer_scale", "gamma"))
    image_fixture(2035, channels_last_net, (3, 8, 8), "channels-last-pytorch", prepare)


def functional():
    image_fixture(2036, functional_net, (3, 8, 8), "functional-pytorch",
                   lambda model: draw_layer_scales(model, ("gamma", "beta")))


def draw_transformer(model):
    """Layer norms' γ, β, class tokens and position embeddings away from 1, 0 and 0."""
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
    for name, parameter in model.named_parameters():
        if name.endswith(("class_token", "cls_token", "pos_embedding", "pos_embed")):
            parameter.normal_(0.0, 0.5)


def vit():
    def prepare(model):  # torchvision starts its head at 0: every logit would be 0
        draw_transformer(model)
        model.heads.head.weight.normal_(0.0, 0.5)
        model.heads.head.bias.uniform_(-0.5, 0.5)
    image_fixture(2037, vit_net, (3, 8, 8), "vit-pytorch", prepare)


def tokens():
    def prepare(model):
        draw_transformer(model)
        draw_layer_scales(model, ("gamma",))
    image_fixture(2038, tokens_net, (3, 8, 8), "tokens-pytorch", prepare)


def mixer():
    def prepare(model):
        draw_transformer(model)
        for module in model.modules():  # RMS norms' γ away from 1
            if isinstance(module, (torch.nn.RMSNorm, _RmsNorm)):
                module.weight.uniform_(0.5, 1.5)
        draw_layer_scales(model, ("ls1", "ls2", "alpha"))
        for name, parameter in model.named_parameters():
            if name.endswith(("beta", "patch_bias")):
                parameter.uniform_(-0.5, 0.5)
    image_fixture(2039, mixer_net, (3, 8, 8), "mixer-pytorch", prepare)


def metaformer():
    def prepare(model):
        draw_layer_scales(model, ("norm1.weight", "norm2.weight", "ls1", "act.scale"))
        model.act.bias.uniform_(-0.5, 0.5)
    image_fixture(2040, metaformer_net, (3, 8, 8), "metaformer-pytorch", prepare)


def padding():
    image_fixture(2041, padding_net, (3, 9, 9), "padding-pytorch")


def std_conv():
    def prepare(model):
        draw_layer_scales(model, ("gain", "gn.weight"))
    image_fixture(2042, std_conv_net, (3, 10, 10), "std-conv-pytorch", prepare)


def grn():
    image_fixture(2044, grn_net, (3, 8, 8), "grn-pytorch")


def blur():
    image_fixture(2046, blur_net, (3, 32, 32), "blur-pytorch")


def split_attention():
    image_fixture(2047, split_attention_net, (3, 8, 8), "split-attention-pytorch")


def gate():
    image_fixture(2048, gate_net, (3, 8, 8), "gate-pytorch")


def focal():
    def prepare(model):
        model.focal.norm.weight.uniform_(0.5, 1.5)
        model.focal.norm.bias.uniform_(-0.5, 0.5)
    image_fixture(2049, focal_net, (3, 8, 8), "focal-pytorch", prepare)


def eca():
    def prepare(model):
        model.eca.conv.weight.normal_()
        model.eca2.conv.weight.normal_()
    image_fixture(2043, eca_net, (3, 8, 8), "eca-pytorch", prepare)


if __name__ == "__main__":
    makers = {"sequential": sequential, "activations": activations,
              "more-activations": more_activations, "normalization": normalization,
              "residual": residual, "traced": traced, "grouped": grouped,
              "concat": concat, "product": product, "shuffle": shuffle,
              "channels-last": channels_last, "functional": functional, "vit": vit,
              "tokens": tokens, "mixer": mixer, "metaformer": metaformer, "padding": padding,
              "std-conv": std_conv, "eca": eca, "grn": grn,
              "blur": blur, "split-attention": split_attention,
              "gate": gate, "focal": focal}
    # Attention by its math, the one kernel of PyTorch's scaled dot-product attention with a
    # double backward (H·v).
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):
        for name in sys.argv[1:] or makers:
            makers[name]()
