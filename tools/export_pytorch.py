#!/usr/bin/env python3
"""Export a PyTorch model as a curvscope checkpoint (model.safetensors + checkpoint.json).

    import sys; sys.path.insert(0, "tools")
    from export_pytorch import export
    export(model, input_shape=(3, 32, 32), out="my-checkpoint",
           normalize=([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]))  # if trained so

The model is built of Conv2d (and timm's Conv2dSame, and its weight-standardised StdConv2d,
ScaledStdConv2d and their "SAME" forms), timm's ECA attention (EcaModule), timm's global
response norm (GlobalResponseNorm, ConvNeXt V2's GRN), timm's anti-aliased downsampling
(BlurPool2d: ResNet-blur, TResNet) and space-to-depth (TResNet's stem), timm's attention across
paths (SplitAttn: ResNeSt; SelectiveKernel: SKNet), timm's focal modulation (FocalModulation:
FocalNet), Linear, MaxPool2d,
AvgPool2d (and timm's MaxPool2dSame and AvgPool2dSame), AdaptiveAvgPool2d, Flatten, ReLU,
LeakyReLU, Tanh,
Sigmoid, GELU, SiLU, ELU, Softplus, Mish, Hardtanh, ReLU6, Hardsigmoid, Hardswish, PReLU, GLU,
Identity, Unflatten, ChannelShuffle, ZeroPad2d, ConstantPad2d of zeros, Dropout (also 1d, 2d and
AlphaDropout: the identity in eval mode), BatchNorm1d, BatchNorm2d, LayerNorm, RMSNorm,
GroupNorm and InstanceNorm2d (without running statistics: group norm of one channel per group),
and residual sums: an nn.Sequential (nested groups, torchvision's ResNet BasicBlock and
Bottleneck, and `Residual` below allowed) is read module by module; any other model is read
from its forward by torch.fx (`_traced_layers`: the same modules, their functional forms,
reshapes, channel shuffles and splits, sums and products of two paths, concatenations of
channels). Anything else is refused, naming the module or the step of forward. Tensors keep
their state_dict names (torchvision's `features.0.weight` load unchanged); batch norm's
running statistics are written too and are constants in curvscope (eval mode), not
parameters. Every export is checked: the layers written, run by PyTorch's functional ops, must
give the model's own class scores on random inputs (`_check_same_function`).

`python tools/export_pytorch.py --self-check` exports nets using every layer kind, reads the
files back and checks them, checks traced forwards, and checks that what cannot be expressed
is refused.
"""

import collections
import copy
import functools
import importlib
import inspect
import itertools
import json
import math
import os
import sys
import warnings

import torch
import torch.fx
from torch import nn
from torch.nn import functional as F


class Unsupported(ValueError):
    """A module curvscope cannot express, named by its state_dict prefix."""


def _size2(value, what, where):
    """A height/width: one number when equal, else [h, w] (curvscope's Size2); `where` names
    the module or the step of forward that gives it."""
    if isinstance(value, str):
        raise Unsupported(f"{where}: {what}={value!r} (give sizes as numbers)")
    if isinstance(value, int):
        return value
    if len(value) == 1:  # PyTorch reads (k,) as (k, k)
        return value[0]
    h, w = value
    return h if h == w else [h, w]


def _refuse_unless(condition, name, module, reason):
    if not condition:
        raise Unsupported(f"module `{name}` ({type(module).__name__}): {reason}")


def _is(module, *kinds):
    """Whether `module` is exactly one of `kinds`. Not isinstance: a subclass may override
    forward (a residual Sequential, a weight-standardised Conv2d), and exporting it as its base
    would silently analyze another function."""
    return type(module) in kinds


def _refuse_hooks(name, module):
    lazy = isinstance(module, nn.modules.lazy.LazyModuleMixin)
    _refuse_unless(not (lazy and module.has_uninitialized_params()), name, module,
                   "a lazy module not yet initialised: run the model once first")
    hooks = [module._forward_hooks, module._forward_pre_hooks]
    _refuse_unless(not any(hooks), name, module,
                   "forward hooks change what it computes and cannot be exported")


def _padding(module, name, given):
    """Conv2d's padding as numbers: 'valid' is 0, and an even "SAME" padding
    (`_same_padding`) half of it on each side; an uneven one is a pad2d layer before the
    convolution (`_module_layers`), which itself then pads 0."""
    same = _same_padding(name, module, given)
    if same is not None:
        if _uneven(same):
            return 0
        return _size2(tuple(total // 2 for total in same), "padding", f"module `{name}`")
    if module.padding == "valid":
        return 0
    return _size2(module.padding, "padding", f"module `{name}`")


def _same_padding(name, module, given):
    """The rows and columns ([height, width]) a convolution or pooling pads to keep "SAME"
    outputs, or None where it pads by numbers. PyTorch's padding='same' (stride 1) pads
    dilation·(kernel − 1); timm's "SAME" modules (`_timm_same`: `Conv2dSame`, `MaxPool2dSame`
    and `AvgPool2dSame` of its `tf_*` nets, the standardised convolutions' "SAME" forms) pad as
    TensorFlow's "SAME", what ⌈size/stride⌉ outputs need of an input of that size (timm's
    `get_same_padding`), so it is known only where forward was traced. All put an odd one's
    extra row or column after (below, on the right)."""
    if _timm_same(module):
        _refuse_unless(given is not None, name, module, "its padding depends on its input's "
                       "size, known only from a traced forward")
        # Sizes as pairs, as all of them hold them (AvgPool2dSame has no dilation).
        return [max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
                for size, k, s, d in zip(given.shape[-2:], module.kernel_size, module.stride,
                                         getattr(module, "dilation", (1, 1)))]
    if getattr(module, "padding", None) == "same":
        return [d * (k - 1) for k, d in zip(module.kernel_size, module.dilation)]
    return None


def _uneven(same):
    """Whether a "SAME" padding (`_same_padding`) puts one more row or column after than
    before, which a convolution's own padding cannot."""
    return any(total % 2 for total in same)


def _timm(module, *names):
    """The name of `module`'s class where it is timm's class of one of `names` (not a
    subclass), else None. Named rather than imported: the exporter does not need timm."""
    kind = type(module)
    ours = kind.__name__ in names and kind.__module__.startswith("timm.")
    return kind.__name__ if ours else None


# timm's weight-standardised convolutions (BiT's ResNet-v2, the ViT hybrids, NF-ResNets and
# NFNets): nn.Conv2d subclasses whose forward standardises each filter first (`_layer`).
_TIMM_STD_CONVS = ("StdConv2d", "StdConv2dSame", "ScaledStdConv2d", "ScaledStdConv2dSame")


def _timm_same(module):
    """The name of timm's "SAME" module `module` is (`Conv2dSame`, `MaxPool2dSame`,
    `AvgPool2dSame`, and `StdConv2dSame` or `ScaledStdConv2dSame` where its `same_pad` is set),
    whose forward pads the input by `pad_same` and then convolves or pools it without padding;
    None for any other."""
    same = _timm(module, "Conv2dSame", "MaxPool2dSame", "AvgPool2dSame", "StdConv2dSame",
                 "ScaledStdConv2dSame")
    return same if getattr(module, "same_pad", True) else None


def _module_layers(name, module, seen, given=None):
    """The curvscope layers of one module (`_layer`): one, or a pad2d layer of the zeros it
    pads (`_same_padding`) and the layer: before a convolution that pads unevenly, and before
    timm's `AvgPool2dSame` (its zeros count in the means as the pixels they pad)."""
    layer = _layer(name, module, seen, given)
    same = _same_padding(name, module, given) if layer["type"] in ("conv2d", "avgpool2d") \
        else None
    if same is None or not any(same) or (layer["type"] == "conv2d" and not _uneven(same)):
        return [layer]
    (top, bottom), (left, right) = ((total // 2, total - total // 2) for total in same)
    return [{"type": "pad2d", "left": left, "right": right, "top": top, "bottom": bottom},
            layer]


# Dropout1d came with torch 1.12.
_DROPOUTS = tuple(getattr(nn, kind)
                  for kind in ("Dropout", "Dropout1d", "Dropout2d", "AlphaDropout")
                  if hasattr(nn, kind))
_DROPOUT_FUNCTIONS = ("dropout", "dropout1d", "dropout2d", "alpha_dropout")

# torch.nn modules that are the torch.nn.functional function named, with the module's
# attributes as its arguments (`_FUNCTIONS`): one reading, one set of checks, for both.
_MODULE_FUNCTIONS = {
    nn.LeakyReLU: "leaky_relu", nn.GELU: "gelu", nn.ELU: "elu", nn.Softplus: "softplus",
    nn.Hardtanh: "hardtanh", nn.MaxPool2d: "max_pool2d", nn.AvgPool2d: "avg_pool2d",
    nn.AdaptiveAvgPool2d: "adaptive_avg_pool2d", nn.GLU: "glu",
    **{kind: "dropout" for kind in _DROPOUTS},
}


def _holds_tensors(module):
    """Whether `module` has parameters or buffers in its `state_dict` (which each use would need
    its own of); a buffer left out of it (timm's blur filter) is a constant its layer
    computes."""
    return bool(module.state_dict())


def _layer(name, module, seen, given=None):
    """The curvscope layer JSON (without its name) of one module; `seen` maps the modules
    exported so far to their names (see `_layers`); `given`, the value it runs on where forward
    was traced."""
    check = lambda ok, why: _refuse_unless(ok, name, module, why)  # noqa: E731
    _refuse_hooks(name, module)
    if _is(module, nn.Sequential):
        return {"type": "group", "layers": _layers(module, name, seen)}
    if _is(module, Residual):  # as a Residual's body or shortcut
        return _residual(name, module, seen)[0]
    check(not _is_torchvision_block(module),
          "a torchvision block directly inside a Residual: wrap it in an nn.Sequential")
    standardised = _timm(module, *_TIMM_STD_CONVS)
    if _is(module, nn.Conv2d) or _timm(module, "Conv2dSame") or standardised:
        check(module.padding_mode == "zeros", "only zero padding is supported")
        where = f"module `{name}`"
        conv = {
            "type": "conv2d",
            "out": module.out_channels,
            "kernel": _size2(module.kernel_size, "kernel_size", where),
            "stride": _size2(module.stride, "stride", where),
            "padding": _padding(module, name, given),
        }
        # Written only where they are not 1, so that earlier exports read the same.
        dilation = _size2(module.dilation, "dilation", where)
        if dilation != 1:
            conv["dilation"] = dilation
        if module.groups != 1:
            conv["groups"] = module.groups
        conv["bias"] = module.bias is not None
        if standardised:
            # F.batch_norm of the filters with timm's eps, and weight gain · scale (Scaled*).
            scaled = {}
            if standardised.startswith("Scaled"):
                gain = list(module.gain.shape)
                check(gain == [module.out_channels, 1, 1, 1],
                      f"its gain has shape {gain}, not [out, 1, 1, 1]")
                scaled = {"gain": True, "scale": float(module.scale)}
            conv["standardize"] = {"eps": float(module.eps), **scaled}
        return conv
    if _is(module, nn.Linear):
        return {"type": "linear", "out": module.out_features, "bias": module.bias is not None}
    # timm's "SAME" poolings are the functions of their base classes, their own padding 0.
    timm_pool = {"MaxPool2dSame": "max_pool2d", "AvgPool2dSame": "avg_pool2d"}.get(
        _timm_same(module))
    if _is(module, *_MODULE_FUNCTIONS) or timm_pool:
        function = timm_pool or _MODULE_FUNCTIONS[type(module)]
        # An argument the module lacks keeps its default (GELU before torch 1.12: no
        # `approximate`); dropout's `training` is the module's, False in eval mode.
        args = {**_FUNCTIONS[function], **{a: getattr(module, a) for a in _FUNCTIONS[function]
                                           if hasattr(module, a)}}
        if timm_pool == "max_pool2d":
            # An average pooling's "SAME" zeros are a pad2d layer before it (`_module_layers`);
            # a max pooling's −∞ are maxpool2d's `padding`, half of each total, with
            # `ceil_mode` for the last window that an odd total's extra row cuts short (a row
            # of −∞ is never the maximum): the same windows wherever the stride is at least 2
            # (checked against timm on all sizes ≤ 11, kernels ≤ 5, strides ≤ 4). At stride 1
            # an odd total would need one more window than ceil mode gives.
            same = _same_padding(name, module, given)
            check(all(total % 2 == 0 or s > 1 for total, s in zip(same, args["stride"])),
                  f"a \"SAME\" padding of {same} rows and columns at stride 1, one of them odd, "
                  "is not expressible as max pooling's padding")
            # timm hands its ceil_mode to nn.MaxPool2d where that takes return_indices; its
            # forward passes neither to F.max_pool2d, so it never returns indices.
            args = {**args, "padding": tuple(total // 2 for total in same), "ceil_mode": True,
                    "return_indices": False}
        [layer] = _function_layers(f"module `{name}` ({type(module).__name__})", function, args,
                                   given)
        return layer
    if _is(module, nn.Flatten):
        check(module.start_dim == 1 and module.end_dim == -1, "only Flatten(1, -1) is supported")
        return {"type": "flatten"}
    if _is(module, nn.Unflatten):
        check(module.dim in (1, -1) and len(module.unflattened_size) == 3,
              "only Unflatten(1, (C, H, W)) of flat features is supported")
        return {"type": "unflatten", "shape": [int(s) for s in module.unflattened_size]}
    if _is(module, nn.ZeroPad2d, nn.ConstantPad2d):
        [layer] = _zero_padding(check, module.padding, "constant", module.value, given) or [
            {"type": "identity"}]
        return layer
    if _is(module, nn.ChannelShuffle):
        return {"type": "channel_shuffle", "groups": module.groups}
    if _is(module, nn.PReLU):
        return {"type": "prelu", "num_parameters": module.num_parameters,
                "init": float(module.init)}
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
              nn.Mish: "mish", nn.ReLU6: "relu6", nn.Hardsigmoid: "hardsigmoid",
              nn.Hardswish: "hardswish", nn.Identity: "identity"}
    if _is(module, *simple):
        return {"type": simple[type(module)]}
    if _is(module, nn.InstanceNorm2d):
        # Without running statistics (its default) it normalizes each sample's channel over
        # its positions in eval mode too: group norm with one channel per group.
        check(not module.track_running_stats, "track_running_stats=True (eval mode then "
              "normalizes by running statistics) is not supported")
        return {"type": "groupnorm", "groups": module.num_features, "eps": module.eps,
                "affine": module.affine}
    if _is(module, nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d):
        # Whether γ and β are there, as forward reads them (layer norm's `bias` came with torch
        # 2.1, batch norm's with 2.15; a module may have either set to None after it was built).
        gamma = getattr(module, "weight", None) is not None
        beta = getattr(module, "bias", None) is not None
        check(gamma or not beta, "β without γ (its weight set to None) is not expressible")
    if _is(module, nn.BatchNorm1d, nn.BatchNorm2d):
        check(module.track_running_stats, "track_running_stats=False (eval mode then "
              "normalizes by the batch's statistics) is not supported")
        kind = "batchnorm1d" if _is(module, nn.BatchNorm1d) else "batchnorm2d"
        return {"type": kind, "eps": module.eps, **_norm_flags(gamma, beta)}
    if _is(module, nn.LayerNorm):
        return {"type": "layernorm", "shape": [int(s) for s in module.normalized_shape],
                "eps": module.eps, "affine": gamma, "bias": beta}
    if _is(module, nn.RMSNorm):
        return _rms_norm(module.normalized_shape, module.eps, gamma)
    if _is(module, nn.GroupNorm):
        layer = {"type": "groupnorm", "groups": module.num_groups, "eps": module.eps,
                 "affine": gamma}
        return {**layer, "bias": False} if gamma and not beta else layer
    if kind := _timm(module, *_TIMM_WHOLE):
        return _TIMM_WHOLE[kind](check, module, given)
    if _is_timm_attention(module) or _is(module, nn.MultiheadAttention):
        check(given is not None and given.dim() == 3, "attention runs on tokens [N, T, E] "
              f"(maps' positions as rows), not on values of shape {list(given.shape[1:])}"
              if given is not None else "attention is read from a traced forward only")
    if _is_timm_attention(module):
        check(all(_is(getattr(module, k, None), nn.Linear) for k in ("qkv", "proj")),
              "its projections qkv and proj are not nn.Linear")
        check(all(_is(getattr(module, k, nn.Identity()), nn.Identity)
                  for k in ("q_norm", "k_norm", "norm")),
              "qk_norm or scale_norm: norms inside attention are not expressible")
        e = given.shape[-1]
        check(module.qkv.in_features == e and module.qkv.out_features == 3 * e
              and (module.proj.in_features, module.proj.out_features) == (e, e),
              f"its projections are not qkv [3E, E] and proj [E, E] of the tokens' E = {e} "
              "(dim_out or attn_head_dim)")
        check(getattr(module, "head_dim", e // module.num_heads) * module.num_heads == e,
              "its heads' widths do not add up to E (attn_head_dim)")
        own = [k for k, _ in module.named_parameters()]
        check(set(own) <= {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"},
              f"it holds tensors beyond qkv and proj ({', '.join(own)}: relative position "
              "biases, separate q and v biases, gates), which curvscope's attention has not")
        bias = module.qkv.bias is not None
        layer = {"type": "attention", "heads": module.num_heads, "bias": bias,
                 "tensors": "timm"}
        if (module.proj.bias is not None) != bias:
            layer["out_bias"] = not bias
        return layer
    if _is(module, nn.MultiheadAttention):
        check(module.batch_first, "batch_first=False (curvscope's tokens are [N, T, E])")
        check(module._qkv_same_embed_dim, "kdim or vdim other than embed_dim")
        check(module.bias_k is None and not module.add_zero_attn,
              "add_bias_kv or add_zero_attn")
        biases = (module.in_proj_bias is not None, module.out_proj.bias is not None)
        check(biases[0] == biases[1], "a bias in one projection and not the other")
        return {"type": "attention", "heads": module.num_heads, "bias": biases[0]}
    raise Unsupported(
        f"module `{name}` ({type(module).__name__}) cannot be expressed in curvscope "
        "(supported: Sequential, Conv2d, Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, "
        "Flatten, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, SiLU, ELU, Softplus, Mish, Hardtanh, "
        "ReLU6, Hardsigmoid, Hardswish, PReLU, GLU, Identity, Unflatten, ChannelShuffle, "
        "ZeroPad2d, ConstantPad2d of zeros, timm's BlurPool2d, SplitAttn, SelectiveKernel and "
        "FocalModulation, "
        "Dropout, Dropout1d, Dropout2d, AlphaDropout, BatchNorm1d, BatchNorm2d, LayerNorm, "
        "RMSNorm, GroupNorm, InstanceNorm2d, MultiheadAttention)"
    )


def _eca(check, module, given):
    """timm's `EcaModule` (ECA-Net's channel attention, of its ecaresnet and eca_nfnet nets): the
    maps times a sigmoid of their channel means convolved along the channels by an
    nn.Conv1d(1, 1, k) — a product block of the identity and adaptive pooling, flatten, conv1d,
    sigmoid, unflatten to [C, 1, 1]. Kept whole while tracing, as its forward reshapes the
    means into the one channel of a 1-D sequence, a shape curvscope has not."""
    check(given is not None and given.dim() == 4, "ECA runs on maps [C, H, W], read from a "
          "traced forward")
    check(getattr(module, "conv2", None) is None, "ECA's MLP mode (use_mlp, a timm experiment) "
          "is not expressible")
    check(_is(module.gate, nn.Sigmoid) or _timm(module.gate, "Sigmoid"),
          f"only a sigmoid gate is expressible, not {type(module.gate).__name__}")
    conv = module.conv
    check(_is(conv, nn.Conv1d) and (conv.in_channels, conv.out_channels, conv.stride,
                                    conv.dilation, conv.groups, conv.padding_mode)
          == (1, 1, (1,), (1,), 1, "zeros") and not isinstance(conv.padding, str),
          "its convolution is not nn.Conv1d(1, 1, k, padding=p) of zeros")
    conv1d = {"name": "conv", "type": "conv1d", "kernel": conv.kernel_size[0],
              "padding": conv.padding[0], "bias": conv.bias is not None}
    channels = int(given.shape[1])
    return {"type": "product", "branches": [[], [
        {"type": "adaptive_avgpool2d", "output": 1}, {"type": "flatten"}, conv1d,
        {"type": "sigmoid"}, {"type": "unflatten", "shape": [channels, 1, 1]}]]}


def _global_response_norm(check, module, given):
    """timm's `GlobalResponseNorm` (ConvNeXt V2's GRN): each channel's L2 norm over the
    positions relative to their mean over the channels. Kept whole while tracing (its forward's
    `x.norm` over two axes is no layer of its own); on maps, or with `channels_last=True` on
    the values of a `channels_last` block, where curvscope's layer reads the maps' positions
    too (`_Trace.step` checks the layout)."""
    layout = {(2, 3): 1, (1, 2): -1}.get(tuple(module.spatial_dim))
    check(layout == module.channel_dim, "its spatial and channel axes are neither timm's "
          "channels-first (2, 3) and 1 nor its channels-last (1, 2) and -1")
    shape = None if given is None else list(given.shape[1:])
    check(shape is None or len(shape) == 3, f"it runs on maps, not on values of shape {shape}")
    check(given is not None or layout == 1, "its channels_last form runs after a permute, read "
          "from a traced forward")
    channels = None if given is None else given.shape[layout]
    check(all(isinstance(p, nn.Parameter) and p.dim() == 1
              and p.shape[0] == (channels or module.weight.shape[0])
              for p in (module.weight, module.bias)),
          "its weight and bias are not parameters of one value per channel")
    eps = float(module.eps)
    check(math.isfinite(eps) and eps >= 0, f"eps={eps}: not a finite number ≥ 0")
    return {"type": "global_response_norm", "eps": eps}


def _blur_pool(check, module, given):
    """timm's `BlurPool2d` (anti-aliased downsampling: ResNet-blur, TResNet; with zeros, its
    `blurpc` nets): `padding` on each side by `F.pad`'s `pad_mode`, then each channel convolved
    at `stride` with the binomial filter it holds as a buffer. Kept whole while tracing (forward
    reads the buffer); the buffer must be the one timm builds, which curvscope's layer computes
    rather than reads."""
    k, stride = module.filt_size, module.stride
    check(isinstance(stride, int) and isinstance(k, int), "its stride and filter size are not "
          "single numbers")
    modes = ("reflect", "constant", "replicate", "circular")
    check(module.pad_mode in modes, f"pad_mode={module.pad_mode!r} is none of F.pad's {modes}")
    padding = list(module.padding)
    check(len(padding) == 4 and len(set(padding)) == 1 and isinstance(padding[0], int),
          f"its padding {padding} is not one number of rows and columns on every side")
    expected = _binomial_filter(k, module.channels or 1, torch.float64)
    check(module.filt.shape == expected.shape and torch.equal(
        module.filt.to(torch.float64), expected), "its filter is not the exact binomial filter "
          f"of filt_size={k}, which curvscope computes (a changed buffer; or timm's own from "
          "filt_size=16 on, which it builds in float32, rounded)")
    check(given is None or given.dim() == 4 and (module.channels is None
                                                  or given.shape[1] == module.channels),
          f"it runs on maps of its {module.channels} channels, not on values of shape "
          f"{None if given is None else list(given.shape[1:])}")
    layer = {"type": "blur_pool2d", "kernel": k, "stride": stride, "padding": padding[0]}
    return layer if module.pad_mode == "reflect" else {**layer, "pad_mode": module.pad_mode}


def _split_attention(check, module, given):
    """timm's `SplitAttn` (ResNeSt's split attention, Zhang et al. 2020): a grouped convolution
    to r paths of C channels (`radix` r), the channel means of their sum through fc1, bn1, act1
    and fc2 to one weight per path and channel, softmax-ed across the paths of each group
    (`RadixSoftmax`; a sigmoid where r = 1), and the paths weighted by them, summed: a product
    block of the paths and their weights, then `sum_runs`. Kept whole while tracing: its
    forward views the maps as [N, r, C, H, W], which no curvscope layer holds."""
    check(given is not None and given.dim() == 4, "split attention runs on maps [C, H, W], read "
          "from a traced forward")
    r, weights = module.radix, module.rsoftmax
    check(_timm(weights, "RadixSoftmax") and weights.radix == r, "its rsoftmax is not timm's "
          f"RadixSoftmax of its radix {r}")
    paths, x = _parts(module, ("conv", "bn0", "drop", "act0"), given)
    runs = [{"type": "sum_runs", "runs": r}] if r > 1 else []
    attention, _ = _parts(module, ("fc1", "bn1", "act1", "fc2"), x.view(
        x.shape[0], r, -1, *x.shape[2:]).sum(1).mean((2, 3), keepdim=True))
    softmax = {"type": "radix_softmax", "radix": r}
    if weights.cardinality != 1:
        softmax["cardinality"] = weights.cardinality
    attention = [*runs, {"type": "adaptive_avgpool2d", "output": 1}, *attention,
                 {"name": "rsoftmax", **(softmax if r > 1 else {"type": "sigmoid"})}]
    return {"type": "group", "layers": [
        *paths, {"type": "product", "branches": [[], attention], "scoped": False}, *runs]}


def _selective_kernel(check, module, given):
    """timm's `SelectiveKernel` (SKNet's selective kernel, Li et al. 2019): K paths of
    convolutions (each on its run of the channels with `split_input`), stacked, then weighted
    by `SelectiveKernelAttn` — the channel means of the paths' sum through fc_reduce, bn, act
    and fc_select to one weight per path and channel, softmax-ed across the paths — and
    summed: a concat block of the paths, a product block of it and its weights, then
    `sum_runs`. Kept whole while tracing: its forward stacks the paths into [N, K, C, H, W],
    which no curvscope layer holds."""
    check(given is not None and given.dim() == 4, "a selective kernel runs on maps [C, H, W], "
          "read from a traced forward")
    k, attn = module.num_paths, module.attn
    check(_timm(attn, "SelectiveKernelAttn") and attn.num_paths == k == len(module.paths),
          f"its attn is not timm's SelectiveKernelAttn of its {k} paths")
    width = module.in_channels // k if module.split_input else None
    branches, outputs = [], []
    for i in range(k):
        x = given.narrow(1, i * width, width) if width else given
        layers, y = _parts(module.paths, (str(i),), x)
        run = [{"type": "narrow", "start": i * width, "length": width}] if width else []
        branches.append(run + layers)
        outputs.append(y)
    stacked = torch.cat(outputs, 1)
    runs = {"type": "sum_runs", "runs": k}
    attention, _ = _parts(attn, ("fc_reduce", "bn", "act", "fc_select"), stacked.view(
        stacked.shape[0], k, -1, *stacked.shape[2:]).sum(1).mean((2, 3), keepdim=True))
    attention = [runs, {"type": "adaptive_avgpool2d", "output": 1}, *attention,
                 {"type": "radix_softmax", "radix": k}]
    return {"type": "group", "layers": [
        {"name": "paths", "type": "concat", "branches": branches},
        {"type": "product", "branches": [[], [
            {"name": "attn", "type": "group", "layers": attention}]], "scoped": False}, runs]}


def _focal_modulation(check, module, given):
    """timm's `FocalModulation` (FocalNet's, Yang et al. 2022): f's 1×1 convolution to a query
    q, a context c₀ and L + 1 one-channel gates g, then cₗ = focal_layers[l](cₗ₋₁), the
    modulator m = h(Σₗ cₗ·gₗ + act(mean(c_L))·g_L, over L + 1 in `normalize_modulator`), and
    proj(norm(q·m)). The contexts are a chain whose every link is read twice (by the next link
    and by its gate's product), so the layers carry them in one value: after f, each link
    replaces the context's run of channels, and each product term is a run appended after the
    rest, all of them added at the end by `sum_runs`. Kept whole while tracing, since read as
    paths from f each product would run the chain before it again."""
    c, levels = module.dim, module.focal_level
    check(given is not None and given.dim() == 4, "focal modulation runs on maps [C, H, W], "
          "read from a traced forward")
    check(list(module.input_split) == [c, c, levels + 1] and len(module.focal_layers) == levels,
          f"its split is not [{c}, {c}, {levels + 1}] of query, context and gates, one per "
          "focal layer and one more")
    narrow = lambda start, length: {"type": "narrow", "start": start, "length": length}  # noqa
    join = lambda *branches: {"type": "concat", "branches": list(branches), "scoped": False}  # noqa
    times = lambda *branches: {"type": "product", "branches": list(branches),  # noqa: E731
                               "scoped": False}
    layers, x = _parts(module, ("f",), given)
    context, gates, width = x[:, c:2 * c], 2 * c, 2 * c + levels + 1
    for level in range(levels):
        link, context = _parts(module.focal_layers, (str(level),), context)
        layers += [join([narrow(0, c)], [narrow(c, c), {"name": "focal_layers", "type": "group",
                                                        "layers": link}],
                        [narrow(gates, width - gates)]),
                   join([], [times([narrow(c, c)], [narrow(gates + level, 1)])])]
        width += c
    pooled, _ = _parts(module, ("act",), context.mean((2, 3), keepdim=True))
    layers.append(join([], [times([narrow(c, c), {"type": "adaptive_avgpool2d", "output": 1},
                                   *pooled], [narrow(gates + levels, 1)])]))
    terms = gates + levels + 1
    mean = [{"type": "multiply", "by": 1 / (levels + 1)}] if module.normalize_modulator else []
    modulator, _ = _parts(module, ("h",), context)
    layers.append(times([narrow(0, c)], [narrow(terms, (levels + 1) * c),
                                         {"type": "sum_runs", "runs": levels + 1}, *mean,
                                         *modulator]))
    rest, _ = _parts(module, ("norm", "proj", "proj_drop"), context)
    return {"type": "group", "layers": layers + rest}


# timm's modules read whole, each by its function (check, module, the value it runs on): kept
# whole while tracing too (`_Tracer`), as their forwards hold steps no layer is.
_TIMM_WHOLE = {"EcaModule": _eca, "GlobalResponseNorm": _global_response_norm,
               "BlurPool2d": _blur_pool, "SplitAttn": _split_attention,
               "SelectiveKernel": _selective_kernel, "FocalModulation": _focal_modulation}


def _parts(module, children, x):
    """The layers of `module`'s `children` run in turn on `x`, each named as the child, read
    as a model holding only it would be (its own layer, or its forward traced: timm's
    `ConvNormAct`), and their output: the parts of a module that tracing keeps whole."""
    layers = []
    for child in children:
        part = module.get_submodule(child)
        holder = nn.Sequential(collections.OrderedDict([(child, part)]))
        layers += _traced_layers(holder, tuple(x.shape[1:]))[0]
        with torch.no_grad():
            x = part(x.clone())
    return layers, x


def _binomial_filter(k, channels, dtype):
    """timm's blur filter b bᵀ of side k, b_j = C(k − 1, j)/2^(k−1), for each of `channels`
    channels: `[channels, 1, k, k]`, a depthwise convolution's weight."""
    taps = torch.tensor([math.comb(k - 1, j) for j in range(k)], dtype=dtype) / 2 ** (k - 1)
    return (taps[:, None] * taps[None, :]).expand(channels, 1, k, k)


def _norm_flags(gamma, beta):
    """A batch norm's `affine` and `bias` where not their default, true: with γ and β."""
    return {**({} if gamma else {"affine": False}),
            **({} if beta or not gamma else {"bias": False})}


def _rms_norm(shape, eps, affine):
    """The rmsnorm layer of `nn.RMSNorm(shape, eps, affine)` or `F.rms_norm`; eps None (PyTorch's
    default, the machine epsilon of the values' precision) left out, as curvscope reads it."""
    layer = {"type": "rmsnorm", "shape": [int(s) for s in shape]}
    if eps is not None:
        layer["eps"] = float(eps)
    return {**layer, "affine": bool(affine)}


def _child(prefix, child, module, seen):
    """The layers of `module` (`_module_layers`), the child `child` of the module named
    `prefix`, each with its name (a pad2d layer, holding no tensors, shares its convolution's).
    A module with parameters or buffers used twice (tied weights, shared running statistics)
    is refused: curvscope gives each layer its own tensors."""
    name = f"{prefix}.{child}" if prefix else child
    _refuse_unless(module is not None, name, module, "an empty (None) entry")
    stateful = _holds_tensors(module)
    _refuse_unless(not (stateful and id(module) in seen), name, module,
                   f"the same module as `{seen.get(id(module))}`: its tensors would be "
                   "shared (tied weights), which curvscope cannot express; give each use "
                   "its own module")
    seen.setdefault(id(module), name)
    return [{"name": child, **layer} for layer in _module_layers(name, module, seen)]


def _is_torchvision_block(module):
    """Whether `module` is torchvision's ResNet `BasicBlock` or `Bottleneck` (not a subclass),
    whose forward is relu(main(x) + downsample(x)). Named rather than imported: the exporter
    does not need torchvision."""
    kind = type(module)
    return kind.__module__ == "torchvision.models.resnet" and kind.__name__ in (
        "BasicBlock", "Bottleneck")


def _residual(name, module, seen):
    """The residual layer, and the ReLU after it, of a torchvision block or a `Residual`."""
    _refuse_hooks(name, module)
    if _is(module, Residual):
        _refuse_hooks(f"{name}.shortcut", module.shortcut)
        shortcut = [] if _is(module.shortcut, nn.Identity) else _child(
            name, "shortcut", module.shortcut, seen)
        return [{"type": "residual", "layers": _child(name, "body", module.body, seen),
                 "shortcut": shortcut}]
    main = ["conv1", "bn1", "relu", "conv2", "bn2"]
    if type(module).__name__ == "Bottleneck":
        main += ["relu", "conv3", "bn3"]
    shortcut = [] if module.downsample is None else _child(
        name, "downsample", module.downsample, seen)
    layers = [layer for c in main for layer in _child(name, c, getattr(module, c), seen)]
    return [{"type": "residual", "layers": layers, "shortcut": shortcut}, {"type": "relu"}]


def _layers(sequential, prefix="", seen=None):
    """The layers of an nn.Sequential; a child's name is written unless it is its position.

    Every entry, repeats included: `named_children()` yields a module object once, so
    `relu = nn.ReLU(); nn.Sequential(conv, relu, conv2, relu)` would lose its second ReLU and
    export another function. A torchvision block is two layers, the block and the ReLU after
    it (named as the block: a layer without tensors may share a name); a `Residual` is one."""
    seen = {} if seen is None else seen
    layers = []
    for child, module in sequential._modules.items():
        name = f"{prefix}.{child}" if prefix else child
        if _is_torchvision_block(module) or _is(module, Residual):
            entries = _residual(name, module, seen)
            entries = [{"name": child, **entries[0]}, *({"name": child, **e} for e in entries[1:])]
        else:
            entries = _child(prefix, child, module, seen)
        for entry in entries:
            if entry["name"] == str(len(layers)):
                del entry["name"]
            layers.append(entry)
    return layers


def architecture(model, input_shape):
    """The checkpoint.json `arch` of `model` taking samples of `input_shape` ([C, H, W] or [F]):
    an nn.Sequential read module by module, any other model read from its forward by torch.fx
    (`_traced_layers`)."""
    return _architecture(_unwrapped(model), input_shape)[0]


def parameter_order(model, input_shape):
    """The names of `model`'s parameters in the order curvscope's θ (and every flat vector:
    gradients, eigenvectors) lists them: forward's, which differs from `model.parameters()`
    where a module holds a parameter it applies after its children (ConvNeXt's layer scale)."""
    model = _unwrapped(model)
    used = _architecture(model, input_shape)[1]
    names = [name for name, _ in model.named_parameters()]
    return names if used is None else [name for name in used if name in set(names)]


def _architecture(model, input_shape):
    """The `arch`, and the state_dict tensors it reads (None: all of them). Read and checked
    on a copy of the model in float64 on the CPU, in eval mode (forward may read
    self.training): the model itself is not run, so its flags and buffers stay as they are."""
    if len(input_shape) not in (1, 3):
        raise Unsupported(f"input_shape {tuple(input_shape)}: curvscope's samples are images "
                          "[C, H, W] or features [F]")
    for name, module in model.named_modules():
        _refuse_hooks(name or "(the model)", module)
    model = copy.deepcopy(model).to("cpu", torch.float64).eval()
    for parameter in model.parameters():  # curvscope differentiates all of them
        parameter.requires_grad_(True)
    if _is(model, nn.Sequential):
        _drop_last_log_softmax(model)
        try:
            layers, tensors = _layers(model), None
        except Unsupported as refused:  # a child of one's own class may trace
            try:
                layers, tensors = _traced_layers(model, input_shape)
            except Unsupported as traced:
                also = "" if str(traced) == str(refused) else f"; read from its forward: {traced}"
                raise Unsupported(f"{refused}{also}") from None
    elif type(model).__module__.startswith("torch.nn"):
        raise Unsupported(f"the model is one torch.nn module ({type(model).__name__}), whose "
                          "tensors have no module name (`weight`): wrap it, nn.Sequential(model)")
    else:
        layers, tensors = _traced_layers(model, input_shape)
    seen = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in seen:
            raise Unsupported(f"parameter `{name}` is `{seen[id(parameter)]}` (tied weights), "
                              "which curvscope cannot express; untie them")
        seen[id(parameter)] = name
    arch = {"name": "sequential", "input": [int(s) for s in input_shape], "layers": layers}
    _check_same_function(model, arch)
    return arch, tensors


def _unwrapped(model):
    """The model inside `nn.DataParallel`, `DistributedDataParallel` (`.module`) or
    `torch.compile`'s wrapper (`._orig_mod`): the same function, whose tensors are named without
    the wrapper's prefix (`module.`, `_orig_mod.`), as the model's own `state_dict` names them,
    and whose forward torch.fx can read."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    while True:
        if isinstance(model, wrappers):
            inner = model.module
        elif type(model).__name__ == "OptimizedModule" and hasattr(model, "_orig_mod"):
            inner = model._orig_mod
        else:
            return model
        warnings.warn(f"exporting the model inside {type(model).__name__}: its tensors are "
                      "named as the wrapped model's state_dict names them (no `module.` or "
                      "`_orig_mod.` prefix)", stacklevel=3)
        model = inner


def _drop_last_log_softmax(sequential):
    """Replaces the last layer of an nn.Sequential (or of its last nested one) by the identity
    where it is an `nn.LogSoftmax` (the `nn.NLLLoss` pattern): cross-entropy reads the
    log-probabilities as class scores unchanged (log-softmax is idempotent), as it does an
    `F.log_softmax` ending a forward (`_is_log_softmax`). Over the last axis, which
    `_check_same_function` requires to be the classes of outputs [N, classes]; one over another
    axis is left, and refused as a layer. `sequential` is the exporter's own copy of the model."""
    while len(sequential) and _is(sequential[-1], nn.Sequential):
        sequential = sequential[-1]
    if len(sequential) and _is(sequential[-1], nn.LogSoftmax) and sequential[-1].dim in (
            1, -1, None):
        sequential[-1] = nn.Identity()


def _check_same_function(model, arch):
    """Refuses `arch` unless it computes the model's class scores and their gradients: both
    run on six standard normal samples, three of them times 10 (past the clips of a ReLU6 or a
    Hardtanh), the layers by PyTorch's functional ops on the model's own tensors (`_evaluate`);
    their log-softmax (all cross-entropy sees) and its gradient along a random direction must
    agree to 1e-9. `model` is a float64 copy in eval mode (`_architecture`)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((6, *arch["input"]), generator=generator, dtype=torch.float64)
    x[3:] *= 10
    try:
        want = model(x.clone()).log_softmax(1)
    except Exception as e:
        raise Unsupported(f"the model's forward fails on samples of shape {arch['input']} "
                          f"({type(e).__name__}: {e})") from e
    if want.dim() != 2:
        raise Unsupported(f"the model's output has shape {list(want.shape)}; curvscope reads "
                          "class scores [N, classes]")
    if not torch.isfinite(want).all():
        raise Unsupported(f"the model's own class scores are not finite on random samples of "
                          f"shape {arch['input']}: check its weights and batch norm statistics")
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    try:
        got = _evaluate(arch["layers"], "", tensors, x).log_softmax(1)
    except (RuntimeError, ValueError) as e:
        raise Unsupported(f"the exported layers fail where the model's forward runs ({e}): the "
                          "exporter misread forward") from e
    off = (want - got).abs().max().item() if want.shape == got.shape else math.inf
    if not off <= 1e-9 * max(1.0, want.abs().max().item()):
        raise Unsupported(
            f"the exported layers compute other class scores than the model's forward (log-"
            f"softmax {off:.3g} apart on random inputs): forward may change a tensor in place "
            "that it reads again (`h += f(h)` while another name holds h), compute an argument "
            "from tensor values (`.item()`), run in another precision, or do something the "
            "exporter misread")
    names = [name for name, _ in model.named_parameters()]
    parameters = list(model.parameters())
    if not parameters:
        return  # nothing to differentiate (export refuses such a model)
    stopped = ("forward may stop gradients (`with torch.no_grad()`, `.detach()`) or compute "
               "them its own way (a custom autograd function)")
    if not want.requires_grad:
        raise Unsupported(f"the model's forward gives its class scores no gradient: {stopped}")
    direction = torch.randn(want.shape, generator=generator, dtype=torch.float64)
    try:
        grads = [torch.autograd.grad((y * direction).sum(), parameters, allow_unused=True)
                 for y in (want, got)]
    except RuntimeError as e:  # an in-place write to a value its backward needs
        raise Unsupported(f"PyTorch cannot differentiate the model's forward: {e}") from e
    for name, p, a, b in zip(names, parameters, *grads):
        a, b = (torch.zeros_like(p) if g is None else g for g in (a, b))
        if not (a - b).abs().max().item() <= 1e-9 * max(1.0, a.abs().max().item()):
            raise Unsupported(
                f"the exported layers have other gradients than the model's forward (`{name}`'s "
                f"{(a - b).abs().max().item():.3g} apart on random inputs): {stopped}")


def _evaluate(layers, prefix, tensors, x, positions=None):
    """The layers of a `sequential` arch applied to `x` by PyTorch's functional ops, reading
    each layer's tensors from `tensors` by name: what curvscope computes, written again.
    Inside a `channels_last` block `x` is the positions' rows and `positions` their (n, h, w)."""
    for index, layer in enumerate(layers):
        name, kind = f"{prefix}{layer.get('name', index)}", layer["type"]

        def t(suffix, name=name):  # the layer's tensor `suffix`, or None
            return tensors.get(f"{name}.{suffix}")

        if kind == "group":
            x = _evaluate(layer["layers"], f"{name}.", tensors, x, positions)
        elif kind == "residual":
            inner = f"{name}." if layer.get("scoped", True) else prefix
            x = (_evaluate(layer["layers"], inner, tensors, x)
                 + _evaluate(layer.get("shortcut", []), inner, tensors, x))
        elif kind == "channels_last":  # each position's channels as a row of features
            n, _, h, w = x.shape
            rows = _evaluate(layer["layers"], prefix, tensors, x.permute(0, 2, 3, 1).flatten(0, 2),
                             (n, h, w))
            x = rows.unflatten(0, (n, h, w)).permute(0, 3, 1, 2)
        elif kind == "global_response_norm":  # on [N, H, W, C]: rows, maps, or one position
            v = (x.unflatten(0, positions) if positions else
                 x.permute(0, 2, 3, 1) if x.dim() == 4 else x[:, None, None])
            norms = torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)
            v = v + t("bias") + t("weight") * v * (
                norms / (norms.mean(-1, keepdim=True) + layer.get("eps", 1e-6)))
            x = (v.flatten(0, 2) if positions else
                 v.permute(0, 3, 1, 2) if x.dim() == 4 else v[:, 0, 0])
        elif kind in ("scale", "shift"):  # one value per channel (feature), however stored
            v = tensors[name].reshape(-1)
            v = v.reshape(-1, 1, 1) if x.dim() == 4 else v  # tokens' [E] too
            x = x * v if kind == "scale" else x + v
        elif kind == "transpose":
            x = x.transpose(1, 2)
        elif kind in ("concat", "product"):
            inner = f"{name}." if layer.get("scoped", True) else prefix
            paths = [_evaluate(branch, inner, tensors, x) for branch in layer["branches"]]
            x = torch.cat(paths, 1) if kind == "concat" else functools.reduce(torch.mul, paths)
        elif kind == "conv2d":
            w, how = t("weight"), layer.get("standardize")
            if how is not None:  # each filter to mean 0 and (biased) variance 1, then scaled
                filters = w.flatten(1)
                centred = filters - filters.mean(1, keepdim=True)
                variance = (centred * centred).mean(1, keepdim=True)
                factor = how.get("scale", 1.0) * (t("gain").reshape(-1, 1) if how.get("gain")
                                                  else 1.0)
                w = (centred / torch.sqrt(variance + how.get("eps", 1e-6)) * factor).reshape(
                    w.shape)
            x = F.conv2d(x, w, t("bias"), layer.get("stride", 1),
                         layer.get("padding", 0), layer.get("dilation", 1),
                         layer.get("groups", 1))
        elif kind == "conv1d":  # features as one channel
            x = F.conv1d(x.unsqueeze(1), t("weight"), t("bias"),
                         padding=layer.get("padding", 0)).squeeze(1)
        elif kind == "linear":
            if x.dim() not in (2, 3):
                raise Unsupported(f"layer `{name}` (linear) takes flat features or tokens, not "
                                  f"{list(x.shape[1:])}: add a flatten")
            x = F.linear(x, t("weight"), t("bias"))
        elif kind == "tokens":
            x = x.flatten(2).transpose(1, 2)
        elif kind == "class_token":
            token = tensors[name].reshape(1, -1, x.shape[-1]).expand(x.shape[0], -1, -1)
            x = torch.cat([token, x], 1)
        elif kind == "position_embedding":
            x = x + tensors[name].reshape(1, *x.shape[1:])
        elif kind == "attention":  # softmax(q·kᵀ/√d)·v of each head, then the projection
            n, tokens, e = x.shape
            heads = layer["heads"]
            w_in, b_in, w_out, b_out = (t(k) for k in _ATTENTION_TENSORS[
                layer.get("tensors", "torch")])
            q, k, v = (part.reshape(n, tokens, heads, e // heads).transpose(1, 2)
                       for part in F.linear(x, w_in, b_in).chunk(3, -1))
            weights = (q @ k.transpose(-2, -1) / math.sqrt(e // heads)).softmax(-1)
            x = F.linear((weights @ v).transpose(1, 2).reshape(n, tokens, e), w_out, b_out)
        elif kind == "select_token":
            x = x[:, layer.get("index", 0)]
        elif kind == "token_mean":
            x = x.mean(1)
        elif kind == "multiply":
            x = x * layer["by"]
        elif kind == "maxpool2d":
            x = F.max_pool2d(x, layer["kernel"], layer.get("stride") or layer["kernel"],
                             layer.get("padding", 0), ceil_mode=layer.get("ceil_mode", False))
        elif kind == "avgpool2d":
            x = F.avg_pool2d(x, layer["kernel"], layer.get("stride") or layer["kernel"],
                             layer.get("padding", 0), ceil_mode=layer.get("ceil_mode", False),
                             count_include_pad=layer.get("count_include_pad", True))
        elif kind == "adaptive_avgpool2d":
            x = F.adaptive_avg_pool2d(x, layer["output"])
        elif kind == "flatten":
            x = x.flatten(1)
        elif kind in ("batchnorm1d", "batchnorm2d"):
            affine = layer.get("affine", True)
            x = F.batch_norm(x, t("running_mean"), t("running_var"),
                             t("weight") if affine else None,
                             t("bias") if affine and layer.get("bias", True) else None,
                             False, 0.0, layer.get("eps", 1e-5))
        elif kind == "layernorm":
            affine = layer.get("affine", True)
            x = F.layer_norm(x, layer["shape"], t("weight") if affine else None,
                             t("bias") if affine and layer.get("bias", True) else None,
                             layer.get("eps", 1e-5))
        elif kind == "rmsnorm":
            x = F.rms_norm(x, layer["shape"], t("weight") if layer.get("affine", True) else None,
                           layer.get("eps"))
        elif kind == "groupnorm":
            affine = layer.get("affine", True)
            x = F.group_norm(x, layer["groups"], t("weight") if affine else None,
                             t("bias") if affine else None, layer.get("eps", 1e-5))
        elif kind == "prelu":
            x = F.prelu(x, t("weight"))
        elif kind == "unflatten":
            x = x.unflatten(1, layer["shape"])
        elif kind == "narrow":
            x = x.narrow(layer.get("dim", 1), layer["start"], layer["length"])
        elif kind == "channel_shuffle":
            g = layer["groups"]
            x = x.unflatten(1, (g, x.shape[1] // g)).transpose(1, 2).flatten(1, 2)
        elif kind == "pad2d":
            if x.dim() != 4:  # F.pad would pad the last axes whatever they are (the samples')
                raise Unsupported(f"layer `{name}` (pad2d) pads maps [C, H, W], not "
                                  f"{list(x.shape[1:])}")
            x = F.pad(x, tuple(layer.get(side, 0) for side in ("left", "right", "top", "bottom")))
        elif kind == "pad_channels":
            x = F.pad(x, (0, 0, 0, 0, layer["before"], layer["after"]))
        elif kind == "blur_pool2d":
            c = x.shape[1]
            x = F.conv2d(F.pad(x, [layer["padding"]] * 4, mode=layer.get("pad_mode", "reflect")),
                         _binomial_filter(layer["kernel"], c, x.dtype), stride=layer["stride"],
                         groups=c)
        elif kind == "sum_runs":
            x = x.unflatten(1, (layer["runs"], -1)).sum(1)
        elif kind == "radix_softmax":  # on each sample's values, channel-major
            r, g = layer["radix"], layer.get("cardinality", 1)
            x = x.reshape(x.shape[0], g, r, -1).transpose(1, 2).softmax(1).reshape(x.shape)
        elif kind == "space_to_depth":
            b = layer["block"]
            n, c, h, w = x.shape
            x = x.view(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4).reshape(
                n, b * b * c, h // b, w // b)
        elif kind in _ACTIVATIONS:
            arguments = {k: v for k, v in layer.items() if k not in ("name", "type")}
            x = getattr(F, kind)(x, **arguments)
        elif kind not in ("identity", "dropout"):
            raise Unsupported(f"layer `{name}`: no layer type `{kind}`")
    return x


# An attention layer's tensors by its `tensors`: input projection's weight and bias, output's.
_ATTENTION_TENSORS = {
    "torch": ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"),
    "timm": ("qkv.weight", "qkv.bias", "proj.weight", "proj.bias")}


# The activations whose layer fields are the arguments of the torch.nn.functional function of
# their name.
_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus",
                "mish", "hardtanh", "relu6", "hardsigmoid", "hardswish")


def _traced_layers(model, input_shape):
    """The layers of a model that is not an nn.Sequential, read from its forward by torch.fx,
    and the state_dict tensors they read.

    torch.fx records the forward on one batch of zeros of `input_shape` in eval mode: the
    modules of `torch.nn` it calls and the functions and tensor methods it applies, in order.
    A sum a + b of two paths from one value is a residual block (unscoped, in the group of the
    submodule that holds both paths' modules, so its tensors keep their names), a
    concatenation of channels `torch.cat([a, b, …], 1)` of paths from one value a concat
    block and a product a * b of two (squeeze-and-excitation's scale * x) a product block,
    grouped the same way; reshapes, transposes and a split's parts are read from what they
    do to numbered values (`rearrangement`: `x.view(x.size(0), -1)` is a flatten, ShuffleNet's
    view–transpose–view a channel shuffle, TResNet's view–permute–view a space-to-depth,
    `x.chunk(2, 1)[1]` a narrow). A forward that branches on tensor values cannot be traced,
    and one that computes anything else (a product
    with a number, a parameter used directly) is refused, naming the step. What torch.fx's
    graph hides, an in-place write to a value read again, is read as PyTorch reads it
    (`_follow_in_place_writes`), or refused where a reshaped view of the value is read
    (`_refuse_hidden_writes`, where the graph shows the write; `_check_same_function` by its
    effect)."""
    if getattr(model, "transform_input", False) is True:
        raise Unsupported("the model's transform_input=True rescales the input's channels in "
                          "forward; set model.transform_input = False and export with "
                          "normalize=([0.5] * 3, [0.5] * 3): the same function of the pixels "
                          "(torchvision's transform maps ImageNet-normalised inputs to "
                          "(x − 0.5)/0.5)")
    try:
        # Arguments after the input that have defaults (a mask=None) keep them.
        arguments = list(inspect.signature(model.forward).parameters.values())[1:]
        defaults = {a.name: a.default for a in arguments if a.default is not a.empty}
        graph = _Tracer().trace(model, concrete_args=defaults or None)
        recorder = _Recorder(torch.fx.GraphModule(model, graph))
        recorder.run(torch.zeros((2, *input_shape), dtype=torch.float64))
    except Exception as e:
        raise Unsupported(f"torch.fx cannot trace the model's forward ({type(e).__name__}: {e}); "
                          "curvscope reads a forward that runs the same layers for any input "
                          "(or give an nn.Sequential)") from e
    inputs = [n for n in graph.nodes if n.op == "placeholder" and n.args == ()]  # no default
    [output] = [n for n in graph.nodes if n.op == "output"]
    result = output.args[0]
    if len(inputs) != 1:
        raise Unsupported(f"forward takes {len(inputs)} inputs; curvscope's nets take one")
    if not isinstance(recorder.values.get(result), torch.Tensor):
        raise Unsupported("forward returns more than one tensor; curvscope needs one (the class "
                          "scores)")
    _follow_in_place_writes(graph, model)
    _refuse_hidden_writes(graph, recorder.values, model)
    if _is_log_softmax(result, recorder.values, model):
        result = result.args[0]  # log-probabilities: cross-entropy reads them as the scores
    trace = _Trace(model, recorder.values)
    trace.remember(graph)
    steps = trace.chain(inputs[0], result)
    modules = _modules_of(steps)
    order = [p for m in modules for p in _tensor_names(model, m, True)]
    given = [n for n, _ in model.named_parameters() if n in set(order)]
    if order != given:
        at = next(i for i, (a, b) in enumerate(zip(order, given)) if a != b)
        warnings.warn(f"curvscope's θ lists the parameters in forward's order, where "
                      f"model.parameters() has `{given[at]}` it has `{order[at]}`: flat vectors "
                      "(θ, eigenvectors) follow forward's order", stacklevel=3)
    tensors = [k for m in modules for k in _tensor_names(model, m, False)]
    twice = [k for k in tensors if tensors.count(k) > 1]
    if twice:
        raise Unsupported(f"forward reads `{twice[0]}` at two places (tied weights), which "
                          "curvscope cannot express; give each use its own")
    unused = [k for k in model.state_dict() if k not in set(tensors)]
    if unused:
        warnings.warn(f"forward does not use {', '.join(unused)}: not written", stacklevel=3)
    return _nest(steps, []), tensors


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping timm's `Attention` whole: a module of the `attention` layer,
    whose forward (reshapes of one projection into heads, `F.scaled_dot_product_attention`)
    no other layer holds."""

    def is_leaf_module(self, module, qualified_name):
        return _is_timm_attention(module) or _timm_same(module) or \
            _timm(module, *_TIMM_WHOLE, *_TIMM_STD_CONVS) or \
            super().is_leaf_module(module, qualified_name)


def _is_timm_attention(module):
    """Whether `module` is timm's `Attention` (ViT's and DeiT's self-attention)."""
    return _timm(module, "Attention") is not None


def _tensor_names(model, path, parameters_only):
    """The full names of the parameters (or all state_dict tensors) of the module at `path`, or
    `path` itself where it names a parameter (a layer scale; a tensor a module's functional form
    reads: `_Trace.own_tensors`)."""
    try:
        module = model.get_submodule(path)
    except AttributeError:
        return [path] if not parameters_only or path in dict(model.named_parameters()) else []
    names = (n for n, _ in module.named_parameters()) if parameters_only else module.state_dict()
    return [f"{path}.{k}" for k in names]


def _follow_in_place_writes(graph, model):
    """Points each read that follows an in-place write (`out.mul_(gain)`, `h.relu_()`,
    `inplace=True`) of the tensor it overwrote at the write's result: torch.fx's graph names the
    value as it was before the write, where PyTorch reads it after (DeepMind's NFNets scale
    their residual branch so: `out.mul_(self.skipinit_gain)`, then `out * self.alpha`). The
    tensor is the written node's value and every value that is that same tensor passed on
    (eval-mode dropout, `nn.Identity`, another in-place write); a reshaped view of it stays
    `_refuse_hidden_writes`' to refuse."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    for write in [n for n in graph.nodes if _writes_in_place(n, model) and _first_node(n)]:
        root = write.args[0]  # where the tensor was made
        while _passes_its_input(root, model) and _first_node(root):
            root = root.args[0]
        same = {root}  # and every value that is it
        for node in graph.nodes:
            if node.args and node.args[0] in same and _passes_its_input(node, model):
                same.add(node)
        for reader in [n for n in graph.nodes if order[n] > order[write]]:
            for old in set(reader.all_input_nodes) & same:
                reader.replace_input_with(old, write)


def _first_node(node):
    """Whether `node`'s first argument is given by position and is a value of the graph (a
    tensor passed by keyword, `torch.relu_(input=h)`, is left to `_refuse_hidden_writes`)."""
    return bool(node.args) and isinstance(node.args[0], torch.fx.Node)


def _passes_its_input(node, model):
    """Whether `node`'s value is its input tensor itself, unchanged in shape: an in-place write,
    eval-mode dropout, `nn.Identity`."""
    if _writes_in_place(node, model):
        return True
    if node.op == "call_module":
        return isinstance(model.get_submodule(node.target), (nn.Identity, *_DROPOUTS))
    return node.op in ("call_function", "call_method") and _target(node) in _DROPOUT_FUNCTIONS


def _refuse_hidden_writes(graph, values, model):
    """Refuses an in-place write (`h.relu_()`, `inplace=True`, `clamp_`) to a value that forward
    reads afterwards other than through the write's own result, directly or through a view of
    it (`view`, `x[...]`, eval-mode dropout, `nn.Identity` return their input): torch.fx
    records the value as it was before the write, and PyTorch reads it after."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    source = {}  # a node's value is a view of source[node]'s, or its own
    for node in graph.nodes:
        first = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        source[node] = source[first] if first is not None and _returns_its_input(
            node, model) else node
    for write in (n for n in graph.nodes if _writes_in_place(n, model)):
        after = {write}  # the write's result and the views taken of it
        for node in graph.nodes:
            if order[node] > order[write] and node.args and node.args[0] in after and \
                    _returns_its_input(node, model):
                after.add(node)
        for view in (n for n in graph.nodes if source[n] is source[write] and n not in after):
            for reader in view.users:
                if reader is not write and order[reader] > order[write] and isinstance(
                        values.get(reader), torch.Tensor):
                    raise Unsupported(
                        f"forward's `{write.name}` ({_describe(write)}) writes in place over a "
                        f"value that `{reader.name}` ({_describe(reader)}) reads afterwards; "
                        "torch.fx records it as it was before the write: assign the result "
                        "instead (h = F.relu(h))")


def _writes_in_place(node, model):
    """Whether `node` overwrites its input: a method or function named `…_` (`relu_`), or
    `inplace=True` (as an argument or a module's), except dropout's, which changes nothing in
    eval mode."""
    if node.op == "call_module":
        module = model.get_submodule(node.target)
        return getattr(module, "inplace", False) is True and not isinstance(module, _DROPOUTS)
    if node.op not in ("call_function", "call_method"):
        return False
    name = _target(node)
    given = {**dict(zip(_FUNCTIONS.get(name, {}), node.args[1:])), **node.kwargs}
    # Python's `operator.and_`, `or_` (`a & b`) are named so without writing anything.
    operator = getattr(node.target, "__module__", None) == "_operator"
    return (name.endswith("_") and not operator) or (given.get("inplace") is True
                                                      and "dropout" not in name)


def _returns_its_input(node, model):
    """Whether `node`'s value is its input's (`_passes_its_input`), or a view of it (which a
    write to either changes)."""
    views = (*_REARRANGES, *_SPLITS, *(name for name in _IDENTITIES if name != "clone"),
             "getitem")
    return _passes_its_input(node, model) or (
        node.op in ("call_function", "call_method") and _target(node) in views)


def _is_log_softmax(node, values, model):
    """Whether `node` is `F.log_softmax(x, dim=1)` (or `x.log_softmax(-1)`, or an
    `nn.LogSoftmax(dim=1)` module) of class scores."""
    if node.op == "call_module":
        module = model.get_submodule(node.target)
        return (_is(module, nn.LogSoftmax) and values[node].dim() == 2
                and module.dim in (1, -1, None))
    if node.op not in ("call_function", "call_method") or _target(node) != "log_softmax":
        return False
    given = {**dict(zip(("dim", "_stacklevel", "dtype"), node.args[1:])), **node.kwargs}
    return values[node].dim() == 2 and given.get("dim") in (1, -1) and given.get("dtype") is None


class _Recorder(torch.fx.Interpreter):
    """Runs a traced forward, keeping every node's value (tensors, and the sizes forward
    computed from them)."""

    def __init__(self, module):
        super().__init__(module, garbage_collect_values=False)
        self.values = {}

    def run_node(self, node):
        value = super().run_node(node)
        # nn.MultiheadAttention returns (output, weights): its node's value is the output, which
        # `x[0]` of it then passes on (`_Trace.is_attention_output`).
        self.values[node] = value[0] if _is_attention(node, self.module) else value
        return value


def _is_attention(node, model):
    return node.op == "call_module" and _is(model.get_submodule(node.target),
                                            nn.MultiheadAttention)


# What torch.fx may find in a forward besides modules: functions and tensor methods by name,
# each with the arguments after its input, in PyTorch's order, and their defaults.
_NO_ARGS = {"inplace": False}
_FUNCTIONS = {
    **{kind: _NO_ARGS for kind in ("relu", "tanh", "sigmoid", "silu", "mish", "relu6",
                                   "hardsigmoid", "hardswish")},
    "leaky_relu": {"negative_slope": 0.01, "inplace": False},
    "gelu": {"approximate": "none"},
    "elu": {"alpha": 1.0, "inplace": False},
    "softplus": {"beta": 1.0, "threshold": 20.0},
    "hardtanh": {"min_val": -1.0, "max_val": 1.0, "inplace": False},
    "max_pool2d": {"kernel_size": None, "stride": None, "padding": 0, "dilation": 1,
                   "ceil_mode": False, "return_indices": False},
    "avg_pool2d": {"kernel_size": None, "stride": None, "padding": 0, "ceil_mode": False,
                   "count_include_pad": True, "divisor_override": None},
    "adaptive_avg_pool2d": {"output_size": None},
    **{kind: {"p": 0.5, "training": True, "inplace": False} for kind in _DROPOUT_FUNCTIONS},
    "mean": {"dim": None, "keepdim": False},
    "getitem": {"index": None},
    "pad": {"pad": None, "mode": "constant", "value": None},
    "channel_shuffle": {"groups": None},
    "layer_norm": {"normalized_shape": None, "weight": None, "bias": None, "eps": 1e-5},
    "rms_norm": {"normalized_shape": None, "weight": None, "eps": None},
    "batch_norm": {"running_mean": None, "running_var": None, "weight": None, "bias": None,
                   "training": False, "momentum": 0.1, "eps": 1e-5},
    "linear": {"weight": None, "bias": None},
    "group_norm": {"num_groups": None, "weight": None, "bias": None, "eps": 1e-5},
    "glu": {"dim": -1},
    # torchvision's StochasticDepth (EfficientNet's blocks): the identity unless training.
    "stochastic_depth": {"p": None, "mode": None, "training": True},
}
# Functional forms of layers that read as a module's layer when given that module's own tensors
# (`_Trace.own_tensors`), and those tensors, in the order the call takes them.
_OWN_FORMS = {"layer_norm": ("weight", "bias"), "rms_norm": ("weight",),
              "linear": ("weight", "bias"),
              "batch_norm": ("running_mean", "running_var", "weight", "bias"),
              "group_norm": ("weight", "bias")}
_OWN_FORMS_READ = {
    "layer_norm": "parameters weight and bias (or none)",
    "rms_norm": "parameter weight (or none)",
    "linear": "parameters weight [out, in] and bias [out] (or none), as they are",
    "batch_norm": "running statistics (buffers) and parameters γ and β, γ alone or neither, in "
                  "eval mode",
    "group_norm": "parameters weight and bias (or neither)"}
# Rearrangements of a sample's values, each run of them read from what it does to numbered
# values (`_Trace.rearrangement`): nothing, a flatten, an unflatten, ShuffleNet's channel
# shuffle or a narrow.
_REARRANGES = ("flatten", "view", "reshape", "squeeze", "unflatten", "transpose", "permute",
               "swapaxes", "swapdims", "narrow", "select")
# Splits of the channels, each part that forward indexes a narrow (`x1, x2 = x.chunk(2, 1)`).
_SPLITS = ("chunk", "split", "tensor_split")
_CATS = ("cat", "concat", "concatenate")
_PRODUCTS = ("mul", "multiply")
# Sums and differences of two paths (a difference a residual block whose shortcut is negated).
_SUMS = ("add", "sub", "subtract")
# The identity to curvscope, which computes in the precision it is asked for.
_IDENTITIES = ("contiguous", "clone", "float", "double")


def _function_name(node):
    """The name of the function or tensor method a call node runs, in-place forms (`relu_`,
    `iadd`) by their plain name; refused unless it is PyTorch's or Python's `operator`."""
    if node.op == "call_method":
        name = node.target
    else:
        source = getattr(node.target, "__module__", None) or ""
        name = getattr(node.target, "__name__", repr(node.target))
        if not (source.startswith("torch") or source in ("_operator", "operator")) and (
                (source, name) != ("torchvision.ops.stochastic_depth", "stochastic_depth")):
            raise Unsupported(f"forward's `{node.name}` calls {source}.{name}, which "
                              "curvscope cannot express")
    if name in ("iadd", "add_"):
        return "add"
    if name in ("isub", "sub_"):
        return "sub"
    if name in ("imul", "mul_"):
        return "mul"
    return name[:-1] if name.endswith("_") and name[:-1] in _FUNCTIONS else name


class _Trace:
    """A traced forward as curvscope's layers: a chain of steps from the input to the output,
    with a residual block wherever two paths from one value are added.

    A step is {"layers": [...], "group": the module path its layers belong under (for a step
    without tensors, the module whose forward runs it), "name": its module's name or None,
    "stateful": whether it holds tensors, "modules": its modules with tensors, in the order of
    its layers}."""

    def __init__(self, model, values):
        self.model, self.values = model, values
        self.parameters = dict(model.named_parameters())  # own_tensors tells them from buffers
        self.used = set()  # the modules with tensors read into steps
        # input_of's answers. Why: a sum's input is found by walking both paths back to the
        # input, through every earlier sum's walk; unremembered, that is 2^blocks steps
        # (regnet_x_400mf's 22 blocks took 98 s, a ResNet-56's 27 would take hours).
        self.inputs = {}
        self.joined = {}  # cat_parts' answers
        self.layouts = {}  # is_channels_last's answers
        self.token_layouts = {}  # is_tokens' answers
        self.from_input = set()  # the nodes computed from forward's input (`remember`)

    def tensors_in(self, node):
        return [n for n in node.all_input_nodes if isinstance(self.values.get(n), torch.Tensor)]

    def is_sum(self, node):
        """Whether `node` is a + b or a − b of two tensors (refused if it adds anything else)."""
        if node.op not in ("call_function", "call_method") or _function_name(node) not in \
                _SUMS or self.is_added_zero(node) or self.learned_operands(node) is not None:
            return False
        subtracts = _function_name(node) in ("sub", "subtract")
        if node.args[:1] * 2 == node.args:
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) "
                              f"{'subtracts a value from' if subtracts else 'adds a value to'} "
                              "itself")
        if subtracts and any(self.parameter(a) is not None for a in node.args):
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) subtracts a parameter "
                              "or from one; curvscope adds one, x + β (a shift): write it so")
        if len(self.tensors_in(node)) != 2 or len(node.args) != 2 or node.kwargs:
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) adds a number or a "
                              "scaled tensor: only sums a + b and differences a − b of two paths "
                              "are expressible")
        return True

    def is_square(self, node):
        """Whether `node` is x², `x * x`, `x ** 2`, `x.pow(2)` or `torch.square(x)` of a value
        (StarReLU's `relu(x) ** 2`): a product of the value with itself."""
        if node.op not in ("call_function", "call_method"):
            return False
        name, operands = _function_name(node), [*node.args, *node.kwargs.values()]
        return (len(operands) == 2 and isinstance(operands[0], torch.fx.Node)
                and (name in _PRODUCTS and operands[1] is operands[0]
                     or name == "pow" and type(operands[1]) in (int, float) and operands[1] == 2)
                or name == "square" and len(operands) == 1)

    def arithmetic_layers(self, node):
        """The layers of `node` if it is arithmetic of one value: x · c (a multiply), x² (a
        product of the value with itself), x + 0 (none); else None."""
        factor = self.number_factor(node)
        if factor is not None:
            return [{"type": "multiply", "by": factor}]
        if self.is_square(node):
            return [{"type": "product", "branches": [[], []]}]
        return [] if self.is_added_zero(node) else None

    def is_added_zero(self, node):
        """Whether `node` is x + 0, 0 + x or x − 0 of one value (MobileOne's and FastViT's
        `scale_out + identity_out`, the latter 0 without an identity branch): no layer."""
        operands = [*node.args, *node.kwargs.values()]
        return (node.op in ("call_function", "call_method") and _function_name(node) in _SUMS
                and len(operands) == 2 and len(self.tensors_in(node)) == 1
                and any(isinstance(a, torch.fx.Node) for a in operands)
                and any(a == 0 and type(a) in (int, float) for a in operands[_function_name(
                    node) in ("sub", "subtract"):]))

    def is_product(self, node):
        """Whether `node` is a * b of two tensors (a product with a number is no layer, one with
        a parameter a scale)."""
        if node.op not in ("call_function", "call_method") or _function_name(node) not in \
                _PRODUCTS or self.is_scale(node):
            return False
        operands = [*node.args, *node.kwargs.values()]
        if len(self.tensors_in(node)) != 2:
            return False
        if len(operands) != 2 or set(node.kwargs) - {"other"}:
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}): only products "
                              "a * b of two paths are expressible")
        return True

    def parameter(self, node):
        """The get_attr node of the model's parameter that `node` is, or views in the order it
        holds its values (`self.gamma.view(1, -1, 1, 1)`, `reshape`, `unsqueeze`, timm's layer
        scales); None for anything else (a buffer, a tensor attribute, a computed value)."""
        while isinstance(node, torch.fx.Node) and node.op in ("call_function", "call_method") \
                and _function_name(node) in ("view", "reshape", "unsqueeze", "squeeze",
                                             "flatten") \
                and isinstance(node.args[0], torch.fx.Node) and not any(
                    isinstance(self.values.get(a), torch.Tensor) for a in node.all_input_nodes[1:]):
            node = node.args[0]
        if not (isinstance(node, torch.fx.Node) and node.op == "get_attr"):
            return None
        try:
            self.model.get_parameter(node.target)
        except AttributeError:  # a buffer, or a tensor attribute
            return None
        return node

    def number_factor(self, node):
        """c if `node` is x * c, c * x or x / c of a value and a finite number (DeiT's `(a + b) /
        2`), else None."""
        name = node.op in ("call_function", "call_method") and _function_name(node)
        operands = [*node.args, *node.kwargs.values()]
        if name not in (*_PRODUCTS, "truediv", "div", "divide") or len(operands) != 2 \
                or set(node.kwargs) - {"other"} or len(self.tensors_in(node)) != 1:
            return None
        a, b = operands
        value_first = isinstance(a, torch.fx.Node)
        number = b if value_first else a
        if isinstance(number, bool) or not isinstance(number, (int, float)) \
                or not math.isfinite(number):
            return None
        if name in _PRODUCTS:
            return float(number)
        # x / c, never c / x; c = 0 gives infinities, which PyTorch would too.
        return 1.0 / number if value_first and number != 0 else None

    def value_and_parameter(self, node, functions):
        """(the value, the parameter's operand) of `node` if it is one of `functions` of a value
        and a parameter, else None."""
        if node.op not in ("call_function", "call_method") or _function_name(node) not in \
                functions:
            return None
        operands = [*node.args, *node.kwargs.values()]
        if len(operands) != 2 or not all(isinstance(a, torch.fx.Node) for a in operands):
            return None
        [*values], [*parameters] = ([a for a in operands if (self.parameter(a) is None) == value]
                                    for value in (True, False))
        return (values[0], parameters[0]) if len(values) == 1 else None

    def scale_operands(self, node):
        """(the value, the parameter's operand) of `node` if it is x * γ of a value and a
        parameter (ConvNeXt's `self.layer_scale * x`), else None."""
        return self.value_and_parameter(node, _PRODUCTS)

    def is_scale(self, node):
        return self.scale_operands(node) is not None

    def class_token_operands(self, node):
        """(the tokens, the parts before them) of `node` if it is `torch.cat([token.expand(n,
        -1, -1), …, x], 1)` of parameters and tokens x (a vision transformer's class token,
        timm's register tokens after it), else None."""
        if node.op != "call_function" or _function_name(node) not in _CATS:
            return None
        parts, dim = _cat_listed(node), _cat_dim(node)
        if not (isinstance(parts, (list, tuple)) and len(parts) >= 2 and isinstance(dim, int)
                and all(isinstance(part, torch.fx.Node) for part in parts)):
            return None
        *tokens, x = parts
        value = self.values.get(x)
        if any(self.parameter(_unexpanded(t)) is None for t in tokens) \
                or not isinstance(value, torch.Tensor) or value.dim() != 3 or dim % 3 != 1 \
                or self.is_unheld(x):
            return None
        return x, tokens

    def class_token_steps(self, node, x, tokens):
        """The steps of `torch.cat([token₁, …, tokenₘ, x], 1)` of parameters, each a
        class_token layer of its k tokens named as its parameter, the one nearest x first."""
        where = f"forward's `{node.name}` ({_describe(node)})"
        steps = []
        for part in reversed(tokens):
            target = self.parameter(_unexpanded(part)).target
            stored = list(self.model.get_parameter(target).shape)
            shape, e = list(self.values[part].shape), self.values[x].shape[-1]
            k = math.prod(stored) // e
            if shape[1:] != [k, e] or k * e != math.prod(stored):
                raise Unsupported(f"{where} puts `{target}` of shape {stored} as {shape[1:]} "
                                  f"before tokens of {e} features; curvscope's class tokens are "
                                  "the parameter's values, token by token")
            layer = {"type": "class_token"}
            if k != 1:
                layer["tokens"] = k
            if stored != [1, k, e]:
                layer["shape"] = stored
            steps.append(self.named_step(node, x, layer, [target]))
        return steps

    def embedding_operands(self, node):
        """(the tokens, the parameter's operand) of `node` if it is x + P of tokens and a
        parameter of their shape `[T, E]` (a vision transformer's position embedding), else
        None."""
        found = self.value_and_parameter(node, ("add",))
        value = found and self.values.get(found[0])
        if not isinstance(value, torch.Tensor) or value.dim() != 3 or self.is_unheld(found[0]) \
                or self.values[found[1]].shape[-2:] != value.shape[1:]:
            return None
        return found

    def shift_operands(self, node):
        """(the value, the parameter's operand) of `node` if it is x + β of a value and a
        parameter that is not a position embedding (a bias of its own, ResMLP's `alpha * x +
        beta`), else None."""
        return self.value_and_parameter(node, ("add",))

    def affine_operands(self, node):
        """(the value, (α's operand, β's operand)) of `node` if it is `torch.addcmul(β, α, x)`
        (or `addcmul(β, x, α)`) of parameters α, β and a value, β + α·x (timm's ResMLP
        `Affine`), else None."""
        if node.op != "call_function" or _function_name(node) != "addcmul" \
                or node.kwargs.get("value", 1) != 1 or len(node.args) != 3 \
                or set(node.kwargs) - {"value"}:
            return None
        beta, *factors = node.args
        values = [a for a in factors if isinstance(a, torch.fx.Node) and self.parameter(a) is None]
        if self.parameter(beta) is None or len(values) != 1 or not all(
                isinstance(a, torch.fx.Node) for a in factors):
            return None
        [alpha] = [a for a in factors if a is not values[0]]
        return values[0], (alpha, beta)

    def learned_operands(self, node):
        """(the value, the parameter's operand, the layer type) of `node` if it joins a value
        and a parameter as one of curvscope's layers named as their tensor: a scale x * γ, a
        class token, a position embedding, a shift x + β, an affine β + α·x (its operands (α,
        β), a scale and a shift); else None."""
        for kind, operands in (("scale", self.scale_operands),
                               ("class_token", self.class_token_operands),
                               ("position_embedding", self.embedding_operands),
                               ("shift", self.shift_operands),
                               ("affine", self.affine_operands)):
            found = operands(node)
            if found is not None:
                return (*found, kind)
        return None

    def is_attention_output(self, node):
        """Whether `node` is `attention(x, x, x)[0]` of an nn.MultiheadAttention, whose value
        the trace records as its node's (`_Recorder`)."""
        return (node.op == "call_function" and _function_name(node) == "getitem"
                and isinstance(node.args[0], torch.fx.Node)
                and _is_attention(node.args[0], self.model) and node.args[1] == 0)

    def check_self_attention(self, node, x):
        """Refuses an nn.MultiheadAttention call other than self-attention without masks,
        `attention(x, x, x)` (need_weights as it likes: a read of the weights is refused where
        it is read, `function_layers`)."""
        names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                 "average_attn_weights", "is_causal")
        given = {**dict(zip(names, node.args)), **node.kwargs}
        where = f"forward's `{node.name}` ({_describe(node)})"
        if any(given.get(k) is not None for k in ("key_padding_mask", "attn_mask")) \
                or given.get("is_causal", False):
            raise Unsupported(f"{where}: attention masks are not expressible")
        if x is None or not all(given.get(k) is x for k in names[:3]):
            raise Unsupported(f"{where}: curvscope's attention is self-attention of one value, "
                              "attention(x, x, x)")

    def is_tokens(self, node):
        """Whether the rearrangement `node` gives tokens `[N, T, E]`: maps' positions as rows
        of channels (`x.flatten(2).transpose(1, 2)`), tokens as they were, a run of them
        (`x[:, 1:]`) or tokens transposed (a mixer's `x.transpose(1, 2)`, `[N, E, T]`)."""
        if node not in self.token_layouts:
            x = self.input_of(node)
            try:
                layers = self.rearrangement(node, x, "") if self.values[x].dim() in (3, 4) \
                    else None
            except Unsupported:
                layers = None
            self.token_layouts[node] = layers is not None and (
                self.values[x].dim() == 4 and layers[-1:] == [{"type": "tokens"}]
                or self.values[x].dim() == 3
                and all(k["type"] in ("narrow", "transpose") for k in layers))
        return self.token_layouts[node]

    def own_tensors(self, node):
        """The tensors of the module whose forward runs `node` that it reads, if `node` is the
        functional form of a layer given that module's own tensors (a subclass of a torch.nn
        module calling it: torchvision's and timm's `LayerNorm2d`, `F.layer_norm(x, shape,
        self.weight, self.bias, eps)`; timm's `BatchNormAct2d`, `F.batch_norm(x,
        self.running_mean, self.running_var, self.weight, self.bias, False, …)`; timm's
        `Linear`, `F.linear(x, self.weight, self.bias)`; timm's `GroupNormAct`,
        `F.group_norm(x, groups, self.weight, self.bias, eps)`), a bias possibly None (and
        batch norm's weight: `affine=False`); else None."""
        if node.op != "call_function" or _target(node) not in _OWN_FORMS:
            return None
        name, given = _target(node), _given(node)
        owner = ".".join(_owner(node))
        read = []
        for k in _OWN_FORMS[name]:
            optional = k == "bias" or (name, k) == ("batch_norm", "weight")
            if optional and given.get(k) is None:
                continue
            if not (owner and isinstance(given.get(k), torch.fx.Node)
                    and given[k].op == "get_attr" and given[k].target == f"{owner}.{k}"):
                return None
            # γ, β and weights are parameters (θ), running statistics buffers (constants).
            parameter = k in ("weight", "bias")
            if (given[k].target in self.parameters) != parameter:
                return None
            read.append(given[k].target)
        if name == "linear":  # PyTorch broadcasts a bias of [1, out] or [1]; curvscope's is [out]
            weight, bias = (self.values.get(given.get(k)) for k in ("weight", "bias"))
            if weight.dim() != 2 or (bias is not None and bias.shape != weight.shape[:1]):
                return None
        return read

    def is_channels_last(self, node):
        """Whether `node`'s value is maps permuted channels-last, `[N, H, W, C]` (the values
        of a `channels_last` block's layers), by forward's `x.permute(0, 2, 3, 1)`."""
        if node not in self.layouts:
            self.layouts[node] = self.finds_channels_last(node)
        return self.layouts[node]

    def finds_channels_last(self, node):
        """`is_channels_last`, found."""
        value = self.values.get(node)
        if node.op == "placeholder" or not (isinstance(value, torch.Tensor) and value.dim() == 4) \
                or node not in self.from_input:
            return False
        if self.is_sum(node) or self.is_product(node) or self.is_cat(node):
            return any(self.is_channels_last(a) for a in self.tensors_in(node))
        x = self.input_of(node)
        if self.is_rearrangement(node, x):
            layers = self.rearrangement(node, x, f"forward's `{node.name}` ({_describe(node)})")
            return layers[-1:] == [_ENTER] or (not layers and self.is_channels_last(x))
        return self.is_channels_last(x)

    def is_rearrangement(self, node, x):
        """Whether `node` reshapes, transposes or splits `x`'s values."""
        name = node.op in ("call_function", "call_method") and _function_name(node)
        return (self.is_part(node) or name in _REARRANGES or _is_channel_slice(node)
                or _is_token_pick(node) or _is_feature_slice(node)
                or (name in _IDENTITIES and node.args[:1] != (x,)))

    def is_cat(self, node):
        """Whether `node` is a concatenation along the channels of maps (the features of flat
        values); refused along any other axis, or of anything but tensors of forward listed in
        the call."""
        if node.op != "call_function" or _function_name(node) not in _CATS \
                or self.class_token_operands(node) is not None:
            return False
        where = f"forward's `{node.name}` ({_describe(node)})"
        parts, dim = _cat_listed(node), _cat_dim(node)
        out = self.values[node]
        if not isinstance(parts, (list, tuple)):
            raise Unsupported(f"{where} concatenates a sequence forward computes (a chunk or "
                              "split); curvscope joins tensors listed in the call")
        if not isinstance(dim, int) or dim % out.dim() != 1:
            raise Unsupported(f"{where} concatenates along axis {dim}; curvscope concatenates "
                              "channels (axis 1) only")
        if out.dim() == 3:
            raise Unsupported(f"{where} concatenates tokens; curvscope puts one class token "
                              "before them, torch.cat([token.expand(n, -1, -1), x], 1), and "
                              "joins no others")
        if not all(isinstance(self.values.get(part), torch.Tensor) for part in parts):
            raise Unsupported(f"{where} concatenates something other than tensors forward "
                              "computes")
        return True

    def cat_parts(self, node):
        """The values a concatenation joins, each run of them that another concatenation of
        channels joins read as that one, longest first (cat([a, b, c]) as cat([cat([a, b]), c])
        or cat([a, cat([b, c])])): a DenseNet's block concatenates every earlier layer's output,
        which as one block of branches would run each layer once per later layer."""
        if node not in self.joined:
            others = [(n, list(_cat_listed(n))) for n in node.graph.nodes
                      if n is not node and self.is_channel_cat(n)]
            parts = list(_cat_listed(node))
            while runs := [(n, at, len(joined)) for n, joined in others
                           if 1 < len(joined) < len(parts)
                           for at in range(len(parts) - len(joined) + 1)
                           if parts[at:at + len(joined)] == joined]:
                n, at, length = max(runs, key=lambda run: (run[2], -run[1]))
                parts[at:at + length] = [n]
            self.joined[node] = parts
        return self.joined[node]

    def is_channel_cat(self, node):
        """`is_cat` without refusing: whether `node` is a concatenation this reading accepts
        (one elsewhere in forward, refused or not, is refused only if the output reads it)."""
        try:
            return self.is_cat(node)
        except Unsupported:
            return False

    def remember(self, graph):
        """Finds `input_of` of every node in forward's order, so that each walk back to the
        input meets only remembered answers: found on demand from the output, the walks nest
        one call deeper per sum or concatenation, past Python's recursion limit at about 330
        residual blocks. A node refused here is refused again if a step reads it."""
        for node in graph.nodes:  # in order: a node's inputs come before it
            if node.op == "placeholder" and not node.args or any(
                    a in self.from_input for a in node.all_input_nodes):
                self.from_input.add(node)
        for node in graph.nodes:
            for remembered in (self.input_of, self.is_channels_last):
                try:
                    remembered(node)
                except Unsupported:
                    pass

    def input_of(self, node):
        """The value `node` is computed from: its one tensor input, or for a sum the value
        both its paths start from."""
        if node not in self.inputs:
            self.inputs[node] = self.computed_from(node)
        return self.inputs[node]

    def computed_from(self, node):
        """`input_of`, found."""
        if node.op == "get_attr":
            users = ", ".join(f"`{u.name}`" for u in node.users)
            raise Unsupported(f"forward reads the tensor `{node.target}` itself (in {users}): "
                              "curvscope's layers hold their own tensors; put it in a module")
        if (learned := self.learned_operands(node)) is not None:
            return learned[0]
        if self.own_tensors(node) is not None:
            return _given(node)["input"]
        if self.is_sum(node):
            return self.summed(node)[0]
        if self.is_product(node):
            return self.fork(*self.tensors_in(node))
        if self.is_cat(node):
            return functools.reduce(self.fork, self.cat_parts(node))
        if self.is_part(node):
            return self.input_of(node.args[0])
        inputs = self.tensors_in(node)
        if self.is_expansion(node):
            return inputs[0]
        if len(inputs) != 1:
            if _is_attention(node, self.model):
                self.check_self_attention(node, None)
            if node.op == "call_function" and _target(node) in _OWN_FORMS:
                by_root = not _owner(node) and all("." not in a.target for a in inputs
                                                   if a.op == "get_attr")
                raise Unsupported(
                    f"forward's `{node.name}` ({_describe(node)}): F.{_target(node)} is read only "
                    "as the layer of the module whose forward calls it, given that module's own "
                    f"{_OWN_FORMS_READ[_target(node)]}"
                    + ("; here the model itself holds them: wrap it, nn.Sequential(model)"
                       if by_root else ""))
            for read in (a for a in inputs if a.op == "get_attr"):
                self.input_of(read)  # refused, naming the tensor read
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) takes {len(inputs)} "
                              "tensors; curvscope's layers take one")
        if not self.is_unheld(inputs[0]):
            return inputs[0]
        # A run of rearrangements through values no layer holds (ShuffleNet's
        # [N, g, C/g, H, W]) is read whole, from the last value before it.
        if node.op in ("call_function", "call_method") and _function_name(node) in (
                *_REARRANGES, *_IDENTITIES):
            return self.input_of(inputs[0])
        shape = list(self.values[inputs[0]].shape[1:])
        tokens = (" made of maps by x.flatten(2).transpose(1, 2), and what layers make of them; "
                  f"these {shape} are not") if len(shape) == 2 else ""
        raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) takes values of shape "
                          f"{shape}, which no curvscope layer holds (it holds features [F], maps "
                          f"[C, H, W] and tokens [T, E]{tokens})")

    def is_expansion(self, node):
        """Whether `node` is `y.expand_as(x)` or `y.expand(…)` read only by products, which
        broadcast y themselves (the classic squeeze-and-excitation's `x * y.expand_as(x)`)."""
        return (node.op in ("call_function", "call_method")
                and _function_name(node) in ("expand", "expand_as") and bool(node.users)
                and all(u.op in ("call_function", "call_method")
                        and _function_name(u) in _PRODUCTS for u in node.users))

    def unexpanded(self, node):
        """The sample shape `node` has to curvscope: an expansion's input's."""
        return tuple(self.values[self.input_of(node) if self.is_expansion(node) else node]
                     .shape[1:])

    def is_part(self, node):
        """Whether `node` is a part of a split of a tensor (`x.chunk(2, 1)[0]`)."""
        return (node.op == "call_function" and _function_name(node) == "getitem"
                and isinstance(node.args[0], torch.fx.Node)
                and node.args[0].op in ("call_function", "call_method")
                and _function_name(node.args[0]) in _SPLITS
                and isinstance(self.values.get(node), torch.Tensor))

    def is_unheld(self, node):
        """Whether `node` rearranges or splits values into a shape no layer holds (neither
        [N, F], [N, C, H, W] nor tokens [N, T, E]: a transformer's `x.flatten(2)` on its way
        to `.transpose(1, 2)`)."""
        value = self.values.get(node)
        if not (node.op in ("call_function", "call_method")
                and _function_name(node) in (*_REARRANGES, *_IDENTITIES)):
            return False
        if isinstance(value, torch.Tensor) and value.dim() == 3:
            return not self.is_tokens(node)
        return not (isinstance(value, torch.Tensor) and value.dim() in (2, 4))

    def fork(self, a, b):
        """The latest value both `a` and `b` are computed from."""
        on_a, node = set(), a
        while node.op != "placeholder":
            on_a.add(node)
            node = self.input_of(node)
        on_a.add(node)
        while b not in on_a:
            b = self.input_of(b)
        return b

    def chain(self, start, end):
        """The steps computing `end` from `start`, in order: `path`'s values read as steps, each
        before the value it is computed from is found, so that a step's own refusal comes
        first."""
        steps = []
        while end is not start:
            if end.op == "placeholder":
                raise Unsupported("forward's output is not computed from its input along one "
                                  "path")
            step = self.step(end)  # a list: several steps of one node, in forward's order
            steps.extend(reversed(step) if isinstance(step, list) else [step])
            end = self.input_of(end)
        return _channels_last_blocks(steps[::-1])

    def step(self, node):
        """The step of the net that `node` is (a list of steps for several class tokens)."""
        if node.op == "get_attr":
            self.input_of(node)  # refused, naming the tensor
        owner = _owner(node)
        blocked = self.is_sum(node) or self.is_cat(node) or self.is_product(node)
        if blocked and any(self.is_channels_last(a) for a in self.tensors_in(node)):
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) joins paths of "
                              "channels-last values (after a permute); curvscope joins maps, "
                              "features, or paths permuted back first")
        if self.learned_operands(node) is not None or self.own_tensors(node) is not None:
            return self.parameter_step(node)
        if self.is_sum(node):
            return self.residual(node, owner)
        if self.is_cat(node):
            return self.concat(node, owner)
        if self.is_product(node):
            return self.product(node, owner)
        layers = self.arithmetic_layers(node)
        if layers is not None:
            self.check_position_wise(node, self.input_of(node), layers)
            return _plain_step(layers, owner)
        known = (*_FUNCTIONS, *_REARRANGES, *_IDENTITIES)
        if node.op in ("call_function", "call_method") and _function_name(node) not in known \
                and not self.is_expansion(node):
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) cannot be expressed "
                              "in curvscope")
        x = self.input_of(node)
        if node.op == "call_module":
            name, module = node.target, self.model.get_submodule(node.target)
            stateful = _holds_tensors(module)
            _refuse_unless(not (stateful and name in self.used), name, module,
                           "it runs twice in forward (or two branches read its output), and "
                           "each run would need its own tensors; give each use its own module")
            _refuse_unless(not any(u.startswith(f"{name}.") for u in self.used), name, module,
                           "forward also reads its tensors itself (tied weights), and each use "
                           "would need its own; give each use its own")
            if stateful:
                self.used.add(name)
            if _is(module, nn.MultiheadAttention):
                self.check_self_attention(node, x)
            if _timm(module, "GlobalResponseNorm"):
                _refuse_unless((module.channel_dim == -1) == self.is_channels_last(x), name,
                               module, "its channels_last flag is not the layout of the values "
                               "it runs on (maps, or maps permuted channels-last)")
            if _is_timm_attention(module) and (node.args[1:] or any(
                    v not in (None, False) for v in node.kwargs.values())):
                raise Unsupported(f"forward's `{node.name}` ({_describe(node)}): attention "
                                  "called with more than its input (masks, the maps' size: "
                                  "PVT's and others' attention of their own) is not "
                                  "expressible")
            *group, child = name.split(".")
            layers = _module_layers(name, module, {}, self.values[x])
            self.check_position_wise(node, x, layers)
            modules = [name] if stateful else []
            if stateful and layers[-1]["type"] == "group":  # a module kept whole: its parts
                modules = list(dict.fromkeys(  # in the order its layers read them
                    path for path in _leaf_paths(layers[-1]["layers"], name)
                    if _tensor_names(self.model, path, False)))
            return {"layers": layers, "group": group, "name": child, "stateful": stateful,
                    "modules": modules}
        if node.op not in ("call_function", "call_method"):
            raise Unsupported(f"forward's `{node.name}` ({node.op}) cannot be expressed")
        layers = self.function_layers(node, x)
        if not self.is_rearrangement(node, x):
            self.check_position_wise(node, x, layers)
        return _plain_step(layers, owner)

    def parameter_step(self, node):
        """The step of a scale x * γ, a shift x + β, an affine β + α·x (two steps), a class
        token or a position embedding (`learned_operands`, each layer named as its tensor) or of a module's own functional layer (`own_tensors`,
        named as the module), its tensors each read once."""
        x = self.input_of(node)
        given = self.values[x]
        where = f"forward's `{node.name}` ({_describe(node)})"
        learned = self.learned_operands(node)
        if learned is not None and learned[2] == "class_token":
            return self.class_token_steps(node, x, learned[1])
        if learned is not None and learned[2] == "affine":
            alpha, beta = learned[1]
            return [self.per_channel_step(node, x, "scale", alpha),
                    self.per_channel_step(node, x, "shift", beta)]
        if learned is not None and learned[2] in ("scale", "shift"):
            return self.per_channel_step(node, x, learned[2], learned[1])
        if learned is not None:
            target = self.parameter(learned[1]).target
            tensors, layer = [target], {"type": "position_embedding"}
            stored = list(self.model.get_parameter(target).shape)
            shape, (t, e) = list(self.values[learned[1]].shape), given.shape[1:]
            if set(shape[:-2]) - {1}:
                raise Unsupported(f"{where} adds `{target}` of shape {shape} to tokens "
                                  f"{[t, e]}; curvscope's position embedding has their shape")
            if stored != [1, t, e]:
                layer["shape"] = stored
        else:
            tensors, name = self.own_tensors(node), _target(node)
            args = _bind(where, name, node, self.values)
            if name == "layer_norm":
                layer = {"type": "layernorm", "shape": [int(s) for s in args["normalized_shape"]],
                         "eps": float(args["eps"]), "affine": True,
                         "bias": args["bias"] is not None}
            elif name == "rms_norm":
                layer = _rms_norm(args["normalized_shape"], args["eps"], True)
            elif name == "linear":
                layer = {"type": "linear", "out": int(args["weight"].shape[0]),
                         "bias": args["bias"] is not None}
            elif name == "group_norm":
                layer = {"type": "groupnorm", "groups": int(args["num_groups"]),
                         "eps": float(args["eps"]), "affine": True}
                if args["bias"] is None:  # timm's GroupNorm1NoBias
                    layer["bias"] = False
            else:
                gamma, beta = (args[k] is not None for k in ("weight", "bias"))
                if args["training"] or (beta and not gamma) or given.dim() not in (2, 4):
                    raise Unsupported(f"{where}: only batch norm in eval mode (with γ and β, γ "
                                      "alone or neither), on features or maps, is expressible")
                layer = {"type": "batchnorm2d" if given.dim() == 4 else "batchnorm1d",
                         "eps": float(args["eps"]), **_norm_flags(gamma, beta)}
                owner = tensors[0].rsplit(".", 1)[0]
                if hasattr(self.model.get_submodule(owner), "num_batches_tracked"):
                    tensors.append(f"{owner}.num_batches_tracked")
        return self.named_step(node, x, layer, tensors)

    def per_channel_step(self, node, x, kind, operand):
        """The step of a scale x · γ or a shift x + β of `node` on `x`, the parameter
        `operand` holding one value per channel (feature), or one for all, named as its
        tensor."""
        given, target = self.values[x], self.parameter(operand).target
        want = ((given.shape[-1],) if self.is_channels_last(x) or given.dim() in (2, 3)
                else (given.shape[1], 1, 1))
        shape = tuple(self.values[operand].shape)
        one_for_all = math.prod(shape) == 1
        if not one_for_all and (shape[len(shape) - len(want):] != want
                                or set(shape[:len(shape) - len(want)]) - {1}):
            verb, what = {"scale": ("multiplies", "by"), "shift": ("adds to", "")}[kind]
            raise Unsupported(
                f"forward's `{node.name}` ({_describe(node)}) {verb} values of shape "
                f"{list(given.shape[1:])} {what}{' ' if what else ''}`{target}` of shape "
                f"{list(shape)}; curvscope's {kind} holds one value per channel: [C, 1, 1] of "
                "maps [C, H, W], [F] of features, [E] of tokens [T, E] or channels-last values, "
                "or one for all"
                + (", and adds a position embedding of tokens' shape [T, E]"
                   if kind == "shift" else ""))
        layer = {"type": kind}
        stored = list(self.model.get_parameter(target).shape)
        if stored != list(want):
            layer["shape"] = stored
        return self.named_step(node, x, layer, [target])

    def named_step(self, node, x, layer, tensors):
        """The step of `layer` of `node` on `x`, reading `tensors` (each once in forward),
        named as its tensor (a scale, a class token, a position embedding) or module."""
        where = f"forward's `{node.name}` ({_describe(node)})"
        for tensor in tensors:
            if any(tensor == u or tensor.startswith(f"{u}.") for u in self.used):
                raise Unsupported(f"{where} reads `{tensor}` a second time: it runs twice in "
                                  "forward (or two branches read its output, or a module holding "
                                  "the tensor runs too), and each use would need its own tensor; "
                                  "give each use its own")
        self.used.update(tensors)
        self.check_position_wise(node, x, [layer])
        named_as_tensor = layer["type"] in ("scale", "shift", "class_token",
                                            "position_embedding")
        path = tensors[0] if named_as_tensor else tensors[0].rsplit(".", 1)[0]
        *group, name = path.split(".")
        return {"layers": [layer], "group": group, "name": name, "stateful": True,
                "modules": tensors}

    def check_position_wise(self, node, x, layers):
        """Refuses `layers` on channels-last values `[N, H, W, C]` unless each maps every
        position's channels on their own as curvscope's `channels_last` block runs them: linear
        layers, layer norms over [C], scales, a PReLU of one slope, dropout and activations (and
        timm's global response norm, over the block's positions); on
        tokens `[N, T, E]`, those, layer (RMS) norms over [T, E] and the transformer's own
        layers."""
        value = self.values[x]
        if _LEAVE in layers:  # those after it run on maps
            layers = layers[:layers.index(_LEAVE)]
        if value.dim() == 3:
            t, e = value.shape[1:]
            own, norms, where = ("attention", "class_token", "position_embedding", "token_mean",
                                 "flatten", "multiply", "transpose", "product"), ([e], [t, e]), \
                f"tokens {[t, e]}"
            allowed = ("linear layers, layer and RMS norms over [E] or [T, E], scales, shifts, a "
                       "PReLU of one slope, dropout, activations, self-attention, a class token, "
                       "a position embedding, a transpose and products")
        elif self.is_channels_last(x):
            own, norms = ("multiply", "global_response_norm"), ([value.shape[-1]],)
            where = f"channels-last values {list(value.shape[1:])} (after a permute)"
            allowed = ("layers of each position's channels only: linear, layer and RMS norm over "
                       "[C], a scale, a shift, a PReLU of one slope, dropout and activations; "
                       "and timm's GlobalResponseNorm")
        else:
            return
        for layer in layers:
            kind = layer["type"]
            if not (kind in ("linear", "scale", "shift", "dropout", "identity", *own,
                             *_ACTIVATIONS)
                    or (kind in ("layernorm", "rmsnorm") and layer["shape"] in norms)
                    or (kind == "prelu" and layer["num_parameters"] == 1)):
                raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) runs {kind} on "
                                  f"{where}; there curvscope runs {allowed}")

    def residual(self, node, owner):
        """The block a + b of two paths from one value, in the deepest submodule holding all
        its modules with tensors, its layers named as that submodule's (an unscoped block: a
        sum in a forward is no module of its own). The path whose first module with tensors
        comes first in `model.named_modules()` is the main branch (curvscope reads its tensors
        first), the other the shortcut."""
        a, b = self.tensors_in(node)
        start, taps = self.summed(node)
        if self.values[a].shape != self.values[b].shape:
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) adds values of shapes "
                              f"{list(self.values[a].shape[1:])} and "
                              f"{list(self.values[b].shape[1:])}; curvscope adds equal shapes")
        subtracted = []
        if _function_name(node) in ("sub", "subtract"):  # a − b = a + (−1)·b
            a, b = node.args
            subtracted = [_plain_step([{"type": "multiply", "by": -1.0}], owner)]
        branch = lambda v: [taps[v]] if v in taps else self.chain(start, v)  # noqa: E731
        branches = self.in_module_order([branch(a), branch(b) + subtracted])
        return self.residual_block(branches, owner, f"forward's `{node.name}` "
                                                    f"({_describe(node)})")

    def summed(self, node):
        """The value the two paths of the sum `node` start from, and {operand: its step} for an
        operand that is no path from it: the fork of the operands, or where one is computed
        from the fork and a part of a concatenation of channels the other is computed from
        (DLA's root, conv(cat([x2, x1, …])) + x2), that concatenation, the part a run of its
        channels (as a path from the fork, it would run its steps again)."""
        a, b = self.tensors_in(node)
        start = self.fork(a, b)
        for x, y in ((a, b), (b, a)):
            if y is not start and (tap := self.concatenation_tap(x, y, start)) is not None:
                return tap[0], {y: tap[1]}
        return start, {}

    def concatenation_tap(self, x, y, fork):
        """(c, the step of a narrow) where `y` is a part of a concatenation c of channels that
        `x` is computed from after `fork`, the narrow taking y's run of c's channels; else
        None."""
        node = x
        while node is not fork:
            node = self.input_of(node)
            at = [i for i, p in enumerate(self.cat_parts(node)) if p is y] \
                if self.is_channel_cat(node) else []
            if at:
                parts = self.cat_parts(node)
                start = sum(self.values[p].shape[1] for p in parts[:at[0]])
                narrow = {"type": "narrow", "start": start, "length": self.values[y].shape[1]}
                return node, _plain_step([narrow], _owner(node))
        return None

    def residual_block(self, branches, owner, where):
        """The step of the residual block of `branches` (main, shortcut), named as `residual`
        says."""
        group = _block_group(branches, owner)
        layers, shortcut = (_nest(branch, group) for branch in branches)
        if not layers:
            raise Unsupported(f"{where} adds a value to itself")
        block = {"type": "residual", "layers": layers, "shortcut": shortcut, "scoped": False}
        return _block_step(block, group, branches)

    def partial_residual(self, parts, owner):
        """`cat([x[:, :a] + s, x[:, a:]])`, the channels of one map x in order, one run of them
        plus s (ReXNet's shortcut into its block's first channels): x + s between zero
        channels, a residual block of x's path and s's with a `pad_channels`. None where
        `parts` are not so."""
        runs, added, at = [], None, None
        for i, part in enumerate(parts):
            if _is_channel_slice(part):
                runs.append(part)
                continue
            if not (added is None and self.is_sum(part) and _function_name(part) == "add"):
                return None
            operands = self.tensors_in(part)
            sliced = [a for a in operands if _is_channel_slice(a)]
            if len(operands) != 2 or len(sliced) != 1:
                return None
            runs.append(sliced[0])
            added, at = next(a for a in operands if a is not sliced[0]), i
        x = runs[0].args[0]
        if added is None or any(r.args[0] is not x for r in runs) or self.values[x].dim() != 4:
            return None
        channels = self.values[x].shape[1]
        bounds = [(span.start, span.stop) for span in (range(channels)[r.args[1][1]]
                                                       for r in runs)]
        if [a for a, _ in bounds] != [0] + [b for _, b in bounds[:-1]] \
                or bounds[-1][1] != channels or self.values[added].shape != self.values[
                    runs[at]].shape:
            return None
        pad = _plain_step([{"type": "pad_channels", "before": bounds[at][0],
                            "after": channels - bounds[at][1]}], owner)
        start = self.fork(x, added)
        branches = self.in_module_order([self.chain(start, x), self.chain(start, added) + [pad]])
        return self.residual_block(branches, owner, "forward's concatenation")

    def in_module_order(self, branches):
        """`branches` (lists of steps) by their first tensor's place in `model.state_dict()`
        (the order curvscope reads their tensors in), then those without tensors, the identity
        last."""
        rank = {name: i for i, name in enumerate(self.model.state_dict())}
        first = lambda b: rank[_tensor_names(self.model, _modules_of(b)[0], False)[0]]  # noqa: E731
        return sorted(branches, key=lambda b: (first(b) if _modules_of(b) else len(rank), not b))

    def product(self, node, owner):
        """The block a * b of two paths from one value, of one shape or a [C, 1, 1] scale of
        maps [C, H, W] (squeeze-and-excitation), grouped and named as a residual block is
        (`residual`), its paths in module order."""
        a, b = self.tensors_in(node)
        shapes = sorted((self.unexpanded(v) for v in (a, b)), key=math.prod)
        maps = len(shapes[0]) == len(shapes[1]) == 3
        c, h, w = (max(axis) for axis in zip(*shapes)) if maps else (None,) * 3
        if not (shapes[0] == shapes[1] or maps and all(
                s[0] in (c, 1) and s[1:] in ((h, w), (1, 1)) for s in shapes)):
            raise Unsupported(f"forward's `{node.name}` ({_describe(node)}) multiplies values of "
                              f"shapes {list(shapes[0])} and {list(shapes[1])}; curvscope "
                              "multiplies equal shapes, or maps [C, H, W] by a scale [C, 1, 1] "
                              "or a gate [1, H, W] (repeated as PyTorch broadcasts them)")
        start = self.fork(a, b)
        branches = self.in_module_order([self.chain(start, a), self.chain(start, b)])
        group = _block_group(branches, owner)
        block = {"type": "product", "branches": [_nest(branch, group) for branch in branches],
                 "scoped": False}
        return _block_step(block, group, branches)

    def concat(self, node, owner):
        """The block joining the channels of paths from one value, grouped and named as a
        residual block is (`residual`); the paths in the order forward concatenates them, the
        identity where a path is the value itself. A concatenation of one value is nothing."""
        parts = self.cat_parts(node)
        if len(parts) == 1:
            return _plain_step([], owner)
        read = self.partial_residual(parts, owner) or self.carried(parts, owner)
        if read:
            return read
        used = set(self.used)
        try:
            return self.factored(functools.reduce(self.fork, parts), parts, owner)
        except Unsupported:  # a module read by two paths, perhaps: runs of values joined once
            self.used = used
            if (read := self.summed_runs(parts, owner)) is None:
                raise
            return read

    def summed_runs(self, parts, owner):
        """`cat([u[:, a:b] + v[:, c:d], u[:, b:], v[:, d:]])`, parts that are runs of the
        channels of two or more maps u, v, … (slices, narrows or split parts, or the whole of
        one), some of them sums of two runs of one width (DPN's dual-path block, `cat([x_s1 +
        out1, x_s2, out2])`): u, v, … joined once, z = cat([u, v, …]), then a residual block
        from z of the parts' first runs side by side and of the sums' second runs between zero
        channels, each a `narrow` of z. As branches from the fork each run would compute its
        value again; `concat` tries that reading first and this one where it refuses. None
        where `parts` are not so."""
        def run(node):  # (base, first channel, channels): a run of base, or all of node
            return self.channel_run(node) or (node, 0, self.values[node].shape[1])

        operands = [self.tensors_in(part) if self.is_sum(part) and _function_name(part) == "add"
                    else [part] for part in parts]
        terms = [[run(a) for a in read] for read in operands]  # per part: its runs, one or two
        bases = list(dict.fromkeys(base for runs in terms for base, _, _ in runs))
        summed = [runs for runs in terms if len(runs) == 2]
        if not summed or any(a[2] != b[2] for a, b in summed) or len(bases) < 2 or \
                any(self.values[b].dim() != 4 or self.values[b].shape[2:] != self.values[
                    parts[0]].shape[2:] for b in bases):
            return None
        at = dict(zip(bases, itertools.accumulate(
            [0] + [self.values[b].shape[1] for b in bases])))
        fork = functools.reduce(self.fork, bases)


        first = [(at[base] + start, length) for (base, start, length), *_ in terms]
        second = [(at[runs[1][0]] + runs[1][1], runs[1][2]) if len(runs) == 2
                  else (None, runs[0][2]) for runs in terms]
        joined = self.factored(fork, bases, owner)
        return joined + [self.residual_block([[_channel_runs_step(first, owner)],
                                              [_channel_runs_step(second, owner)]], owner,
                                             "forward's concatenation")]

    def carried(self, parts, owner):
        """`cat([y₀, y₁, …])` of a map x's channel runs x₀, x₁, … (parts of a split, slices,
        narrows; in order, all of x), each yᵢ = fᵢ(xᵢ) or fᵢ(yᵢ₋₁ + xᵢ), yᵢ and a yᵢ₋₁ added of
        xᵢ's shape, one at least of the latter: Res2Net's hierarchical block. As branches from
        x, yᵢ would run every earlier f again; here each f runs once, on x's channels with the
        runs before xᵢ already their y: per part a concatenation of those runs, fᵢ of the run
        (of the previous y plus the run, a residual block of two narrows) and the runs after.
        None where `parts` are not so."""
        start = functools.reduce(self.fork, parts)
        if self.values[start].dim() != 4:
            return None

        def run(node):  # (first channel, channels) of a run of x, or None
            found = self.channel_run(node)
            return found[1:] if found and found[0] is start else None

        runs, sums = [], []  # each part's run of x; the sum yᵢ₋₁ + xᵢ it starts with, or None
        for i, part in enumerate(parts):
            path = self.path(start, part)
            if not path:
                return None
            x_i, added = path[0], None
            if i > 0 and self.is_sum(x_i) and _function_name(x_i) == "add":
                a, b = self.tensors_in(x_i)
                previous = parts[i - 1]
                if (a is previous) != (b is previous):
                    x_i, added = (b if a is previous else a), x_i
                    if self.values[previous].shape != self.values[x_i].shape:
                        return None
            runs.append(run(x_i))
            sums.append(added)
            if runs[-1] is None or self.values[part].shape != self.values[x_i].shape:
                return None
        channels = self.values[start].shape[1]
        if not any(sums) or [a for a, _ in runs] != [0] + [a + n for a, n in runs[:-1]] \
                or sum(n for _, n in runs) != channels:
            return None
        narrow = lambda a, n: _plain_step(  # noqa: E731
            [{"type": "narrow", "start": a, "length": n}], owner)
        steps = []
        for i, (part, (a, n), added) in enumerate(zip(parts, runs, sums)):
            if added is None:
                branch = self.chain(start, part)
            else:
                sum_step = self.residual_block([[narrow(*runs[i - 1])], [narrow(a, n)]], owner,
                                               f"forward's `{added.name}`")
                branch = [sum_step] + self.chain(added, part)
            if len(branch) == 1 and branch[0]["layers"] == [{"type": "narrow", "start": a,
                                                              "length": n}]:
                continue  # the run itself, carried on as it is
            branches = [b for b in ([narrow(0, a)] if a else [], branch,
                                    [narrow(a + n, channels - a - n)] if a + n < channels else [])
                        if b]
            group = _block_group(branches, owner)
            block = {"type": "concat", "branches": [_nest(b, group) for b in branches],
                     "scoped": False}
            steps.append(_block_step(block, group, branches))
        return steps

    def channel_run(self, node):
        """(x, first channel, channels) where `node` is a run of the channels of maps x, a
        slice `x[:, a:b]`, a narrow or a split's part, read from numbered values
        (`rearrangement`, which reads no module as run); else None."""
        value = self.values.get(node)
        if node.op not in ("call_function", "call_method") or _function_name(node) not in (
                "getitem", "narrow") or not isinstance(value, torch.Tensor) or value.dim() != 4:
            return None
        try:
            x = self.input_of(node)
            layers = self.rearrangement(node, x, f"forward's `{node.name}`")
        except Unsupported:
            return None
        if len(layers) != 1 or layers[0]["type"] != "narrow" or "dim" in layers[0]:
            return None
        return x, layers[0]["start"], layers[0]["length"]

    def factored(self, start, parts, owner):
        """The steps of the concatenation of `parts` computed from `start`: parts whose paths
        from it begin alike joined as the common steps and then a nested concatenation of the
        rest: VoVNet's and HGNet's `cat([x, f(x), g(f(x)), …])` is cat(x, f → cat(identity, g
        → cat(…))), SelecSLS's `cat([d1, d2, d3, x1])` of taps of one chain and another value
        the chain to d1 and its taps beside x1. As branches each from `start`, a later tap
        would run every earlier step again. Parts so joined that are not neighbours (DLA's
        root, `cat([g(f(x)), f(x), pool(x), h(f(x))])`) come out side by side, and a
        concatenation of `narrow`s puts the channels back in forward's order. Steps shared
        only up to channels-last values (a permute each part ends) are not joined: a block
        ends on maps."""
        groups = []  # (parts, their paths) beginning with one node, by their first part
        for part in parts:
            path = self.path(start, part)
            joins = [g for g in groups if path and g[1][0][:1] == path[:1]
                     and not self.is_channels_last(path[0])]
            if joins:
                joins[0][0].append(part)
                joins[0][1].append(path)
            else:
                groups.append(([part], [path]))
        branches = []
        for group, paths in groups:
            if len(group) == 1:
                branches.append(self.chain(start, group[0]))
                continue
            shared = 0
            while all(len(path) > shared and path[shared] is paths[0][shared] for path in paths):
                shared += 1
            while self.is_channels_last(paths[0][shared - 1]):  # paths[0][0] is not
                shared -= 1
            fork = paths[0][shared - 1]
            branches.append(self.chain(start, fork) + self.factored(fork, group, owner))
        group = _block_group(branches, owner)
        block = {"type": "concat", "branches": [_nest(branch, group) for branch in branches],
                 "scoped": False}
        joined = [part for group, _ in groups for part in group]
        return [_block_step(block, group, branches)] + self.reordered(joined, parts, owner)

    def reordered(self, joined, parts, owner):
        """The steps putting the channels of `joined` (`parts` grouped: each group's in their
        order, side by side) in the order of `parts`: none where it is that order, else a
        concatenation of `narrow`s of them."""
        if joined == parts:
            return []
        widths = [self.values[part].shape[1] for part in joined]
        starts = [sum(widths[:i]) for i in range(len(joined))]
        left = list(range(len(joined)))  # each part's place in joined, once
        runs = []
        for part in parts:
            i = next(i for i in left if joined[i] is part)
            left.remove(i)
            runs.append((starts[i], widths[i]))
        return [_channel_runs_step(runs, owner)]

    def path(self, start, end):
        """The values from `start` (not included) to `end`, in forward's order, without reading
        them as steps (`chain` does)."""
        path = []
        while end is not start:
            if end.op == "placeholder":
                raise Unsupported("forward's output is not computed from its input along one "
                                  "path")
            path.append(end)
            end = self.input_of(end)
        return path[::-1]

    def function_layers(self, node, x):
        """The layers of a function or tensor method applied to `x` (none for the identity)."""
        name = _function_name(node)
        where = f"forward's `{node.name}` ({_describe(node)})"
        if self.is_expansion(node) or self.is_attention_output(node):
            return []
        if _is_attention(x, self.model):
            raise Unsupported(f"{where}: forward reads attention weights; curvscope reads the "
                              "attention's output only")
        if self.is_rearrangement(node, x):
            return self.rearrangement(node, x, where)
        if node.args[:1] != (x,):
            raise Unsupported(f"{where}: its tensor is not its first argument")
        if name in _IDENTITIES:
            return []
        args = _bind(where, name, node, self.values)
        if name == "mean" and self.is_channels_last(x):  # global pooling of [N, H, W, C]
            if _mean_axes(args, 4) != {1, 2} or args["keepdim"]:
                raise Unsupported(f"{where}: of channels-last values only the mean over the "
                                  "positions, x.mean((1, 2)) without keepdim, is expressible")
            return [_LEAVE, {"type": "adaptive_avgpool2d", "output": 1}, {"type": "flatten"}]
        return _function_layers(where, name, args, self.values[x])

    def rearrangement(self, node, x, where):
        """The layers that do to a sample what forward does from `x` to `node` by reshapes,
        transposes and a split's part, found by running those steps on numbered values: none,
        a flatten, a channel shuffle, a space-to-depth, or a narrow (a run of channels)."""
        given, out = self.values[x], self.values[node]
        probe = torch.arange(given.numel(), dtype=torch.float64).reshape(given.shape)
        found = self.rerun(x, probe, node)
        if found.numel() == 0:
            raise Unsupported(f"{where}: an empty part of a split; curvscope's layers hold values")
        n, per_channel = given.shape[0], math.prod(given.shape[2:])
        if self.is_channels_last(x):  # only back to maps, to tokens, or nothing
            candidates = [([], probe), ([_LEAVE], probe.permute(0, 3, 1, 2)),
                          ([_LEAVE, {"type": "tokens"}], probe.flatten(1, 2))]
            return self.matching(candidates, found, given, out, where)
        candidates = [([], probe), ([{"type": "flatten"}], probe.flatten(1))]
        if given.dim() == 4:
            candidates.append(([_ENTER], probe.permute(0, 2, 3, 1)))
            candidates.append(([{"type": "tokens"}], probe.flatten(2).transpose(1, 2)))
        if given.dim() == 3:
            candidates.append(([{"type": "transpose"}], probe.transpose(1, 2)))
        if given.dim() == 3 and found.dim() == 2 and found.shape[1] == given.shape[2]:
            index = int(found.flatten()[0]) // given.shape[2]
            candidates.append(([{"type": "select_token", "index": index}], probe[:, index]))
        # The same numbers of each sample in another shape, read as such.
        same_numbers = found.shape[0] == n and found.numel() == given.numel()
        if same_numbers and given.dim() == 2 and found.dim() == 4:
            candidates.append(([{"type": "unflatten", "shape": list(found.shape[1:])}],
                               probe.reshape(found.shape)))
        if same_numbers and given.dim() == 3 and found.dim() == 4:  # tokens into maps [C, H, W]
            t, e = given.shape[1:]  # or channels-last [H, W, E] (T = H·W); where both could be
            reshaped = probe.reshape(found.shape)  # (W = 1), what forward does next decides
            readings = [([{"type": "flatten"},
                          {"type": "unflatten", "shape": list(found.shape[1:])}], reshaped)]
            if found.shape[3] == e and (found.shape[1] != t or _permutes_back(node)):
                readings.insert(0, ([{"type": "transpose"}, {"type": "flatten"},
                                     {"type": "unflatten", "shape": [e, *found.shape[1:3]]},
                                     _ENTER], reshaped))
            candidates += readings
        if same_numbers and given.dim() == found.dim() == 4 and found.shape[2] > 0 and \
                given.shape[2] % found.shape[2] == 0:  # TResNet's space-to-depth
            b = given.shape[2] // found.shape[2]
            c, h, w = given.shape[1:]
            if b > 1 and h % b == 0 and w % b == 0:
                candidates.append(([{"type": "space_to_depth", "block": b}], probe.view(
                    n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4).reshape(
                    n, b * b * c, h // b, w // b)))
        if given.dim() == 4:
            c = given.shape[1]
            candidates += [([{"type": "channel_shuffle", "groups": g}],
                            probe.view(n, g, c // g, *given.shape[2:]).transpose(1, 2)
                            .reshape(given.shape)) for g in range(2, c) if c % g == 0]
        if found.dim() == given.dim() and found.shape[1] < given.shape[1]:  # tokens' too
            start, length = int(found.flatten()[0]) // per_channel, found.shape[1]
            candidates.append(([{"type": "narrow", "start": start, "length": length}],
                               probe.narrow(1, start, length)))
        if given.dim() == found.dim() == 3 and found.shape[2] < given.shape[2]:  # features
            start, length = int(found.flatten()[0]), found.shape[2]
            candidates.append(([{"type": "narrow", "start": start, "length": length, "dim": 2}],
                               probe.narrow(2, start, length)))
        return self.matching(candidates, found, given, out, where)

    @staticmethod
    def matching(candidates, found, given, out, where):
        """The layers of the first candidate (layers, their result on the probe) that gives what
        forward `found`."""
        for layers, expected in candidates:
            if found.shape == expected.shape and torch.equal(found, expected):
                return layers
        raise Unsupported(f"{where}: reshapes a sample from {list(given.shape[1:])} to "
                          f"{list(out.shape[1:])} in a way curvscope cannot express (it can "
                          "flatten maps, unflatten features, shuffle the channels of maps, take "
                          "a run of them, move squares of pixels into channels as TResNet's "
                          "space-to-depth does, permute maps channels-last and back, make "
                          "tokens of maps' positions, take one token or a run of tokens or of "
                          "their features, transpose or flatten tokens)")

    def rerun(self, x, value, node):
        """`node`'s value with `x`'s replaced by `value`: the steps from one to the other run
        again in forward's order, everything else read as traced."""
        needed, stack = {node}, [node]
        while stack:
            for a in stack.pop().all_input_nodes:
                if a is not x and a not in needed:
                    needed.add(a)
                    stack.append(a)
        values = {x: value}
        step = x
        while step is not node:
            step = step.next
            if step not in needed or not any(a in values for a in step.all_input_nodes):
                continue
            args, kwargs = torch.fx.node.map_arg(
                (step.args, step.kwargs), lambda a: values.get(a, self.values.get(a)))
            if step.op == "call_method":
                values[step] = getattr(args[0], step.target)(*args[1:], **kwargs)
            elif step.op == "call_function":
                values[step] = step.target(*args, **kwargs)
            else:
                raise Unsupported(f"forward's `{step.name}` ({_describe(step)}) runs a module "
                                  "on values no layer holds")
        return values[node]


def _permutes_back(node):
    """Whether forward permutes `node`'s value from channels-last to maps next,
    `.permute(0, 3, 1, 2)` (after `.contiguous()` too)."""
    for user in node.users:
        name = user.target if user.op == "call_method" else getattr(user.target, "__name__", "")
        if user.op not in ("call_method", "call_function") or name not in ("contiguous",
                                                                             "permute"):
            continue
        if name == "contiguous":
            return _permutes_back(user)
        dims = user.args[1:] if len(user.args) > 2 else user.args[1:2] and user.args[1]
        if tuple(user.kwargs.get("dims", dims) or ()) == (0, 3, 1, 2):
            return True
    return False


def _is_token_pick(node):
    """Whether `node` indexes one token of a transformer's `[N, T, E]`, `x[:, 0]`."""
    index = node.args[1] if node.op == "call_function" and _target(node) == "getitem" else None
    whole = slice(None)
    return (isinstance(index, tuple) and len(index) in (2, 3) and index[0] == whole
            and isinstance(index[1], int) and all(i in (whole, Ellipsis) for i in index[2:]))


def _is_feature_slice(node):
    """Whether `node` indexes a run of the last axis, `x[..., a:b]` or `x[:, :, a:b]` (of tokens,
    a narrow of their features)."""
    index = node.args[1] if node.op == "call_function" and _target(node) == "getitem" else None
    whole = slice(None)
    return (isinstance(index, tuple) and len(index) >= 2 and isinstance(index[-1], slice)
            and index[-1].step in (None, 1) and index[-1] != whole
            and all(i == whole for i in index[1:-1]) and index[0] in (whole, Ellipsis))


def _is_channel_slice(node):
    """Whether `node` indexes a run of channels, `x[:, a:b]` (a narrow)."""
    index = node.args[1] if node.op == "call_function" and _target(node) == "getitem" else None
    whole = slice(None)
    return (isinstance(index, tuple) and len(index) >= 2 and index[0] == whole
            and isinstance(index[1], slice) and index[1].step in (None, 1)
            and all(i == whole or i is Ellipsis for i in index[2:]))


# What a permute of maps to channels-last `[N, H, W, C]` (`x.permute(0, 2, 3, 1)`) and back
# reads as: the ends of a channels_last block (`_channels_last_blocks`), never layers.
_ENTER, _LEAVE = {"type": "permute channels last"}, {"type": "permute channels first"}


def _channels_last_blocks(steps):
    """`steps` with each run between a permute to channels-last and the permute back as one
    step, a channels_last block of the run's layers, grouped and named as a residual block is
    (`_Trace.residual`)."""
    out, run = [], None
    for step in steps:
        if step["layers"][-1:] == [_ENTER]:  # after the layers making maps of tokens, if any
            if step["layers"][:-1]:
                out.append({**step, "layers": step["layers"][:-1]})
            run = []
        elif step["layers"][:1] == [_LEAVE]:  # back to maps, or on to tokens
            if run is None:
                raise Unsupported("forward permutes channels-last values back to maps along a "
                                  "path that did not permute them (two paths fork from "
                                  "channels-last values); fork from maps")
            if run:  # a permute and the permute back are nothing
                group = _block_group([run], step["group"])
                block = {"type": "channels_last", "layers": _nest(run, group)}
                out.append(_block_step(block, group, [run]))
            if step["layers"][1:]:
                out.append({**step, "layers": step["layers"][1:]})
            run = None
        else:
            (out if run is None else run).append(step)
    if run is not None:
        raise Unsupported("forward permutes maps channels-last and does not permute them back; "
                          "curvscope's layers of each position's channels end on maps")
    return out


def _given(node):
    """A call's arguments by name, its input as `input` (`F.linear(input=x, …)` too)."""
    return {**dict(zip(("input", *_FUNCTIONS[_target(node)]), node.args)), **node.kwargs}


def _unexpanded(node):
    """`node`'s input if it is an `expand`, else `node`."""
    expand = node.op in ("call_function", "call_method") and _function_name(node) == "expand"
    return node.args[0] if expand else node


def _cat_listed(node):
    """The tensors a concatenation's call lists (its first argument, or `tensors=`)."""
    return node.args[0] if node.args else node.kwargs.get("tensors")


def _cat_dim(node):
    """The axis a concatenation joins along (its second argument, `dim=` or `axis=`)."""
    return node.args[1] if len(node.args) > 1 else node.kwargs.get(
        "dim", node.kwargs.get("axis", 0))


def _block_group(branches, owner):
    """The module path a block of `branches` (lists of steps) belongs under: the deepest
    submodule holding all its modules with tensors, or `owner`, whose forward runs it, where it
    has none."""
    inner = [step["group"] for branch in branches for step in branch if step["stateful"]]
    return os.path.commonprefix(inner) if inner else owner


def _channel_runs_step(runs, owner):
    """The step joining runs of a value's channels, each (start, length), or zeros (None,
    length), side by side: `narrow`s, neighbours merged, zeros a `pad_channels` of the run
    before them (after the first run, before it); one run alone, or a concatenation."""
    merged = []
    for start, length in runs:
        if merged and start is not None and merged[-1][0] is not None \
                and sum(merged[-1]) == start:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        elif merged and start is None and merged[-1][0] is None:
            merged[-1] = (None, merged[-1][1] + length)
        else:
            merged.append((start, length))
    branches, before = [], 0
    for start, length in merged:
        if start is None:
            if not branches:
                before = length
            elif branches[-1][-1]["type"] == "pad_channels":
                branches[-1][-1]["after"] += length
            else:
                branches[-1].append({"type": "pad_channels", "before": 0,
                                     "after": length})
            continue
        branch = [{"type": "narrow", "start": start, "length": length}]
        if before:
            branch.append({"type": "pad_channels", "before": before, "after": 0})
            before = 0
        branches.append(branch)
    layers = branches[0] if len(branches) == 1 else [
        {"type": "concat", "branches": branches, "scoped": False}]
    return _plain_step(layers, owner)


def _plain_step(layers, group):
    """The step of `layers` holding no tensors (no module of their own), in `group`."""
    return {"layers": layers, "group": group, "name": None, "stateful": False, "modules": []}


def _block_step(block, group, branches):
    """The step that is the residual or concat `block` of `branches` in `group`."""
    steps = [step for branch in branches for step in branch]
    return {"layers": [block], "group": group, "name": None,
            "stateful": any(step["stateful"] for step in steps), "modules": _modules_of(steps)}


def _bind(where, name, node, values):
    """Function `name`'s arguments after its input, by name, as they were in the traced run
    (the input given as `input=` too)."""
    defaults = _FUNCTIONS[name]
    args = node.args[1:]
    kwargs = {k: v for k, v in node.kwargs.items() if k != "input"}
    if len(args) > len(defaults) or set(kwargs) - set(defaults):
        raise Unsupported(f"{where}: arguments {name} does not take")
    bound = {**defaults, **dict(zip(defaults, args)), **kwargs}
    return {k: torch.fx.node.map_arg(v, lambda n: values[n]) for k, v in bound.items()}


def _zero_padding(check, pad, mode, value, given):
    """The layers of F.pad(x, pad, mode, value) or `nn.ZeroPad2d` on maps: zero rows and columns
    around them (pad2d) and zero channels around theirs (pad_channels: a CIFAR ResNet's "option
    A" shortcut); none where nothing is padded. `given` is None in an nn.Sequential read module
    by module, where `_evaluate` checks that the values are maps."""
    pad = [int(p) for p in pad]
    check((given is None or given.dim() == 4) and mode == "constant" and value in (None, 0)
          and len(pad) in (2, 4, 6) and min(pad) >= 0,
          "only zeros around maps, F.pad(x, (left, right, top, bottom, before, after)) "
          "without cropping, are expressible")
    left, right, top, bottom, before, after = pad + [0] * (6 - len(pad))
    layers = []
    if left or right or top or bottom:
        layers.append({"type": "pad2d", "left": left, "right": right, "top": top,
                       "bottom": bottom})
    if before or after:
        layers.append({"type": "pad_channels", "before": before, "after": after})
    return layers


def _function_layers(where, name, args, given):
    """The curvscope layers of function `name` with `args` on a value like `given`."""
    def check(ok, why):
        if not ok:
            raise Unsupported(f"{where}: {why}")

    if name == "leaky_relu":
        return [{"type": "leaky_relu", "negative_slope": float(args["negative_slope"])}]
    if name == "gelu":
        return [{"type": "gelu", "approximate": args["approximate"]}]
    if name == "elu":
        check(math.isfinite(args["alpha"]), f"alpha={args['alpha']}: not a finite number")
        return [{"type": "elu", "alpha": float(args["alpha"])}]
    if name == "softplus":
        beta, threshold = float(args["beta"]), float(args["threshold"])
        check(beta > 0, f"beta={beta}: only beta > 0 is supported")
        check(math.isfinite(beta) and math.isfinite(threshold),
              f"beta={beta}, threshold={threshold}: not finite numbers")
        return [{"type": "softplus", "beta": beta, "threshold": threshold}]
    if name == "hardtanh":
        return [{"type": "hardtanh", "min_val": float(args["min_val"]),
                 "max_val": float(args["max_val"])}]
    if name in ("max_pool2d", "avg_pool2d"):
        if name == "max_pool2d":
            check(args["dilation"] in (1, (1, 1), [1, 1]), "dilation is not supported")
            check(not args["return_indices"], "return_indices=True is not supported")
        else:
            check(args["divisor_override"] is None, "divisor_override is not supported")
        stride = args["stride"] if args["stride"] not in (None, [], ()) else args["kernel_size"]
        pool = {"type": name.replace("_", ""),
                "kernel": _size2(args["kernel_size"], "kernel_size", where),
                "stride": _size2(stride, "stride", where),
                "padding": _size2(args["padding"], "padding", where)}
        # Written only where they are not PyTorch's defaults, so that earlier exports read the
        # same.
        if args["ceil_mode"]:
            pool["ceil_mode"] = True
        if name == "avg_pool2d" and not args["count_include_pad"]:
            pool["count_include_pad"] = False
        return [pool]
    if name == "adaptive_avg_pool2d":
        size = args["output_size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        check(None not in size, "an output size of None is not supported")
        return [{"type": "adaptive_avgpool2d", "output": _size2(size, "output_size", where)}]
    if name == "glu":  # a·σ(b) of the two halves
        check(given is not None, "read only from a traced forward, where its input's shape is "
              "known (not in an nn.Sequential)")
        check(given.dim() in (2, 4) and args["dim"] % given.dim() == 1
              and given.shape[1] % 2 == 0, "only the halves of an even number of channels "
              "(dim=1) or features are expressible")
        half = int(given.shape[1]) // 2
        return [{"type": "product", "branches": [
            [{"type": "narrow", "start": 0, "length": half}],
            [{"type": "narrow", "start": half, "length": half}, {"type": "sigmoid"}]]}]
    if name == "channel_shuffle":
        return [{"type": "channel_shuffle", "groups": int(args["groups"])}]
    if name == "layer_norm" and args["weight"] is None and args["bias"] is None:
        return [{"type": "layernorm", "shape": [int(s) for s in args["normalized_shape"]],
                 "eps": float(args["eps"]), "affine": False, "bias": False}]
    if name == "rms_norm" and args["weight"] is None:
        return [_rms_norm(args["normalized_shape"], args["eps"], False)]
    if name == "group_norm" and args["weight"] is None and args["bias"] is None:
        return [{"type": "groupnorm", "groups": int(args["num_groups"]),
                 "eps": float(args["eps"]), "affine": False}]
    if name in _OWN_FORMS:  # with a module's own tensors: `_Trace.parameter_step`
        check(False, "only with the tensors of the module whose forward calls it (a subclass of "
              f"a torch.nn module calling F.{name} with its own), or a layer, RMS or group norm "
              "with none, is expressible")
    if name == "stochastic_depth":
        check(not args["training"], "training=True drops at random even in eval mode")
        return []
    if name in _DROPOUT_FUNCTIONS:
        check(not args["training"], "training=True drops at random even in eval mode "
              "(pass training=self.training)")
        return [{"type": "dropout", "p": float(args["p"])}]
    if name == "getitem" and given is not None and given.dim() == 3:
        check(False, "on tokens only one token x[:, i], a run of them x[:, a:b] or of their "
              "features x[..., a:b] is expressible")
    if name == "getitem":  # x[:, :, ::s, ::t], a CIFAR ResNet's "option A" subsampling
        index = args["index"]
        whole = slice(None)
        check(given.dim() == 4 and isinstance(index, tuple) and len(index) == 4
              and index[:2] == (whole, whole)
              and all(isinstance(s, slice) and s.start in (None, 0) and s.stop is None
                      and (s.step or 1) >= 1 for s in index[2:]),
              "only the subsampling x[:, :, ::s, ::t] of maps is expressible")
        steps = [s.step or 1 for s in index[2:]]
        if steps == [1, 1]:
            return []
        return [{"type": "avgpool2d", "kernel": 1, "stride": _size2(steps, "stride", where),
                 "padding": 0}]
    if name == "pad":
        return _zero_padding(check, args["pad"], args["mode"], args["value"], given)
    if name == "mean" and given is not None and given.dim() == 3:  # tokens
        dims = args["dim"]
        check(dims in (1, -2, (1,), [1], (-2,), [-2]) and not args["keepdim"],
              "only the mean of the tokens, x.mean(dim=1) without keepdim, is expressible")
        return [{"type": "token_mean"}]
    if name == "mean":
        check(given.dim() == 4 and _mean_axes(args, 4) == {2, 3}, "only the mean over a map's "
              "height and width (dims 2, 3) is expressible")
        pool = {"type": "adaptive_avgpool2d", "output": 1}
        return [pool] if args["keepdim"] else [pool, {"type": "flatten"}]
    return [{"type": name}]


def _mean_axes(args, dims):
    """The axes (0 … `dims` − 1) a mean's bound `args` reduce, one or several given."""
    axes = args["dim"]
    return {d % dims for d in ([axes] if isinstance(axes, int) else axes or [])}


def _target(node):
    return node.target if isinstance(node.target, str) else getattr(
        node.target, "__name__", repr(node.target))


def _describe(node):
    """`node` as forward wrote it, roughly: `relu(conv1)`, `add(out, x)`."""
    args = ", ".join(str(a) for a in node.args)
    return f"{_target(node)}({args})"


def _owner(node):
    """The path of the module whose forward runs `node` (torch.fx's module stack)."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [value[0] if isinstance(value, tuple) else key for key, value in stack.items()]
    if node.op == "call_module":
        paths = [p for p in paths if p != node.target]
    return paths[-1].split(".") if paths and paths[-1] else []


def _leaf_paths(layers, prefix):
    """The full names of `layers`' named layers other than groups and blocks, in order, named
    under `prefix` as curvscope names them (a group's and a scoped block's layers under its
    name, an unnamed one's by its index, an unscoped block's and channels_last's as its
    siblings)."""
    for index, layer in enumerate(layers):
        name = f"{prefix}.{layer.get('name', index)}"
        if layer["type"] == "group":
            yield from _leaf_paths(layer["layers"], name)
        elif layer["type"] in ("residual", "concat", "product", "channels_last"):
            inner = name if layer.get("scoped", layer["type"] != "channels_last") else prefix
            branches = layer.get("branches") or [layer["layers"], layer.get("shortcut", [])]
            for branch in branches:
                yield from _leaf_paths(branch, inner)
        elif "name" in layer:
            yield name


def _modules_of(steps):
    """The modules with tensors of `steps`, in the order of their layers."""
    return [m for step in steps for m in step["modules"]]


def _nest(steps, base):
    """The layers of `steps`, named relative to the module path `base`: a module's layer in
    groups named for its path (`layer1.0.conv1` as group `layer1`, group `0`, layer `conv1`),
    a step without tensors in the innermost open group on the way to its module."""
    root = []
    stack = [(base, root)]
    for step in steps:
        group = step["group"]
        while len(stack) > 1 and group[:len(stack[-1][0])] != stack[-1][0]:
            stack.pop()
        if step["stateful"]:
            for segment in group[len(stack[-1][0]):]:
                layers = []
                stack[-1][1].append({"name": segment, "type": "group", "layers": layers})
                stack.append((stack[-1][0] + [segment], layers))
        named = step["name"] is not None and stack[-1][0] == group
        stack[-1][1].extend({"name": step["name"], **layer} if named else layer
                            for layer in step["layers"])
    return root


def normalization(mean, std, channels):
    """checkpoint.json's `normalize`: torchvision's Normalize(mean, std), one value or one per
    channel (the input's first axis), each std > 0."""
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    if len(mean) != len(std) or len(mean) not in (1, channels):
        raise ValueError(f"normalize: {len(mean)} means and {len(std)} stds for {channels} "
                         "channels (give one value, or one per channel)")
    if not all(s > 0 for s in std):
        raise ValueError(f"normalize: every std must be > 0, got {std}")
    return {"mean": mean, "std": std}


def export(model, input_shape, out, dtype=torch.float32, normalize=None, **meta):
    """Writes `out`/model.safetensors and `out`/checkpoint.json for `model` (an nn.Sequential,
or any model whose forward torch.fx can read: `_traced_layers`).

    `dtype` is the storage precision (float32 or float64). `normalize=(mean, std)` records the
    training transform's `transforms.Normalize(mean, std)`: curvscope then applies
    (x − mean_c) / std_c to every dataset it evaluates the model on (give it the raw images,
    pixels / 255). `meta` adds fields to checkpoint.json (e.g. step=, seed=,
    dataset="CIFAR-10 train"). The model is read and checked on a float64 copy
    (`_architecture`), so a model that cannot take samples of `input_shape` fails here and the
    model itself is left as it was.
    """
    from safetensors.torch import save_file

    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype}: curvscope reads float32 or float64 checkpoints")
    model = _unwrapped(model)
    if next(model.parameters(), None) is None:
        raise ValueError("the model has no parameters: there is no gradient or Hessian to measure")
    arch, used = _architecture(model, input_shape)
    if normalize is not None:
        meta = {"normalize": normalization(*normalize, channels=int(input_shape[0])), **meta}
    tensors = {}
    for name, tensor in model.state_dict().items():
        if used is not None and name not in used:
            continue
        tensor = tensor.detach().cpu()
        tensors[name] = tensor if name.endswith("num_batches_tracked") else tensor.to(dtype)
        tensors[name] = tensors[name].contiguous()
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "checkpoint.json"), "w") as f:
        json.dump({"arch": arch, **meta}, f, indent=2)
        f.write("\n")
    return arch


def every_layer_net():
    """A small net using every supported layer kind, a nested group and named children."""
    from collections import OrderedDict

    features = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=1, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), bias=False),
        nn.LeakyReLU(0.1),
        nn.AvgPool2d(2, stride=1, padding=1),
        nn.Sequential(nn.Conv2d(6, 5, 1), nn.Tanh()),
        nn.AdaptiveAvgPool2d((3, 2)),
    )
    classifier = nn.Sequential(
        nn.Linear(30, 12), nn.BatchNorm1d(12), nn.Sigmoid(), nn.Dropout(0.5), nn.Linear(12, 5)
    )
    return nn.Sequential(OrderedDict(
        features=features, flatten=nn.Flatten(), classifier=classifier))


def smooth_activations_net():
    """A small net using every smooth activation beside tanh and sigmoid (GELU in both of its
    forms, SiLU, ELU, Softplus), on [2, 6, 6] maps and on features."""
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.GELU(), nn.Flatten(),
        nn.Linear(108, 8), nn.GELU(approximate="tanh"),
        nn.Linear(8, 8), nn.SiLU(),
        nn.Linear(8, 8), nn.ELU(alpha=0.7),
        nn.Linear(8, 8), nn.Softplus(beta=2.0, threshold=0.2),
        nn.Linear(8, 4),
    )


def more_activations_net():
    """A small net using Hardswish, PReLU (per channel on maps, shared on features), Mish,
    Hardtanh and ReLU6, on [2, 6, 6] maps and on features."""
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.Hardswish(), nn.PReLU(3), nn.Flatten(),
        nn.Linear(108, 8), nn.Mish(),
        nn.Linear(8, 8), nn.Hardtanh(-0.5, 0.5),
        nn.Linear(8, 8), nn.ReLU6(),
        nn.Linear(8, 8), nn.PReLU(init=0.1),
        nn.Linear(8, 4),
    )


def residual_net():
    """A small ResNet of torchvision's blocks on [3, 8, 8] images, with its stem and names:
    a BasicBlock with the identity shortcut, one downsampling by a strided 1×1 convolution and
    batch norm, a Bottleneck, then a `Residual` on features with a projection shortcut. Needs
    torchvision."""
    from collections import OrderedDict

    from torchvision.models.resnet import BasicBlock, Bottleneck

    downsample = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 4, 3, padding=1, bias=False), bn1=nn.BatchNorm2d(4), relu=nn.ReLU(),
        maxpool=nn.MaxPool2d(3, stride=1, padding=1),
        layer1=nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 8, stride=2, downsample=downsample)),
        layer2=nn.Sequential(Bottleneck(8, 2)),
        avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(),
        head=Residual(nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 6)),
                      nn.Linear(8, 6, bias=False)),
        fc=nn.Linear(6, 5)))


def normalization_net():
    """A small net using layer norm (over a sample's maps, over their last axis, over features,
    without β, without γ and β), group norm (on maps, on features) and batch norm without β
    (`bias=False`, on maps) and without γ and β (`affine=False`, on features), on [4, 5, 5]
    maps."""
    return nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
        nn.LayerNorm([4, 5, 5]), nn.Conv2d(4, 3, 2), nn.LayerNorm(4, eps=1e-3, bias=False),
        nn.Tanh(), nn.BatchNorm2d(3, bias=False), nn.Flatten(),
        nn.Linear(48, 8), nn.LayerNorm(8), nn.ReLU(),
        nn.Linear(8, 6), nn.GroupNorm(3, 6, eps=1e-2), nn.Tanh(),
        nn.Linear(6, 6), nn.LayerNorm(6, elementwise_affine=False),
        nn.BatchNorm1d(6, eps=1e-3, affine=False), nn.Linear(6, 4),
    )


def traced_net():
    """A small ResNet written as classes, as papers' code writes one, for the traced export
    (on [3, 16, 16] images): an in-place ReLU module, functional pooling (a kernel computed from
    a size), CIFAR-style blocks (`out += shortcut(x)`, the shortcut the identity, a strided 1×1
    convolution with batch norm, or akamaster's option A), a mean over the maps kept and viewed
    flat, GELU and dropout by function, a sum in the net's own forward, and one in a submodule
    whose shortcut is written first. Its modules are registered in forward order."""
    return _TracedNet()


class _Lambda(nn.Module):
    """akamaster's `LambdaLayer`: forward is a function."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


class _TracedBlock(nn.Module):
    """A CIFAR ResNet's BasicBlock (kuangliu's, akamaster's): where its shape changes, the
    shortcut is option B (a strided 1×1 convolution with batch norm) or option A (subsampling,
    then zero channels around the maps', no tensors)."""

    def __init__(self, channels, planes, stride=1, option="B"):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if (stride != 1 or channels != planes) and option == "A":
            self.shortcut = _Lambda(lambda x: F.pad(
                x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))
        elif stride != 1 or channels != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(channels, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class _TracedHead(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(features, features), nn.ReLU(),
                                 nn.Linear(features, features))
        self.proj = nn.Linear(features, features, bias=False)

    def forward(self, x):
        return self.proj(x) + self.mlp(x).sigmoid()


class _TracedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(_TracedBlock(4, 4), _TracedBlock(4, 8, stride=2))
        self.layer2 = nn.Sequential(_TracedBlock(8, 16, stride=2, option="A"))
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 16)
        self.head = _TracedHead(16)
        self.fc3 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, stride=1, padding=1)
        x = F.leaky_relu(self.layer2(self.layer1(x)), 0.2)
        x = F.avg_pool2d(x, x.size(3) // 2)
        x = x.mean((2, 3), keepdim=True)
        x = x.view(x.size(0), -1)
        h = F.dropout(F.gelu(self.fc1(x), approximate="tanh"), 0.3, training=self.training)
        x = x + torch.tanh(self.fc2(h))
        return self.fc3(self.head(x))


def grouped_net():
    """A small net of grouped and dilated convolutions written as classes (on [3, 12, 12]
    images): MobileNetV2's inverted residual block (a 1×1 expansion, a depthwise 3×3 of one
    group per channel, a 1×1 projection, ReLU6 and batch norm), a ResNeXt-style strided 3×3 of
    4 groups, a dilated 3×3 of 3 groups with padding='same' in a sum, and a 2×3 kernel of
    2 groups whose taps lie 2 apart along one axis only."""
    return _GroupedNet()


def padding_net():
    """A small net of uneven zero padding written as a class (on [3, 9, 9] images): nn.ZeroPad2d
    and nn.ConstantPad2d of zeros, PyTorch's padding='same' of an even 4×4 kernel (one row and
    column before, two after) and of a dilated 2×3 kernel (uneven rows, even columns), timm's
    `Conv2dSame` (TensorFlow's "SAME") at strides 2 and (2, 3), and F.pad of rows, columns and
    channels at once. Needs timm."""
    return _PaddingNet()


class _PaddingNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import Conv2dSame
        self.pad = nn.ZeroPad2d((1, 0, 2, 1))
        self.stem = nn.Conv2d(3, 4, 4, padding="same", bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.down = Conv2dSame(4, 6, 3, stride=2)
        self.wide = nn.Conv2d(6, 6, (2, 3), padding="same", dilation=(1, 2), groups=3)
        self.blank = nn.ConstantPad2d((0, 1, 1, 0), 0.0)
        self.odd = Conv2dSame(8, 8, (3, 2), stride=(2, 3), dilation=(2, 1))
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(self.pad(x))))
        x = F.relu(self.wide(self.down(x)))
        x = self.odd(self.blank(F.pad(x, (0, 1, 2, 0, 1, 1))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 2), 1))


def std_conv_net():
    """A small net of timm's weight-standardised convolutions (on [3, 10, 10] images): BiT's
    `StdConv2d` (ε 1e-8, no bias) before a group norm, `StdConv2dSame` at stride 2 (an uneven
    TensorFlow "SAME" padding), NFNets' `ScaledStdConv2d` grouped with a bias and γ = 1.7, and
    `ScaledStdConv2dSame` of a dilated 2×3 kernel at stride (2, 1). Needs timm."""
    return _StdConvNet()


class _StdConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import (ScaledStdConv2d, ScaledStdConv2dSame, StdConv2d,
                                 StdConv2dSame)
        self.stem = StdConv2d(3, 6, 3, eps=1e-8)
        self.gn = nn.GroupNorm(2, 6)
        self.down = StdConv2dSame(6, 8, 3, stride=2)
        self.grouped = ScaledStdConv2d(8, 8, 3, groups=2, gamma=1.7)
        self.same = ScaledStdConv2dSame(8, 6, (2, 3), stride=(2, 1), dilation=(1, 2))
        self.fc = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x):
        x = F.relu(self.down(F.relu(self.gn(self.stem(x)))))
        x = self.same(F.silu(self.grouped(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 2), 1))


def eca_net():
    """A small net of timm's `EcaModule` (ECA-Net's channel attention: the maps times a sigmoid
    of their channel means convolved along the channels) with kernels 3 and 5, on [3, 8, 8]
    images. Needs timm."""
    return _EcaNet()


class _EcaNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import EcaModule
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.eca = EcaModule(kernel_size=3)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.eca2 = EcaModule(kernel_size=5)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.eca(F.relu(self.bn(self.stem(x))))
        return self.fc(self.eca2(F.relu(self.down(x))).mean((2, 3)))


def grn_net():
    """A small net of ConvNeXt V2's global response norm on [3, 8, 8] images: timm's
    `GlobalResponseNorm` on maps after a ReLU, then timm's `ConvNeXtBlock` with `use_grn` in
    both forms, its MLP of 1×1 convolutions (GRN on maps, as convnextv2_atto…nano) and of
    linear layers between permutes (GRN channels-last, convnextv2_tiny and larger), and one on
    average-pooled maps (curvscope's maps [N, C, H, W], not its pixel rows). The GRNs'
    γ and β are drawn from N(0, 1) (timm starts them at 0, where GRN is the identity) and the
    stem's channel 0 is dead (weights 0, bias −1), so the first GRN meets a channel of norm 0.
    Needs timm."""
    model = _GrnNet()
    with torch.no_grad():
        for module in model.modules():
            if _timm(module, "GlobalResponseNorm"):
                module.weight.normal_()
                module.bias.normal_()
        model.stem.weight[0] = 0.0
        model.stem.bias[0] = -1.0
    return model


class _GrnNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers.grn import GlobalResponseNorm
        from timm.models.convnext import ConvNeXtBlock
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.grn = GlobalResponseNorm(8, eps=1e-5, channels_last=False)
        block = functools.partial(ConvNeXtBlock, 8, kernel_size=3, mlp_ratio=2, use_grn=True,
                                  ls_init_value=None)
        self.conv_mlp = block(conv_mlp=True)
        self.linear_mlp = block(conv_mlp=False)
        self.pooled = GlobalResponseNorm(8, channels_last=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.linear_mlp(self.conv_mlp(self.grn(F.relu(self.stem(x)))))
        return self.fc(self.pooled(F.avg_pool2d(x, 2)).mean((2, 3)))


def blur_net():
    """A small net of anti-aliased downsampling on [3, 32, 32] images: timm's `SpaceToDepth`
    (TResNet's stem), then timm's `BlurPool2d` with each of `F.pad`'s modes (a reflection,
    timm's default, at stride 2; replication with a filter of 5 and no channels given; circular;
    zeros with an even filter of 4 at stride 2, as timm's `blurpc`) and a space-to-depth of
    2 × 2 squares written as TResNet writes it (a view, a permute and a view). Needs timm."""
    return _BlurNet()


class _BlurNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import BlurPool2d, SpaceToDepth
        self.s2d = SpaceToDepth()
        self.stem = nn.Conv2d(48, 6, 3, padding=1)
        self.aa = nn.Sequential(BlurPool2d(6), BlurPool2d(filt_size=5, stride=1,
                                                          pad_mode="replicate"),
                                BlurPool2d(6, stride=1, pad_mode="circular"))
        self.conv = nn.Conv2d(24, 8, 1)
        self.down = BlurPool2d(8, filt_size=4, pad_mode="constant")
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.aa(F.relu(self.stem(self.s2d(x))))
        n, c, h, w = x.shape
        x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(
            n, 4 * c, h // 2, w // 2)
        return self.fc(self.down(F.relu(self.conv(x))).mean((2, 3)))


def gate_net():
    """A small net of products PyTorch broadcasts, on [3, 8, 8] images: a spatial gate
    `x * σ(conv(x))` of one channel (CBAM's form, its map from a convolution), and a
    squeeze-and-excitation scale [C, 1, 1] times a gate [1, H, W], each repeated the other way,
    added to the maps."""
    return _GateNet()


class _GateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.gate = nn.Conv2d(6, 1, 3, padding=1)
        self.scale = nn.Conv2d(6, 6, 1)
        self.gate2 = nn.Conv2d(6, 1, 1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = x * torch.sigmoid(self.gate(x))
        x = x + torch.sigmoid(self.scale(x.mean((2, 3), keepdim=True))) * torch.tanh(
            self.gate2(x))
        return self.fc(x.mean((2, 3)))


def focal_net():
    """A small net of timm's `FocalModulation` (FocalNet's) on [3, 8, 8] images: two focal
    levels with its layer norm after the modulation and the modulator averaged
    (`normalize_modulator`), and one level without. Needs timm."""
    return _FocalNet()


class _FocalNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import LayerNorm2d
        from timm.models.focalnet import FocalModulation
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.focal = FocalModulation(4, focal_window=3, focal_level=2, use_post_norm=True,
                                     normalize_modulator=True, norm_layer=LayerNorm2d)
        self.focal2 = FocalModulation(4, focal_window=5, focal_level=1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = F.relu(self.stem(x))
        return self.fc(self.focal2(x + self.focal(x)).mean((2, 3)))


def split_attention_net():
    """A small net of attention across paths on [3, 8, 8] images: timm's `SplitAttn` of radix
    2 in 2 groups (ResNeSt's), its radix 1 (a sigmoid gate), and its `SelectiveKernel` of three
    `ConvNormAct` paths (dilated 1, 2 and 3) on all channels and of two on runs of them
    (SKNet's `split_input`). Needs timm."""
    return _SplitAttentionNet()


class _SplitAttentionNet(nn.Module):
    def __init__(self):
        super().__init__()
        from timm.layers import SelectiveKernel, SplitAttn
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.splat = SplitAttn(8, 8, groups=2, radix=2, rd_channels=2, norm_layer=nn.BatchNorm2d)
        self.gate = SplitAttn(8, 8, radix=1, rd_channels=4, norm_layer=nn.BatchNorm2d)
        self.sk = SelectiveKernel(8, 6, kernel_size=[3, 5, 7], split_input=False, rd_channels=4)
        self.sk2 = SelectiveKernel(6, 6, kernel_size=[3, 5], rd_channels=4)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = self.gate(self.splat(F.relu(self.stem(x))))
        return self.fc(self.sk2(self.sk(x)).mean((2, 3)))


class _InvertedResidual(nn.Module):
    """MobileNetV2's block (torchvision's `InvertedResidual`, stride 1): the input plus
    expansion, depthwise convolution and projection."""

    def __init__(self, channels, expansion):
        super().__init__()
        hidden = channels * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.conv(x)


class _GroupedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.block = _InvertedResidual(8, 2)
        self.grouped = nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4)
        self.dilated = nn.Conv2d(12, 12, 3, padding="same", dilation=2, groups=3, bias=False)
        self.wide = nn.Conv2d(12, 6, (2, 3), dilation=(1, 2), groups=2)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = F.relu6(self.bn(self.stem(x)))
        x = F.relu(self.grouped(self.block(x)))
        x = x + F.silu(self.dilated(x))
        x = F.adaptive_avg_pool2d(F.relu(self.wide(x)), 1)
        return self.fc(torch.flatten(x, 1))


def concat_net():
    """A small net of concatenations written as classes (on [3, 8, 8] images): kuangliu's
    DenseNet layers (`torch.cat([out, x], 1)`), a torchvision-style dense block (each layer
    reads the concatenation of every earlier output, and the block returns all of them), an
    Inception module of three branches (one GoogLeNet's size-keeping max pooling), and flat
    features joined with `dim=-1` from a tuple; and pooling in `ceil_mode` (8 → 5 → 3 → 1
    pixels: last windows cut short, 5 → 3 a window in the right padding dropped, 3 → 1 a
    4×4 window over 3×3 maps), an average pooling not counting its padding."""
    return _ConcatNet()


class _DenseLayer(nn.Module):
    """kuangliu's DenseNet `Bottleneck`: x ↦ cat(conv2(relu(bn2(conv1(relu(bn1(x)))))), x)."""

    def __init__(self, channels, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, 2 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * growth)
        self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class _DenseBlock(nn.ModuleDict):
    """torchvision's `_DenseBlock`: layer i reads cat(x, out₁, …, outᵢ₋₁); the block returns
    cat(x, out₁, …, outₙ)."""

    def __init__(self, channels, growth, layers):
        super().__init__({f"layer{i + 1}": nn.Sequential(
            nn.BatchNorm2d(channels + i * growth), nn.ReLU(),
            nn.Conv2d(channels + i * growth, growth, 3, padding=1, bias=False))
            for i in range(layers)})

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class _Inception(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(channels, 3, 1), nn.BatchNorm2d(3), nn.ReLU(True))
        self.b2 = nn.Sequential(nn.Conv2d(channels, 2, 1), nn.ReLU(True),
                                nn.Conv2d(2, 4, 3, padding=1))
        self.b3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                nn.Conv2d(channels, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)


class _ConcatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.dense1 = _DenseLayer(4, 2)
        self.dense2 = _DenseLayer(6, 2)
        self.block = _DenseBlock(8, 2, 3)
        self.inception = _Inception(14)
        self.fc1 = nn.Linear(9, 4)
        self.fc2 = nn.Linear(13, 5)

    def forward(self, x):
        x = self.dense2(self.dense1(self.conv(x)))
        x = F.avg_pool2d(self.block(x), 3, 2, 1, ceil_mode=True, count_include_pad=False)
        x = F.max_pool2d(self.inception(x), 2, 2, 1, ceil_mode=True)
        x = torch.flatten(F.avg_pool2d(x, 4, 2, ceil_mode=True), 1)
        return self.fc2(torch.cat((torch.tanh(self.fc1(x)), x), dim=-1))


def product_net():
    """A small net of products written as classes (on [3, 8, 8] images), with torchvision's
    `SqueezeExcitation` (x ↦ scale(x) * x) and `StochasticDepth`: MobileNetV3's inverted
    residual (Hardswish, a hard-sigmoid scale), EfficientNet's MBConv (SiLU, a sigmoid scale,
    stochastic depth before the sum), a scale read second (`x * scale`, RegNetY's order
    written the other way), SENet's own squeeze-and-excitation (linear layers on features,
    `x * y.view(b, c, 1, 1).expand_as(x)`), a gated linear unit on features
    (`a(x) * sigmoid(b(x))`, both paths with tensors) and a gate `x * sigmoid(g(x))`. Needs
    torchvision."""
    return _ProductNet()


class _MobileNetV3Block(nn.Module):
    def __init__(self, channels, expanded):
        from torchvision.ops import SqueezeExcitation
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded),
            nn.Hardswish(),
            nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False),
            nn.BatchNorm2d(expanded), nn.Hardswish(),
            SqueezeExcitation(expanded, 3, scale_activation=nn.Hardsigmoid),
            nn.Conv2d(expanded, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return self.block(x) + x


class _MBConv(nn.Module):
    def __init__(self, channels):
        from torchvision.ops import SqueezeExcitation, StochasticDepth
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.BatchNorm2d(channels), nn.SiLU(),
            SqueezeExcitation(channels, 2, activation=nn.SiLU),
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.stochastic_depth = StochasticDepth(0.2, "row")

    def forward(self, x):
        result = self.stochastic_depth(self.block(x))
        result += x
        return result


class _ScaleSecond(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(self.pool(x)))


class _ClassicSE(nn.Module):
    """Squeeze-and-excitation as SENet's reference code writes it."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction, bias=False),
                                nn.ReLU(inplace=True),
                                nn.Linear(channels // reduction, channels, bias=False),
                                nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class _ProductNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4),
                                  nn.Hardswish())
        self.mobile = _MobileNetV3Block(4, 6)
        self.mbconv = _MBConv(4)
        self.se = _ScaleSecond(4)
        self.classic = _ClassicSE(4, 2)
        self.a, self.b = nn.Linear(16, 6), nn.Linear(16, 6)
        self.g = nn.Linear(6, 6)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = self.classic(self.se(self.mbconv(self.mobile(self.stem(x)))))
        x = torch.flatten(F.avg_pool2d(x, 2), 1)
        x = self.a(x) * torch.sigmoid(self.b(x))
        return self.fc(x * torch.sigmoid(self.g(x)))


def channels_last_net():
    """A small ConvNeXt written as classes (on [3, 8, 8] images): a patchify stem and
    torchvision's `LayerNorm2d` (permute, F.layer_norm of its own weight and bias, permute back),
    torchvision's `CNBlock` (depthwise convolution, `Permute`, layer norm and MLP on each
    position's channels, `Permute`, a layer scale [C, 1, 1], stochastic depth, `+=`), timm's
    form of the block (its layer scale [C] among the channels-last values, `x.permute` in
    forward), a downsampling and a head of a hand-written `LayerNorm2d`. Needs torchvision."""
    return _ConvNeXt()


class _LayerNorm2d(nn.LayerNorm):
    """timm's `LayerNorm2d`."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class _TimmBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv_dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.fc2(F.gelu(self.fc1(self.norm(x))))
        x = x.mul(self.gamma).permute(0, 3, 1, 2)
        return x + shortcut


class _ConvNeXt(nn.Module):
    def __init__(self):
        from torchvision.models.convnext import CNBlock, LayerNorm2d
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 2, stride=2), LayerNorm2d(4, eps=1e-6))
        self.stage = nn.Sequential(CNBlock(4, 0.5, 0.1), _TimmBlock(4))
        self.down = nn.Sequential(_LayerNorm2d(4), nn.Conv2d(4, 6, 2, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(LayerNorm2d(6), nn.Flatten(1), nn.Linear(6, 5))

    def forward(self, x):
        return self.head(self.pool(self.down(self.stage(self.stem(x)))))


def functional_net():
    """A small net of modules that call the functional forms of their layers with their own
    tensors, as timm's do (on [3, 8, 8] images): `BatchNormAct2d` (F.batch_norm of its running
    statistics, γ and β, then an activation), `Linear` (F.linear of its weight and bias), batch
    norm on features the same way, and layer scales stored `[C]` and viewed `[1, C, 1, 1]`
    (timm's `LayerScale2d`, `gamma.view(1, -1, 1, 1)`; ConvNeXt's `gamma.reshape(1, -1, 1, 1)`;
    `gamma.unsqueeze(-1).unsqueeze(-1)`)."""
    return _FunctionalNet()


class _BatchNormAct(nn.BatchNorm2d):
    """timm's `BatchNormAct2d` (on maps) and its form on features."""

    def __init__(self, channels, act, **options):
        super().__init__(channels, **options)
        self.act = act

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)
        return self.act(x)


class _Linear(nn.Linear):
    """timm's `Linear`."""

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class _KeywordLinear(nn.Linear):
    def forward(self, x):
        return F.linear(input=x, weight=self.weight, bias=self.bias)


class _GroupNorm(nn.GroupNorm):
    """timm's `GroupNormAct` without its activation."""

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class _LayerScale2d(nn.Module):
    """timm's `LayerScale2d`."""

    def __init__(self, channels):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class _FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = _BatchNormAct(4, nn.SiLU())
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.bn_dw = _BatchNormAct(4, nn.ReLU())
        self.ls = _LayerScale2d(4)
        self.pw = nn.Conv2d(4, 4, 1)
        self.gamma = nn.Parameter(torch.full((4,), 2.0))
        self.beta = nn.Parameter(torch.full((4,), 0.7))
        self.fc1 = _Linear(16, 6)
        self.bn_fc = _BatchNormAct(6, nn.Identity())
        self.fc = _Linear(6, 5, bias=False)

    def forward(self, x):
        x = self.bn(self.conv(x))
        x = x + self.ls(self.bn_dw(self.dw(x)))
        x = self.pw(x).mul(self.gamma.reshape(1, -1, 1, 1))
        x = (F.avg_pool2d(x, 4) * self.beta.unsqueeze(-1).unsqueeze(-1)).flatten(1)
        return self.fc(F.relu(self.bn_fc(self.fc1(x))))


def vit_net():
    """torchvision's VisionTransformer, small (on [3, 8, 8] images): patches of 4×4 by a strided
    convolution as 4 tokens of 8 features, a class token, a position embedding, two encoder
    blocks (a layer norm and 2-head self-attention, a layer norm and a GELU MLP, each with its
    shortcut), a last layer norm, the class token's features and a linear head."""
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=8, patch_size=4, num_layers=2, num_heads=2,
                             hidden_dim=8, mlp_dim=16, num_classes=5)


def tokens_net():
    """A transformer written as a class (on [3, 8, 8] images), timm's way where torchvision's
    differs: tokens by `x.flatten(2).transpose(1, 2)`, a class token and a position embedding
    stored [T, E], torchvision's EncoderBlock, self-attention of one head without biases scaled
    by a layer scale [E], a layer norm over all of [T, E], a PReLU, and the tokens flattened
    for the head."""
    return _TokensNet()


class _TokensNet(nn.Module):
    def __init__(self):
        super().__init__()
        from torchvision.models.vision_transformer import EncoderBlock
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos_embed = nn.Parameter(torch.randn(5, 8) * 0.5)
        self.block = EncoderBlock(2, 8, 16, 0.0, 0.0)
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 1, bias=False, batch_first=True)
        self.gamma = nn.Parameter(torch.ones(8))
        self.norm_all = nn.LayerNorm([5, 8])
        self.act = nn.PReLU()
        self.head = nn.Linear(40, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.block(x + self.pos_embed)
        h = self.norm(x)
        x = x + self.gamma * self.attn(h, h, h)[0]
        return self.head(self.act(self.norm_all(x)).flatten(1))


def mixer_net():
    """MLP-Mixer, ResMLP and gMLP blocks written as classes (on [3, 8, 8] images), timm's
    ways: patches of 4×4 by a convolution without bias plus a shift [C, 1, 1], 4 tokens of 8; a
    mixer block (a layer norm, the tokens transposed, a GELU MLP across the 4 tokens, transposed
    back, with its shortcut; a layer norm and an MLP of the features with its shortcut); a
    ResMLP block (timm's `Affine`, `torch.addcmul(beta, alpha, x)` of [1, 1, E], then a linear
    layer across the tokens by `transpose(-1, -2)` under a layer scale; DeiT's repository's
    affine `alpha * x + beta` of [E], then an MLP under a layer scale); a gMLP block (timm's
    spatial gating unit: the features split in halves by `x.chunk(2, dim=-1)`, one normalized
    and mixed across the tokens, their product); a gated MLP (timm's `GluMlp`, halves by
    `split`, `a * F.silu(b)`); the mean of the tokens and a linear head. RMS norms: of the
    patches' maps over [H, W] (`nn.RMSNorm`, ε PyTorch's default), before the gMLP block (ε
    1e-6), of the gated MLP's input (`F.rms_norm` without γ) and last (timm's `RmsNorm`,
    `F.rms_norm` of its own γ)."""
    return _MixerNet()


class _RmsNorm(nn.Module):
    """timm's `RmsNorm`."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.normalized_shape, self.eps = (dim,), eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)


class _SpatialGatingUnit(nn.Module):
    """timm's gMLP `SpatialGatingUnit`."""

    def __init__(self, dim, tokens):
        super().__init__()
        self.norm = nn.LayerNorm(dim // 2)
        self.proj = nn.Linear(tokens, tokens)

    def forward(self, x):
        u, v = x.chunk(2, dim=-1)
        v = self.proj(self.norm(v).transpose(-1, -2))
        return u * v.transpose(-1, -2)


class _Affine(nn.Module):
    """timm's ResMLP `Affine`."""

    def __init__(self, dim):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones((1, 1, dim)))
        self.beta = nn.Parameter(torch.zeros((1, 1, dim)))

    def forward(self, x):
        return torch.addcmul(self.beta, self.alpha, x)


class _MixerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4, bias=False)
        self.patch_bias = nn.Parameter(torch.zeros(8, 1, 1))
        self.stem_norm = nn.RMSNorm([2, 2])
        self.norm1 = nn.LayerNorm(8)
        self.mlp_tokens = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 4))
        self.norm2 = nn.LayerNorm(8)
        self.mlp_channels = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.affine = _Affine(8)
        self.linear_tokens = nn.Linear(4, 4)
        self.ls1 = nn.Parameter(torch.ones(8))
        self.alpha = nn.Parameter(torch.ones(8))
        self.beta = nn.Parameter(torch.zeros(8))
        self.mlp = nn.Sequential(nn.Linear(8, 12), nn.GELU(), nn.Linear(12, 8))
        self.ls2 = nn.Parameter(torch.ones(8))
        self.norm3 = nn.RMSNorm(8, eps=1e-6)
        self.gmlp = nn.Sequential(nn.Linear(8, 12), nn.GELU(), _SpatialGatingUnit(12, 4),
                                  nn.Linear(6, 8))
        self.glu_in = nn.Linear(8, 10)
        self.glu_out = nn.Linear(5, 8)
        self.norm = _RmsNorm(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem_norm(self.patch(x) + self.patch_bias).flatten(2).transpose(1, 2)
        x = x + self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.mlp_channels(self.norm2(x))
        y = self.linear_tokens(self.affine(x).transpose(-1, -2)).transpose(-1, -2)
        x = x + self.ls1 * y
        x = x + self.ls2 * self.mlp(self.alpha * x + self.beta)
        x = x + self.gmlp(self.norm3(x))
        a, b = self.glu_in(F.rms_norm(x, (8,))).split(5, dim=-1)
        x = x + self.glu_out(a * F.silu(b))
        return self.head(self.norm(x).mean(dim=1))


def metaformer_net():
    """MetaFormer blocks written as classes (on [3, 8, 8] images), timm's ways: PoolFormer's
    token mixer, a difference `pool(x) - x`, after a group norm of one group without β (timm's
    `GroupNorm1NoBias`, `F.group_norm` of its own γ; and `nn.GroupNorm` with its β set to None)
    under a layer scale; an MLP of 1×1 convolutions with StarReLU (`s * relu(x) ** 2 + b`, s and
    b parameters of one value); MobileOne's sum with a missing identity branch (`+ 0`); a
    difference of two convolutions, squares `x * x` and `torch.square(x)`; the maps' mean and a
    linear head."""
    return _MetaFormerNet()


class _GroupNorm1NoBias(nn.GroupNorm):
    """timm's `GroupNorm1NoBias`."""

    def __init__(self, channels):
        super().__init__(1, channels, eps=1e-6)
        self.bias = None

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class _StarReLU(nn.Module):
    """timm's `StarReLU`."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.scale * F.relu(x) ** 2 + self.bias


class _MetaFormerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.norm1 = _GroupNorm1NoBias(4)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.ls1 = nn.Parameter(torch.ones(4, 1, 1))
        self.norm2 = nn.GroupNorm(1, 4)
        self.norm2.bias = None
        self.fc1 = nn.Conv2d(4, 6, 1)
        self.act = _StarReLU()
        self.fc2 = nn.Conv2d(6, 4, 1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        x = self.stem(x)
        y = self.norm1(x)
        x = x + self.ls1 * (self.pool(y) - y)
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        identity = 0
        x = self.a(x) + identity
        h = self.a_minus_b(x)
        x = h * h - torch.square(F.relu(x))
        return self.head(x.mean((2, 3)))

    def a_minus_b(self, x):
        return torch.tanh(self.b(x)) - x


def shuffle_net():
    """A small net of channel splits and shuffles written as classes (on [3, 8, 8] images):
    torchvision's ShuffleNetV2 `InvertedResidual`, strided (both branches) and not
    (`x.chunk(2, dim=1)`: one half kept, one convolved), joined and shuffled by its
    `channel_shuffle`; `nn.ChannelShuffle` of three groups; on features a gated linear unit
    (`a, b = h.chunk(2, 1)`, `a * torch.sigmoid(b)`) and parts of a split by sizes joined the
    other way round. Needs torchvision."""
    return _ShuffleNet()


class _ShuffleNet(nn.Module):
    def __init__(self):
        from torchvision.models.shufflenetv2 import InvertedResidual
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                   nn.ReLU(inplace=True))
        self.stage = nn.Sequential(InvertedResidual(8, 12, 2), InvertedResidual(12, 12, 1))
        self.shuffle = nn.ChannelShuffle(3)
        self.fc1 = nn.Linear(12, 8)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        h = self.shuffle(self.stage(self.conv1(x))).mean([2, 3])
        a, b = self.fc1(h).chunk(2, 1)
        head, tail = (a * torch.sigmoid(b)).split([1, 3], dim=1)
        return self.fc(torch.cat([tail, head], 1))


class Residual(nn.Module):
    """x ↦ body(x) + shortcut(x): a residual block the exporter reads, for a net of one's own
    (torchvision's `BasicBlock` and `Bottleneck` are read as they are). `body` and `shortcut`
    are modules it can express (an nn.Sequential, say); the default shortcut is the identity.
    Their tensors are named `<block>.body.…` and `<block>.shortcut.…`."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = nn.Identity() if shortcut is None else shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class SkipSequential(nn.Sequential):
    """x + layers(x): a subclass whose forward is not its base's (the self-check's refusals)."""

    def forward(self, x):
        return x + super().forward(x)


def _without(module, *tensors):
    """`module` with its `tensors` set to None after it was built."""
    for name in tensors:
        setattr(module, name, None)
    return module


class Cubed(nn.Linear):
    def forward(self, x):
        return super().forward(x).pow(3)


class Forward(nn.Module):
    """A model whose forward is `function(self, x)` over the modules (and parameters) given by
    name (the self-check's traced models)."""

    def __init__(self, function, **modules):
        super().__init__()
        self.function = function
        for name, module in modules.items():
            setattr(self, name, module)

    def forward(self, x):
        return self.function(self, x)


def _skip_over_iadd(m, x):
    h = m.fc1(x)
    skip = h
    h += m.fc2(h)  # in place: skip is h
    return m.out(h + skip)


class _Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)

    def forward(self, x, mask=None):
        return self.fc(x if mask is None else x * mask)


def _hidden_clip(m, x):
    h = m.fc(x)
    a = F.hardtanh(h, -3.0, 3.0, inplace=True)  # h is clipped too, past ±3 only
    return m.out(m.fc2(a) + h)


def _frozen(m, x):
    with torch.no_grad():  # not in torch.fx's graph
        h = m.fc(x)
    return m.out(h)


def _dropped_relu(m, x):
    h = m.fc(x)
    h.relu_()  # in place, its result unused: torch.fx's graph reads h as it was before
    return m.fc2(h)


def _view_relu(m, x):
    h = m.fc(x)
    h.view(-1, 2, 1).relu_()  # in place through a view: h changes too
    return m.fc2(h)


def hooked(model, index):
    """`model` with a forward hook on its child `index` that changes the child's output."""
    model[index].register_forward_hook(lambda module, inputs, output: output + 1)
    return model


def _self_check():
    import tempfile

    from safetensors.torch import load_file

    torch.manual_seed(0)
    model = every_layer_net()
    with tempfile.TemporaryDirectory() as out:
        arch = export(model, (3, 16, 16), out, dtype=torch.float64, step=0)
        loaded = load_file(os.path.join(out, "model.safetensors"))
        state = model.state_dict()
        assert list(sorted(loaded)) == list(sorted(state)), "every state_dict tensor is written"
        for name, tensor in state.items():
            assert torch.equal(loaded[name], tensor.to(loaded[name].dtype)), name
        assert loaded["features.1.num_batches_tracked"].dtype == torch.int64
        with open(os.path.join(out, "checkpoint.json")) as f:
            assert json.load(f) == {"arch": arch, "step": 0}
        export(model, (3, 16, 16), out, normalize=([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]))
        with open(os.path.join(out, "checkpoint.json")) as f:
            assert json.load(f)["normalize"] == {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
        for bad in [([0.5, 0.5], [0.2, 0.2]), ([0.5], [0.0])]:
            try:
                export(model, (3, 16, 16), out, normalize=bad)
            except ValueError as e:
                assert "normalize: " in str(e), str(e)
            else:
                raise AssertionError(f"normalize={bad} not refused")
    smooth = architecture(smooth_activations_net(), (2, 6, 6))
    assert smooth["layers"][1] == {"type": "gelu", "approximate": "none"}
    assert smooth["layers"][4] == {"type": "gelu", "approximate": "tanh"}
    assert smooth["layers"][8] == {"type": "elu", "alpha": 0.7}
    assert smooth["layers"][10] == {"type": "softplus", "beta": 2.0, "threshold": 0.2}
    # Identities keep their index, so the layers after them keep their tensors' names.
    identities = architecture(nn.Sequential(
        nn.Linear(3, 4), nn.Identity(), nn.AlphaDropout(0.1), nn.Linear(4, 2)), (3,))
    assert [layer["type"] for layer in identities["layers"]] == [
        "linear", "identity", "dropout", "linear"]
    assert [layer["type"] for layer in architecture(nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.Dropout2d(0.2), nn.Flatten(), nn.Dropout1d(0.2)),
        (1, 5, 5))["layers"]] == ["conv2d", "dropout", "flatten", "dropout"]
    # Instance norm (without and with γ, β) is group norm of one channel per group.
    instance = architecture(nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.InstanceNorm2d(3), nn.ReLU(), nn.Conv2d(3, 3, 1),
        nn.InstanceNorm2d(3, eps=1e-3, affine=True), nn.Flatten(), nn.Linear(27, 2)), (2, 5, 5))
    assert instance["layers"][1] == {"type": "groupnorm", "groups": 3, "eps": 1e-5,
                                     "affine": False}
    assert instance["layers"][4] == {"type": "groupnorm", "groups": 3, "eps": 1e-3,
                                     "affine": True}
    try:
        architecture(nn.Sequential(nn.Conv2d(2, 3, 3), nn.InstanceNorm2d(
            3, track_running_stats=True), nn.Flatten(), nn.Linear(27, 2)), (2, 5, 5))
    except Unsupported as e:
        assert "track_running_stats=True" in str(e), str(e)
    else:
        raise AssertionError("InstanceNorm2d with running statistics not refused")
    norms = architecture(normalization_net(), (4, 5, 5))
    assert norms["layers"][1] == {"type": "groupnorm", "groups": 2, "eps": 1e-5, "affine": True}
    assert norms["layers"][5] == {"type": "layernorm", "shape": [4], "eps": 1e-3,
                                  "affine": True, "bias": False}
    assert norms["layers"][16] == {"type": "layernorm", "shape": [6], "eps": 1e-5,
                                   "affine": False, "bias": False}
    assert [norms["layers"][i] for i in (7, 17)] == [
        {"type": "batchnorm2d", "eps": 1e-5, "bias": False},
        {"type": "batchnorm1d", "eps": 1e-3, "affine": False}], norms["layers"]
    more = architecture(more_activations_net(), (2, 6, 6))
    assert more["layers"][2] == {"type": "prelu", "num_parameters": 3, "init": 0.25}
    assert more["layers"][7] == {"type": "hardtanh", "min_val": -0.5, "max_val": 0.5}
    assert more["layers"][9] == {"type": "relu6"}  # not its base class, Hardtanh
    assert architecture(nn.Sequential(nn.Linear(2, 2), nn.Hardsigmoid()), (2,))["layers"][1] == {
        "type": "hardsigmoid"}
    kinds = "".join(json.dumps(a) for a in [arch, smooth, identities, norms, more])
    # A residual block with the identity shortcut, and one whose body is one layer.
    blocks = architecture(nn.Sequential(
        Residual(nn.Sequential(nn.Linear(3, 3), nn.ReLU())), nn.ReLU(),
        Residual(nn.Linear(3, 3), nn.Linear(3, 3))), (3,))
    assert blocks["layers"] == [
        {"type": "residual", "layers": [{"name": "body", "type": "group", "layers": [
            {"type": "linear", "out": 3, "bias": True}, {"type": "relu"}]}], "shortcut": []},
        {"type": "relu"},
        {"type": "residual",
         "layers": [{"name": "body", "type": "linear", "out": 3, "bias": True}],
         "shortcut": [{"name": "shortcut", "type": "linear", "out": 3, "bias": True}]}], blocks
    kinds += json.dumps(blocks)
    # A Residual as another's body; a hook on an identity shortcut is refused.
    nested = architecture(nn.Sequential(Residual(Residual(nn.Linear(3, 3)))), (3,))
    assert nested["layers"][0]["layers"] == [
        {"name": "body", "type": "residual",
         "layers": [{"name": "body", "type": "linear", "out": 3, "bias": True}], "shortcut": []}]
    block = Residual(nn.Linear(3, 3))
    block.shortcut.register_forward_hook(lambda module, inputs, output: output + 1)
    try:
        architecture(nn.Sequential(block), (3,))
    except Unsupported as e:
        assert "module `0.shortcut` (Identity): forward hooks" in str(e), str(e)
    else:
        raise AssertionError("a hooked identity shortcut was exported")
    try:
        resnet = architecture(residual_net(), (3, 8, 8))
    except ImportError:
        print("torchvision is not installed: its blocks were not checked")
    else:
        block = resnet["layers"][4]["layers"][2]
        assert [layer.get("name") for layer in block["layers"]] == [
            "conv1", "bn1", "relu", "conv2", "bn2"], block
        assert block["shortcut"][0]["name"] == "downsample"
        # Each block is followed by its last ReLU, named as the block.
        assert [(e.get("name"), e["type"]) for e in resnet["layers"][4]["layers"]] == [
            (None, "residual"), ("0", "relu"), ("1", "residual"), ("1", "relu")]
        bottleneck = resnet["layers"][5]["layers"][0]["layers"]
        assert [layer.get("name") for layer in bottleneck] == [
            "conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3"]
    # Uneven padding is a pad2d layer before the convolution, named as it: PyTorch's
    # padding='same' of an even kernel (the extra zero after), one of even spans stays the
    # convolution's own; and timm's "SAME" convolutions (`padding_net`).
    same = architecture(nn.Sequential(
        nn.Conv2d(1, 2, 2, padding="same"), nn.Conv2d(2, 2, 3, padding="same", dilation=2),
        nn.ZeroPad2d(0), nn.Flatten()), (1, 5, 4))
    assert same["layers"] == [
        {"type": "pad2d", "left": 0, "right": 1, "top": 0, "bottom": 1},
        {"name": "0", "type": "conv2d", "out": 2, "kernel": 2, "stride": 1, "padding": 0,
         "bias": True},
        {"name": "1", "type": "conv2d", "out": 2, "kernel": 3, "stride": 1, "padding": 2,
         "dilation": 2, "bias": True},
        {"name": "2", "type": "identity"}, {"name": "3", "type": "flatten"}], same["layers"]
    kinds += json.dumps(same)
    try:
        padded = architecture(padding_net(), (3, 9, 9))
        from timm.layers import Conv2dSame
    except ImportError:
        print("timm is not installed: its Conv2dSame was not checked")
    else:
        assert [layer.get("name") for layer in padded["layers"]
                if layer["type"] == "pad2d"] == ["pad", "stem", "down", "wide", None, "blank",
                                                 "odd"], padded["layers"]
        # In an nn.Sequential its padding needs the input's size: read from forward instead.
        tf_same = architecture(nn.Sequential(Conv2dSame(1, 2, 3, stride=2), nn.Flatten()),
                               (1, 6, 5))
        assert tf_same["layers"][:2] == [
            {"name": "0", "type": "pad2d", "left": 1, "right": 1, "top": 0, "bottom": 1},
            {"name": "0", "type": "conv2d", "out": 2, "kernel": 3, "stride": 2, "padding": 0,
             "bias": True}], tf_same["layers"]
        # timm's "SAME" poolings: a max pooling's −∞ as its own padding in ceil mode, an
        # average pooling's zeros as a pad2d layer before it; an odd total at stride 1 refused.
        from timm.layers.pool2d_same import AvgPool2dSame, MaxPool2dSame
        pools = architecture(nn.Sequential(nn.Conv2d(1, 2, 1), MaxPool2dSame(3, 2),
                                           AvgPool2dSame(3, 2), nn.Flatten()), (1, 8, 7))
        assert pools["layers"][1:4] == [
            {"name": "1", "type": "maxpool2d", "kernel": 3, "stride": 2, "padding": [0, 1],
             "ceil_mode": True},
            {"name": "2", "type": "pad2d", "left": 0, "right": 1, "top": 0, "bottom": 1},
            {"name": "2", "type": "avgpool2d", "kernel": 3, "stride": 2, "padding": 0}], \
            pools["layers"]
        _assert_refused([(nn.Sequential(nn.Conv2d(1, 2, 1), MaxPool2dSame(2, 1), nn.Flatten()),
                          "module `1` (MaxPool2dSame): a \"SAME\" padding of [1, 1] rows and "
                          "columns at stride 1", (1, 4, 4))])
        # Weight-standardised convolutions: ε, and a Scaled one's gain and scale γ/√fan-in.
        # A "SAME" form at stride 1 of an odd kernel pads statically (its same_pad unset).
        from timm.layers import ScaledStdConv2d, StdConv2d, StdConv2dSame
        standardised = architecture(nn.Sequential(StdConv2d(1, 2, 3, eps=1e-8),
                                                  ScaledStdConv2d(2, 2, 1, gamma=2.0),
                                                  StdConv2dSame(2, 2, 3), nn.Flatten()),
                                    (1, 4, 4))
        assert standardised["layers"][:3] == [
            {"type": "conv2d", "out": 2, "kernel": 3, "stride": 1, "padding": 1, "bias": False,
             "standardize": {"eps": 1e-8}},
            {"type": "conv2d", "out": 2, "kernel": 1, "stride": 1, "padding": 0, "bias": True,
             "standardize": {"eps": 1e-6, "gain": True, "scale": 2.0 * 2 ** -0.5}},
            {"type": "conv2d", "out": 2, "kernel": 3, "stride": 1, "padding": 1, "bias": False,
             "standardize": {"eps": 1e-6}}], standardised["layers"]
        # ECA: a product of the maps and their gate, the conv1d named as the module's conv.
        eca = architecture(eca_net(), (3, 8, 8))["layers"]
        assert [(layer.get("name"), layer["type"]) for layer in eca] == [
            ("stem", "conv2d"), ("bn", "batchnorm2d"), (None, "relu"), ("eca", "product"),
            ("down", "conv2d"), (None, "relu"), ("eca2", "product"),
            (None, "adaptive_avgpool2d"), (None, "flatten"), ("fc", "linear")], eca
        assert eca[6]["branches"] == [[], [
            {"type": "adaptive_avgpool2d", "output": 1}, {"type": "flatten"},
            {"name": "conv", "type": "conv1d", "kernel": 5, "padding": 2, "bias": False},
            {"type": "sigmoid"}, {"type": "unflatten", "shape": [16, 1, 1]}]], eca[6]
        from timm.layers import EcaModule
        _assert_refused([(nn.Sequential(nn.Conv2d(1, 8, 1), EcaModule(channels=8, use_mlp=True)),
                          "module `1` (EcaModule): ECA's MLP mode", (1, 4, 4)),
                         (nn.Sequential(nn.Conv2d(1, 8, 1), EcaModule(gate_layer="tanh")),
                          "module `1` (EcaModule): only a sigmoid gate is expressible, not Tanh",
                          (1, 4, 4))])
        # GRN: on maps, and inside the channels_last block of a ConvNeXt block's linear MLP.
        grn = architecture(grn_net(), (3, 8, 8))["layers"]
        assert grn[2] == {"name": "grn", "type": "global_response_norm", "eps": 1e-5}, grn
        conv_mlp, linear_mlp = (group["layers"][0]["layers"] for group in grn[3:5])
        assert [layer["type"] for layer in conv_mlp[2]["layers"]] == [
            "conv2d", "gelu", "dropout", "global_response_norm", "conv2d", "dropout"], conv_mlp
        assert [layer["type"] for layer in linear_mlp[1]["layers"]] == [
            "layernorm", "group"], linear_mlp
        assert linear_mlp[1]["layers"][1]["layers"][3] == {
            "name": "grn", "type": "global_response_norm", "eps": 1e-6}, linear_mlp
        from timm.layers.grn import GlobalResponseNorm
        moved_axes = GlobalResponseNorm(4, channels_last=False)
        moved_axes.spatial_dim = (1, 3)
        one_weight = GlobalResponseNorm(4, channels_last=False)
        one_weight.weight = nn.Parameter(torch.ones(1))
        _assert_refused([
            (nn.Sequential(nn.Conv2d(1, 8, 1), GlobalResponseNorm(8)),
             "module `1` (GlobalResponseNorm): its channels_last form runs after a permute",
             (1, 4, 4)),
            (Forward(lambda m, x: m.fc(m.grn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                                       .flatten(1)),
                     grn=GlobalResponseNorm(1, channels_last=False), fc=nn.Linear(16, 2)),
             "module `grn` (GlobalResponseNorm): its channels_last flag is not the layout",
             (1, 4, 4)),
            (Forward(lambda m, x: m.fc(m.grn(x).flatten(1)), grn=GlobalResponseNorm(4),
                     fc=nn.Linear(16, 2)),
             "module `grn` (GlobalResponseNorm): its channels_last flag is not the layout",
             (1, 4, 4)),
            (nn.Sequential(nn.Conv2d(1, 4, 1), moved_axes), "module `1` (GlobalResponseNorm): "
             "its spatial and channel axes are neither", (1, 4, 4)),
            (nn.Sequential(nn.Conv2d(1, 4, 1), one_weight), "module `1` (GlobalResponseNorm): "
             "its weight and bias are not parameters of one value per channel", (1, 4, 4)),
            (nn.Sequential(nn.Conv2d(1, 4, 1), GlobalResponseNorm(4, eps=-1e-3,
                                                                  channels_last=False)),
             "module `1` (GlobalResponseNorm): eps=-0.001: not a finite number", (1, 4, 4))])
        # Blur pooling in each of F.pad's modes, and space-to-depth: timm's module and the
        # same view, permute and view written in forward.
        blur = architecture(blur_net(), (3, 32, 32))["layers"]
        # (Holding no tensors, the blurs of the group `aa` make no group of their own.)
        assert [blur[i] for i in (0, 6)] == [{"type": "space_to_depth", "block": 4},
                                              {"type": "space_to_depth", "block": 2}], blur
        assert blur[3:6] == [
            {"type": "blur_pool2d", "kernel": 3, "stride": 2, "padding": 1},
            {"type": "blur_pool2d", "kernel": 5, "stride": 1, "padding": 2,
             "pad_mode": "replicate"},
            {"type": "blur_pool2d", "kernel": 3, "stride": 1, "padding": 1,
             "pad_mode": "circular"}], blur
        assert blur[9] == {"name": "down", "type": "blur_pool2d", "kernel": 4, "stride": 2,
                           "padding": 2, "pad_mode": "constant"}, blur
        from timm.layers import BlurPool2d
        assert architecture(nn.Sequential(nn.Conv2d(1, 2, 1), BlurPool2d(2), nn.Flatten()),
                            (1, 6, 6))["layers"][1] == {
            "type": "blur_pool2d", "kernel": 3, "stride": 2, "padding": 1}
        # Its filter is no tensor of the state_dict: a shortcut of a blur and a 1×1
        # convolution (Zhang's antialiased nets) ordered by the convolution, one module used
        # twice two layers.
        shortcut = Forward(lambda m, x: m.fc((m.conv(x) + m.down(m.blur(x))).flatten(1)),
                           conv=nn.Conv2d(2, 3, 3, stride=2, padding=1), blur=BlurPool2d(2),
                           down=nn.Conv2d(2, 3, 1), fc=nn.Linear(48, 3))
        [block] = architecture(shortcut, (2, 8, 8))["layers"][:1]
        assert [layer["type"] for layer in block["shortcut"]] == ["blur_pool2d", "conv2d"], block
        twice = BlurPool2d(2, stride=1)
        for model in (Forward(lambda m, x: m.fc(m.blur(m.blur(x)).flatten(1)), blur=twice,
                              fc=nn.Linear(32, 2)),
                      nn.Sequential(twice, twice, nn.Flatten(), nn.Linear(32, 2))):
            assert [layer["type"] for layer in architecture(model, (2, 4, 4))["layers"]] == [
                "blur_pool2d", "blur_pool2d", "flatten", "linear"]
        changed, uneven = BlurPool2d(2), BlurPool2d(2)
        with torch.no_grad():
            changed.filt[1] = 1 / 9
        uneven.padding = [1, 1, 0, 0]
        _assert_refused([
            (nn.Sequential(nn.Conv2d(1, 2, 1), changed), "module `1` (BlurPool2d): its filter is "
             "not the exact binomial filter of filt_size=3", (1, 6, 6)),
            (nn.Sequential(nn.Conv2d(1, 2, 1), BlurPool2d(2, filt_size=16, stride=1)),
             "module `1` (BlurPool2d): its filter is not the exact binomial filter of "
             "filt_size=16", (1, 18, 18)),
            (nn.Sequential(nn.Conv2d(1, 2, 1), uneven), "module `1` (BlurPool2d): its padding "
             "[1, 1, 0, 0] is not one number of rows and columns on every side", (1, 6, 6)),
            # PyTorch's pixel_unshuffle order, c·4 + i·2 + j: no space_to_depth of curvscope's.
            (Forward(lambda m, x: m.fc(x.view(-1, 2, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4)
                                       .reshape(-1, 8, 2, 2).flatten(1)), fc=nn.Linear(32, 2)),
             "reshapes a sample from [2, 4, 4] to [8, 2, 2] in a way curvscope cannot express",
             (2, 4, 4))])
        # Focal modulation: its contexts carried in one value, its terms summed by sum_runs
        # (focal-pytorch checks the numbers), θ in its layers' order (focal layers before h).
        focal = architecture(focal_net(), (3, 8, 8))["layers"]
        inner = focal[2]["layers"][0]["layers"]
        assert [layer["type"] for layer in inner] == [
            "conv2d", "concat", "concat", "concat", "concat", "concat", "product",
            "channels_last", "conv2d", "dropout"], inner
        assert inner[6]["branches"] == [[{"type": "narrow", "start": 0, "length": 4}], [
            {"type": "narrow", "start": 11, "length": 12}, {"type": "sum_runs", "runs": 3},
            {"type": "multiply", "by": 1 / 3}, {"name": "h", "type": "conv2d", "out": 4,
                                               "kernel": 1, "stride": 1, "padding": 0,
                                               "bias": True}]], inner[6]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the order's own warning
            order = parameter_order(focal_net(), (3, 8, 8))
        assert order[2:7] == ["focal.f.weight", "focal.f.bias", "focal.focal_layers.0.0.weight",
                              "focal.focal_layers.1.0.weight", "focal.h.weight"], order
        from timm.models.focalnet import FocalModulation
        short = FocalModulation(4, focal_window=3, focal_level=2)
        del short.focal_layers[1]
        _assert_refused([(nn.Sequential(nn.Conv2d(1, 4, 1), short), "module `1` "
                          "(FocalModulation): its split is not [4, 4, 3] of query, context and "
                          "gates, one per focal layer and one more", (1, 4, 4))])
        # Products PyTorch broadcasts: a gate [1, H, W] times the maps, a scale [C, 1, 1] times
        # a gate (gate-pytorch checks the numbers).
        gate = architecture(gate_net(), (3, 8, 8))["layers"]
        assert [[layer["type"] for layer in branch] for branch in gate[2]["branches"]] == [
            ["conv2d", "sigmoid"], []], gate
        assert [[layer["type"] for layer in branch] for branch in gate[3]["layers"][0][
            "branches"]] == [["adaptive_avgpool2d", "conv2d", "sigmoid"], ["conv2d", "tanh"]], gate
        # Split attention and selective kernels: groups of their parts, the paths times their
        # weights, summed (split-attention-pytorch checks the numbers); a selective kernel's
        # paths from runs of the channels with split_input.
        splat = architecture(split_attention_net(), (3, 8, 8))["layers"]
        assert [(layer.get("name"), layer["type"]) for layer in splat[2:6]] == [
            ("splat", "group"), ("gate", "group"), ("sk", "group"), ("sk2", "group")], splat
        weights = [splat[i]["layers"][4]["branches"][1][-1] for i in (2, 3)]
        assert weights == [{"name": "rsoftmax", "type": "radix_softmax", "radix": 2,
                            "cardinality": 2}, {"name": "rsoftmax", "type": "sigmoid"}], weights
        assert [layer["type"] for layer in splat[3]["layers"]] == [
            "conv2d", "batchnorm2d", "identity", "relu", "product"], splat[3]
        paths, attention, summed = splat[5]["layers"]
        assert [[(layer.get("name"), layer["type"], layer.get("start")) for layer in branch]
                for branch in paths["branches"]] == [
            [(None, "narrow", 0), ("0", "group", None)],
            [(None, "narrow", 3), ("1", "group", None)]], paths
        assert attention["branches"][1][0]["layers"][-1] == {"type": "radix_softmax",
                                                              "radix": 2}, attention
        assert summed == {"type": "sum_runs", "runs": 2}, summed
        from timm.layers import SelectiveKernel, SplitAttn
        other_softmax = SplitAttn(4, 4, radix=2, rd_channels=2)
        other_softmax.rsoftmax = nn.Softmax(1)
        squares = SelectiveKernel(4, 4, kernel_size=[3, 5], rd_channels=2)
        squares.attn = nn.Identity()  # each path times itself
        _assert_refused([
            (nn.Sequential(nn.Conv2d(1, 4, 1), other_softmax), "module `1` (SplitAttn): its "
             "rsoftmax is not timm's RadixSoftmax of its radix 2", (1, 4, 4)),
            (nn.Sequential(nn.Conv2d(1, 4, 1), squares), "module `1` (SelectiveKernel): its "
             "attn is not timm's SelectiveKernelAttn of its 2 paths", (1, 4, 4))])
        std = architecture(std_conv_net(), (3, 10, 10))["layers"]
        assert [(layer.get("name"), layer["type"], "standardize" in layer) for layer in std] == [
            ("stem", "conv2d", True), ("gn", "groupnorm", False), (None, "relu", False),
            ("down", "pad2d", False), ("down", "conv2d", True), (None, "relu", False),
            ("grouped", "conv2d", True), (None, "silu", False), ("same", "pad2d", False),
            ("same", "conv2d", True), (None, "relu", False),
            (None, "adaptive_avgpool2d", False), (None, "flatten", False),
            ("fc", "linear", False)], std
    for kind in ["conv2d", "linear", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "flatten",
                 "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus",
                 "mish", "hardtanh", "relu6", "hardswish", "prelu", "identity", "dropout",
                 "batchnorm1d", "batchnorm2d", "layernorm", "groupnorm", "group", "residual",
                 "pad2d"]:
        assert f'"type": "{kind}"' in kinds, kind
    assert arch["layers"][0]["name"] == "features" and arch["layers"][2]["name"] == "classifier"
    refusals = [
        (nn.Sequential(nn.Linear(2, 2), nn.SELU()), "module `1` (SELU) cannot be expressed"),
        (nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=-1.0)),
         "module `1` (Softplus): beta=-1.0: only beta > 0"),
        (nn.Sequential(nn.Linear(2, 2), nn.ELU(alpha=float("inf"))),
         "module `1` (ELU): alpha=inf: not a finite number"),
        (nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect"))),
         "module `0.0` (Conv2d): only zero padding"),
        (nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False)),
         "module `0` (BatchNorm1d): track_running_stats=False"),
        (nn.Linear(2, 2), "the model is one torch.nn module (Linear)"),
        (nn.Sequential(Cubed(2, 2)), "module `0` (Cubed) cannot be expressed"),
        (hooked(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), 1), "module `1` (ReLU): forward hooks"),
        (nn.Sequential(nn.LazyLinear(2)), "module `0` (LazyLinear): a lazy module not yet"),
        (nn.Sequential(nn.ZeroPad2d((0, 1, -1, 0)), nn.Flatten()),
         "module `0` (ZeroPad2d): only zeros around maps, F.pad(x, (left, right, top, bottom, "
         "before, after)) without cropping"),
        (nn.Sequential(nn.ConstantPad2d(1, 0.5), nn.Flatten()),
         "module `0` (ConstantPad2d): only zeros around maps"),
        (nn.Sequential(nn.Flatten(), nn.ZeroPad2d(1), nn.Linear(34, 2)),
         "layer `1` (pad2d) pads maps [C, H, W], not [32]", (2, 4, 4)),
    ]
    tied = nn.Linear(2, 2)
    refusals.append((nn.Sequential(tied, nn.ReLU(), nn.Sequential(tied)),
                     "module `2.0` (Linear): the same module as `0`"))
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)
    second.weight = first.weight
    refusals.append((nn.Sequential(first, nn.ReLU(), second),
                     "parameter `2.weight` is `0.weight` (tied weights)"))
    _assert_refused(refusals)
    # A parameterless module used twice is exported at each place, as PyTorch runs it.
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Linear(3, 4), relu, nn.Linear(4, 4), relu, nn.Linear(4, 2))
    assert [layer["type"] for layer in architecture(shared, (3,))["layers"]] == [
        "linear", "relu", "linear", "relu", "linear"]
    padded = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), nn.Conv2d(2, 2, 3, padding="valid"),
                           nn.Conv2d(2, 2, 2, padding="same", dilation=2),
                           nn.Conv2d(2, 2, (3, 2), padding="same", dilation=(3, 4)), nn.Flatten())
    assert [layer["padding"] for layer in architecture(padded, (1, 9, 9))["layers"][:4]] == [
        1, 0, 1, [3, 2]]
    for bad, message in [(dict(dtype=torch.float16), "dtype=torch.float16"),
                         (dict(model=nn.Sequential(nn.ReLU())), "no parameters")]:
        with tempfile.TemporaryDirectory() as out:
            try:
                export(**{"model": shared, "input_shape": (3,), "out": out, **bad})
            except ValueError as e:
                assert message in str(e), (message, str(e))
            else:
                raise AssertionError(f"{bad} not refused")
    traced = _traced_self_check()
    print("export_pytorch self-check passed: every layer kind exported and read back; "
          f"{len(refusals)} unsupported models refused; {traced} traced forwards refused")


def _assert_refused(refusals):
    """Each (model, message[, sample shape], by default [2]) is refused with that message."""
    for model, message, *shape in refusals:
        try:
            architecture(model, shape[0] if shape else (2,))
        except Unsupported as e:
            assert message in str(e), (message, str(e))
        else:
            raise AssertionError(f"not refused ({message}): {model}")


def _traced_self_check():
    """Checks the export of forwards read by torch.fx; returns how many it checked refused."""
    import tempfile

    from safetensors.torch import load_file
    depth = importlib.import_module("torchvision.ops.stochastic_depth")

    arch = architecture(traced_net(), (3, 16, 16))
    kinds = [(layer.get("name"), layer["type"]) for layer in arch["layers"]]
    assert kinds == [
        ("conv1", "conv2d"), ("bn1", "batchnorm2d"), ("relu", "relu"), (None, "maxpool2d"),
        ("layer1", "group"), ("layer2", "group"), (None, "leaky_relu"), (None, "avgpool2d"),
        (None, "adaptive_avgpool2d"), (None, "flatten"), (None, "residual"), ("head", "group"),
        ("fc3", "linear")], kinds
    assert arch["layers"][7] == {"type": "avgpool2d", "kernel": 2, "stride": 2, "padding": 0}
    # A block's sum sits in the group of its modules' names, before the block's last ReLU.
    block = arch["layers"][4]["layers"][1]
    assert block["name"] == "1" and [(e.get("name"), e["type"]) for e in block["layers"]] == [
        (None, "residual"), (None, "relu")], block
    assert block["layers"][0]["shortcut"][0]["name"] == "shortcut", block
    # Option A: x[:, :, ::2, ::2] is a 1×1 average pooling of stride 2, F.pad zero channels.
    assert arch["layers"][5]["layers"][0]["layers"][0]["shortcut"] == [
        {"type": "avgpool2d", "kernel": 1, "stride": 2, "padding": 0},
        {"type": "pad_channels", "before": 4, "after": 4}]
    assert [layer["type"] for layer in arch["layers"][10]["layers"]] == [
        "linear", "gelu", "dropout", "linear", "tanh"]
    assert arch["layers"][10]["shortcut"] == [] and arch["layers"][10]["scoped"] is False
    # `proj(x) + mlp(x).sigmoid()`: mlp is registered first, so it is the main branch.
    head = arch["layers"][11]["layers"][0]
    assert head["layers"][0]["name"] == "mlp" and head["shortcut"][0]["name"] == "proj", head
    # A subclass of nn.Sequential with a forward of its own is read from that forward, and so
    # is an nn.Sequential holding one.
    assert architecture(SkipSequential(nn.Linear(2, 2)), (2,))["layers"] == [
        {"type": "residual", "layers": [{"name": "0", "type": "linear", "out": 2, "bias": True}],
         "shortcut": [], "scoped": False}]
    assert architecture(nn.Sequential(SkipSequential(nn.Linear(2, 2))), (2,))["layers"] == [
        {"name": "0", "type": "group", "layers": [{"type": "residual", "layers": [
            {"name": "0", "type": "linear", "out": 2, "bias": True}], "shortcut": [],
            "scoped": False}]}]
    # 600 sums in a row, each x + f(x), read in seconds (the walk from each sum back to its
    # input is remembered, not repeated through every earlier sum's: 2^600 steps), and
    # remembered in forward's order (found from the output, the walks nest past Python's
    # recursion limit).
    deep = Forward(lambda m, x: functools.reduce(lambda h, f: h + f(h), m.blocks, x),
                   blocks=nn.ModuleList(nn.Linear(2, 2) for _ in range(600)))
    [blocks] = architecture(deep, (2,))["layers"]
    assert [layer["type"] for layer in blocks["layers"]] == ["residual"] * 600, blocks
    # An argument with a default keeps it.
    assert architecture(_Masked(), (2,))["layers"] == [
        {"name": "fc", "type": "linear", "out": 3, "bias": True}]
    # A last log-softmax is left out: cross-entropy reads log-probabilities as class scores.
    assert architecture(Forward(lambda m, x: F.log_softmax(m.fc(x), dim=1), fc=nn.Linear(2, 3)),
                        (2,))["layers"] == [{"name": "fc", "type": "linear", "out": 3,
                                             "bias": True}]
    assert architecture(Forward(lambda m, x: m.out(m.fc(x)), fc=nn.Linear(2, 3),
                                out=nn.LogSoftmax(dim=1)), (2,))["layers"] == [
        {"name": "fc", "type": "linear", "out": 3, "bias": True}]
    # ... and so is an nn.LogSoftmax ending an nn.Sequential (or its last nested one); one
    # over the batch is another function, refused.
    for ending in [nn.Sequential(nn.Linear(2, 3), nn.LogSoftmax(dim=1)),
                   nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.LogSoftmax(-1)))]:
        assert architecture(ending, (2,))["layers"][-1] in (
            {"type": "identity"}, {"type": "group", "layers": [{"type": "tanh"},
                                                               {"type": "identity"}]})
    _assert_refused([(nn.Sequential(nn.Linear(2, 3), nn.LogSoftmax(dim=0)),
                      "module `1` (LogSoftmax) cannot be expressed")])
    # A model inside DataParallel or torch.compile's wrapper is the model, named as its own
    # state_dict names its tensors.
    wrapped = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with warnings.catch_warnings(record=True) as said, tempfile.TemporaryDirectory() as out:
        warnings.simplefilter("always")
        for wrapper in [nn.DataParallel(wrapped), torch.compile(wrapped)]:
            assert export(wrapper, (2,), out) == architecture(wrapped, (2,))
            assert sorted(load_file(os.path.join(out, "model.safetensors"))) == sorted(
                wrapped.state_dict())
        assert sum("exporting the model inside" in str(w.message) for w in said) == 2
    # An unused module is not written, and forward's order differing from the registration
    # order is said.
    unused = Forward(lambda m, x: m.second(m.first(x)), second=nn.Linear(3, 2),
                     first=nn.Linear(2, 3), spare=nn.Linear(2, 2))
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        export(unused, (2,), out)
        assert sorted(load_file(os.path.join(out, "model.safetensors"))) == [
            "first.bias", "first.weight", "second.bias", "second.weight"]
    said = " ".join(str(w.message) for w in said)
    assert "forward does not use spare.weight, spare.bias" in said, said
    assert "model.parameters() has `second.weight` it has `first.weight`" in said, said

    linear = lambda: nn.Linear(2, 2)  # noqa: E731
    # Concatenations: paths in forward's order, the identity empty, one value alone nothing,
    # a dense block's growing lists as nested blocks.
    joined = Forward(lambda m, x: m.out(torch.concat([m.a(x), x, x], dim=-1)), a=linear(),
                     out=nn.Linear(6, 2))
    assert architecture(joined, (2,))["layers"] == [
        {"type": "concat", "branches": [[{"name": "a", "type": "linear", "out": 2,
                                          "bias": True}], [], []], "scoped": False},
        {"name": "out", "type": "linear", "out": 2, "bias": True}]
    # A run of parts another concatenation joins, anywhere in the list, is read as that one:
    # cat([b(u), x, h]) with u = cat([x, h]) as cat([b(u), u]).
    tail = Forward(lambda m, x: m.out(torch.cat(
        [m.b(torch.cat([x, h := m.a(x)], 1)), x, h], 1)), a=linear(),
        b=nn.Linear(4, 2), out=nn.Linear(6, 2))
    inner, outer, _ = architecture(tail, (2,))["layers"]
    assert [[layer["name"] for layer in branch] for branch in inner["branches"]] == [
        [], ["a"]], inner
    assert [[layer["name"] for layer in branch] for branch in outer["branches"]] == [
        ["b"], []], outer
    # Taps of one chain (VoVNet's and HGNet's blocks) as nested blocks: cat(x, a → cat(identity,
    # b → cat(identity, c))).
    taps = Forward(lambda m, x: m.out(torch.cat([x, a := m.a(x), b := m.b(a), m.c(b)], 1)),
                   a=linear(), b=linear(), c=linear(), out=nn.Linear(8, 2))

    def tapped(name, inner=None):
        return {"type": "concat", "branches": [[], [
            {"name": name, "type": "linear", "out": 2, "bias": True}, *([inner] if inner else [])]],
            "scoped": False}
    assert architecture(taps, (2,))["layers"] == [
        tapped("a", tapped("b", tapped("c"))),
        {"name": "out", "type": "linear", "out": 2, "bias": True}]
    # SelecSLS's taps of a chain beside the value it started from: the chain to the first tap,
    # then its taps, one branch; the value another.
    beside = Forward(lambda m, x: m.out(torch.cat([d1 := m.a(m.s(x)), d2 := m.b(d1), m.c(d2), x],
                                                  1)), s=linear(), a=linear(), b=linear(),
                     c=linear(), out=nn.Linear(8, 2))
    chained = {"name": "s", "type": "linear", "out": 2, "bias": True}
    assert architecture(beside, (2,))["layers"][0] == {"type": "concat", "branches": [
        [chained, {"name": "a", "type": "linear", "out": 2, "bias": True},
         tapped("b", tapped("c"))], []], "scoped": False}
    # DLA's root: taps of a chain that are not neighbours, cat([b(a(x)), relu(x), a(x)]),
    # joined (a runs once) and then put back in forward's order by narrows; its shortcut, a
    # part of the concatenation its path reads, c(cat([a(x), x])) + a(x), a run of it.
    spread = Forward(lambda m, x: m.out(torch.cat([m.b(h := m.a(x)), F.relu(x), h], 1)),
                     a=linear(), b=linear(), out=nn.Linear(6, 2))
    narrowed = lambda a, n: [{"type": "narrow", "start": a, "length": n}]  # noqa: E731
    assert architecture(spread, (2,))["layers"][:2] == [
        {"type": "concat", "branches": [
            [{"name": "a", "type": "linear", "out": 2, "bias": True},
             {"type": "concat", "branches": [[{"name": "b", "type": "linear", "out": 2,
                                               "bias": True}], []], "scoped": False}],
            [{"type": "relu"}]], "scoped": False},
        {"type": "concat", "branches": [narrowed(0, 2), narrowed(4, 2), narrowed(2, 2)],
         "scoped": False}], architecture(spread, (2,))["layers"]
    # Parts that share only channels-last steps (one permute) keep their own branches, each
    # ending on maps, in forward's order.
    permuted = Forward(lambda m, x: m.fc(torch.cat([
        m.l1(t := x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), x,
        m.l2(t).permute(0, 3, 1, 2)], 1).flatten(1)), l1=nn.Linear(3, 2), l2=nn.Linear(3, 2),
        fc=nn.Linear(28, 2))
    [joined] = architecture(permuted, (3, 2, 2))["layers"][:1]
    assert [[layer["type"] for layer in branch] for branch in joined["branches"]] == [
        ["channels_last"], [], ["channels_last"]], joined
    root = Forward(lambda m, x: m.out(m.c(torch.cat([h := m.a(x), x], 1)) + h), a=linear(),
                   c=nn.Linear(4, 2), out=linear())
    assert architecture(root, (2,))["layers"][:2] == [
        {"type": "concat", "branches": [[{"name": "a", "type": "linear", "out": 2,
                                          "bias": True}], []], "scoped": False},
        {"type": "residual", "layers": [{"name": "c", "type": "linear", "out": 2,
                                         "bias": True}],
         "shortcut": narrowed(0, 2), "scoped": False}], architecture(root, (2,))["layers"]
    # ReXNet's shortcut into a block's first channels: the block plus the input between zero
    # channels.
    partial = Forward(lambda m, x: m.fc(torch.cat([(y := m.conv(x))[:, 0:2] + x, y[:, 2:]], 1)
                                        .flatten(1)), conv=nn.Conv2d(2, 3, 1),
                      fc=nn.Linear(3, 2))
    assert architecture(partial, (2, 1, 1))["layers"][0] == {
        "type": "residual", "layers": [{"name": "conv", "type": "conv2d", "out": 3, "kernel": 1,
                                        "stride": 1, "padding": 0, "bias": True}],
        "shortcut": [{"type": "pad_channels", "before": 0, "after": 1}], "scoped": False}
    # DPN's dual-path block, cat([xs[:, :2] + y[:, :2], xs[:, 2:], y[:, 2:]]): xs and y joined
    # once, then the first runs side by side plus the sum's second run between zeros.
    dual = Forward(lambda m, x: m.fc(torch.cat([(xs := m.proj(x))[:, :2] + (y := m.f(x))[:, :2],
                                                xs[:, 2:], y[:, 2:]], 1).flatten(1)),
                   proj=nn.Conv2d(3, 4, 1), f=nn.Conv2d(3, 5, 1), fc=nn.Linear(7, 2))
    conv_of = lambda name, out: {"name": name, "type": "conv2d", "out": out,  # noqa: E731
                                 "kernel": 1, "stride": 1, "padding": 0, "bias": True}
    assert architecture(dual, (3, 1, 1))["layers"][:2] == [
        {"type": "concat", "branches": [[conv_of("proj", 4)], [conv_of("f", 5)]],
         "scoped": False},
        {"type": "residual", "layers": [{"type": "concat", "branches": [
            [{"type": "narrow", "start": 0, "length": 4}],
            [{"type": "narrow", "start": 6, "length": 3}]], "scoped": False}],
         "shortcut": [{"type": "narrow", "start": 4, "length": 2},
                      {"type": "pad_channels", "before": 0, "after": 5}], "scoped": False}]
    # A DLA root beside a slice reads as before (as branches, tried first); a sum of runs of
    # two widths is refused by the residual's shape check.
    def root_and_slice(m, x):
        r = m.r(torch.cat([a := m.a(x), m.b(x)], 1)) + a
        return m.fc(torch.cat([r, m.w(x)[:, :1]], 1).flatten(1))
    assert architecture(Forward(root_and_slice, a=nn.Conv2d(3, 2, 1), b=nn.Conv2d(3, 2, 1),
                                r=nn.Conv2d(4, 2, 1), w=nn.Conv2d(3, 3, 1),
                                fc=nn.Linear(12, 2)), (3, 2, 2))["layers"][0]["type"] == "concat"
    _assert_refused([(Forward(lambda m, x: m.fc(torch.cat([(u := m.p(x))[:, :1] + (
        v := m.f(x))[:, :2], u[:, 1:], v[:, 2:]], 1).flatten(1)), p=nn.Conv2d(3, 4, 1),
        f=nn.Conv2d(3, 5, 1), fc=nn.Linear(32, 2)),
        "adds values of shapes [1, 2, 2] and [2, 2, 2]; curvscope adds equal shapes", (3, 2, 2))])
    # (The sum in the middle: zeros before its run too.)
    middle = Forward(lambda m, x: m.fc(torch.cat([(xs := m.proj(x))[:, 2:], xs[:, :2] + (
        y := m.f(x))[:, :2], y[:, 2:]], 1).flatten(1)), proj=nn.Conv2d(3, 4, 1),
        f=nn.Conv2d(3, 5, 1), fc=nn.Linear(7, 2))
    assert architecture(middle, (3, 1, 1))["layers"][1]["shortcut"] == [
        {"type": "narrow", "start": 4, "length": 2},
        {"type": "pad_channels", "before": 2, "after": 3}]
    # Res2Net's hierarchical block, y₀ = a(x₀), y₁ = b(y₀ + x₁), y₂ = c(x₂ + y₁), x₃ as it is:
    # each layer once, on x's channels with the runs before it already their y; the runs read
    # from a split and from slices alike.
    def res2(m, x):
        x0, x1, x2 = x[:, :2], x[:, 2:4], x[:, 4:6]
        y0 = m.a(x0)
        y1 = m.b(y0 + x1)
        return m.fc(torch.cat([y0, y1, m.c(x2 + y1), x[:, 6:]], 1).flatten(1))

    conv = lambda: nn.Conv2d(2, 2, 1)  # noqa: E731
    narrow = lambda a, n: {"type": "narrow", "start": a, "length": n}  # noqa: E731
    conv_named = lambda name: {"name": name, "type": "conv2d", "out": 2, "kernel": 1,  # noqa: E731
                               "stride": 1, "padding": 0, "bias": True}
    summed = lambda a, b: {"type": "residual", "layers": [narrow(a, 2)],  # noqa: E731
                           "shortcut": [narrow(b, 2)], "scoped": False}
    assert architecture(Forward(res2, a=conv(), b=conv(), c=conv(), fc=nn.Linear(9, 2)),
                        (9, 1, 1))["layers"][:3] == [
        {"type": "concat", "branches": [[narrow(0, 2), conv_named("a")], [narrow(2, 7)]],
         "scoped": False},
        {"type": "concat", "branches": [[narrow(0, 2)], [summed(0, 2), conv_named("b")],
                                        [narrow(4, 5)]], "scoped": False},
        {"type": "concat", "branches": [[narrow(0, 4)], [summed(2, 4), conv_named("c")],
                                        [narrow(6, 3)]], "scoped": False}]
    split = Forward(lambda m, x: m.fc(torch.cat([y0 := m.a((p := x.split(2, 1))[0]),
                                                 m.b(p[1] + y0)], 1).flatten(1)),
                    a=conv(), b=conv(), fc=nn.Linear(4, 2))
    narrows = Forward(lambda m, x: m.fc(torch.cat([y0 := m.a(x.narrow(1, 0, 2)),
                                                   m.b(y0 + x.narrow(1, 2, 2))], 1).flatten(1)),
                      a=conv(), b=conv(), fc=nn.Linear(4, 2))
    for model in (split, narrows):
        assert [layer["type"] for layer in architecture(model, (4, 1, 1))["layers"]] == [
            "concat", "concat", "flatten", "linear"]
    alone = Forward(lambda m, x: m.fc(torch.cat([x], 1)), fc=linear())
    assert architecture(alone, (2,))["layers"] == [
        {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    layers = architecture(concat_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in layers] == [
        ("conv", "conv2d"), ("dense1", "group"), ("dense2", "group"), ("block", "group"),
        (None, "avgpool2d"), ("inception", "group"), (None, "maxpool2d"), (None, "avgpool2d"),
        (None, "flatten"), (None, "concat"), ("fc2", "linear")], layers
    assert layers[4] == {"type": "avgpool2d", "kernel": 3, "stride": 2, "padding": 1,
                         "ceil_mode": True, "count_include_pad": False}, layers[4]
    block = layers[3]["layers"]
    assert [layer["name"] for layer in block] == ["layer1", "layer2", "layer3"], block
    assert all(b["layers"][0]["branches"][0] == [] for b in block), block
    assert len(layers[5]["layers"][0]["branches"]) == 3, layers[5]
    # Products: the scale first in module order, the identity last; torchvision's stochastic
    # depth is the identity in eval mode.
    layers = architecture(product_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in layers] == [
        ("stem", "group"), ("mobile", "group"), ("mbconv", "group"), ("se", "group"),
        ("classic", "group"), (None, "avgpool2d"), (None, "flatten"), (None, "product"),
        (None, "product"), ("fc", "linear")], layers
    [se] = layers[1]["layers"][0]["layers"][0]["layers"][6]["layers"]
    assert se["type"] == "product" and se["branches"][1] == [], se
    assert [layer["type"] for layer in se["branches"][0]] == [
        "adaptive_avgpool2d", "conv2d", "relu", "conv2d", "hardsigmoid"], se
    mbconv = layers[2]["layers"][0]["layers"][0]
    assert mbconv["type"] == "residual" and len(mbconv["layers"]) == 6, mbconv
    [[classic]] = [group["layers"] for group in layers[4]["layers"]]  # in group `fc`
    assert [layer["type"] for layer in classic["branches"][0]] == [
        "adaptive_avgpool2d", "flatten", "linear", "relu", "linear", "sigmoid",
        "unflatten"], classic
    assert classic["branches"][0][6]["shape"] == [4, 1, 1], classic
    glu = layers[7]["branches"]
    assert [[layer.get("name") for layer in branch] for branch in glu] == [
        ["a"], ["b", None]], glu
    # Splits and shuffles: parts of a split are runs of channels; torchvision's channel_shuffle
    # (view, transpose, contiguous, view) and nn.ChannelShuffle are one layer each.
    layers = architecture(shuffle_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in layers] == [
        ("conv1", "group"), ("stage", "group"), ("shuffle", "channel_shuffle"),
        (None, "adaptive_avgpool2d"), (None, "flatten"), ("fc1", "linear"), (None, "product"),
        (None, "concat"), ("fc", "linear")], layers
    [[first], [second, *_]] = layers[1]["layers"][1]["layers"][0]["layers"][0]["branches"]
    assert (first, second) == ({"type": "narrow", "start": 0, "length": 6},
                               {"type": "narrow", "start": 6, "length": 6}), layers[1]
    assert layers[1]["layers"][0]["layers"][1] == {"type": "channel_shuffle", "groups": 2}
    assert [branch[0] for branch in layers[7]["branches"]] == [
        {"type": "narrow", "start": 1, "length": 3}, {"type": "narrow", "start": 0,
                                                       "length": 1}], layers[7]
    assert architecture(Forward(lambda m, x: m.fc(x.view(-1, 2, 1).flatten(1)),
                                fc=linear()), (2,))["layers"] == [
        {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    # Runs of channels written as an index or torch.narrow; a product's `other=`.
    fc = {"name": "fc", "type": "linear", "out": 2, "bias": True}
    for part in (lambda x: x[:, 1:3], lambda x: torch.narrow(x, 1, 1, 2)):
        assert architecture(Forward(lambda m, x: m.fc(part(x)), fc=linear()), (4,))[
            "layers"] == [{"type": "narrow", "start": 1, "length": 2}, fc]
    [product, _] = architecture(Forward(lambda m, x: m.fc(torch.mul(m.a(x), other=x)),
                                        a=linear(), fc=linear()), (2,))["layers"]
    assert product["type"] == "product" and product["branches"][1] == [], product
    # F.glu and nn.GLU: a product of the halves, the second through a sigmoid.
    glu = {"type": "product", "branches": [
        [{"type": "narrow", "start": 0, "length": 1}],
        [{"type": "narrow", "start": 1, "length": 1}, {"type": "sigmoid"}]]}
    assert architecture(Forward(lambda m, x: m.fc(F.glu(x)), fc=nn.Linear(1, 2)), (2,))[
        "layers"][0] == glu
    assert architecture(Forward(lambda m, x: m.fc(m.glu(x).flatten(1)), glu=nn.GLU(1),
                                fc=nn.Linear(4, 2)), (2, 2, 2))["layers"][0] == {"name": "glu",
                                                                                **glu}
    # In an nn.Sequential its input's shape is known once forward is traced.
    assert architecture(nn.Sequential(nn.Linear(2, 2), nn.GLU()), (2,))["layers"][1] == {
        "name": "1", **glu}
    # Channels-last runs: torchvision's LayerNorm2d and CNBlock, timm's block and LayerNorm2d.
    with warnings.catch_warnings():  # CNBlock's layer_scale comes first in model.parameters()
        warnings.simplefilter("ignore")
        layers = architecture(channels_last_net(), (3, 8, 8))["layers"]
    norm = {"type": "layernorm", "shape": [4], "eps": 1e-6, "affine": True, "bias": True}
    assert layers[0]["layers"][1] == {"type": "channels_last", "layers": [{"name": "1", **norm}]}
    [[torchvision_block], [timm_block]] = [b["layers"] for b in layers[1]["layers"]]
    [group, scale] = torchvision_block["layers"]
    assert scale == {"name": "layer_scale", "type": "scale"}, torchvision_block
    assert [(layer.get("name"), layer["type"]) for layer in group["layers"][1]["layers"]] == [
        ("2", "layernorm"), ("3", "linear"), ("4", "gelu"), ("5", "linear")], group
    assert timm_block["layers"][1]["layers"][4] == {"name": "gamma", "type": "scale"}, timm_block
    assert [layer["type"] for layer in layers[2]["layers"]] == ["channels_last", "conv2d"]
    channels_last = Forward(lambda m, x: m.fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                            .flatten(1), fc=nn.Linear(2, 3))
    assert architecture(channels_last, (2, 1, 2))["layers"] == [
        {"type": "channels_last", "layers": [{"name": "fc", "type": "linear", "out": 3,
                                              "bias": True}]}, {"type": "flatten"}]
    # Modules calling functional forms with their own tensors (timm's BatchNormAct2d, Linear),
    # layer scales viewed [1, C, 1, 1].
    with warnings.catch_warnings():  # the net's own γ, β come first in model.parameters()
        warnings.simplefilter("ignore")
        layers = architecture(functional_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in layers] == [
        ("conv", "conv2d"), ("bn", "batchnorm2d"), (None, "silu"), (None, "residual"),
        ("pw", "conv2d"), ("gamma", "scale"), (None, "avgpool2d"), ("beta", "scale"),
        (None, "flatten"), ("fc1", "linear"), ("bn_fc", "batchnorm1d"), (None, "identity"),
        (None, "relu"), ("fc", "linear")], layers
    assert layers[3]["layers"][3] == {"name": "ls", "type": "group", "layers": [
        {"name": "gamma", "type": "scale", "shape": [4]}]}, layers[3]
    assert layers[13] == {"name": "fc", "type": "linear", "out": 5, "bias": False}
    # Batch norm without γ and β, and without β: F.batch_norm of a module's own running
    # statistics (timm's BatchNormAct2d with affine=False, bias=False), exported and checked
    # against forward.
    for options, flags in [({"affine": False}, {"affine": False}),
                           ({"bias": False}, {"bias": False})]:
        bn = _BatchNormAct(2, nn.Identity(), **options)
        with torch.no_grad():
            for tensor in (bn.running_mean, bn.weight):
                if tensor is not None:
                    tensor.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
        with tempfile.TemporaryDirectory() as out:
            layers = export(Forward(lambda m, x: m.fc(m.bn(x).flatten(1)), bn=bn,
                                    fc=nn.Linear(2, 2)), (2, 1, 1), out)["layers"]
        assert layers[0] == {"name": "bn", "type": "batchnorm2d", "eps": 1e-5, **flags}, layers
    # F.group_norm of a module's own tensors and of none; F.linear given by keywords.
    [group, norm, _, _] = architecture(Forward(lambda m, x: m.fc(F.group_norm(
        m.g(x), 1).flatten(1)), g=_GroupNorm(1, 2), fc=nn.Linear(2, 2)), (2, 1, 1))["layers"]
    assert (group, norm) == ({"name": "g", "type": "groupnorm", "groups": 1, "eps": 1e-5,
                              "affine": True},
                             {"type": "groupnorm", "groups": 1, "eps": 1e-5, "affine": False})
    assert architecture(Forward(lambda m, x: m.l(x), l=_KeywordLinear(2, 3)), (2,))[
        "layers"] == [{"name": "l", "type": "linear", "out": 3, "bias": True}]
    # F.layer_norm without tensors; a LayerNorm2d without a bias.
    plain = {"type": "layernorm", "shape": [2], "eps": 1e-5, "affine": False, "bias": False}
    assert architecture(Forward(lambda m, x: m.fc(F.layer_norm(x, (2,))), fc=linear()), (2,))[
        "layers"] == [plain, {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    [block, _, _] = architecture(Forward(lambda m, x: m.fc(m.norm(x).flatten(1)),
                                         norm=_LayerNorm2d(2, bias=False), fc=linear()),
                                 (2, 1, 1))["layers"]
    assert block == {"type": "channels_last", "layers": [
        {"name": "norm", **plain, "affine": True}]}, block
    # Transformers: torchvision's VisionTransformer and one written timm's ways.
    with warnings.catch_warnings():  # the class token comes first in model.parameters()
        warnings.simplefilter("ignore")
        vit = architecture(vit_net(), (3, 8, 8))["layers"]
        tokens = architecture(tokens_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in vit] == [
        ("conv_proj", "conv2d"), (None, "tokens"), ("class_token", "class_token"),
        ("encoder", "group"), (None, "select_token"), ("heads", "group")], vit
    encoder = vit[3]["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in encoder] == [
        ("pos_embedding", "position_embedding"), ("dropout", "dropout"), ("layers", "group"),
        ("ln", "layernorm")], encoder
    [attention, mlp] = encoder[2]["layers"][0]["layers"]
    assert attention["shortcut"] == [] and attention["layers"][1] == {
        "name": "self_attention", "type": "attention", "heads": 2, "bias": True}, attention
    assert [layer["type"] for layer in mlp["layers"][1]["layers"]] == [
        "linear", "gelu", "dropout", "linear", "dropout"], mlp
    assert [(layer.get("name"), layer["type"]) for layer in tokens] == [
        ("patch", "conv2d"), (None, "tokens"), ("cls_token", "class_token"),
        ("pos_embed", "position_embedding"), ("block", "group"), (None, "residual"),
        ("norm_all", "layernorm"), ("act", "prelu"), (None, "flatten"), ("head", "linear")]
    assert tokens[3] == {"name": "pos_embed", "type": "position_embedding", "shape": [5, 8]}
    assert [(layer.get("name"), layer["type"]) for layer in tokens[5]["layers"]] == [
        ("norm", "layernorm"), ("attn", "attention"), ("gamma", "scale")], tokens[5]
    # Mixers: tokens transposed for MLPs across them, timm's `Affine` (addcmul) and `alpha * x
    # + beta` as a scale and a shift each, a shift of maps.
    mixer = architecture(mixer_net(), (3, 8, 8))["layers"]
    assert [(layer.get("name"), layer["type"]) for layer in mixer] == [
        ("patch", "conv2d"), ("patch_bias", "shift"), ("stem_norm", "rmsnorm"), (None, "tokens"),
        (None, "residual"), (None, "residual"), (None, "residual"), (None, "residual"),
        (None, "residual"), (None, "residual"), ("norm", "rmsnorm"), (None, "token_mean"),
        ("head", "linear")], mixer
    assert [(layer.get("name"), layer["type"]) for layer in mixer[4]["layers"]] == [
        ("norm1", "layernorm"), (None, "transpose"), ("mlp_tokens", "group"),
        (None, "transpose")], mixer[4]
    assert mixer[6]["layers"][0] == {"name": "affine", "type": "group", "layers": [
        {"name": "alpha", "type": "scale", "shape": [1, 1, 8]},
        {"name": "beta", "type": "shift", "shape": [1, 1, 8]}]}, mixer[6]
    assert [(layer.get("name"), layer["type"]) for layer in mixer[6]["layers"][1:]] == [
        (None, "transpose"), ("linear_tokens", "linear"), (None, "transpose"),
        ("ls1", "scale")], mixer[6]
    assert [(layer.get("name"), layer["type"]) for layer in mixer[7]["layers"]] == [
        ("alpha", "scale"), ("beta", "shift"), ("mlp", "group"), ("ls2", "scale")], mixer[7]
    # gMLP's and GluMlp's halves of the tokens' features, multiplied; RMS norms.
    assert mixer[2] == {"name": "stem_norm", "type": "rmsnorm", "shape": [2, 2], "affine": True}
    assert mixer[8]["layers"][0] == {"name": "norm3", "type": "rmsnorm", "shape": [8],
                                     "eps": 1e-6, "affine": True}
    def halves(start, length):
        return {"type": "narrow", "start": start, "length": length, "dim": 2}

    [gate] = mixer[8]["layers"][1]["layers"][2]["layers"]
    assert gate["type"] == "product" and gate["branches"][1] == [halves(0, 6)] \
        and gate["branches"][0][0] == halves(6, 6), gate
    assert mixer[9]["layers"][0] == {"type": "rmsnorm", "shape": [8], "affine": False}
    assert mixer[9]["layers"][2]["branches"] == [[halves(0, 5)], [halves(5, 5), {
        "type": "silu"}]], mixer[9]
    # MetaFormers: differences a − b as residual blocks with a negated shortcut, squares as
    # products of a value with itself, one-value scales and shifts, a sum with 0 no layer, group
    # norms without β (by F.group_norm and by nn.GroupNorm with its bias set to None).
    meta = architecture(metaformer_net(), (3, 8, 8))["layers"]
    negated = [{"type": "multiply", "by": -1.0}]
    square = {"type": "product", "branches": [[], []]}
    assert [(layer.get("name"), layer["type"]) for layer in meta] == [
        ("stem", "conv2d"), (None, "residual"), (None, "residual"), ("a", "conv2d"),
        (None, "residual"), (None, "adaptive_avgpool2d"), (None, "flatten"), ("head", "linear")]
    [norm1, pooled, _] = meta[1]["layers"]
    assert norm1["bias"] is False and meta[2]["layers"][0]["bias"] is False, meta
    assert pooled["layers"][0]["type"] == "avgpool2d" and pooled["shortcut"] == negated, pooled
    assert meta[2]["layers"][3:5] == [square, {"name": "act", "type": "group", "layers": [
        {"name": "scale", "type": "scale", "shape": [1]},
        {"name": "bias", "type": "shift", "shape": [1]}]}], meta[2]
    assert meta[4]["layers"][0]["shortcut"] == negated and meta[4]["layers"][1] == square
    assert meta[4]["shortcut"] == [{"type": "relu"}, square, *negated], meta[4]
    # A run of tokens' features by indexing, a square of tokens, a shift of channels-last
    # values, norms whose γ (and β) were set to None.
    sliced = Forward(lambda m, x: m.fc(((t := x.flatten(2).transpose(1, 2))[..., :1]
                                        * t[:, :, 1:] + m.l(t) ** 2).flatten(1)),
                     l=nn.Linear(2, 1), fc=nn.Linear(3, 2))
    [_, block, _, _] = architecture(sliced, (2, 1, 3))["layers"]
    assert block["layers"][1] == {"type": "product", "branches": [[], []]}, block
    assert block["shortcut"][0]["branches"] == [
        [{"type": "narrow", "start": 0, "length": 1, "dim": 2}],
        [{"type": "narrow", "start": 1, "length": 1, "dim": 2}]], block
    shifted = Forward(lambda m, x: m.fc(m.l(x.permute(0, 2, 3, 1)).add(m.b).permute(
        0, 3, 1, 2).flatten(1)), l=nn.Linear(2, 2), b=nn.Parameter(torch.zeros(2)),
        fc=nn.Linear(2, 2))
    assert architecture(shifted, (2, 1, 1))["layers"][0]["layers"] == [
        {"name": "l", "type": "linear", "out": 2, "bias": True},
        {"name": "b", "type": "shift"}]
    bare = [_without(nn.LayerNorm(2), "weight", "bias"), _without(nn.RMSNorm(2), "weight"),
            _without(nn.GroupNorm(1, 2), "bias")]
    assert [architecture(nn.Sequential(n, nn.Linear(2, 2)), (2,))["layers"][0] for n in bare] == [
        {"type": "layernorm", "shape": [2], "eps": 1e-5, "affine": False, "bias": False},
        {"type": "rmsnorm", "shape": [2], "affine": False},
        {"type": "groupnorm", "groups": 1, "eps": 1e-5, "affine": True, "bias": False}]
    # timm's average pooling: the mean of the tokens after the class token.
    pooled = Forward(lambda m, x: m.fc(torch.cat([m.cls.expand(x.shape[0], -1, -1), x.flatten(
        2).transpose(1, 2)], 1)[:, 1:].mean(dim=1)), cls=nn.Parameter(torch.zeros(1, 1, 2)),
        fc=linear())
    assert architecture(pooled, (2, 1, 3))["layers"] == [
        {"type": "tokens"}, {"name": "cls", "type": "class_token"},
        {"type": "narrow", "start": 1, "length": 3}, {"type": "token_mean"},
        {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    # Tokens written channels-last (einops' `b c h w -> b (h w) c`), a class token joined by
    # `axis=`: a permute and its reshape are the tokens layer alone.
    for tokens_of in (lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1]),
                      lambda x: x.permute(0, 2, 3, 1).flatten(1, 2)):
        joined = Forward(lambda m, x: m.fc(torch.cat([m.cls.expand(x.shape[0], -1, -1),
                                                      tokens_of(x)], axis=1)[:, 0]),
                         cls=nn.Parameter(torch.zeros(1, 1, 2)), fc=linear())
        assert architecture(joined, (2, 1, 3))["layers"] == [
            {"type": "tokens"}, {"name": "cls", "type": "class_token"},
            {"type": "select_token", "index": 0},
            {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    # A class token and register tokens (timm's `torch.cat([cls, reg, x], 1)`): the register
    # tokens' layer first, then the class token's, each named as its parameter.
    registers = Forward(lambda m, x: m.fc(torch.cat([
        m.cls.expand(x.shape[0], -1, -1), m.reg.expand(x.shape[0], -1, -1),
        x.flatten(2).transpose(1, 2)], dim=1)[:, 3:].mean(1)),
        cls=nn.Parameter(torch.zeros(1, 1, 2)), reg=nn.Parameter(torch.ones(1, 2, 2)),
        fc=linear())
    with warnings.catch_warnings():  # forward reads reg before cls
        warnings.simplefilter("ignore")
        assert architecture(registers, (2, 1, 3))["layers"] == [
            {"type": "tokens"}, {"name": "reg", "type": "class_token", "tokens": 2},
            {"name": "cls", "type": "class_token"}, {"type": "narrow", "start": 3, "length": 3},
            {"type": "token_mean"}, {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    # Products with numbers, DeiT's mean of two heads `(x + x_dist) / 2` among them.
    halves = Forward(lambda m, x: (m.a(x) + m.b(x)) / 2, a=linear(), b=linear())
    assert architecture(halves, (2,))["layers"][1] == {"type": "multiply", "by": 0.5}
    for times in (lambda x: 3 * x, lambda x: x.mul(other=3), lambda x: torch.div(x, 1 / 3)):
        assert architecture(Forward(lambda m, x: m.fc(times(x)), fc=linear()), (2,))[
            "layers"][0] == {"type": "multiply", "by": 3.0}
    # One token by an index or `select`, the last one too.
    for pick in (lambda t: t[:, -1], lambda t: t.select(1, 2), lambda t: t[:, 2, :]):
        assert architecture(Forward(lambda m, x: m.fc(pick(x.flatten(2).transpose(1, 2))),
                                    fc=nn.Linear(2, 2)), (2, 1, 3))["layers"] == [
            {"type": "tokens"}, {"type": "select_token", "index": 2},
            {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    # Tokens back into maps (MetaFormer's stages, PVT's): `x.transpose(1, 2).reshape(n, E, H,
    # W)` is the transpose and its numbers read as maps; `x.reshape(n, H, W, E)` makes the
    # tokens the positions of channels-last maps, whose permute back ends the block; and the
    # mean over channels-last positions (Swin's head) is the pooling of the maps.
    def transformed(to_maps, positions=6):
        return Forward(lambda m, x: m.fc(m.conv(to_maps(m.mix(x.flatten(2).transpose(1, 2)),
                                                         x.shape[0])).flatten(1)),
                       mix=nn.Linear(2, 3), conv=nn.Conv2d(3, 2, 1),
                       fc=nn.Linear(2 * positions, 2))
    mix = {"name": "mix", "type": "linear", "out": 3, "bias": True}
    tail = [{"name": "conv", "type": "conv2d", "out": 2, "kernel": 1, "stride": 1, "padding": 0,
             "bias": True}, {"type": "flatten"},
            {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    assert architecture(transformed(lambda t, n: t.transpose(1, 2).reshape(n, 3, 2, 3)),
                        (2, 2, 3))["layers"] == [
        {"type": "tokens"}, mix, {"type": "transpose"}, {"type": "flatten"},
        {"type": "unflatten", "shape": [3, 2, 3]}, *tail]
    assert architecture(transformed(lambda t, n: t.reshape(n, 2, 3, 3).permute(0, 3, 1, 2)),
                        (2, 2, 3))["layers"] == [
        {"type": "tokens"}, mix, {"type": "transpose"}, {"type": "flatten"},
        {"type": "unflatten", "shape": [3, 2, 3]}, *tail]
    # Maps of one column, [T, 1, E], could be T channels: the permute back says they are not.
    assert architecture(transformed(lambda t, n: t.reshape(n, 2, 1, 3).permute(0, 3, 1, 2)
                                    .contiguous(), positions=2), (2, 2, 1))["layers"] == [
        {"type": "tokens"}, mix, {"type": "transpose"}, {"type": "flatten"},
        {"type": "unflatten", "shape": [3, 2, 1]}, *tail[:1], {"type": "flatten"},
        {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    swin_head = Forward(lambda m, x: m.fc(m.norm(x.permute(0, 2, 3, 1)).mean((1, 2))),
                        norm=nn.LayerNorm(2), fc=nn.Linear(2, 2))
    assert architecture(swin_head, (2, 2, 3))["layers"] == [
        {"type": "channels_last", "layers": [{"name": "norm", "type": "layernorm", "shape": [2],
                                              "eps": 1e-5, "affine": True, "bias": True}]},
        {"type": "adaptive_avgpool2d", "output": 1}, {"type": "flatten"},
        {"name": "fc", "type": "linear", "out": 2, "bias": True}]
    to_tokens = lambda x: x.flatten(2).transpose(1, 2)  # noqa: E731
    attention = lambda **kw: nn.MultiheadAttention(2, 1, batch_first=True, **kw)  # noqa: E731
    to_channels_last = lambda x: x.permute(0, 2, 3, 1)  # noqa: E731
    to_maps = lambda x: x.permute(0, 3, 1, 2)  # noqa: E731
    double = Forward(lambda m, x: m.fc(m.fc(x)), fc=linear())
    refusals = [
        (Forward(lambda m, x: to_maps(m.fc(to_channels_last(x).mean((1, 2), keepdim=True)))
                 .flatten(1), fc=linear()), "of channels-last values only the mean over the "
         "positions",
         (2, 2, 2)),
        (Forward(lambda m, x: m.fc(to_channels_last(x).mean(3).flatten(1)),
                 fc=nn.Linear(4, 2)), "of channels-last values only the mean over the positions",
         (2, 2, 2)),
        (Forward(lambda m, x: m.fc(m.attn(h := m.a(x), h, h)[0]), attn=attention(), a=linear(),
                 fc=linear()), "attention runs on tokens [N, T, E] (maps' positions as rows), "
         "not on values of shape [2]"),
        (Forward(lambda m, x: m.fc(to_tokens(x)), fc=linear()),
         "the model's output has shape [6, 1, 2]; curvscope reads class scores", (2, 1, 1)),
        (nn.Sequential(nn.Linear(6, 3)), "input_shape (4, 6): curvscope's samples are images "
         "[C, H, W] or features [F]", (4, 6)),
        (Forward(lambda m, x: m.fc(torch.cat([m.a(t := to_tokens(x)), t], 1).flatten(1)),
                 a=linear(), fc=nn.Linear(8, 2)), "concatenates tokens", (2, 1, 2)),
        (Forward(lambda m, x: m.fc((m.a(t := to_tokens(x)) * t[:, :1]).flatten(1)),
                 a=linear(), fc=nn.Linear(4, 2)),
         "multiplies values of shapes [1, 2] and [2, 2]; curvscope multiplies equal shapes",
         (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.bn(to_tokens(x)).flatten(1)), bn=nn.BatchNorm1d(2),
                 fc=nn.Linear(4, 2)), "runs batchnorm1d on tokens [2, 2]", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.attn(m.a(t := to_tokens(x)), t, t)[0].flatten(1)),
                 attn=attention(), a=linear(), fc=nn.Linear(4, 2)),
         "curvscope's attention is self-attention of one value", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.attn(t := to_tokens(x), t, t, attn_mask=torch.ones(
            2, 2, dtype=torch.bool).triu(1))[0].flatten(1)), attn=attention(),
            fc=nn.Linear(4, 2)), "attention masks are not expressible", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.attn(t := to_tokens(x), t, t)[0].flatten(1)),
                 attn=nn.MultiheadAttention(2, 1), fc=nn.Linear(4, 2)),
         "batch_first=False", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(((r := m.attn(t := to_tokens(x), t, t))[0] + r[1])
                                   .flatten(1)),
                 attn=attention(), fc=nn.Linear(4, 2)), "forward reads attention weights", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(to_tokens(x).mean(2).flatten(1)), fc=linear()),
         "only the mean of the tokens, x.mean(dim=1) without keepdim, is expressible",
         (2, 1, 2)),
        (Forward(lambda m, x: m.fc(to_tokens(x)[:, ::2].flatten(1)), fc=linear()),
         "on tokens only one token x[:, i], a run of them x[:, a:b] or of their features "
         "x[..., a:b] is expressible", (2, 1, 2)),
        (Forward(lambda m, x: m.fc((to_tokens(x) - m.beta).flatten(1)),
                 beta=nn.Parameter(torch.zeros(2)), fc=nn.Linear(4, 2)),
         "subtracts a parameter or from one; curvscope adds one, x + β (a shift)", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.n(x).flatten(1)), n=_without(nn.GroupNorm(1, 2), "weight"),
                 fc=nn.Linear(2, 2)), "β without γ (its weight set to None)", (2, 1, 1)),
        (Forward(lambda m, x: m.fc(m.norm(x.flatten(2)).flatten(1)), norm=nn.LayerNorm(2),
                 fc=nn.Linear(4, 2)), "which no curvscope layer holds (it holds features [F], "
         "maps [C, H, W] and tokens [T, E] made of maps by x.flatten(2).transpose(1, 2), and "
         "what layers make of them; these [2, 2] are not)", (2, 1, 2)),
        (Forward(lambda m, x: m.fc((to_tokens(x) + m.pos).flatten(1)),
                 pos=nn.Parameter(torch.zeros(1, 2, 1)), fc=nn.Linear(4, 2)),
         "adds to values of shape [2, 2] `pos` of shape [1, 2, 1]; curvscope's shift holds one "
         "value per channel", (2, 1, 2)),
        (Forward(lambda m, x: m.fc((x + m.bias).flatten(1)),
                 bias=nn.Parameter(torch.zeros(2)), fc=nn.Linear(4, 2)),
         "curvscope's shift holds one value per channel: [C, 1, 1] of maps", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(torch.addcmul(m.b, m.a, to_tokens(x), value=2).flatten(1)),
                 a=nn.Parameter(torch.ones(2)), b=nn.Parameter(torch.zeros(2)),
                 fc=nn.Linear(4, 2)), "(addcmul(b, a, transpose)) cannot be expressed",
         (2, 1, 2)),
        (Forward(lambda m, x: m.fc(torch.addcmul(m.b, to_tokens(x), to_tokens(x)).flatten(1)),
                 b=nn.Parameter(torch.zeros(2)), fc=nn.Linear(4, 2)),
         "cannot be expressed", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(to_maps(m.conv(to_channels_last(x))).flatten(1)),
                 conv=nn.Conv2d(2, 2, 1), fc=nn.Linear(4, 2)),
         "`conv` (conv(permute)) runs conv2d on channels-last values [2, 1, 2]", (2, 2, 1)),
        (Forward(lambda m, x: m.fc(to_maps(m.norm(to_channels_last(x))).flatten(1)),
                 norm=nn.LayerNorm((1, 2)), fc=nn.Linear(4, 2)),
         "runs layernorm on channels-last values [2, 1, 2]", (2, 2, 1)),
        (Forward(lambda m, x: m.fc(to_maps(m.act(to_channels_last(x))).flatten(1)),
                 act=nn.PReLU(2), fc=nn.Linear(8, 2)),
         "runs prelu on channels-last values", (2, 2, 2)),
        (Forward(lambda m, x: m.fc(to_maps(m.a(y := to_channels_last(x)) + m.b(y)).flatten(1)),
                 a=linear(), b=linear(), fc=nn.Linear(4, 2)),
         "joins paths of channels-last values", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(to_maps(m.a(y := to_channels_last(x))).flatten(1)
                                   + to_maps(m.b(y)).flatten(1)),
                 a=linear(), b=linear(), fc=nn.Linear(4, 2)),
         "two paths fork from channels-last values", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(m.a(to_channels_last(x)).flatten(1)), a=linear(),
                 fc=nn.Linear(4, 2)),
         "`flatten` (flatten(a, 1)): reshapes a sample from [1, 2, 2] to [4]", (2, 1, 2)),
        (Forward(lambda m, x: m.fc((x * m.gamma).flatten(1)), fc=nn.Linear(4, 2),
                 gamma=nn.Parameter(torch.ones(2, 1, 2))),
         "multiplies values of shape [2, 1, 2] by `gamma` of shape [2, 1, 2]", (2, 1, 2)),
        (Forward(lambda m, x: m.fc(x * m.gamma * m.gamma), fc=linear(),
                 gamma=nn.Parameter(torch.ones(2))), "reads `gamma` a second time"),
        (Forward(lambda m, x: m.fc(m.n(x) * m.n.weight), n=nn.LayerNorm(2), fc=linear()),
         "module `n` (LayerNorm): forward also reads its tensors itself (tied weights)"),
        (Forward(lambda m, x: m.fc(F.batch_norm(x, m.bn.running_mean, m.bn.running_var)),
                 bn=nn.BatchNorm1d(2), fc=linear()),
         "F.batch_norm is read only as the layer of the module whose forward calls it"),
        (Forward(lambda m, x: m.fc(F.linear(x, m.fc.weight)), fc=linear()),
         "given that module's own parameters weight [out, in] and bias [out]"),
        (_Linear(2, 2), "here the model itself holds them: wrap it, nn.Sequential(model)"),
        (Forward(lambda m, x: torch.cat([m.a(x), m.b(x)], 0), a=linear(), b=linear()),
         "`cat` (cat([a, b], 0)) concatenates along axis 0"),
        (Forward(lambda m, x: m.fc(torch.cat(x.chunk(2, 1)[::-1], 1)), fc=linear()),
         "concatenates a sequence forward computes"),
        (Forward(lambda m, x: m.out(torch.cat([m.a(x), m.a(x)], 1)), a=linear(),
                 out=nn.Linear(4, 2)), "module `a` (Linear): it runs twice"),
        (Forward(lambda m, x: m.fc(F.pad(x, (1, 1))), fc=nn.Linear(4, 2)),
         "`pad` (pad(x, (1, 1))): only zeros around maps"),
        (Forward(lambda m, x: m.fc(F.pad(x, (1, 1, 0, 0), mode="reflect").flatten(1)),
                 fc=nn.Linear(2 * 4 * 6, 2)), "only zeros around maps", (2, 4, 4)),
        (Forward(lambda m, x: m.fc(x[:, ::2].relu()), fc=nn.Linear(1, 2)),
         "only the subsampling x[:, :, ::s, ::t] of maps"),
        (Forward(lambda m, x: m.fc(x + m.fc.bias), fc=linear()),
         "reads `fc.bias` a second time"),
        (Forward(lambda m, x: m.fc(x + m.bn.running_mean), fc=linear(), bn=nn.BatchNorm1d(2)),
         "forward reads the tensor `bn.running_mean` itself"),
        (Forward(lambda m, x: m.fc(F.dropout(x, 0.5)), fc=linear()),
         "training=True drops at random"),
        (Forward(lambda m, x: m.fc(2 / x), fc=linear()), "`truediv` (truediv(2, x)) cannot be"),
        (Forward(lambda m, x: m.fc(x) - 1, fc=linear()),
         "`sub` (sub(fc, 1)) adds a number or a scaled tensor: only sums a + b and differences "
         "a − b of two paths are expressible"),
        (Forward(lambda m, x: torch.add(m.fc(x), x, alpha=2), fc=linear()),
         "adds a number or a scaled tensor"),
        (Forward(lambda m, x: torch.sub(m.fc(x), x, alpha=2), fc=linear()),
         "adds a number or a scaled tensor"),
        (Forward(lambda m, x: m.fc(x) ** 3, fc=linear()), "(pow(fc, 3)) cannot be expressed"),
        (double, "module `fc` (Linear): it runs twice in forward"),
        # Res2Net's block with its parts out of order, or its runs not all of the map: not
        # read as carried runs, so y₀ runs in two branches.
        (Forward(lambda m, x: m.fc(torch.cat([m.b((y0 := m.a(x[:, :2])) + x[:, 2:4]), y0,
                                              x[:, 4:]], 1).flatten(1)),
                 a=nn.Conv2d(2, 2, 1), b=nn.Conv2d(2, 2, 1), fc=nn.Linear(6, 2)),
         "module `a` (Conv2d): it runs twice in forward", (6, 1, 1)),
        (Forward(lambda m, x: m.fc(torch.cat([y0 := m.a(x[:, :2]), m.b(y0 + x[:, 2:4])], 1)
                                   .flatten(1)),
                 a=nn.Conv2d(2, 2, 1), b=nn.Conv2d(2, 2, 1), fc=nn.Linear(4, 2)),
         "module `a` (Conv2d): it runs twice in forward", (6, 1, 1)),
        # A previous y of another width than the run it is added to: PyTorch broadcasts it.
        (Forward(lambda m, x: m.fc(torch.cat([y0 := m.a(x[:, :1]), m.b(y0 + x[:, 1:4])], 1)
                                   .flatten(1)),
                 a=nn.Conv2d(1, 1, 1), b=nn.Conv2d(3, 3, 1), fc=nn.Linear(4, 2)),
         "adds values of shapes [1, 1, 1] and [3, 1, 1]", (4, 1, 1)),
        (Forward(lambda m, x: (m.fc(x), x), fc=linear()), "returns more than one tensor"),
        (Forward(lambda m, x: m.fc(x) if x.sum() > 0 else x, fc=linear()),
         "torch.fx cannot trace the model's forward"),
        # In place on the input, read again: relu(x) + relu(x), as PyTorch computes it.
        (Forward(lambda m, x: m.fc(F.relu(x, inplace=True) + x), fc=linear()),
         "`add` (add(relu, relu)) adds a value to itself"),
        # In place on a value read again: `h += …` while `skip` is h; an in-place ReLU after
        # eval-mode dropout, which returns its input; an argument computed from the values.
        (Forward(_skip_over_iadd, fc1=linear(), fc2=linear(), out=linear()),
         "compute other class scores than the model's forward"),
        (Forward(lambda m, x: m.out(m.fc(m.act(m.drop(m.fc(x)))) + m.fc(x)), fc=linear(),
                 drop=nn.Dropout(0.1), act=nn.ReLU(inplace=True), out=linear()),
         "it runs twice in forward"),
        (Forward(_frozen, fc=linear(), out=linear()), "have other gradients than the model's"),
        # (Of the input itself, whose random samples take both signs: a layer's output may
        # take one sign on every sample, where no slope changes anything.)
        (Forward(lambda m, x: m.out(F.leaky_relu(x, x.abs().mean().item())), out=linear()),
         "compute other class scores"),
        (Forward(lambda m, x: m.fc(x + x.clone()), fc=linear()), "adds a value to itself"),
        (Forward(lambda m, x: m.fc(x + m.one(x)), fc=linear(), one=nn.Linear(2, 1)),
         "adds values of shapes [2] and [1]"),
        (Forward(lambda m, x: m.fc(x.pow(2.5)), fc=linear()), "(pow(x, 2.5)) cannot be expressed"),
        (Forward(lambda m, x: m.fc(x * m.one(x)), fc=linear(), one=nn.Linear(2, 1)),
         "multiplies values of shapes [1] and [2]"),
        # A factor repeated along one axis of the positions only.
        (Forward(lambda m, x: m.fc((x * m.rows(x)).flatten(1)),
                 rows=nn.AdaptiveAvgPool2d((4, 1)), fc=nn.Linear(32, 2)),
         "multiplies values of shapes [2, 4, 1] and [2, 4, 4]", (2, 4, 4)),
        # Called through its module, as torchvision's StochasticDepth calls it in training.
        (Forward(lambda m, x: m.fc(depth.stochastic_depth(x, 0.5, "row", training=True)),
                 fc=linear()), "`stochastic_depth` (stochastic_depth(x, 0.5, row)): "
         "training=True drops at random"),
        (Forward(lambda m, x: m.fc(x.transpose(2, 3).flatten(1)), fc=nn.Linear(4, 2)),
         "`transpose` (transpose(x, 2, 3)): reshapes a sample from [1, 2, 2] to [1, 2, 2] in a "
         "way curvscope cannot express", (1, 2, 2)),
        (Forward(lambda m, x: m.fc(x.chunk(2, 2)[1].flatten(1)), fc=nn.Linear(2, 2)),
         "reshapes a sample from [1, 2, 2] to [1, 1, 2]", (1, 2, 2)),
        (Forward(lambda m, x: m.fc(F.glu(x, 2).flatten(1)), fc=nn.Linear(2, 2)),
         "only the halves of an even number of channels", (1, 2, 2)),
        (Forward(lambda m, x: m.fc(torch.cat([x.split([0, 2], 1)[0], x], 1)), fc=linear()),
         "an empty part of a split"),
        (Forward(lambda m, x: m.fc(m.norm(x.view(-1, 2, 1, 1, 1)).flatten(1)), fc=linear(),
                 norm=nn.LayerNorm(1)), "`norm` (norm(view)) takes values of shape [2, 1, 1, 1]"),
        (Forward(lambda m, x: m.fc(x.view(-1, 1, 1, 2)), fc=linear()),
         "the model's output has shape [6, 1, 1, 2]; curvscope reads class scores"),
    ]
    # A write in place to a reshaped view of a value read again is refused.
    refusals.append((Forward(_view_relu, fc=linear(), fc2=linear()),
                     "`relu_` (relu_(view)) writes in place over a value that `fc2`"))
    hooked_fx = Forward(lambda m, x: m.fc(x), fc=linear())
    hooked_fx.fc.register_forward_hook(lambda module, inputs, output: output + 1)
    refusals.append((hooked_fx, "module `fc` (Linear): forward hooks"))
    _assert_refused(refusals)
    # In-place writes to a value read again are read as PyTorch reads them, after the write
    # (through eval-mode dropout; an unused result; DeepMind NFNets' `out.mul_(gain)`).
    gain = nn.Parameter(torch.tensor(0.5))
    followed = [
        (Forward(lambda m, x: m.out(m.fc2(m.act(m.drop(h := m.fc(x)))) + h), fc=linear(),
                 drop=nn.Dropout(0.1), act=nn.ReLU(inplace=True), fc2=linear(), out=linear()),
         ["linear", "dropout", "relu", "residual", "linear"]),
        (Forward(_hidden_clip, fc=linear(), fc2=linear(), out=linear()),
         ["linear", "hardtanh", "residual", "linear"]),
        (Forward(_dropped_relu, fc=linear(), fc2=linear()), ["linear", "relu", "linear"]),
        (Forward(lambda m, x: m.out(m.fc(x).mul_(m.g) * 2.0), fc=linear(), g=gain, out=linear()),
         ["linear", "scale", "multiply", "linear"]),
    ]
    for model, kinds in followed:
        layers = architecture(model, (2,))["layers"]
        assert [layer["type"] for layer in layers] == kinds, layers
    return len(refusals)


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        _self_check()
    else:
        print(__doc__)
        sys.exit(2)
