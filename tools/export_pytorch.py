#!/usr/bin/env python3
"""Export a PyTorch nn.Sequential as a curvscope checkpoint (model.safetensors + checkpoint.json).

    import sys; sys.path.insert(0, "tools")
    from export_pytorch import export
    export(model, input_shape=(3, 32, 32), out="my-checkpoint",
           normalize=([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]))  # if trained so

The model must be an nn.Sequential (nested nn.Sequential groups and residual blocks allowed:
torchvision's ResNet BasicBlock and Bottleneck, and `Residual` below) of Conv2d, Linear,
MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, SiLU,
ELU, Softplus, Mish, Hardtanh, ReLU6, Hardsigmoid, Hardswish, PReLU, Identity, Dropout (also
1d, 2d and AlphaDropout: the identity in eval mode), BatchNorm1d, BatchNorm2d, LayerNorm and
GroupNorm; anything else is refused with the module's name. Tensors keep their state_dict
names (torchvision's `features.0.weight` load unchanged); batch norm's running statistics are
written too and are constants in curvscope (eval mode), not parameters.

`python tools/export_pytorch.py --self-check` exports nets using every layer kind, reads the
files back and checks them, and checks that unsupported modules are refused.
"""

import json
import math
import os
import sys

import torch
from torch import nn


class Unsupported(ValueError):
    """A module curvscope cannot express, named by its state_dict prefix."""


def _size2(value, what, name):
    """A height/width: one number when equal, else [h, w] (curvscope's Size2)."""
    if isinstance(value, str):
        raise Unsupported(f"module `{name}`: {what}={value!r} (give sizes as numbers)")
    if isinstance(value, int):
        return value
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


def _padding(module, name):
    """Conv2d's padding as numbers: 'valid' is 0, and 'same' (stride 1) is (k − 1)/2 for odd k;
    an even kernel's 'same' pads one side more, which curvscope cannot express."""
    if module.padding == "valid":
        return 0
    if module.padding == "same":
        odd = all(k % 2 == 1 for k in module.kernel_size)
        _refuse_unless(odd, name, module, "padding='same' with an even kernel pads unevenly")
        return _size2(tuple((k - 1) // 2 for k in module.kernel_size), "padding", name)
    return _size2(module.padding, "padding", name)


# Dropout1d came with torch 1.12.
_DROPOUTS = tuple(getattr(nn, kind)
                  for kind in ("Dropout", "Dropout1d", "Dropout2d", "AlphaDropout")
                  if hasattr(nn, kind))


def _layer(name, module, seen):
    """The curvscope layer JSON (without its name) of one module; `seen` maps the modules
    exported so far to their names (see `_layers`)."""
    check = lambda ok, why: _refuse_unless(ok, name, module, why)  # noqa: E731
    _refuse_hooks(name, module)
    if _is(module, nn.Sequential):
        return {"type": "group", "layers": _layers(module, name, seen)}
    if _is(module, Residual):  # as a Residual's body or shortcut
        return _residual(name, module, seen)[0]
    check(not _is_torchvision_block(module),
          "a torchvision block directly inside a Residual: wrap it in an nn.Sequential")
    if _is(module, nn.Conv2d):
        check(module.groups == 1, "grouped convolutions are not supported")
        check(tuple(module.dilation) == (1, 1), "dilated convolutions are not supported")
        check(module.padding_mode == "zeros", "only zero padding is supported")
        return {
            "type": "conv2d",
            "out": module.out_channels,
            "kernel": _size2(module.kernel_size, "kernel_size", name),
            "stride": _size2(module.stride, "stride", name),
            "padding": _padding(module, name),
            "bias": module.bias is not None,
        }
    if _is(module, nn.Linear):
        return {"type": "linear", "out": module.out_features, "bias": module.bias is not None}
    if _is(module, nn.MaxPool2d, nn.AvgPool2d):
        check(not module.ceil_mode, "ceil_mode=True is not supported")
        if _is(module, nn.MaxPool2d):
            check(module.dilation in (1, (1, 1)), "dilation is not supported")
            check(not module.return_indices, "return_indices=True is not supported")
        else:
            check(module.count_include_pad, "count_include_pad=False is not supported")
            check(module.divisor_override is None, "divisor_override is not supported")
        kind = "maxpool2d" if _is(module, nn.MaxPool2d) else "avgpool2d"
        stride = module.stride if module.stride is not None else module.kernel_size
        return {
            "type": kind,
            "kernel": _size2(module.kernel_size, "kernel_size", name),
            "stride": _size2(stride, "stride", name),
            "padding": _size2(module.padding, "padding", name),
        }
    if _is(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        check(None not in size, "an output size of None is not supported")
        return {"type": "adaptive_avgpool2d", "output": _size2(size, "output_size", name)}
    if _is(module, nn.Flatten):
        check(module.start_dim == 1 and module.end_dim == -1, "only Flatten(1, -1) is supported")
        return {"type": "flatten"}
    if _is(module, nn.LeakyReLU):
        return {"type": "leaky_relu", "negative_slope": module.negative_slope}
    if _is(module, *_DROPOUTS):
        return {"type": "dropout", "p": module.p}  # the identity in eval mode
    if _is(module, nn.GELU):
        # torch before 1.12 had only the erf form, and no `approximate`.
        return {"type": "gelu", "approximate": getattr(module, "approximate", "none")}
    if _is(module, nn.ELU):
        check(math.isfinite(module.alpha), f"alpha={module.alpha}: not a finite number")
        return {"type": "elu", "alpha": float(module.alpha)}
    if _is(module, nn.Softplus):
        check(module.beta > 0, f"beta={module.beta}: only beta > 0 is supported")
        check(math.isfinite(module.beta) and math.isfinite(module.threshold),
              f"beta={module.beta}, threshold={module.threshold}: not finite numbers")
        return {"type": "softplus", "beta": float(module.beta),
                "threshold": float(module.threshold)}
    if _is(module, nn.Hardtanh):
        return {"type": "hardtanh", "min_val": float(module.min_val),
                "max_val": float(module.max_val)}
    if _is(module, nn.PReLU):
        return {"type": "prelu", "num_parameters": module.num_parameters,
                "init": float(module.init)}
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
              nn.Mish: "mish", nn.ReLU6: "relu6", nn.Hardsigmoid: "hardsigmoid",
              nn.Hardswish: "hardswish", nn.Identity: "identity"}
    if _is(module, *simple):
        return {"type": simple[type(module)]}
    if _is(module, nn.BatchNorm1d, nn.BatchNorm2d):
        check(module.affine, "affine=False is not supported")
        check(module.track_running_stats, "track_running_stats=False is not supported")
        kind = "batchnorm1d" if _is(module, nn.BatchNorm1d) else "batchnorm2d"
        return {"type": kind, "eps": module.eps}
    if _is(module, nn.LayerNorm):
        # `bias` came with torch 2.1; before, an affine layer norm always had one.
        return {"type": "layernorm", "shape": [int(s) for s in module.normalized_shape],
                "eps": module.eps, "affine": module.elementwise_affine,
                "bias": module.elementwise_affine and module.bias is not None}
    if _is(module, nn.GroupNorm):
        return {"type": "groupnorm", "groups": module.num_groups, "eps": module.eps,
                "affine": module.affine}
    raise Unsupported(
        f"module `{name}` ({type(module).__name__}) cannot be expressed in curvscope "
        "(supported: Sequential, Conv2d, Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, "
        "Flatten, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, SiLU, ELU, Softplus, Mish, Hardtanh, "
        "ReLU6, Hardsigmoid, Hardswish, PReLU, Identity, "
        "Dropout, Dropout1d, Dropout2d, AlphaDropout, BatchNorm1d, BatchNorm2d, LayerNorm, "
        "GroupNorm)"
    )


def _child(prefix, child, module, seen):
    """The layer JSON of `module`, the child `child` of the module named `prefix`, with its
    name. A module with parameters or buffers used twice (tied weights, shared running
    statistics) is refused: curvscope gives each layer its own tensors."""
    name = f"{prefix}.{child}" if prefix else child
    _refuse_unless(module is not None, name, module, "an empty (None) entry")
    stateful = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    _refuse_unless(not (stateful and id(module) in seen), name, module,
                   f"the same module as `{seen.get(id(module))}`: its tensors would be "
                   "shared (tied weights), which curvscope cannot express; give each use "
                   "its own module")
    seen.setdefault(id(module), name)
    return {"name": child, **_layer(name, module, seen)}


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
        shortcut = [] if _is(module.shortcut, nn.Identity) else [
            _child(name, "shortcut", module.shortcut, seen)]
        return [{"type": "residual", "layers": [_child(name, "body", module.body, seen)],
                 "shortcut": shortcut}]
    main = ["conv1", "bn1", "relu", "conv2", "bn2"]
    if type(module).__name__ == "Bottleneck":
        main += ["relu", "conv3", "bn3"]
    shortcut = [] if module.downsample is None else [
        _child(name, "downsample", module.downsample, seen)]
    layers = [_child(name, c, getattr(module, c), seen) for c in main]
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
            entries = [_child(prefix, child, module, seen)]
        for entry in entries:
            if entry["name"] == str(len(layers)):
                del entry["name"]
            layers.append(entry)
    return layers


def architecture(model, input_shape):
    """The checkpoint.json `arch` of `model` taking samples of `input_shape` ([C, H, W] or [F])."""
    _refuse_unless(_is(model, nn.Sequential), "(the model)", model,
                   "the model must be an nn.Sequential (wrap its parts in one, in forward order)")
    _refuse_hooks("(the model)", model)
    layers = _layers(model)
    seen = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in seen:
            raise Unsupported(f"parameter `{name}` is `{seen[id(parameter)]}` (tied weights), "
                              "which curvscope cannot express; untie them")
        seen[id(parameter)] = name
    return {"name": "sequential", "input": [int(s) for s in input_shape], "layers": layers}


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
    """Writes `out`/model.safetensors and `out`/checkpoint.json for `model` (an nn.Sequential).

    `dtype` is the storage precision (float32 or float64). `normalize=(mean, std)` records the
    training transform's `transforms.Normalize(mean, std)`: curvscope then applies
    (x − mean_c) / std_c to every dataset it evaluates the model on (give it the raw images,
    pixels / 255). `meta` adds fields to checkpoint.json (e.g. step=, seed=,
    dataset="CIFAR-10 train"). Runs the model once in eval mode on zeros of `input_shape`
    first, so a model that cannot take that input fails here.
    """
    from safetensors.torch import save_file

    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype}: curvscope reads float32 or float64 checkpoints")
    arch = architecture(model, input_shape)
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError("the model has no parameters: there is no gradient or Hessian to measure")
    if normalize is not None:
        meta = {"normalize": normalization(*normalize, channels=int(input_shape[0])), **meta}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros((1, *input_shape), dtype=first.dtype))
    model.train(was_training)
    tensors = {}
    for name, tensor in model.state_dict().items():
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
    without β, without γ and β) and group norm (on maps, on features), on [4, 5, 5] maps."""
    return nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
        nn.LayerNorm([4, 5, 5]), nn.Conv2d(4, 3, 2), nn.LayerNorm(4, eps=1e-3, bias=False),
        nn.Tanh(), nn.Flatten(),
        nn.Linear(48, 8), nn.LayerNorm(8), nn.ReLU(),
        nn.Linear(8, 6), nn.GroupNorm(3, 6, eps=1e-2), nn.Tanh(),
        nn.Linear(6, 6), nn.LayerNorm(6, elementwise_affine=False),
        nn.Linear(6, 4),
    )


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


class Doubled(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


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
        nn.Conv2d(1, 2, 3), nn.Dropout2d(0.2), nn.Dropout1d(0.2)), (1, 5, 5))["layers"]] == [
        "conv2d", "dropout", "dropout"]
    norms = architecture(normalization_net(), (4, 5, 5))
    assert norms["layers"][1] == {"type": "groupnorm", "groups": 2, "eps": 1e-5, "affine": True}
    assert norms["layers"][5] == {"type": "layernorm", "shape": [4], "eps": 1e-3,
                                  "affine": True, "bias": False}
    assert norms["layers"][15] == {"type": "layernorm", "shape": [6], "eps": 1e-5,
                                   "affine": False, "bias": False}
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
    for kind in ["conv2d", "linear", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "flatten",
                 "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus",
                 "mish", "hardtanh", "relu6", "hardswish", "prelu", "identity", "dropout",
                 "batchnorm1d", "batchnorm2d", "layernorm", "groupnorm", "group", "residual"]:
        assert f'"type": "{kind}"' in kinds, kind
    assert arch["layers"][0]["name"] == "features" and arch["layers"][2]["name"] == "classifier"
    refusals = [
        (nn.Sequential(nn.Linear(2, 2), nn.SELU()), "module `1` (SELU) cannot be expressed"),
        (nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=-1.0)),
         "module `1` (Softplus): beta=-1.0: only beta > 0"),
        (nn.Sequential(nn.Linear(2, 2), nn.ELU(alpha=float("inf"))),
         "module `1` (ELU): alpha=inf: not a finite number"),
        (nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, dilation=2))),
         "module `0.0` (Conv2d): dilated convolutions"),
        (nn.Sequential(nn.BatchNorm1d(2, affine=False)), "module `0` (BatchNorm1d): affine=False"),
        (nn.Linear(2, 2), "the model must be an nn.Sequential"),
        (SkipSequential(nn.Linear(2, 2)), "the model must be an nn.Sequential"),
        (nn.Sequential(SkipSequential(nn.Linear(2, 2))),
         "module `0` (SkipSequential) cannot be expressed"),
        (nn.Sequential(Doubled(2, 2)), "module `0` (Doubled) cannot be expressed"),
        (hooked(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), 1), "module `1` (ReLU): forward hooks"),
        (nn.Sequential(nn.LazyLinear(2)), "module `0` (LazyLinear): a lazy module not yet"),
        (nn.Sequential(nn.Conv2d(1, 2, 2, padding="same")), "'same' with an even kernel"),
    ]
    tied = nn.Linear(2, 2)
    refusals.append((nn.Sequential(tied, nn.ReLU(), nn.Sequential(tied)),
                     "module `2.0` (Linear): the same module as `0`"))
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)
    second.weight = first.weight
    refusals.append((nn.Sequential(first, nn.ReLU(), second),
                     "parameter `2.weight` is `0.weight` (tied weights)"))
    for model, message in refusals:
        try:
            architecture(model, (2,))
        except Unsupported as e:
            assert message in str(e), (message, str(e))
        else:
            raise AssertionError(f"not refused: {model}")
    # A parameterless module used twice is exported at each place, as PyTorch runs it.
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Linear(3, 4), relu, nn.Linear(4, 4), relu, nn.Linear(4, 2))
    assert [layer["type"] for layer in architecture(shared, (3,))["layers"]] == [
        "linear", "relu", "linear", "relu", "linear"]
    padded = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), nn.Conv2d(2, 2, 3, padding="valid"))
    assert [layer["padding"] for layer in architecture(padded, (1, 5, 5))["layers"]] == [1, 0]
    for bad, message in [(dict(dtype=torch.float16), "dtype=torch.float16"),
                         (dict(model=nn.Sequential(nn.ReLU())), "no parameters")]:
        with tempfile.TemporaryDirectory() as out:
            try:
                export(**{"model": shared, "input_shape": (3,), "out": out, **bad})
            except ValueError as e:
                assert message in str(e), (message, str(e))
            else:
                raise AssertionError(f"{bad} not refused")
    print("export_pytorch self-check passed: every layer kind exported and read back; "
          f"{len(refusals)} unsupported models refused")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        _self_check()
    else:
        print(__doc__)
        sys.exit(2)
