//! `sequential` architectures: `torch.nn` layers in order, in nested named groups, with the
//! parameter names and layouts of PyTorch's `state_dict` — the spec, its shape inference and
//! its tensors. The forward pass is in [`crate::net`].

use std::collections::BTreeMap;

use crate::distinct_keys::DistinctKeys;
use crate::MAX_DIM;
use serde::{Deserialize, Deserializer, Serialize};

mod presets;

/// A network of `torch.nn`-like layers applied in order, e.g.
/// `{"input":[1,8,8],"layers":[{"type":"conv2d","out":4,"kernel":3},{"type":"relu"},
/// {"type":"flatten"},{"type":"linear","out":10}]}` (inside an [`crate::ArchSpec`] tagged
/// `"name":"sequential"`). The last layer's output is the class scores.
///
/// A layer's tensors are named `<name>.weight`, `<name>.bias`, … (a [scale](Op::Scale)'s one
/// tensor `<name>`), where a layer's name is its optional `"name"` field, else its index in its
/// group, prefixed by its groups' names (`features.0.weight`, `classifier.3.bias`): what
/// `state_dict()` calls them.
///
/// ```
/// use curvscope_model::ArchSpec;
/// let arch: ArchSpec = serde_json::from_str(r#"{"name":"sequential","input":[2],"layers":[
///     {"type":"group","name":"body","layers":[{"type":"linear","out":3},{"type":"tanh"}]},
///     {"type":"linear","out":4,"bias":false,"name":"head"}]}"#)?;
/// let names: Vec<String> = arch.params().into_iter().map(|(n, s)| format!("{n}{s:?}")).collect();
/// assert_eq!(names, ["body.0.weight[3, 2]", "body.0.bias[3]", "head.weight[4, 3]"]);
/// assert_eq!(arch.classes(), Some(4));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequential {
    /// Shape of one sample: `[C, H, W]` images or `[F]` features.
    pub input: Vec<usize>,
    /// The layers, in order.
    #[serde(deserialize_with = "numbered_layers")]
    pub layers: Vec<Layer>,
    /// Values of the buffers ([`Sequential::buffers`]) by tensor name, as loaded from a
    /// checkpoint; absent ones take PyTorch's initial values. Not in the JSON: they live in
    /// `model.safetensors` beside the parameters, but are not part of θ.
    #[serde(skip)]
    pub buffer_values: BTreeMap<String, Vec<f64>>,
}

/// One layer: what it does, and optionally its name in `state_dict` (default: its index in
/// its group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// Name of the layer's tensors' prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
}

/// A height and width, written as one number when equal (as `torch.nn` takes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a size, a whole number or [height, width]"
)]
pub enum Size2 {
    /// Height = width.
    Square(usize),
    /// `[height, width]`.
    Pair([usize; 2]),
}

impl Size2 {
    /// `[height, width]`.
    pub fn hw(self) -> [usize; 2] {
        match self {
            Size2::Square(s) => [s, s],
            Size2::Pair(p) => p,
        }
    }
}

fn one() -> Size2 {
    Size2::Square(1)
}
fn is_one(size: &Size2) -> bool {
    size.hw() == [1, 1]
}
fn one_group() -> usize {
    1
}
fn is_one_group(groups: &usize) -> bool {
    *groups == 1
}
fn zero() -> Size2 {
    Size2::Square(0)
}
fn yes() -> bool {
    true
}
fn is_yes(value: &bool) -> bool {
    *value
}
fn is_no(value: &bool) -> bool {
    !*value
}
fn is_zero(value: &usize) -> bool {
    *value == 0
}
fn one_usize() -> usize {
    1
}
fn is_one_usize(value: &usize) -> bool {
    *value == 1
}
fn norm_eps() -> f64 {
    1e-5
}
/// timm's default ε of its weight standardization and of its global response norm.
fn timm_eps() -> f64 {
    1e-6
}
fn leaky_slope() -> f64 {
    0.01
}
fn unit() -> f64 {
    1.0
}
fn is_unit(value: &f64) -> bool {
    *value == 1.0
}
fn softplus_threshold() -> f64 {
    20.0
}
fn minus_one() -> f64 {
    -1.0
}
fn one_parameter() -> usize {
    1
}
fn prelu_init() -> f64 {
    0.25
}

/// What `F.pad`'s `mode` puts in the rows and columns it adds, named as PyTorch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// The values mirrored about the edge, the edge itself not repeated: fewer than the side.
    #[default]
    Reflect,
    /// Zeros.
    Constant,
    /// The edge's values repeated.
    Replicate,
    /// The values from the other side, as if the maps were periodic: at most the side.
    Circular,
}

impl PadMode {
    fn is_reflect(&self) -> bool {
        *self == PadMode::Reflect
    }

    /// Its name in a spec (PyTorch's).
    fn name(self) -> &'static str {
        match self {
            PadMode::Reflect => "reflect",
            PadMode::Constant => "constant",
            PadMode::Replicate => "replicate",
            PadMode::Circular => "circular",
        }
    }
}

/// How `nn.GELU` computes Φ(x), as its `approximate` argument names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeluApproximation {
    /// x·Φ(x) = x·(1 + erf(x/√2))/2 exactly (PyTorch's default).
    #[default]
    None,
    /// x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2.
    Tanh,
}

/// The names of an [attention](Op::Attention) layer's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionTensors {
    /// `nn.MultiheadAttention`'s: `in_proj_weight`, `in_proj_bias`, `out_proj.weight`,
    /// `out_proj.bias`.
    #[default]
    Torch,
    /// timm's `Attention`'s linear layers: `qkv.weight`, `qkv.bias`, `proj.weight`,
    /// `proj.bias`.
    Timm,
}

impl AttentionTensors {
    fn is_torch(&self) -> bool {
        *self == AttentionTensors::Torch
    }

    /// The suffixes of the input projection's weight and bias, the output projection's.
    fn suffixes(self) -> [&'static str; 4] {
        match self {
            AttentionTensors::Torch => [
                "in_proj_weight",
                "in_proj_bias",
                "out_proj.weight",
                "out_proj.bias",
            ],
            AttentionTensors::Timm => ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"],
        }
    }
}

/// Weight standardization of a convolution's filters, as timm's `StdConv2d` (BiT's ResNet-v2,
/// the ViT hybrids) and `ScaledStdConv2d` (NF-ResNets, NFNets) compute it before convolving:
/// each filter (one output channel's (in/groups)·kh·kw weights) less its mean, over
/// √(variance + ε) with the biased variance `F.batch_norm` computes in training mode; then
/// times `scale` and, with `gain`, times a parameter per filter. Not linear in the weights, so
/// a net with it has no exact diag(H) from the Gauss–Newton diagonal.
///
/// ```
/// use curvscope_model::ArchSpec;
/// let arch: ArchSpec = serde_json::from_str(r#"{"name":"sequential","input":[1,4,4],"layers":[
///     {"type":"conv2d","out":2,"kernel":3,"standardize":{"gain":true,"scale":0.5}},
///     {"type":"flatten"},{"type":"linear","out":2}]}"#)?;
/// let names: Vec<String> = arch.params().into_iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "0.gain", "2.weight", "2.bias"]);
/// assert_eq!(arch.init(curvscope_model::Init::PyTorch, 0)[20..22], [1.0, 1.0]); // the gain
/// assert!(!arch.is_piecewise_linear());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardize {
    /// Added to each filter's variance (default 1e-6, timm's; BiT's nets use 1e-8).
    #[serde(default = "timm_eps")]
    pub eps: f64,
    /// Whether a parameter `gain` of shape `[out, 1, 1, 1]`, after the weight and bias in
    /// `state_dict`, multiplies each filter (`ScaledStdConv2d`'s; default false).
    #[serde(default, skip_serializing_if = "is_no")]
    pub gain: bool,
    /// A constant factor on every filter (`ScaledStdConv2d`'s `scale`, γ/√fan-in; default 1).
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub scale: f64,
}

/// A layer's operation, as JSON tagged by `"type"`; fields and defaults as in `torch.nn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// `nn.Conv2d(in, out, kernel, stride, padding, dilation, groups, bias)`; `in` is inferred.
    Conv2d {
        /// Output channels.
        out: usize,
        /// Kernel height and width.
        kernel: Size2,
        /// Step between windows (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Zeros added on each side (default 0).
        #[serde(default = "zero")]
        padding: Size2,
        /// Step between a window's taps (default 1: adjacent pixels).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        dilation: Size2,
        /// Channel groups, each convolved with its own filters; it divides the input's and
        /// the output's channels (default 1; the input's channels for a depthwise
        /// convolution, as MobileNet's).
        #[serde(default = "one_group", skip_serializing_if = "is_one_group")]
        groups: usize,
        /// Whether the layer has a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Weight standardization of its filters, timm's `StdConv2d` or `ScaledStdConv2d`
        /// (default none: the filters as they are).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        standardize: Option<Standardize>,
    },
    /// `nn.Conv1d(1, 1, kernel, padding=padding, bias)` of flat features read as one channel
    /// `[1, F]`, as ECA's channel attention convolves a map's channel means
    /// (`x.mean((2, 3)).view(N, 1, -1)`, timm's `EcaModule`): F + 2·padding − kernel + 1
    /// features out, its weight stored `[1, 1, kernel]`.
    Conv1d {
        /// Kernel length.
        kernel: usize,
        /// Zeros added at each end (default 0).
        #[serde(default, skip_serializing_if = "is_zero")]
        padding: usize,
        /// Whether the layer has a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// `nn.Linear(in, out, bias)`; `in` is inferred.
    Linear {
        /// Output features.
        out: usize,
        /// Whether the layer has a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// `nn.MaxPool2d(kernel, stride = kernel, padding, ceil_mode)`.
    Maxpool2d {
        /// Window height and width.
        kernel: Size2,
        /// Step between windows (default: the kernel).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<Size2>,
        /// Slots added on each side that are never the maximum, as PyTorch's −∞ (default 0).
        #[serde(default = "zero")]
        padding: Size2,
        /// Whether a last window that runs past the padded input still gives an output, cut
        /// short, unless it would start in the right padding (default false: PyTorch's count
        /// of windows either way).
        #[serde(default, skip_serializing_if = "is_no")]
        ceil_mode: bool,
    },
    /// `nn.AvgPool2d(kernel, stride = kernel, padding, ceil_mode, count_include_pad)`.
    Avgpool2d {
        /// Window height and width.
        kernel: Size2,
        /// Step between windows (default: the kernel).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<Size2>,
        /// Zeros added on each side (default 0).
        #[serde(default = "zero")]
        padding: Size2,
        /// As for `maxpool2d` (default false).
        #[serde(default, skip_serializing_if = "is_no")]
        ceil_mode: bool,
        /// Whether each mean counts the padding's zeros it covers (default true); a window cut
        /// short by `ceil_mode` counts only what it covers either way, as PyTorch does.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        count_include_pad: bool,
    },
    /// `nn.AdaptiveAvgPool2d(output)`.
    AdaptiveAvgpool2d {
        /// Output height and width.
        output: Size2,
    },
    /// timm's `BlurPool2d`, the anti-aliased downsampling of Zhang (ICML 2019): maps padded
    /// (`F.pad(x, [padding] * 4, pad_mode)`), then each channel convolved at `stride` with the
    /// fixed binomial filter b bᵀ, b_j = C(k − 1, j)/2^(k−1) (k = 3: [1, 2, 1]/4). No
    /// parameters: the filter is a buffer PyTorch does not train.
    BlurPool2d {
        /// The filter's side k, at least 1.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Rows and columns padded on each side (timm's `get_padding(kernel, stride)`,
        /// ((stride − 1) + (kernel − 1))/2).
        padding: usize,
        /// What the padding holds (default `reflect`, timm's; its `blurpc` nets pad with
        /// zeros, `constant`).
        #[serde(default, skip_serializing_if = "PadMode::is_reflect")]
        pad_mode: PadMode,
    },
    /// Each `block` × `block` square of pixels as one pixel of its values' channels, `[C, H, W]`
    /// → `[block²·C, H/block, W/block]`, output channel (i·block + j)·C + c holding
    /// x[c, block·y + i, block·x + j]: timm's `SpaceToDepth` (TResNet's stem) and TensorFlow's
    /// `space_to_depth`; PyTorch's `nn.PixelUnshuffle` orders the channels c·block² + i·block +
    /// j instead.
    SpaceToDepth {
        /// The square's side; it divides the height and the width.
        block: usize,
    },
    /// `runs` equal runs of channels (of features) added, `[r·C, H, W]` ↦ `[C, H, W]`:
    /// `x.view(N, r, C, H, W).sum(1)`, how ResNeSt's split attention and SKNet's selective
    /// kernel add their paths (`torch.stack` of them along axis 1 is their concatenation's
    /// view), each weighted by its [`Op::RadixSoftmax`].
    SumRuns {
        /// r, how many runs: it divides the channels.
        runs: usize,
    },
    /// A softmax across `radix` paths, per group: a sample's values, flattened channel-major and
    /// read as `[cardinality, radix, R]`, each softmax over the radix axis, written in the order
    /// `[radix, cardinality, R]` and the input's shape. timm's `RadixSoftmax` (ResNeSt's split
    /// attention, `x.view(N, cardinality, radix, -1).transpose(1, 2).softmax(1)`) and, with one
    /// group, SKNet's `x.view(N, K, C/K, H, W).softmax(1)`. timm's radix 1 is a sigmoid instead.
    RadixSoftmax {
        /// The paths each softmax is across, at least 2.
        radix: usize,
        /// The groups (default 1).
        #[serde(default = "one_usize", skip_serializing_if = "is_one_usize")]
        cardinality: usize,
    },
    /// `nn.Flatten()`: `[C, H, W]` → `[C·H·W]`, channel-major.
    Flatten,
    /// `nn.Unflatten(1, shape)`: `[C·H·W]` → `[C, H, W]`, channel-major, the inverse of
    /// `flatten` (a squeeze-and-excitation's `y.view(n, c, 1, 1)` after its linear layers).
    Unflatten {
        /// `[C, H, W]`.
        shape: [usize; 3],
    },
    /// `nn.ReLU()`.
    Relu,
    /// `nn.LeakyReLU(negative_slope)`.
    LeakyRelu {
        /// Slope for negative inputs (default 0.01).
        #[serde(default = "leaky_slope")]
        negative_slope: f64,
    },
    /// `nn.Tanh()`.
    Tanh,
    /// `nn.Sigmoid()`.
    Sigmoid,
    /// `nn.GELU(approximate)`.
    Gelu {
        /// `"none"` (the default: erf) or `"tanh"`.
        #[serde(default)]
        approximate: GeluApproximation,
    },
    /// `nn.SiLU()`: x·σ(x).
    Silu,
    /// `nn.ELU(alpha)`: x for x > 0, α·(eˣ − 1) otherwise.
    Elu {
        /// α (default 1).
        #[serde(default = "unit")]
        alpha: f64,
    },
    /// `nn.Softplus(beta, threshold)`: log(1 + e^{βx})/β, and x where βx > threshold.
    Softplus {
        /// β (default 1).
        #[serde(default = "unit")]
        beta: f64,
        /// Where the layer turns linear (default 20).
        #[serde(default = "softplus_threshold")]
        threshold: f64,
    },
    /// `nn.Mish()`: x·tanh(softplus(x)).
    Mish,
    /// `nn.Hardtanh(min_val, max_val)`: x clamped to [min_val, max_val].
    Hardtanh {
        /// The lower end (default −1).
        #[serde(default = "minus_one")]
        min_val: f64,
        /// The upper end (default 1).
        #[serde(default = "unit")]
        max_val: f64,
    },
    /// `nn.ReLU6()`: x clamped to [0, 6].
    Relu6,
    /// `nn.Hardsigmoid()`: x/6 + 1/2 clamped to [0, 1].
    Hardsigmoid,
    /// `nn.Hardswish()`: x·hardsigmoid(x).
    Hardswish,
    /// `nn.PReLU(num_parameters, init)`: x for x > 0, a·x otherwise, with the slopes a
    /// parameters: one shared, or one per channel (feature of flat inputs).
    Prelu {
        /// 1, or the input's channels (default 1).
        #[serde(default = "one_parameter")]
        num_parameters: usize,
        /// The slopes' initial value (default 0.25).
        #[serde(default = "prelu_init")]
        init: f64,
    },
    /// `nn.Identity()`.
    Identity,
    /// `F.pad(x, (0, 0, 0, 0, before, after))`: `before` and `after` channels of zeros around
    /// the maps' own (the shortcut of a CIFAR ResNet's "option A" block, after a subsampling
    /// `x[:, :, ::2, ::2]`, which is a 1×1 average pooling of stride 2).
    PadChannels {
        /// Zero channels before the input's.
        before: usize,
        /// Zero channels after the input's.
        after: usize,
    },
    /// `nn.ZeroPad2d((left, right, top, bottom))`, `F.pad(x, (left, right, top, bottom))`: rows
    /// and columns of zeros around maps, as many on each side as given. A convolution pads
    /// evenly; this pads unevenly before one, as PyTorch's `padding='same'` does for an even
    /// kernel and TensorFlow's "SAME" (timm's `Conv2dSame`, its `tf_*` nets) for a stride.
    Pad2d {
        /// Columns of zeros on the left.
        #[serde(default)]
        left: usize,
        /// Columns of zeros on the right.
        #[serde(default)]
        right: usize,
        /// Rows of zeros above.
        #[serde(default)]
        top: usize,
        /// Rows of zeros below.
        #[serde(default)]
        bottom: usize,
    },
    /// `torch.narrow(x, dim, start, length)`: channels `start..start + length` of maps
    /// (features of flat values), one part of `x.chunk(k, 1)` or `x.split(s, 1)` (ShuffleNetV2's
    /// halves, a gated linear unit's); of tokens `[T, E]`, tokens `start..start + length` (axis
    /// 1 of PyTorch's `[N, T, E]`: timm's `x[:, 1:]`, the tokens after the class token) or, with
    /// `dim` 2, features of each token (gMLP's halves, `x.chunk(2, dim=-1)`).
    Narrow {
        /// The first channel (token, feature) kept.
        start: usize,
        /// How many are kept.
        length: usize,
        /// The axis of PyTorch's values (default 1; 2 only of tokens).
        #[serde(default = "one_usize", skip_serializing_if = "is_one_usize")]
        dim: usize,
    },
    /// `nn.ChannelShuffle(groups)`: the channels of maps, `groups` runs of C/groups, interleaved
    /// (`x.view(n, g, C/g, h, w).transpose(1, 2)` flattened back, as ShuffleNet writes it):
    /// channel i·C/g + j becomes channel j·g + i.
    ChannelShuffle {
        /// The runs: it divides the channels.
        groups: usize,
    },
    /// A parameter γ times the values element-wise, one per channel (repeated over the
    /// positions) of maps and one per feature: ConvNeXt's and CaiT's layer scale
    /// `self.layer_scale * x`; or one γ for all (StarReLU's `self.scale`, `[1]`). Its one tensor
    /// is named as the layer itself (`features.1.0.layer_scale`), as a parameter a module holds
    /// directly is.
    Scale {
        /// The tensor's shape as stored, of one value per channel or feature (default `[C, 1,
        /// 1]` on maps, as torchvision's, `[F]` on features): timm's γ `[C]`, which its forward
        /// views as `[1, C, 1, 1]`; or of one value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<Vec<usize>>,
    },
    /// Maps `[C, H, W]` as a sequence of H·W tokens `[H·W, C]`, row by row: a vision
    /// transformer's patch embedding `x.flatten(2).transpose(1, 2)` after its strided
    /// convolution. On tokens, linear layers, layer norms over `[E]`, scales, activations and
    /// dropout act on each token's features; residual blocks add tokens.
    Tokens,
    /// Learned tokens put before the others, `[T, E]` ↦ `[T + k, E]`: a vision transformer's
    /// class token, `torch.cat([class_token.expand(n, -1, -1), x], dim=1)`, or timm's k
    /// register tokens. Its one tensor is named as the layer itself (torchvision's
    /// `class_token`), as a scale's is.
    ClassToken {
        /// k, how many tokens (default 1).
        #[serde(default = "one_usize", skip_serializing_if = "is_one_usize")]
        tokens: usize,
        /// The tensor's shape as stored, of k·E values (default `[1, k, E]`, as torchvision's
        /// and timm's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<Vec<usize>>,
    },
    /// A learned tensor of the tokens' shape added to them, x ↦ x + P: a vision transformer's
    /// position embedding `x + self.pos_embedding`. Its one tensor is named as the layer itself
    /// (torchvision's `encoder.pos_embedding`).
    PositionEmbedding {
        /// The tensor's shape as stored, of T·E values in the tokens' order (default
        /// `[1, T, E]`, as torchvision's and timm's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<Vec<usize>>,
    },
    /// `nn.MultiheadAttention(E, heads, bias=bias, batch_first=True)` as self-attention of the
    /// tokens, `attention(x, x, x)`: queries, keys and values from one `in_proj_weight`
    /// `[3E, E]` (and `in_proj_bias`), each head's softmax(q·kᵀ/√(E/heads))·v, then the linear
    /// layer `out_proj`. Dropout is the identity here (eval mode). timm's `Attention` is the
    /// same function of tensors named otherwise (`tensors`).
    Attention {
        /// The heads: they divide E.
        heads: usize,
        /// Whether the input projection has a bias (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        bias: bool,
        /// Whether the output projection has a bias (default: as the input projection,
        /// as in `nn.MultiheadAttention`; timm's always has one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        out_bias: Option<bool>,
        /// How the projections' tensors are named (default `torch`).
        #[serde(default, skip_serializing_if = "AttentionTensors::is_torch")]
        tensors: AttentionTensors,
    },
    /// The mean of the tokens, `[T, E]` ↦ `[E]`: `x.mean(dim=1)`, timm's `global_pool="avg"`
    /// (after a narrow past its class token).
    TokenMean,
    /// One token's features, `[T, E]` ↦ `[E]`: a vision transformer's class token `x[:, 0]`
    /// before its head.
    SelectToken {
        /// Which token (default 0, the class token).
        #[serde(default, skip_serializing_if = "is_zero")]
        index: usize,
    },
    /// Tokens `[T, E]` ↦ `[E, T]`, `x.transpose(1, 2)`: an MLP-Mixer's token mixing, whose
    /// linear layers then act across the tokens (each of the E features a row of T values)
    /// before a second transpose puts them back.
    Transpose,
    /// A parameter β added to the values, one per channel (repeated over the positions) of
    /// maps, one per feature (of each token): `x + self.beta`, ResMLP's `Affine` after its
    /// scale (`torch.addcmul(self.beta, self.alpha, x)`: a scale, then a shift); or one β for
    /// all (StarReLU's `self.bias`, `[1]`). Its one tensor is named as the layer itself, as a
    /// scale's is.
    Shift {
        /// The tensor's shape as stored, of one value per channel or feature (default `[C, 1,
        /// 1]` on maps, `[F]` or `[E]` otherwise): timm's β `[1, 1, E]`; or of one value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<Vec<usize>>,
    },
    /// x ↦ c·x, a product with a number: `x * 0.5`, `x / 2` (DeiT's mean of its two heads'
    /// scores, `(a + b) / 2`).
    Multiply {
        /// c, a finite number.
        by: f64,
    },
    /// `nn.Dropout(p)`: the identity, since curvature is analysed in eval mode.
    Dropout {
        /// The drop probability, kept only to read PyTorch's spec: it changes nothing here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p: Option<f64>,
    },
    /// `nn.BatchNorm1d(features, eps, affine, bias)` in eval mode: γ, β are parameters, the
    /// running statistics constants.
    Batchnorm1d {
        /// Added to the running variance before its square root (default 1e-5).
        #[serde(default = "norm_eps")]
        eps: f64,
        /// Whether γ and β are parameters (default true; PyTorch's `affine=False` has neither).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        affine: bool,
        /// Whether β is a parameter, with `affine` (default true; PyTorch's `bias=False`, from
        /// torch 2.15).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        bias: bool,
    },
    /// `nn.BatchNorm2d(channels, eps, affine, bias)` in eval mode.
    Batchnorm2d {
        /// Added to the running variance before its square root (default 1e-5).
        #[serde(default = "norm_eps")]
        eps: f64,
        /// Whether γ and β are parameters (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        affine: bool,
        /// Whether β is a parameter, with `affine` (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        bias: bool,
    },
    /// `nn.LayerNorm(shape, eps, elementwise_affine, bias)`: each sample normalized to mean 0
    /// and variance 1 over its trailing axes `shape`, then γ·x̂ + β elementwise over them.
    Layernorm {
        /// `normalized_shape`: a sample's last axes, `[F]` of features, or `[W]`, `[H, W]` or
        /// `[C, H, W]` of maps.
        shape: Vec<usize>,
        /// Added to the variance before its square root (default 1e-5).
        #[serde(default = "norm_eps")]
        eps: f64,
        /// `elementwise_affine`: whether γ (and β) are parameters (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        affine: bool,
        /// Whether β is a parameter, with `affine` (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        bias: bool,
    },
    /// `nn.RMSNorm(shape, eps, elementwise_affine)`: each sample's trailing axes `shape` divided
    /// by their root mean square, x/√(mean(x²) + ε), then γ·x elementwise (no β): timm's
    /// `RmsNorm`, `F.rms_norm`.
    Rmsnorm {
        /// `normalized_shape`: a sample's last axes, as layer norm's.
        shape: Vec<usize>,
        /// Added to the mean square before its square root (default: as PyTorch's `eps=None`,
        /// the machine epsilon of the precision evaluated in, 2⁻²³ in f32 and 2⁻⁵² in f64).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eps: Option<f64>,
        /// `elementwise_affine`: whether γ is a parameter (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        affine: bool,
    },
    /// `nn.GroupNorm(groups, channels, eps, affine)`: each sample's channels split into
    /// `groups` runs, each normalized over its channels and positions, then γ·x̂ + β per channel.
    Groupnorm {
        /// `num_groups`: it divides the channels (`num_channels`, inferred).
        groups: usize,
        /// Added to the variance before its square root (default 1e-5).
        #[serde(default = "norm_eps")]
        eps: f64,
        /// Whether γ and β are parameters (default true).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        affine: bool,
        /// Whether β is a parameter, with `affine` (default true; false: timm's
        /// `GroupNorm1NoBias`, PoolFormer v2's).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        bias: bool,
    },
    /// Global response normalization (ConvNeXt V2's `GRN`, timm's `GlobalResponseNorm`): per
    /// sample, each channel's L2 norm over the positions, ‖x_c‖, divided by their mean over
    /// the channels plus ε, gives x_c ↦ x_c + β_c + γ_c·x_c·‖x_c‖/(mean_c′ ‖x_c′‖ + ε). On
    /// maps its positions are the pixels; inside [`Op::ChannelsLast`] the maps' positions too
    /// (timm's `channels_last=True` form, between an MLP's linear layers); flat features are
    /// one position. γ and β (`weight`, `bias`, `[C]`) start at 0, the identity.
    GlobalResponseNorm {
        /// Added to the channels' mean norm before dividing by it (default 1e-6, timm's).
        #[serde(default = "timm_eps")]
        eps: f64,
    },
    /// A nested `nn.Sequential` (or named submodule): its layers' names are prefixed by its own.
    Group {
        /// Its layers, in order.
        #[serde(deserialize_with = "numbered_layers")]
        layers: Vec<Layer>,
    },
    /// A residual block, x ↦ layers(x) + shortcut(x) (torchvision's `BasicBlock` without its
    /// last ReLU, which follows the block as a layer of its own). Both branches' layers are
    /// named as the block's children (`layer1.0.conv1`, `layer1.0.downsample.0`), or with
    /// `"scoped": false` as its siblings.
    Residual {
        /// The main branch, in order.
        #[serde(deserialize_with = "numbered_layers")]
        layers: Vec<Layer>,
        /// The shortcut, in order (default none: the identity).
        #[serde(
            default,
            skip_serializing_if = "Vec::is_empty",
            deserialize_with = "numbered_shortcut"
        )]
        shortcut: Vec<Layer>,
        /// Whether the branches' layers are named under the block's name (default true: the
        /// block is a module, as torchvision's are). False names them as the block's siblings:
        /// a sum `h + fc2(h)` written in a forward, whose `fc2.weight` belongs to no block
        /// (what `tools/export_pytorch.py` writes for a traced forward).
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        scoped: bool,
    },
    /// Paths from one value joined along the channels (the features of flat values),
    /// x ↦ cat(branch₁(x), branch₂(x), …), an empty branch the identity: a DenseNet layer's
    /// `torch.cat([out, x], 1)`, an Inception module's branches. Their layers are named as a
    /// residual block's are: the block's children, or with `"scoped": false` its siblings.
    Concat {
        /// The paths, in the order they are joined (at least two).
        #[serde(deserialize_with = "numbered_branches")]
        branches: Vec<Vec<Layer>>,
        /// Whether the branches' layers are named under the block's name (default true), as
        /// for `residual`.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        scoped: bool,
    },
    /// Paths from one value multiplied element-wise, x ↦ branch₁(x) ⊙ branch₂(x) ⊙ …, an empty
    /// branch the identity, and of maps a path's `[C, 1, 1]` output repeated over the others'
    /// positions and a `[1, H, W]` one over their channels, as PyTorch broadcasts them: a
    /// squeeze-and-excitation block's `scale * x` (MobileNetV3, EfficientNet, RegNetY), a gate
    /// `x * σ(g(x))`, a spatial gate `x * σ(conv(x))` of one channel. Its layers are named as a
    /// residual block's are.
    Product {
        /// The paths, in the order their tensors are read (at least two).
        #[serde(deserialize_with = "numbered_branches")]
        branches: Vec<Vec<Layer>>,
        /// Whether the branches' layers are named under the block's name (default true), as
        /// for `residual`.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        scoped: bool,
    },
    /// Layers applied to each position's channels as features, as PyTorch's
    /// `x.permute(0, 2, 3, 1)` → layers → `.permute(0, 3, 1, 2)` does (ConvNeXt's block, its
    /// `LayerNorm2d`): the input is maps `[C, H, W]`, the layers see `[C]` and end in `[C']`,
    /// the output is `[C', H, W]`. It holds linear layers, layer norms over `[C]`, scales,
    /// PReLU, dropout, the identity and the activations. The permutes are no modules, so its
    /// layers are named as its siblings (a residual block's unscoped).
    ChannelsLast {
        /// The layers, in order.
        #[serde(deserialize_with = "numbered_layers")]
        layers: Vec<Layer>,
    },
}

// `name` beside the flattened, tagged `Op`: serde cannot deny unknown fields through
// `flatten`, so the name is taken out first and the rest read as a strict `Op`.
impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let DistinctKeys(mut fields) = DistinctKeys::deserialize(deserializer)?;
        let name = match fields.remove("name") {
            None => None,
            Some(serde_json::Value::String(name)) if is_module_name(&name) => Some(name),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "layer name {other} is not a module name (text without dots)"
                )))
            }
        };
        let keys: Vec<String> = fields.keys().filter(|k| *k != "type").cloned().collect();
        // Which layer, where serde would say only what is wrong ("missing field `out`").
        let which = match (fields.get("type"), &name) {
            (Some(serde_json::Value::String(kind)), None) => format!("`{kind}`: "),
            (Some(serde_json::Value::String(kind)), Some(name)) => {
                format!("`{kind}` named \"{name}\": ")
            }
            _ => String::new(),
        };
        let mut op = Op::deserialize(serde_json::Value::Object(fields))
            .map_err(|e| D::Error::custom(format!("{which}{e}")))?;
        // A norm without γ has no β whatever `bias` says: its default then, so that one net has
        // one spec ([`crate::ArchSpec::same_spec`] compares them as JSON; the exporter writes a
        // layer norm's `"affine":false,"bias":false`, a person `"affine":false`).
        if let Op::Batchnorm1d {
            affine: false,
            bias,
            ..
        }
        | Op::Batchnorm2d {
            affine: false,
            bias,
            ..
        }
        | Op::Layernorm {
            affine: false,
            bias,
            ..
        }
        | Op::Groupnorm {
            affine: false,
            bias,
            ..
        } = &mut op
        {
            *bias = true;
        }
        // serde ignores unknown fields beside the tag of a variant without fields.
        if let (
            Op::Flatten
            | Op::Relu
            | Op::Tanh
            | Op::Sigmoid
            | Op::Silu
            | Op::Mish
            | Op::Relu6
            | Op::Hardsigmoid
            | Op::Hardswish
            | Op::Identity
            | Op::Tokens
            | Op::TokenMean
            | Op::Transpose,
            Some(key),
        ) = (&op, keys.first())
        {
            return Err(D::Error::custom(format!(
                "unknown field `{key}`: layer type `{}` takes none (only `name`)",
                op.kind()
            )));
        }
        Ok(Layer { name, op })
    }
}

/// A list of layers whose errors say which layer, by its index in the list (its name in
/// `state_dict` unless it has one): `layer 3: `conv2d`: missing field `out``.
fn numbered_layers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Layer>, D::Error> {
    deserializer.deserialize_seq(Numbered::<Layer>::new("layer", "a list of layers"))
}

/// A residual block's shortcut, its errors' layers named as the shortcut's.
fn numbered_shortcut<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Layer>, D::Error> {
    let what = Numbered::<Layer>::new("shortcut layer", "a list of layers");
    deserializer.deserialize_seq(what)
}

/// Branches of layers whose errors say which branch and which of its layers.
fn numbered_branches<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Vec<Layer>>, D::Error> {
    let what = Numbered::<Branch>::new("branch", "a list of branches, each a list of layers");
    let branches = deserializer.deserialize_seq(what)?;
    Ok(branches.into_iter().map(|Branch(layers)| layers).collect())
}

/// One branch's layers, read by [`numbered_layers`].
struct Branch(Vec<Layer>);

impl<'de> Deserialize<'de> for Branch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        numbered_layers(deserializer).map(Branch)
    }
}

/// Reads a list of `T`, prefixing an element's error with `what` and its index.
struct Numbered<T> {
    what: &'static str,
    expected: &'static str,
    items: std::marker::PhantomData<T>,
}

impl<T> Numbered<T> {
    fn new(what: &'static str, expected: &'static str) -> Self {
        Numbered {
            what,
            expected,
            items: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Numbered<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        use serde::de::Error;
        let mut items = Vec::new();
        loop {
            match seq.next_element::<T>() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(items),
                Err(e) => {
                    let at = items.len();
                    return Err(A::Error::custom(format!("{} {at}: {e}", self.what)));
                }
            }
        }
    }
}

fn is_module_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('.')
}

/// The shape of one sample's activations between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `[C, H, W]` feature maps.
    Maps {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// `[F]` features.
    Flat(usize),
    /// `[T, E]`: T tokens of E features each (a transformer's `[N, T, E]` values).
    Tokens {
        /// Tokens.
        t: usize,
        /// Features of each token.
        e: usize,
    },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Maps { c, h, w } => write!(f, "[{c}, {h}, {w}]"),
            Shape::Flat(n) => write!(f, "[{n}]"),
            Shape::Tokens { t, e } => write!(f, "[{t}, {e}]"),
        }
    }
}

impl Shape {
    /// Channels of maps; features of flat features (what `nn.BatchNorm1d` calls channels);
    /// each token's features.
    pub(crate) fn channels(self) -> usize {
        match self {
            Shape::Maps { c, .. } => c,
            Shape::Flat(f) => f,
            Shape::Tokens { e, .. } => e,
        }
    }

    pub(crate) fn len(self) -> usize {
        match self {
            Shape::Maps { c, h, w } => c.saturating_mul(h).saturating_mul(w),
            Shape::Flat(n) => n,
            Shape::Tokens { t, e } => t.saturating_mul(e),
        }
    }

    /// What the values are, in words, for messages.
    fn kind(self) -> &'static str {
        match self {
            Shape::Maps { .. } => "feature maps",
            Shape::Flat(_) => "flat features",
            Shape::Tokens { .. } => "tokens",
        }
    }
}

/// A layer of the flattened network: its full name, operation (never a group; a residual block
/// is one layer, whose [branches](Resolved::branches) are resolved in turn) and the shapes it
/// maps between.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Full name, e.g. `features.3`.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// Shape of one sample's input.
    pub input: Shape,
    /// Shape of one sample's output.
    pub output: Shape,
}

impl Resolved {
    /// A block's branches, resolved with the block's name as prefix and its input shape (each
    /// position's channels `[C]` for channels_last): a residual block's main branch and
    /// shortcut, a concatenation's or a product's paths in order, channels_last's layers;
    /// `None` for any other layer.
    ///
    /// ```
    /// use curvscope_model::sequential::Sequential;
    /// let net: Sequential = serde_json::from_str(r#"{"input":[4],"layers":[
    ///     {"type":"residual","name":"block","layers":[{"type":"linear","out":4,"name":"fc"},
    ///      {"type":"relu"}],"shortcut":[{"type":"linear","out":4,"bias":false,"name":"proj"}]},
    ///     {"type":"concat","branches":[[{"type":"linear","out":3,"name":"wide"}],[]],"scoped":false},
    ///     {"type":"linear","out":2,"name":"head"}]}"#)?;
    /// let layers = net.resolve().unwrap();
    /// assert_eq!(layers.len(), 3); // each block is one layer
    /// let branches = layers[0].branches().unwrap();
    /// assert_eq!((branches[0][0].name.as_str(), branches[1][0].name.as_str()), ("block.fc", "block.proj"));
    /// let names: Vec<String> = layers[0].params().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["block.fc.weight", "block.fc.bias", "block.proj.weight"]);
    /// // An unscoped block's layers are its siblings; an empty branch is the identity.
    /// let joined = layers[1].branches().unwrap();
    /// assert_eq!((joined[0][0].name.as_str(), joined[1].len()), ("wide", 0));
    /// assert_eq!(layers[1].output.to_string(), "[7]"); // 3 features and the block's 4
    /// assert_eq!(net.leaves().len(), 5); // fc, relu, proj, wide, head
    /// assert!(layers[2].branches().is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn branches(&self) -> Option<Vec<Vec<Resolved>>> {
        let (branches, scoped) = self.op.block()?;
        let prefix = branch_prefix(&self.name, scoped);
        let branch = |layers: &Vec<Layer>| {
            let (mut shape, mut out) = (self.op.branch_input(self.input), Vec::new());
            flatten_groups(layers, &prefix, &mut shape, &mut out)
                .expect("a resolved block's branches resolve");
            out
        };
        Some(branches.into_iter().map(branch).collect())
    }

    /// The layers that compute: this one, or a block's, branch by branch (a residual block's
    /// main branch first), expanded in turn.
    pub fn leaves(&self) -> Vec<Resolved> {
        match self.branches() {
            None => vec![self.clone()],
            Some(branches) => branches
                .iter()
                .flatten()
                .flat_map(Resolved::leaves)
                .collect(),
        }
    }

    /// Whether every output is piecewise affine in each single parameter of the layer (of its
    /// branches') and in its input.
    fn is_piecewise_linear(&self) -> bool {
        self.op.is_piecewise_linear()
            && self
                .branches()
                .is_none_or(|branches| branches.iter().flatten().all(Resolved::is_piecewise_linear))
    }

    /// The layer's parameters as (full name, shape), in `state_dict` order (a residual block's:
    /// its main branch's, then its shortcut's).
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.leaves()
            .iter()
            .flat_map(|leaf| {
                leaf.op
                    .params(leaf.input)
                    .into_iter()
                    .map(|(suffix, shape)| (tensor_name(&leaf.name, suffix), shape))
            })
            .collect()
    }
}

/// The full name of a layer's tensor `suffix`: `<layer>.<suffix>`, or the layer's own name for
/// the one tensor of a [scale](Op::Scale) (suffix "").
fn tensor_name(layer: &str, suffix: &str) -> String {
    match suffix {
        "" => layer.to_owned(),
        _ => format!("{layer}.{suffix}"),
    }
}

impl Op {
    /// The shape a block's branches start from: each position's channels `[C]` in
    /// [`Op::ChannelsLast`], else the block's input.
    fn branch_input(&self, input: Shape) -> Shape {
        match (self, input) {
            (Op::ChannelsLast { .. }, Shape::Maps { c, .. }) => Shape::Flat(c),
            _ => input,
        }
    }

    /// Whether the layer may run on each position's channels ([`Op::ChannelsLast`]): it maps
    /// each feature vector on its own, or (global response norm) reads a sample's positions,
    /// which the block's rows keep.
    fn runs_in_channels_last(&self) -> bool {
        matches!(
            self,
            Op::Linear { .. }
                | Op::GlobalResponseNorm { .. }
                | Op::Layernorm { .. }
                | Op::Rmsnorm { .. }
                | Op::Scale { .. }
                | Op::Prelu { .. }
                | Op::Dropout { .. }
                | Op::Identity
                | Op::Multiply { .. }
                | Op::Shift { .. }
                | Op::Relu
                | Op::LeakyRelu { .. }
                | Op::Tanh
                | Op::Sigmoid
                | Op::Gelu { .. }
                | Op::Silu
                | Op::Elu { .. }
                | Op::Softplus { .. }
                | Op::Mish
                | Op::Hardtanh { .. }
                | Op::Relu6
                | Op::Hardsigmoid
                | Op::Hardswish
        )
    }

    /// A block's branches as written and whether they are scoped: a residual block's main
    /// branch and shortcut, a concatenation's or a product's paths, channels_last's layers
    /// (never scoped); `None` for any other layer.
    fn block(&self) -> Option<(Vec<&Vec<Layer>>, bool)> {
        match self {
            Op::Residual {
                layers,
                shortcut,
                scoped,
            } => Some((vec![layers, shortcut], *scoped)),
            Op::Concat { branches, scoped } | Op::Product { branches, scoped } => {
                Some((branches.iter().collect(), *scoped))
            }
            Op::ChannelsLast { layers } => Some((vec![layers], false)),
            _ => None,
        }
    }

    /// The `type` as written in JSON.
    fn kind(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "conv2d",
            Op::Linear { .. } => "linear",
            Op::Maxpool2d { .. } => "maxpool2d",
            Op::Avgpool2d { .. } => "avgpool2d",
            Op::AdaptiveAvgpool2d { .. } => "adaptive_avgpool2d",
            Op::BlurPool2d { .. } => "blur_pool2d",
            Op::SpaceToDepth { .. } => "space_to_depth",
            Op::SumRuns { .. } => "sum_runs",
            Op::RadixSoftmax { .. } => "radix_softmax",
            Op::Flatten => "flatten",
            Op::Unflatten { .. } => "unflatten",
            Op::Relu => "relu",
            Op::LeakyRelu { .. } => "leaky_relu",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::Gelu { .. } => "gelu",
            Op::Silu => "silu",
            Op::Elu { .. } => "elu",
            Op::Softplus { .. } => "softplus",
            Op::Mish => "mish",
            Op::Hardtanh { .. } => "hardtanh",
            Op::Relu6 => "relu6",
            Op::Hardsigmoid => "hardsigmoid",
            Op::Hardswish => "hardswish",
            Op::Prelu { .. } => "prelu",
            Op::Identity => "identity",
            Op::Conv1d { .. } => "conv1d",
            Op::PadChannels { .. } => "pad_channels",
            Op::Pad2d { .. } => "pad2d",
            Op::Narrow { .. } => "narrow",
            Op::ChannelShuffle { .. } => "channel_shuffle",
            Op::Dropout { .. } => "dropout",
            Op::Batchnorm1d { .. } => "batchnorm1d",
            Op::Batchnorm2d { .. } => "batchnorm2d",
            Op::Layernorm { .. } => "layernorm",
            Op::Rmsnorm { .. } => "rmsnorm",
            Op::Groupnorm { .. } => "groupnorm",
            Op::GlobalResponseNorm { .. } => "global_response_norm",
            Op::Group { .. } => "group",
            Op::Residual { .. } => "residual",
            Op::Concat { .. } => "concat",
            Op::Product { .. } => "product",
            Op::ChannelsLast { .. } => "channels_last",
            Op::Scale { .. } => "scale",
            Op::Multiply { .. } => "multiply",
            Op::Tokens => "tokens",
            Op::TokenMean => "token_mean",
            Op::Transpose => "transpose",
            Op::Shift { .. } => "shift",
            Op::ClassToken { .. } => "class_token",
            Op::PositionEmbedding { .. } => "position_embedding",
            Op::Attention { .. } => "attention",
            Op::SelectToken { .. } => "select_token",
        }
    }

    /// The output shape for `input`, or why the layer cannot take it.
    fn output(&self, input: Shape) -> Result<Shape, String> {
        let maps = || match input {
            Shape::Maps { c, h, w } => Ok((c, h, w)),
            _ => Err(format!(
                "expected [C, H, W] feature maps, got {input} ({})",
                input.kind()
            )),
        };
        let tokens = || match input {
            Shape::Tokens { t, e } => Ok((t, e)),
            _ => Err(format!(
                "expected [T, E] tokens, got {input} ({}); a tokens layer makes them of maps",
                input.kind()
            )),
        };
        // Layers that read axis 1 as channels (PyTorch's batch norm, group norm, a PReLU of
        // several slopes) would read a transformer's `[N, T, E]` along its tokens.
        let not_tokens = || match input {
            Shape::Tokens { .. } => Err(format!(
                "got {input} tokens; PyTorch's layer reads axis 1 of `[N, T, E]`, the tokens, as \
                 its channels, which curvscope does not express"
            )),
            _ => Ok(()),
        };
        let positive = |what: &str, values: &[usize]| {
            if values.contains(&0) {
                Err(format!("`{what}` is 0; it must be at least 1"))
            } else {
                Ok(())
            }
        };
        match self {
            Op::Conv2d {
                out,
                kernel,
                stride,
                padding,
                dilation,
                groups,
                standardize,
                ..
            } => {
                let (c, h, w) = maps()?;
                positive("out", &[*out])?;
                if let Some(Standardize { eps, scale, .. }) = standardize {
                    if !(*eps >= 0.0 && eps.is_finite()) {
                        return Err(format!(
                            "`standardize`'s `eps` is {eps}; it must be a finite number ≥ 0"
                        ));
                    }
                    if !scale.is_finite() {
                        return Err(format!(
                            "`standardize`'s `scale` is {scale}; it must be finite"
                        ));
                    }
                }
                positive("kernel", &kernel.hw())?;
                positive("stride", &stride.hw())?;
                positive("dilation", &dilation.hw())?;
                positive("groups", &[*groups])?;
                if c % groups != 0 || out % groups != 0 {
                    return Err(format!(
                        "{groups} groups must divide its input's {c} and its output's {out} \
                         channels (PyTorch refuses it too)"
                    ));
                }
                let span = dilated(*kernel, *dilation);
                let outputs = window_outputs([h, w], span, *stride, *padding, false);
                let [h, w] = outputs.map_err(|why| match is_one(dilation) {
                    true => why,
                    false => format!(
                        "{why} (its {:?} taps {:?} apart)",
                        kernel.hw(),
                        dilation.hw()
                    ),
                })?;
                Ok(Shape::Maps { c: *out, h, w })
            }
            Op::Conv1d {
                kernel, padding, ..
            } => {
                positive("kernel", &[*kernel])?;
                let Shape::Flat(features) = input else {
                    return Err(format!(
                        "expected flat features (one channel of a 1-D convolution), got {input} \
                         {}",
                        input.kind()
                    ));
                };
                // Saturating, as `Shape::len`: huge numbers reach the D check, not wrap.
                let padded = features.saturating_add(padding.saturating_mul(2));
                match padded.checked_sub(*kernel) {
                    Some(rest) => Ok(Shape::Flat(rest + 1)),
                    None => Err(format!(
                        "the kernel {kernel} is longer than the {padded} padded features"
                    )),
                }
            }
            Op::Linear { out, .. } => {
                positive("out", &[*out])?;
                match input {
                    Shape::Flat(_) => Ok(Shape::Flat(*out)),
                    Shape::Tokens { t, .. } => Ok(Shape::Tokens { t, e: *out }),
                    Shape::Maps { .. } => Err(format!(
                        "expected flat features, got {input} feature maps (add a flatten)"
                    )),
                }
            }
            Op::Maxpool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
            }
            | Op::Avgpool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
                ..
            } => {
                let (c, h, w) = maps()?;
                let stride = stride.unwrap_or(*kernel);
                positive("kernel", &kernel.hw())?;
                positive("stride", &stride.hw())?;
                let (k, p) = (kernel.hw(), padding.hw());
                if p[0] > k[0] / 2 || p[1] > k[1] / 2 {
                    return Err(format!(
                        "padding {p:?} is more than half the kernel {k:?} (PyTorch refuses it too)"
                    ));
                }
                let [h, w] = window_outputs([h, w], *kernel, stride, *padding, *ceil_mode)?;
                Ok(Shape::Maps { c, h, w })
            }
            Op::AdaptiveAvgpool2d { output } => {
                let (c, _, _) = maps()?;
                positive("output", &output.hw())?;
                let [h, w] = output.hw();
                Ok(Shape::Maps { c, h, w })
            }
            Op::BlurPool2d {
                kernel,
                stride,
                padding,
                pad_mode,
            } => {
                let (c, h, w) = maps()?;
                positive("kernel", &[*kernel])?;
                positive("stride", &[*stride])?;
                // Its taps C(k − 1, j)/2^(k−1) are computed exactly in f64 up to here; a larger
                // kernel (huge from a JSON file) would be rounded, or not allocated at all.
                if *kernel > MAX_BLUR_KERNEL {
                    return Err(format!(
                        "`kernel` is {kernel}; the binomial filter is exact up to \
                         {MAX_BLUR_KERNEL} taps"
                    ));
                }
                let most = match pad_mode {
                    PadMode::Reflect => h.min(w) - 1,
                    PadMode::Circular => h.min(w),
                    PadMode::Constant | PadMode::Replicate => usize::MAX,
                };
                if *padding > most {
                    return Err(format!(
                        "it pads {h} × {w} maps by {padding} on each side; a {} padding of them \
                         adds at most {most} (PyTorch refuses more too)",
                        pad_mode.name()
                    ));
                }
                let [h, w] = window_outputs(
                    [h, w],
                    Size2::Square(*kernel),
                    Size2::Square(*stride),
                    Size2::Square(*padding),
                    false,
                )?;
                Ok(Shape::Maps { c, h, w })
            }
            Op::SpaceToDepth { block } => {
                let (c, h, w) = maps()?;
                positive("block", &[*block])?;
                if h % block != 0 || w % block != 0 {
                    return Err(format!(
                        "squares of {block} × {block} pixels do not tile its {h} × {w} maps"
                    ));
                }
                Ok(Shape::Maps {
                    c: c.saturating_mul(block.saturating_mul(*block)),
                    h: h / block,
                    w: w / block,
                })
            }
            Op::SumRuns { runs } => {
                not_tokens()?;
                positive("runs", &[*runs])?;
                let c = input.channels();
                if !c.is_multiple_of(*runs) {
                    return Err(format!(
                        "{runs} runs do not divide its input's {c} channels"
                    ));
                }
                Ok(match input {
                    Shape::Maps { h, w, .. } => Shape::Maps { c: c / runs, h, w },
                    _ => Shape::Flat(c / runs),
                })
            }
            Op::RadixSoftmax { radix, cardinality } => {
                not_tokens()?;
                positive("cardinality", &[*cardinality])?;
                if *radix < 2 {
                    return Err(format!(
                        "`radix` is {radix}; a softmax across one path is 1 (timm's radix 1 is a \
                         sigmoid: write one)"
                    ));
                }
                let len = input.len();
                if !len.is_multiple_of(radix.saturating_mul(*cardinality)) {
                    return Err(format!(
                        "{cardinality}·{radix} (groups times paths) does not divide its \
                         input's {len} values"
                    ));
                }
                Ok(input)
            }
            Op::Flatten => Ok(Shape::Flat(input.len())),
            Op::Unflatten { shape: [c, h, w] } => {
                positive("shape", &[*c, *h, *w])?;
                let (Shape::Flat(f), Some(len)) =
                    (input, c.checked_mul(*h).and_then(|ch| ch.checked_mul(*w)))
                else {
                    return Err(format!(
                        "expected flat features of {c}·{h}·{w} values, got {input}"
                    ));
                };
                if len != f {
                    return Err(format!("{f} features are not {c}·{h}·{w} values"));
                }
                Ok(Shape::Maps {
                    c: *c,
                    h: *h,
                    w: *w,
                })
            }
            Op::Narrow { start, length, dim } => {
                positive("length", &[*length])?;
                let (what, along) = match (input, dim) {
                    (Shape::Tokens { t, .. }, 1) => ("tokens", t),
                    (Shape::Tokens { e, .. }, 2) => ("features", e),
                    (_, 1) => ("channels", input.channels()),
                    _ => {
                        return Err(format!(
                            "`dim` is {dim}; a narrow takes axis 1 of its input {input} (axis 2 \
                             too of tokens [T, E], their features)"
                        ))
                    }
                };
                if start.checked_add(*length).is_none_or(|end| end > along) {
                    return Err(format!(
                        "{what} {start}..{start} + {length} run past its input's {along}"
                    ));
                }
                Ok(match input {
                    Shape::Maps { h, w, .. } => Shape::Maps { c: *length, h, w },
                    Shape::Tokens { t, .. } if *dim == 2 => Shape::Tokens { t, e: *length },
                    Shape::Tokens { e, .. } => Shape::Tokens { t: *length, e },
                    Shape::Flat(_) => Shape::Flat(*length),
                })
            }
            Op::ChannelShuffle { groups } => {
                let (c, _, _) = maps()?;
                positive("groups", &[*groups])?;
                if c % groups != 0 {
                    return Err(format!(
                        "{groups} groups do not divide its input's {c} channels"
                    ));
                }
                Ok(input)
            }
            Op::Pad2d {
                left,
                right,
                top,
                bottom,
            } => {
                let (c, h, w) = maps()?;
                let h = h.saturating_add(*top).saturating_add(*bottom);
                let w = w.saturating_add(*left).saturating_add(*right);
                // Bounded as a window's sizes are: a later window's geometry is then exact.
                if h.max(w) > MAX_DIM {
                    return Err(format!(
                        "it pads maps to {h} × {w}; their sides are at most 2^31"
                    ));
                }
                Ok(Shape::Maps { c, h, w })
            }
            Op::PadChannels { before, after } => {
                let (c, h, w) = maps()?;
                // Saturating, as `Shape::len`: channels of usize::MAX from a JSON file reach
                // the D check instead of wrapping to a few.
                Ok(Shape::Maps {
                    c: c.saturating_add(*before).saturating_add(*after),
                    h,
                    w,
                })
            }
            // A negative or NaN eps gives NaN activations, which a later ReLU hides in a
            // finite loss.
            Op::Batchnorm1d { eps, .. }
            | Op::Batchnorm2d { eps, .. }
            | Op::Layernorm { eps, .. }
            | Op::Rmsnorm { eps: Some(eps), .. }
            | Op::Groupnorm { eps, .. }
            | Op::GlobalResponseNorm { eps }
                if !(*eps >= 0.0 && eps.is_finite()) =>
            {
                Err(format!("`eps` is {eps}; it must be a finite number ≥ 0"))
            }
            Op::Batchnorm1d { .. } => match input {
                Shape::Flat(_) => Ok(input),
                Shape::Tokens { .. } => not_tokens().map(|()| input),
                Shape::Maps { .. } => Err(format!(
                    "expected flat features, got {input} feature maps (batchnorm2d normalizes maps)"
                )),
            },
            Op::Batchnorm2d { .. } => maps().map(|_| input),
            Op::Layernorm { shape, .. } | Op::Rmsnorm { shape, .. } => {
                let sample = match input {
                    Shape::Maps { c, h, w } => vec![c, h, w],
                    Shape::Flat(f) => vec![f],
                    Shape::Tokens { t, e } => vec![t, e],
                };
                match sample.ends_with(shape) && !shape.is_empty() {
                    true => Ok(input),
                    false => Err(format!(
                        "`shape` {shape:?} is not the last axes of its input {input}"
                    )),
                }
            }
            Op::Groupnorm { groups, .. } => {
                not_tokens()?;
                positive("groups", &[*groups])?;
                let channels = input.channels();
                match channels % groups {
                    0 => Ok(input),
                    _ => Err(format!(
                        "{groups} groups do not divide its input's {channels} channels"
                    )),
                }
            }
            // Each channel's norm over a sample's positions: pixels, or one for features.
            Op::GlobalResponseNorm { .. } => not_tokens().map(|()| input),
            Op::LeakyRelu { negative_slope } if !negative_slope.is_finite() => Err(format!(
                "`negative_slope` is {negative_slope}; it must be a finite number"
            )),
            Op::Dropout { p: Some(p) } if !(0.0..=1.0).contains(p) => Err(format!(
                "`p` is {p}; a dropout probability lies in [0, 1] (PyTorch refuses it too)"
            )),
            Op::Multiply { by } if !by.is_finite() => {
                Err(format!("`by` is {by}; it must be a finite number"))
            }
            Op::Elu { alpha } if !alpha.is_finite() => {
                Err(format!("`alpha` is {alpha}; it must be a finite number"))
            }
            Op::Softplus { beta, .. } if !(beta.is_finite() && *beta > 0.0) => Err(format!(
                "`beta` is {beta}; it must be a positive finite number"
            )),
            Op::Softplus { threshold, .. } if !threshold.is_finite() => Err(format!(
                "`threshold` is {threshold}; it must be a finite number"
            )),
            Op::Hardtanh { min_val, max_val } if !is_range(*min_val, *max_val) => Err(format!(
                "`min_val` {min_val} and `max_val` {max_val} must be finite numbers, `min_val` \
                 the smaller (PyTorch refuses it too)"
            )),
            Op::Prelu { init, .. } if !init.is_finite() => {
                Err(format!("`init` is {init}; it must be a finite number"))
            }
            Op::Prelu {
                num_parameters: 2..,
                ..
            } if matches!(input, Shape::Tokens { .. }) => not_tokens().map(|()| input),
            Op::Prelu { num_parameters, .. } if ![1, input.channels()].contains(num_parameters) => {
                Err(format!(
                    "`num_parameters` is {num_parameters}; it must be 1 or its input's {} \
                     channels",
                    input.channels()
                ))
            }
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Mish
            | Op::Hardtanh { .. }
            | Op::Relu6
            | Op::Hardsigmoid
            | Op::Hardswish
            | Op::Prelu { .. }
            | Op::Tanh
            | Op::Sigmoid
            | Op::Gelu { .. }
            | Op::Silu
            | Op::Elu { .. }
            | Op::Softplus { .. }
            | Op::Identity
            | Op::Multiply { .. }
            | Op::Dropout { .. } => Ok(input),
            Op::Scale { shape: Some(shape) } | Op::Shift { shape: Some(shape) }
                if ![Some(1), Some(input.channels())]
                    .contains(&shape.iter().try_fold(1usize, |n, &s| n.checked_mul(s))) =>
            {
                Err(format!(
                    "`shape` {shape:?} holds neither one value per channel of its input {input} \
                     nor one for all"
                ))
            }
            Op::Scale { .. } | Op::Shift { .. } => Ok(input),
            Op::Transpose => {
                let (t, e) = tokens()?;
                Ok(Shape::Tokens { t: e, e: t })
            }
            Op::Tokens => {
                let (c, h, w) = maps()?;
                Ok(Shape::Tokens {
                    t: h.saturating_mul(w),
                    e: c,
                })
            }
            Op::ClassToken { tokens: 0, .. } => Err("`tokens` is 0; it must be at least 1".into()),
            Op::ClassToken { shape, .. } | Op::PositionEmbedding { shape } => {
                let (t, e) = tokens()?;
                let values = match self {
                    Op::ClassToken { tokens, .. } => tokens.saturating_mul(e),
                    _ => t.saturating_mul(e),
                };
                if let Some(shape) = shape {
                    if shape.iter().try_fold(1usize, |n, &s| n.checked_mul(s)) != Some(values) {
                        return Err(format!(
                            "`shape` {shape:?} does not hold the {values} values of its tensor"
                        ));
                    }
                }
                let t = match self {
                    Op::ClassToken { tokens, .. } => t.saturating_add(*tokens),
                    _ => t,
                };
                Ok(Shape::Tokens { t, e })
            }
            Op::Attention { heads, .. } => {
                let (_, e) = tokens()?;
                positive("heads", &[*heads])?;
                match e % heads {
                    0 => Ok(input),
                    _ => Err(format!(
                        "{heads} heads do not divide its tokens' {e} features (PyTorch refuses \
                         it too)"
                    )),
                }
            }
            Op::TokenMean => {
                let (_, e) = tokens()?;
                Ok(Shape::Flat(e))
            }
            Op::SelectToken { index } => {
                let (t, e) = tokens()?;
                match index < &t {
                    true => Ok(Shape::Flat(e)),
                    false => Err(format!("token {index} is past its input's {t} tokens")),
                }
            }
            Op::Group { .. }
            | Op::Residual { .. }
            | Op::Concat { .. }
            | Op::Product { .. }
            | Op::ChannelsLast { .. } => {
                unreachable!("resolved by flatten_groups")
            }
        }
    }

    /// The layer's parameters as (suffix, shape), in `state_dict` order.
    pub(crate) fn params(&self, input: Shape) -> Vec<(&'static str, Vec<usize>)> {
        let channels = input.channels();
        let affine = |shape: Vec<usize>, bias: bool| {
            let mut p = vec![("weight", shape.clone())];
            if bias {
                p.push(("bias", shape));
            }
            p
        };
        match *self {
            Op::Conv2d {
                out,
                kernel,
                groups,
                bias,
                standardize,
                ..
            } => {
                let [kh, kw] = kernel.hw();
                let mut p = vec![("weight", vec![out, channels / groups, kh, kw])];
                if bias {
                    p.push(("bias", vec![out]));
                }
                if standardize.is_some_and(|s| s.gain) {
                    p.push(("gain", vec![out, 1, 1, 1]));
                }
                p
            }
            Op::Conv1d { kernel, bias, .. } => {
                let mut p = vec![("weight", vec![1, 1, kernel])];
                if bias {
                    p.push(("bias", vec![1]));
                }
                p
            }
            Op::Linear { out, bias } => {
                let mut p = vec![("weight", vec![out, channels])];
                if bias {
                    p.push(("bias", vec![out]));
                }
                p
            }
            Op::Batchnorm1d {
                affine: true, bias, ..
            }
            | Op::Batchnorm2d {
                affine: true, bias, ..
            }
            | Op::Groupnorm {
                affine: true, bias, ..
            } => affine(vec![channels], bias),
            Op::GlobalResponseNorm { .. } => affine(vec![channels], true),
            Op::Layernorm {
                ref shape,
                affine: true,
                bias,
                ..
            } => affine(shape.clone(), bias),
            Op::Rmsnorm {
                ref shape,
                affine: true,
                ..
            } => affine(shape.clone(), false),
            Op::Prelu { num_parameters, .. } => affine(vec![num_parameters], false),
            Op::Scale { ref shape } | Op::Shift { ref shape } => vec![(
                "",
                match (shape, input) {
                    (Some(shape), _) => shape.clone(),
                    (None, Shape::Maps { c, .. }) => vec![c, 1, 1],
                    (None, _) => vec![channels],
                },
            )],
            Op::ClassToken { tokens, ref shape } => {
                vec![("", shape.clone().unwrap_or(vec![1, tokens, channels]))]
            }
            Op::PositionEmbedding { ref shape } => {
                let t = input.len() / channels.max(1);
                vec![("", shape.clone().unwrap_or(vec![1, t, channels]))]
            }
            Op::Attention {
                bias,
                out_bias,
                tensors,
                ..
            } => {
                let e = channels;
                let [w_in, b_in, w_out, b_out] = tensors.suffixes();
                let mut p = vec![(w_in, vec![3 * e, e])];
                if bias {
                    p.push((b_in, vec![3 * e]));
                }
                p.push((w_out, vec![e, e]));
                if out_bias.unwrap_or(bias) {
                    p.push((b_out, vec![e]));
                }
                p
            }
            _ => Vec::new(),
        }
    }

    /// How many values a scale's or a shift's tensor holds: one per channel of `input`, or one
    /// for all where its `shape` holds one (StarReLU's `self.scale * x`).
    pub(crate) fn per_channel_values(&self, input: Shape) -> usize {
        match self {
            Op::Scale { shape: Some(shape) } | Op::Shift { shape: Some(shape) }
                if shape.iter().product::<usize>() == 1 =>
            {
                1
            }
            _ => input.channels(),
        }
    }

    /// Whether every output is piecewise affine in each single parameter of the layer and in
    /// its input (see [`crate::ArchSpec::is_piecewise_linear`]); a block's branches aside. A
    /// product of paths is not: a parameter before it reaches every factor.
    fn is_piecewise_linear(&self) -> bool {
        !matches!(
            self,
            Op::Conv2d {
                standardize: Some(_),
                ..
            } | Op::Product { .. }
                | Op::Tanh
                | Op::Sigmoid
                | Op::Gelu { .. }
                | Op::Silu
                | Op::Elu { .. }
                | Op::Softplus { .. }
                | Op::Mish
                | Op::Hardswish
                | Op::Layernorm { .. }
                | Op::Rmsnorm { .. }
                | Op::Groupnorm { .. }
                | Op::GlobalResponseNorm { .. }
                | Op::Attention { .. }
                | Op::RadixSoftmax { .. }
        )
    }

    /// Whether the layer holds buffers (batch norm's running statistics and step count).
    fn has_buffers(&self) -> bool {
        matches!(self, Op::Batchnorm1d { .. } | Op::Batchnorm2d { .. })
    }

    /// The value PyTorch gives every entry of the layer's parameter `suffix` when it builds the
    /// layer, where that is a constant: a norm's γ = 1 and β = 0, PReLU's slopes `init`; a
    /// scale starts as the identity, 1 (ConvNeXt's start at 1e-6, which its checkpoints hold),
    /// a shift at 0; a class token at 0 (torchvision's) and attention's biases at 0; a
    /// standardized convolution's gain at 1.
    fn initial_constant(&self, suffix: &str) -> Option<f64> {
        match self {
            Op::Batchnorm1d { .. }
            | Op::Batchnorm2d { .. }
            | Op::Layernorm { .. }
            | Op::Rmsnorm { .. }
            | Op::Groupnorm { .. } => Some(if suffix == "weight" { 1.0 } else { 0.0 }),
            Op::Prelu { init, .. } => Some(*init),
            // timm's zeros: the identity.
            Op::GlobalResponseNorm { .. } => Some(0.0),
            Op::Scale { .. } => Some(1.0),
            // A standardized convolution's gain: timm's `gain_init`, 1 by default.
            Op::Conv2d { .. } if suffix == "gain" => Some(1.0),
            Op::Shift { .. } | Op::ClassToken { .. } => Some(0.0),
            Op::Attention { .. } if suffix.ends_with("bias") => Some(0.0),
            _ => None,
        }
    }
}

/// The largest blur filter ([`Op::BlurPool2d`]): its binomial taps and their partial products
/// stay integers below 2^53, so f64 holds them exactly (timm builds its own in f32, exact only
/// to 15).
const MAX_BLUR_KERNEL: usize = 50;

/// Whether `lo` < `hi`, both finite: a clamp's range.
fn is_range(lo: f64, hi: f64) -> bool {
    lo.is_finite() && hi.is_finite() && lo < hi
}

/// The extent `d·(k − 1) + 1` of a kernel `k` whose taps lie `d` apart, per axis (saturating:
/// a spec's huge numbers reach [`window_outputs`]' check instead of wrapping).
pub(crate) fn dilated(kernel: Size2, dilation: Size2) -> Size2 {
    let [k, d] = [kernel.hw(), dilation.hw()];
    let span = |axis: usize| d[axis].saturating_mul(k[axis] - 1).saturating_add(1);
    Size2::Pair([span(0), span(1)])
}

/// Output `[h, w]` of a window op (convolution, pooling): ⌊(n + 2p − k)/s⌋ + 1 per axis, or
/// with `ceil` (pooling's `ceil_mode`) ⌈(n + 2p − k)/s⌉ + 1 (at least 1 where k exceeds n + 2p
/// by less than s) less a last window that would start in the right padding, as PyTorch
/// counts them.
fn window_outputs(
    input: [usize; 2],
    kernel: Size2,
    stride: Size2,
    padding: Size2,
    ceil: bool,
) -> Result<[usize; 2], String> {
    let (k, s, p) = (kernel.hw(), stride.hw(), padding.hw());
    let padded = |axis: usize| input[axis].saturating_add(p[axis].saturating_mul(2));
    let mut out = [0; 2];
    for axis in 0..2 {
        // ⌈m/s⌉ = ⌊(m + s − 1)/s⌋, which also gives one window, cut short, where the kernel
        // passes the padded input by less than a stride (PyTorch's count in ceil mode).
        let reach = match ceil {
            true => padded(axis).saturating_add(s[axis] - 1),
            false => padded(axis),
        };
        if reach < k[axis] {
            return Err(format!(
                "the kernel {k:?} is larger than the padded input {:?}",
                [padded(0), padded(1)]
            ));
        }
        // Bounded as θ's length is: a window's geometry is then exact in the signed
        // arithmetic of its padding, where a JSON file's 2^64 − 1 wrapped and panicked.
        if [k[axis], s[axis], p[axis]]
            .iter()
            .any(|&size| size > MAX_DIM)
        {
            return Err(format!(
                "a window's sizes are at most 2^31, not kernel {k:?}, stride {s:?}, padding {p:?}"
            ));
        }
        out[axis] = (reach - k[axis]) / s[axis] + 1;
        if ceil && (out[axis] - 1).saturating_mul(s[axis]) >= input[axis] + p[axis] {
            out[axis] -= 1;
        }
    }
    Ok(out)
}

/// Suffixes of a batch-norm layer's buffers, in `state_dict` order.
pub const BATCHNORM_BUFFERS: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

impl Sequential {
    /// The input shape, or why it is not `[C, H, W]` or `[F]` with every size at least 1.
    fn input_shape(&self) -> Result<Shape, String> {
        match self.input[..] {
            _ if self.input.contains(&0) => Err(format!(
                "input {:?} has a zero size; every size must be at least 1",
                self.input
            )),
            [c, h, w] => Ok(Shape::Maps { c, h, w }),
            [f] => Ok(Shape::Flat(f)),
            _ => Err(format!(
                "input {:?} is neither [C, H, W] nor [F]",
                self.input
            )),
        }
    }

    /// The layers in order with full names and shapes, or why the network cannot be built:
    /// the layer at fault by name and type, what it expected and what it got.
    ///
    /// ```
    /// use curvscope_model::sequential::Sequential;
    /// let net: Sequential = serde_json::from_str(r#"{"input":[1,4,4],"layers":[
    ///     {"type":"conv2d","out":2,"kernel":5}]}"#)?;
    /// let err = net.resolve().unwrap_err();
    /// assert_eq!(err, "layer 0 (conv2d): the kernel [5, 5] is larger than the padded input [4, 4]");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn resolve(&self) -> Result<Vec<Resolved>, String> {
        let mut shape = self.input_shape()?;
        let mut resolved = Vec::new();
        flatten_groups(&self.layers, "", &mut shape, &mut resolved)?;
        // Names of layers without tensors may repeat (torchvision's Bottleneck runs its one
        // `relu` three times); a batch norm without γ and β still has its buffers.
        let leaves: Vec<Resolved> = resolved.iter().flat_map(Resolved::leaves).collect();
        let mut names: Vec<&str> = leaves
            .iter()
            .filter(|l| !l.op.params(l.input).is_empty() || l.op.has_buffers())
            .map(|l| l.name.as_str())
            .collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two layers with tensors are named {}", twice[0]));
        }
        // A scale's tensor is named as its layer, so a scale `weight` in a group `n` would be
        // a layer norm `n`'s weight a second time (a scale `running_var` in a group `bn` a batch
        // norm `bn`'s buffer); an attention layer `a`'s `a.qkv.weight` would be a linear layer
        // `qkv`'s in a group `a`.
        let buffers = leaves.iter().filter(|l| l.op.has_buffers());
        let mut tensors: Vec<String> = resolved
            .iter()
            .flat_map(Resolved::params)
            .map(|(name, _)| name)
            .chain(buffers.flat_map(|l| BATCHNORM_BUFFERS.map(|s| tensor_name(&l.name, s))))
            .collect();
        tensors.sort_unstable();
        if let Some(twice) = tensors.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two tensors are named {} (a scale's, a class token's and a position \
                 embedding's tensor is named as its layer; an attention layer's are named under \
                 it, as `in_proj_weight` or `qkv.weight`; a batch norm's buffers as \
                 `running_mean`, `running_var` and `num_batches_tracked` under it)",
                twice[0]
            ));
        }
        match resolved.last() {
            None => Err("it has no layers".into()),
            Some(last) if !matches!(last.output, Shape::Flat(_)) => Err(format!(
                "the last layer ({}) outputs {} {}; a classifier ends in flat class scores (add a \
                 flatten{})",
                last.name,
                last.output,
                last.output.kind(),
                match last.output {
                    Shape::Tokens { .. } => " or a select_token",
                    _ => "",
                }
            )),
            Some(_) => Ok(resolved),
        }
    }

    /// Parameters as (full name, shape), in `state_dict` order: the layout of θ. Empty for a
    /// network that does not [resolve](Sequential::resolve).
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.resolve()
            .unwrap_or_default()
            .iter()
            .flat_map(Resolved::params)
            .collect()
    }

    /// The layers that compute, in order, residual blocks expanded ([`Resolved::leaves`]);
    /// empty for a network that does not [resolve](Sequential::resolve).
    pub fn leaves(&self) -> Vec<Resolved> {
        self.resolve()
            .unwrap_or_default()
            .iter()
            .flat_map(Resolved::leaves)
            .collect()
    }

    /// The parameters PyTorch starts at a constant, by full name, with that constant: a norm's
    /// γ = 1 and β = 0, PReLU's slopes its `init` ([`crate::ArchSpec::init`]).
    pub fn initial_constants(&self) -> BTreeMap<String, f64> {
        self.leaves()
            .iter()
            .flat_map(|layer| {
                layer
                    .op
                    .params(layer.input)
                    .into_iter()
                    .filter_map(|(suffix, _)| {
                        let value = layer.op.initial_constant(suffix)?;
                        Some((tensor_name(&layer.name, suffix), value))
                    })
            })
            .collect()
    }

    /// Buffers as (full name, shape), in `state_dict` order: constants stored beside the
    /// parameters but not part of θ (batch norm's running statistics and step count).
    pub fn buffers(&self) -> Vec<(String, Vec<usize>)> {
        self.leaves()
            .iter()
            .filter(|layer| layer.op.has_buffers())
            .flat_map(|layer| {
                let channels = layer.input.channels();
                BATCHNORM_BUFFERS.map(|suffix| {
                    let shape = if suffix == "num_batches_tracked" {
                        vec![]
                    } else {
                        vec![channels]
                    };
                    (tensor_name(&layer.name, suffix), shape)
                })
            })
            .collect()
    }

    /// The value of buffer `name` of `len` values: as loaded, else PyTorch's initial value
    /// (running mean 0, running variance 1, no batches tracked).
    pub fn buffer(&self, name: &str, len: usize) -> Vec<f64> {
        match self.buffer_values.get(name) {
            Some(values) => values.clone(),
            None if name.ends_with(".running_var") => vec![1.0; len],
            None => vec![0.0; len],
        }
    }

    /// The first `running_var` entry, as (tensor, flat index), at which a batch-norm layer's
    /// scale 1/√(var + ε) exceeds `max`: with `max` = f64::MAX, where `eps` is 0 over a channel
    /// that never varied (the scale is ∞ and every loss NaN); with f32::MAX, also a variance
    /// below ~1e-77 that f32 cannot scale by. `None` where every scale is within `max`.
    pub fn batch_norm_scale_beyond(&self, max: f64) -> Option<(String, usize)> {
        self.leaves().iter().find_map(|layer| {
            let (Op::Batchnorm1d { eps, .. } | Op::Batchnorm2d { eps, .. }) = layer.op else {
                return None;
            };
            let name = format!("{}.running_var", layer.name);
            let values = self.buffer_values.get(&name)?;
            let index = values.iter().position(|v| 1.0 / (v + eps).sqrt() > max)?;
            Some((name, index))
        })
    }

    /// Number of outputs of the last layer (0 if the network does not resolve).
    pub fn classes(&self) -> usize {
        match self.resolve().ok().and_then(|l| l.last().map(|l| l.output)) {
            Some(Shape::Flat(n)) => n,
            _ => 0,
        }
    }

    /// Whether every layer is affine, ReLU-like or pooling (no tanh or sigmoid) and no block
    /// multiplies paths.
    pub fn is_piecewise_linear(&self) -> bool {
        let layers = self.resolve().unwrap_or_default();
        layers.iter().all(Resolved::is_piecewise_linear)
    }
}

/// The prefix of the names in the branches of the residual block named `name` (in full):
/// the block's name, or if not `scoped` the group's it is in (names hold no dots but these).
fn branch_prefix(name: &str, scoped: bool) -> String {
    match (scoped, name.rsplit_once('.')) {
        (true, _) => format!("{name}."),
        (false, Some((group, _))) => format!("{group}."),
        (false, None) => String::new(),
    }
}

/// The shape of `outputs` joined along their channels (features), if they are all flat or all
/// maps of one height and width (saturating, as [`Shape::len`]).
fn joined(outputs: &[Shape]) -> Option<Shape> {
    let sum = |channels: usize, s: &Shape| channels.saturating_add(s.channels());
    match *outputs.first()? {
        Shape::Flat(_) => outputs
            .iter()
            .all(|s| matches!(s, Shape::Flat(_)))
            .then(|| Shape::Flat(outputs.iter().fold(0, sum))),
        Shape::Maps { h, w, .. } => outputs
            .iter()
            .all(|s| matches!(*s, Shape::Maps { h: sh, w: sw, .. } if (sh, sw) == (h, w)))
            .then(|| Shape::Maps {
                c: outputs.iter().fold(0, sum),
                h,
                w,
            }),
        // `torch.cat(…, 1)` of `[N, T, E]` joins tokens, not features.
        Shape::Tokens { .. } => None,
    }
}

/// The shape of `outputs` multiplied element-wise: their one shape; or of maps, the most
/// channels and positions among them, each factor's channels those or 1 (repeated over the
/// channels: a gate `[1, H, W]`) and its positions those or one (repeated over the positions:
/// a scale `[C, 1, 1]`).
fn multiplied(outputs: &[Shape]) -> Option<Shape> {
    let maps: Option<Vec<_>> = outputs
        .iter()
        .map(|s| match *s {
            Shape::Maps { c, h, w } => Some((c, [h, w])),
            _ => None,
        })
        .collect();
    let Some(maps) = maps else {
        let first = *outputs.first()?;
        return outputs.iter().all(|s| *s == first).then_some(first);
    };
    let c = maps.iter().map(|&(c, _)| c).max()?;
    let [h, w] = maps
        .iter()
        .map(|&(_, hw)| hw)
        .max_by_key(|[h, w]| h.saturating_mul(*w))?;
    maps.iter()
        .all(|&(fc, hw)| [c, 1].contains(&fc) && [[h, w], [1, 1]].contains(&hw))
        .then_some(Shape::Maps { c, h, w })
}

/// Appends `layers` to `out` with names prefixed by `prefix`, threading the sample shape.
fn flatten_groups(
    layers: &[Layer],
    prefix: &str,
    shape: &mut Shape,
    out: &mut Vec<Resolved>,
) -> Result<(), String> {
    for (index, layer) in layers.iter().enumerate() {
        let name = format!(
            "{prefix}{}",
            layer.name.clone().unwrap_or_else(|| index.to_string())
        );
        match &layer.op {
            Op::Group { layers } => flatten_groups(layers, &format!("{name}."), shape, out)?,
            op @ Op::ChannelsLast { layers } => {
                let fault = |why: String| format!("layer {name} ({}): {why}", op.kind());
                let Shape::Maps { c, h, w } = *shape else {
                    return Err(fault(format!(
                        "expected [C, H, W] feature maps, got {shape} ({})",
                        shape.kind()
                    )));
                };
                let (mut features, mut inner) = (Shape::Flat(c), Vec::new());
                flatten_groups(
                    layers,
                    &branch_prefix(&name, false),
                    &mut features,
                    &mut inner,
                )?;
                if let Some(layer) = inner.iter().find(|layer| !layer.op.runs_in_channels_last()) {
                    return Err(fault(format!(
                        "its layer {} ({}) does not act on each position's channels alone; it \
                         holds linear, layernorm, rmsnorm, scale, shift, prelu, dropout, identity, \
                         activations and global_response_norm",
                        layer.name,
                        layer.op.kind()
                    )));
                }
                let Shape::Flat(out_channels) = features else {
                    unreachable!("position-wise layers keep features flat")
                };
                let output = Shape::Maps {
                    c: out_channels,
                    h,
                    w,
                };
                out.push(Resolved {
                    name,
                    op: op.clone(),
                    input: *shape,
                    output,
                });
                *shape = output;
            }
            op @ (Op::Residual { .. } | Op::Concat { .. } | Op::Product { .. }) => {
                let fault = |why: String| format!("layer {name} ({}): {why}", op.kind());
                let (branches, scoped) = op.block().expect("a block");
                let prefix = branch_prefix(&name, scoped);
                let outputs = |branches: &[&Vec<Layer>]| {
                    branches
                        .iter()
                        .map(|layers| {
                            let mut output = *shape;
                            flatten_groups(layers, &prefix, &mut output, &mut Vec::new())
                                .map(|()| output)
                        })
                        .collect::<Result<Vec<_>, _>>()
                };
                let output = match op {
                    Op::Residual { .. } => {
                        if branches[0].is_empty() {
                            return Err(fault("`layers` is empty".into()));
                        }
                        let [output, skipped] = outputs(&branches)?[..] else {
                            unreachable!("a residual block's two branches")
                        };
                        if output != skipped {
                            return Err(fault(format!(
                                "its layers output {output} but its shortcut {skipped}; the two \
                                 are added"
                            )));
                        }
                        output
                    }
                    _ => {
                        let concat = matches!(op, Op::Concat { .. });
                        let (what, rule) = match concat {
                            true => (
                                "a concatenation joins",
                                "joined along the channels, they must all be flat or all maps of \
                                 one height and width",
                            ),
                            false => (
                                "a product multiplies",
                                "multiplied element-wise, they must be of one shape, or maps of \
                                 one number of channels or 1 and of one height and width or 1 × 1",
                            ),
                        };
                        if branches.len() < 2 {
                            return Err(fault(format!(
                                "`branches` holds {} path(s); {what} at least two",
                                branches.len()
                            )));
                        }
                        let outputs = outputs(&branches)?;
                        let combined = match concat {
                            true => joined(&outputs),
                            false => multiplied(&outputs),
                        };
                        combined.ok_or_else(|| {
                            let shapes: Vec<String> =
                                outputs.iter().map(Shape::to_string).collect();
                            fault(format!("its branches output {}; {rule}", shapes.join(", ")))
                        })?
                    }
                };
                out.push(Resolved {
                    name,
                    op: op.clone(),
                    input: *shape,
                    output,
                });
                *shape = output;
            }
            op => {
                let output = op
                    .output(*shape)
                    .map_err(|why| format!("layer {name} ({}): {why}", op.kind()))?;
                out.push(Resolved {
                    name,
                    op: op.clone(),
                    input: *shape,
                    output,
                });
                *shape = output;
            }
        }
    }
    Ok(())
}

impl std::fmt::Display for Sequential {
    /// E.g. `sequential [3, 32, 32] → [10] (29 layers)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.resolve() {
            Ok(layers) => write!(
                f,
                "sequential {:?} → [{}] ({} layers)",
                self.input,
                self.classes(),
                layers.len()
            ),
            // A spec that does not resolve (the subject of its error) has no output to name.
            Err(_) => write!(
                f,
                "sequential {:?} ({} layers as given)",
                self.input,
                self.layers.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{GeluApproximation, Layer, Op};
    use crate::ArchSpec;

    fn spec(input: &str, layers: &str) -> Result<ArchSpec, String> {
        let json = format!(r#"{{"name":"sequential","input":{input},"layers":[{layers}]}}"#);
        serde_json::from_str(&json).map_err(|e| e.to_string())
    }

    /// `arch`'s parameter tensors as `name[shape]`, in θ's order.
    fn tensors(arch: &ArchSpec) -> Vec<String> {
        let params = arch.params().into_iter();
        params.map(|(n, s)| format!("{n}{s:?}")).collect()
    }

    #[test]
    fn shapes_are_inferred_and_named_like_state_dict() {
        let arch = spec(
            "[3,9,9]",
            r#"{"type":"conv2d","out":4,"kernel":3,"stride":2,"padding":1},
               {"type":"batchnorm2d"},{"type":"maxpool2d","kernel":2},
               {"type":"group","layers":[{"type":"adaptive_avgpool2d","output":1},{"type":"flatten"}]},
               {"type":"linear","out":7,"name":"fc"}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "0.weight[4, 3, 3, 3]",
                "0.bias[4]",
                "1.weight[4]",
                "1.bias[4]",
                "fc.weight[7, 4]",
                "fc.bias[7]"
            ]
        );
        let buffers: Vec<String> = arch.buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            buffers,
            ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
        );
        assert_eq!((arch.input_len(), arch.classes()), (243, Some(7)));
        assert_eq!(arch.to_string(), "sequential [3, 9, 9] → [7] (6 layers)");
        // Batch norm starts at γ = 1, β = 0, as in PyTorch.
        let theta = arch.init(crate::Init::PyTorch, 0);
        assert_eq!(theta[112..120], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    /// A channels_last block's layers see each position's channels `[C]`, are named as its
    /// siblings and end in maps of their width; a scale's tensor is named as the layer, `[C, 1,
    /// 1]` on maps and `[F]` on features unless its `shape` says, and starts at 1.
    #[test]
    fn channels_last_layers_see_features_and_a_scale_is_its_own_tensor() {
        let arch = spec(
            "[2,3,3]",
            r#"{"type":"group","name":"block","layers":[
                {"type":"channels_last","layers":[{"type":"layernorm","name":"1","shape":[2]},
                 {"type":"linear","name":"2","out":5},{"type":"scale","name":"gamma"}]}]},
               {"type":"scale","name":"layer_scale"},{"type":"flatten"},
               {"type":"scale","name":"s"},{"type":"scale","name":"t","shape":[1,45]},
               {"type":"linear","out":2}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "block.1.weight[2]",
                "block.1.bias[2]",
                "block.2.weight[5, 2]",
                "block.2.bias[5]",
                "block.gamma[5]",
                "layer_scale[5, 1, 1]",
                "s[45]",
                "t[1, 45]",
                "5.weight[2, 45]",
                "5.bias[2]"
            ]
        );
        let ArchSpec::Sequential(net) = &arch else {
            unreachable!()
        };
        let layers = net.resolve().unwrap();
        assert_eq!(layers[0].output.to_string(), "[5, 3, 3]");
        let inner = layers[0].leaves();
        assert_eq!(
            (inner[1].input, inner[1].output),
            (super::Shape::Flat(2), super::Shape::Flat(5))
        );
        assert!(!arch.is_piecewise_linear()); // the layer norm
        let constants = net.initial_constants();
        assert_eq!((constants["layer_scale"], constants["s"]), (1.0, 1.0));
    }

    #[test]
    fn bad_specs_are_refused_naming_the_layer_and_the_shapes() {
        let cases = [
            (
                spec("[2,4,4]", r#"{"type":"linear","out":3}"#),
                "layer 0 (linear): expected flat features, got [2, 4, 4] feature maps (add a flatten)",
            ),
            (
                spec(
                    "[8]",
                    r#"{"type":"group","name":"f","layers":[{"type":"relu"},{"type":"conv2d","out":2,"kernel":1}]}"#,
                ),
                "layer f.1 (conv2d): expected [C, H, W] feature maps, got [8] (flat features)",
            ),
            (
                spec("[4]", r#"{"type":"pad_channels","before":1,"after":1},{"type":"linear","out":2}"#),
                "layer 0 (pad_channels): expected [C, H, W] feature maps, got [4] (flat features)",
            ),
            (
                spec("[2,4,4]", r#"{"type":"pad_channels","before":18446744073709551615,"after":2},{"type":"flatten"},{"type":"linear","out":2}"#),
                "D = more than 2^64 parameters",
            ),
            (
                spec("[4]", r#"{"type":"pad2d","left":1},{"type":"linear","out":2}"#),
                "layer 0 (pad2d): expected [C, H, W] feature maps, got [4] (flat features)",
            ),
            (
                spec("[2,4,4]", r#"{"type":"pad2d","top":18446744073709551615},{"type":"adaptive_avgpool2d","output":1}"#),
                "layer 0 (pad2d): it pads maps to 18446744073709551615 × 4; their sides are at most 2^31",
            ),
            (
                spec("[1,5,5]", r#"{"type":"maxpool2d","kernel":2,"padding":2},{"type":"flatten"}"#),
                "layer 0 (maxpool2d): padding [2, 2] is more than half the kernel [2, 2]",
            ),
            (
                spec("[1,5,5]", r#"{"type":"conv2d","out":2,"kernel":3}"#),
                "the last layer (0) outputs [2, 3, 3] feature maps",
            ),
            (spec("[4]", ""), "it has no layers"),
            (spec("[4,4]", r#"{"type":"relu"}"#), "input [4, 4] is neither"),
            (spec("[0]", r#"{"type":"relu"}"#), "input [0] has a zero size"),
            (spec("[4]", r#"{"type":"linear","out":0}"#), "`out` is 0"),
            (spec("[4]", r#"{"type":"selu"}"#), "unknown variant `selu`"),
            // A spec's own errors say which layer (by index, type and name), as its checks do.
            (spec("[4]", r#"{"type":"relu"},{"type":"linear"}"#), "layer 1: `linear`: missing field `out`"),
            (spec("[4]", r#"{"type":"linear","out":2,"name":"fc","bias":1}"#), "layer 0: `linear` named \"fc\": invalid type"),
            (
                spec("[1,4,4]", r#"{"type":"group","layers":[{"type":"relu"},{"type":"concat","branches":[[],[{"type":"conv2d","out":1,"kernel":[3,3,3]}]]}]}"#),
                "layer 0: `group`: layer 1: `concat`: branch 1: layer 0: `conv2d`: expected a size, a whole number or [height, width]",
            ),
            (spec("[4]", r#"{"type":"residual","layers":[],"shortcut":[{"type":"linear"}]}"#), "layer 0: `residual`: shortcut layer 0: `linear`: missing field `out`"),
            (spec("[4]", r#"{"type":"concat","branches":{}}"#), "expected a list of branches, each a list of layers"),
            (spec("[4]", r#"{"type":"group","layers":{}}"#), "expected a list of layers"),
            (spec("[4]", r#"{"type":"gelu","approximate":"erf"}"#), "unknown variant `erf`, expected `none` or `tanh`"),
            (spec("[4]", r#"{"type":"silu","inplace":true}"#), "unknown field `inplace`: layer type `silu` takes none"),
            (spec("[4]", r#"{"type":"softplus","beta":0},{"type":"linear","out":2}"#), "layer 0 (softplus): `beta` is 0; it must be a positive finite number"),
            (spec("[4]", r#"{"type":"softplus","beta":-1},{"type":"linear","out":2}"#), "`beta` is -1"),
            (spec("[4]", r#"{"type":"linear","out":2,"bias":true,"outs":3}"#), "unknown field `outs`"),
            (spec("[4]", r#"{"type":"linear","out":2,"name":"a.b"}"#), "not a module name"),
            (spec("[4]", r#"{"type":"linear","out":2,"out":3}"#), "field `out` is given twice"),
            (spec("[4]", r#"{"type":"relu","inplace":true}"#), "unknown field `inplace`: layer type `relu` takes none"),
            (spec("[1,2,2]", r#"{"type":"flatten","start_dim":2}"#), "unknown field `start_dim`"),
            (spec("[4]", r#"{"type":"batchnorm1d","eps":-10},{"type":"linear","out":2}"#), "layer 0 (batchnorm1d): `eps` is -10"),
            (spec("[4]", r#"{"type":"dropout","p":1.5},{"type":"linear","out":2}"#), "`p` is 1.5"),
            (
                spec("[2,3,4]", r#"{"type":"layernorm","shape":[3]},{"type":"flatten"}"#),
                "layer 0 (layernorm): `shape` [3] is not the last axes of its input [2, 3, 4]",
            ),
            (spec("[4]", r#"{"type":"layernorm","shape":[]},{"type":"linear","out":2}"#), "`shape` [] is not"),
            (spec("[4]", r#"{"type":"layernorm","shape":[4],"eps":-1},{"type":"linear","out":2}"#), "`eps` is -1"),
            (spec("[4]", r#"{"type":"rmsnorm","shape":[4],"eps":-1},{"type":"linear","out":2}"#), "layer 0 (rmsnorm): `eps` is -1"),
            (spec("[4]", r#"{"type":"rmsnorm","shape":[2]},{"type":"linear","out":2}"#), "layer 0 (rmsnorm): `shape` [2] is not the last axes of its input [4]"),
            (spec("[4]", r#"{"type":"rmsnorm","shape":[4],"bias":false},{"type":"linear","out":2}"#), "unknown field `bias`"),
            (spec("[4]", r#"{"type":"layernorm"}"#), "missing field `shape`"),
            (
                spec("[6,2,2]", r#"{"type":"groupnorm","groups":4},{"type":"flatten"}"#),
                "layer 0 (groupnorm): 4 groups do not divide its input's 6 channels",
            ),
            (spec("[6]", r#"{"type":"groupnorm","groups":0},{"type":"linear","out":2}"#), "`groups` is 0"),
            (
                spec("[2,5,5]", r#"{"type":"concat","name":"c","branches":[[]]},{"type":"flatten"}"#),
                "layer c (concat): `branches` holds 1 path(s); a concatenation joins at least two",
            ),
            (
                spec("[2,5,5]", r#"{"type":"concat","branches":[[{"type":"maxpool2d","kernel":2}],[]]},{"type":"flatten"}"#),
                "layer 0 (concat): its branches output [2, 2, 2], [2, 5, 5]; joined along the channels, they must all be flat or all maps of one height and width",
            ),
            (
                spec("[2,5,5]", r#"{"type":"concat","branches":[[{"type":"flatten"}],[]]},{"type":"flatten"}"#),
                "its branches output [50], [2, 5, 5]",
            ),
            (
                spec("[4,2,2]", r#"{"type":"narrow","start":3,"length":2},{"type":"flatten"}"#),
                "layer 0 (narrow): channels 3..3 + 2 run past its input's 4",
            ),
            (spec("[4]", r#"{"type":"narrow","start":18446744073709551615,"length":2}"#), "run past its input's 4"),
            (spec("[4]", r#"{"type":"narrow","start":0,"length":0}"#), "`length` is 0"),
            (
                spec("[4]", r#"{"type":"unflatten","shape":[2,3,1]},{"type":"flatten"}"#),
                "layer 0 (unflatten): 4 features are not 2·3·1 values",
            ),
            (spec("[4]", r#"{"type":"unflatten","shape":[4,0,1]}"#), "`shape` is 0"),
            (spec("[4]", r#"{"type":"unflatten","shape":[4294967296,4294967296,1]}"#), "expected flat features of"),
            (spec("[4,1,1]", r#"{"type":"unflatten","shape":[4,1,1]}"#), "expected flat features of 4·1·1 values, got [4, 1, 1]"),
            (
                spec("[6,2,2]", r#"{"type":"channel_shuffle","groups":4},{"type":"flatten"}"#),
                "layer 0 (channel_shuffle): 4 groups do not divide its input's 6 channels",
            ),
            (spec("[6]", r#"{"type":"channel_shuffle","groups":2}"#), "expected [C, H, W] feature maps, got [6]"),
            (
                spec("[2,5,5]", r#"{"type":"product","name":"p","branches":[[]]},{"type":"flatten"}"#),
                "layer p (product): `branches` holds 1 path(s); a product multiplies at least two",
            ),
            // A scale of other channels, of more than one position but not all, of other
            // positions than a gate's, or of flat features.
            (
                spec("[2,5,5]", r#"{"type":"product","branches":[[{"type":"adaptive_avgpool2d","output":1},{"type":"conv2d","out":3,"kernel":1}],[]]},{"type":"flatten"}"#),
                "layer 0 (product): its branches output [3, 1, 1], [2, 5, 5]; multiplied element-wise, they must be of one shape, or maps of one number of channels or 1 and of one height and width or 1 × 1",
            ),
            (
                spec("[2,5,5]", r#"{"type":"product","branches":[[{"type":"avgpool2d","kernel":2}],[{"type":"conv2d","out":1,"kernel":1}]]},{"type":"flatten"}"#),
                "its branches output [2, 2, 2], [1, 5, 5]",
            ),
            (
                spec("[2,5,5]", r#"{"type":"product","branches":[[],[{"type":"adaptive_avgpool2d","output":[1,5]}]]},{"type":"flatten"}"#),
                "its branches output [2, 5, 5], [2, 1, 5]",
            ),
            (
                spec("[2,1,1]", r#"{"type":"product","branches":[[],[{"type":"flatten"}]]},{"type":"flatten"}"#),
                "its branches output [2, 1, 1], [2]",
            ),
            (
                spec("[2,5,5]", r#"{"type":"concat","branches":[[{"type":"linear","out":2}],[]]},{"type":"flatten"}"#),
                "layer 0.0 (linear): expected flat features",
            ),
            // channels_last: on maps only, of layers that map each position's channels alone.
            (
                spec("[4]", r#"{"type":"channels_last","layers":[{"type":"linear","out":2}]}"#),
                "layer 0 (channels_last): expected [C, H, W] feature maps, got [4] (flat features)",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","name":"c","layers":[{"type":"batchnorm1d"}]},{"type":"flatten"}"#),
                "layer c (channels_last): its layer 0 (batchnorm1d) does not act on each position's channels alone",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","layers":[{"type":"linear","out":4},{"type":"narrow","start":0,"length":2}]},{"type":"flatten"}"#),
                "its layer 1 (narrow) does not act",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","layers":[{"type":"residual","layers":[{"type":"linear","out":2}]}]},{"type":"flatten"}"#),
                "its layer 0 (residual) does not act",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","layers":[{"type":"linear","out":8},{"type":"unflatten","shape":[2,2,2]}]},{"type":"flatten"}"#),
                "its layer 1 (unflatten) does not act",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","layers":[{"type":"conv2d","out":2,"kernel":1}]},{"type":"flatten"}"#),
                "layer 0 (conv2d): expected [C, H, W] feature maps, got [2] (flat features)",
            ),
            (
                spec("[2,3,3]", r#"{"type":"channels_last","layers":[{"type":"layernorm","shape":[3]}]},{"type":"flatten"}"#),
                "layer 0 (layernorm): `shape` [3] is not the last axes of its input [2]",
            ),
            (spec("[2,3,3]", r#"{"type":"channels_last","layers":[],"scoped":false}"#), "unknown field `scoped`"),
            (spec("[4]", r#"{"type":"scale","gamma":[4]}"#), "unknown field `gamma`"),
            (
                spec("[2,3,3]", r#"{"type":"scale","name":"s","shape":[1,3,1,1]},{"type":"flatten"}"#),
                "layer s (scale): `shape` [1, 3, 1, 1] holds neither one value per channel of its input [2, 3, 3] nor one for all",
            ),
            (spec("[4]", r#"{"type":"scale","shape":[4294967296,4294967296,1]}"#), "holds neither one value per channel"),
            // A scale `weight` in a group `n` is a layer norm `n`'s weight again.
            (
                spec("[4]", r#"{"type":"layernorm","name":"n","shape":[4]},{"type":"group","name":"n","layers":[{"type":"scale","name":"weight"}]},{"type":"linear","out":2}"#),
                "two tensors are named n.weight (a scale's, a class token's and a position embedding's tensor is named as its layer",
            ),
            // ... and a scale `running_var` in a group `bn` a batch norm `bn`'s buffer, which
            // safetensors would refuse to save twice.
            (
                spec("[4]", r#"{"type":"batchnorm1d","name":"bn","affine":false},{"type":"group","name":"bn","layers":[{"type":"scale","name":"running_var"}]},{"type":"linear","out":2}"#),
                "two tensors are named bn.running_var (",
            ),
            (
                spec("[4]", r#"{"type":"concat","branches":[[{"type":"linear","out":2,"name":"a"}],[{"type":"linear","out":2,"name":"a"}]],"scoped":false},{"type":"linear","out":2}"#),
                "two layers with tensors are named a",
            ),
            // Batch norms without γ and β still have running statistics, which would be one
            // set shared (and written twice to model.safetensors).
            (
                spec("[4]", r#"{"type":"batchnorm1d","name":"bn","affine":false},{"type":"relu"},{"type":"batchnorm1d","name":"bn","affine":false},{"type":"linear","out":2}"#),
                "two layers with tensors are named bn",
            ),
            (
                spec("[6,5,5]", r#"{"type":"conv2d","out":4,"kernel":3,"groups":4},{"type":"flatten"}"#),
                "layer 0 (conv2d): 4 groups must divide its input's 6 and its output's 4 channels",
            ),
            (
                spec("[6,5,5]", r#"{"type":"conv2d","out":3,"kernel":3,"groups":2},{"type":"flatten"}"#),
                "2 groups must divide its input's 6 and its output's 3 channels",
            ),
            (spec("[6,5,5]", r#"{"type":"conv2d","out":6,"kernel":3,"groups":0},{"type":"flatten"}"#), "`groups` is 0"),
            (
                spec("[1,4,4]", r#"{"type":"conv2d","out":2,"kernel":3,"standardize":{"eps":-1}},{"type":"flatten"}"#),
                "layer 0 (conv2d): `standardize`'s `eps` is -1; it must be a finite number ≥ 0",
            ),
            (spec("[1,4,4]", r#"{"type":"conv2d","out":2,"kernel":3,"standardize":{"epsilon":1}},{"type":"flatten"}"#), "unknown field `epsilon`"),
            (
                spec("[4]", r#"{"type":"conv1d","kernel":7,"padding":1},{"type":"linear","out":2}"#),
                "layer 0 (conv1d): the kernel 7 is longer than the 6 padded features",
            ),
            (
                spec("[1,4,4]", r#"{"type":"conv1d","kernel":3},{"type":"flatten"}"#),
                "layer 0 (conv1d): expected flat features (one channel of a 1-D convolution), got [1, 4, 4] feature maps",
            ),
            (spec("[4]", r#"{"type":"conv1d","kernel":0},{"type":"linear","out":2}"#), "`kernel` is 0"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"global_response_norm"},{"type":"flatten"}"#),
                "layer 1 (global_response_norm): got [4, 2] tokens; PyTorch's layer reads axis 1",
            ),
            (
                spec("[2,2,2]", r#"{"type":"global_response_norm","eps":-1e-6},{"type":"flatten"}"#),
                "layer 0 (global_response_norm): `eps` is -0.000001; it must be a finite number ≥ 0",
            ),
            (spec("[4]", r#"{"type":"global_response_norm","affine":false}"#), "unknown field `affine`"),
            (
                spec("[2,2,3]", r#"{"type":"blur_pool2d","kernel":3,"stride":1,"padding":2},{"type":"flatten"}"#),
                "layer 0 (blur_pool2d): it pads 2 × 3 maps by 2 on each side; a reflect padding of them adds at most 1 (PyTorch refuses more too)",
            ),
            (
                spec("[2,2,3]", r#"{"type":"blur_pool2d","kernel":3,"stride":1,"padding":3,"pad_mode":"circular"},{"type":"flatten"}"#),
                "a circular padding of them adds at most 2",
            ),
            (
                spec("[2,2,3]", r#"{"type":"blur_pool2d","kernel":7,"stride":1,"padding":2,"pad_mode":"constant"},{"type":"flatten"}"#),
                "layer 0 (blur_pool2d): the kernel",
            ),
            (spec("[2,4,4]", r#"{"type":"blur_pool2d","kernel":0,"stride":1,"padding":0},{"type":"flatten"}"#), "`kernel` is 0"),
            (
                spec("[2,4,4]", r#"{"type":"blur_pool2d","kernel":4000000000,"stride":1,"padding":2000000000,"pad_mode":"constant"},{"type":"flatten"}"#),
                "layer 0 (blur_pool2d): `kernel` is 4000000000; the binomial filter is exact up to 50 taps",
            ),
            (spec("[2,4,4]", r#"{"type":"blur_pool2d","kernel":3,"stride":0,"padding":1},{"type":"flatten"}"#), "`stride` is 0"),
            (spec("[2,4,4]", r#"{"type":"blur_pool2d","kernel":3,"stride":2},{"type":"flatten"}"#), "missing field `padding`"),
            (
                spec("[2,4,4]", r#"{"type":"blur_pool2d","kernel":3,"stride":2,"padding":1,"pad_mode":"zeros"},{"type":"flatten"}"#),
                "unknown variant `zeros`, expected one of `reflect`, `constant`, `replicate`, `circular`",
            ),
            (
                spec("[4]", r#"{"type":"blur_pool2d","kernel":3,"stride":2,"padding":1}"#),
                "layer 0 (blur_pool2d): expected [C, H, W] feature maps, got [4] (flat features)",
            ),
            (
                spec("[2,4,6]", r#"{"type":"space_to_depth","block":4},{"type":"flatten"}"#),
                "layer 0 (space_to_depth): squares of 4 × 4 pixels do not tile its 4 × 6 maps",
            ),
            (spec("[2,4,4]", r#"{"type":"space_to_depth","block":0},{"type":"flatten"}"#), "`block` is 0"),
            (
                spec("[2,4,4]", r#"{"type":"sum_runs","runs":3},{"type":"flatten"}"#),
                "layer 0 (sum_runs): 3 runs do not divide its input's 2 channels",
            ),
            (spec("[4]", r#"{"type":"sum_runs","runs":0}"#), "`runs` is 0"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"sum_runs","runs":2},{"type":"flatten"}"#),
                "layer 1 (sum_runs): got [4, 2] tokens",
            ),
            (
                spec("[4]", r#"{"type":"radix_softmax","radix":1}"#),
                "layer 0 (radix_softmax): `radix` is 1; a softmax across one path is 1 (timm's radix 1 is a sigmoid: write one)",
            ),
            (
                spec("[2,3,1]", r#"{"type":"radix_softmax","radix":2,"cardinality":2},{"type":"flatten"}"#),
                "layer 0 (radix_softmax): 2·2 (groups times paths) does not divide its input's 6 values",
            ),
            (spec("[4]", r#"{"type":"radix_softmax","radix":2,"cardinality":0}"#), "`cardinality` is 0"),
            (spec("[4]", r#"{"type":"radix_softmax"}"#), "missing field `radix`"),
            (spec("[4]", r#"{"type":"conv1d","kernel":3,"stride":2},{"type":"linear","out":2}"#), "unknown field `stride`"),
            (spec("[6,5,5]", r#"{"type":"conv2d","out":6,"kernel":3,"dilation":[1,0]},{"type":"flatten"}"#), "`dilation` is 0"),
            (
                spec("[1,5,5]", r#"{"type":"conv2d","out":2,"kernel":3,"dilation":3},{"type":"flatten"}"#),
                "layer 0 (conv2d): the kernel [7, 7] is larger than the padded input [5, 5] (its [3, 3] taps [3, 3] apart)",
            ),
            (
                spec("[1,5,5]", r#"{"type":"conv2d","out":2,"kernel":3,"dilation":18446744073709551615},{"type":"flatten"}"#),
                "the kernel [18446744073709551615, 18446744073709551615] is larger",
            ),
            (
                spec("[1,4,4]", r#"{"type":"avgpool2d","kernel":18446744073709551615,"padding":9223372036854775807,"ceil_mode":true},{"type":"flatten"}"#),
                "layer 0 (avgpool2d): a window's sizes are at most 2^31, not kernel [18446744073709551615, 18446744073709551615]",
            ),
            (
                spec("[1,4,4]", r#"{"type":"conv2d","out":1,"kernel":1,"padding":2147483649},{"type":"flatten"}"#),
                "padding [2147483649, 2147483649]",
            ),
            (
                spec("[4]", r#"{"type":"hardtanh","min_val":1,"max_val":1},{"type":"linear","out":2}"#),
                "layer 0 (hardtanh): `min_val` 1 and `max_val` 1 must be finite numbers, `min_val` the smaller",
            ),
            (
                spec("[2,3,3]", r#"{"type":"prelu","num_parameters":3},{"type":"flatten"}"#),
                "layer 0 (prelu): `num_parameters` is 3; it must be 1 or its input's 2 channels",
            ),
            (spec("[4]", r#"{"type":"mish","beta":1}"#), "unknown field `beta`: layer type `mish` takes none"),
            (spec("[4]", r#"{"type":"multiply"},{"type":"linear","out":2}"#), "missing field `by`"),
            (spec("[4]", r#"{"type":"multiply","by":1e400},{"type":"linear","out":2}"#), "number out of range"),
            (
                spec(
                    "[2,4,4]",
                    r#"{"type":"residual","name":"b","layers":[{"type":"conv2d","out":3,"kernel":1}]},{"type":"flatten"}"#,
                ),
                "layer b (residual): its layers output [3, 4, 4] but its shortcut [2, 4, 4]; the two are added",
            ),
            (spec("[4]", r#"{"type":"residual","layers":[]},{"type":"linear","out":2}"#), "layer 0 (residual): `layers` is empty"),
            (
                spec("[4]", r#"{"type":"residual","name":"b","layers":[{"type":"linear","out":3,"name":"x"}],"shortcut":[{"type":"linear","out":3,"name":"x"}]}"#),
                "two layers with tensors are named b.x",
            ),
            (
                spec("[2,4,4]", r#"{"type":"residual","name":"b","layers":[{"type":"linear","out":3}]}"#),
                "layer b.0 (linear): expected flat features, got [2, 4, 4] feature maps",
            ),
            (spec("[4]", r#"{"type":"relu6","inplace":true}"#), "layer type `relu6` takes none"),
            (
                spec("[4]", r#"{"type":"linear","out":2,"name":"a"},{"type":"linear","out":2,"name":"a"}"#),
                // An invalid spec is named by its input and layers, not a made-up output.
                "architecture sequential [4] (2 layers as given): two layers with tensors are named a",
            ),
            (spec("[3]", r#"{"type":"relu"}"#), "sequential [3] → [3] (1 layers): it has no parameters (D = 0)"),
            // Transformers' layers: tokens of maps only, the transformer's layers on tokens
            // only, nothing that reads the tokens' axis as channels.
            (spec("[4]", r#"{"type":"tokens"}"#), "layer 0 (tokens): expected [C, H, W] feature maps, got [4] (flat features)"),
            (spec("[2,2,2]", r#"{"type":"tokens","dim":1}"#), "unknown field `dim`: layer type `tokens` takes none"),
            (
                spec("[2,2,2]", r#"{"type":"attention","heads":1},{"type":"flatten"}"#),
                "layer 0 (attention): expected [T, E] tokens, got [2, 2, 2] (feature maps); a tokens layer makes them of maps",
            ),
            (
                spec("[3,2,2]", r#"{"type":"tokens"},{"type":"attention","name":"a","heads":2},{"type":"flatten"}"#),
                "layer a (attention): 2 heads do not divide its tokens' 3 features",
            ),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"attention","heads":0},{"type":"flatten"}"#), "`heads` is 0"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"attention","heads":1,"tensors":"keras"},{"type":"flatten"}"#), "unknown variant `keras`"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"select_token","index":4}"#),
                "layer 1 (select_token): token 4 is past its input's 4 tokens",
            ),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"class_token","name":"c","shape":[1,2,2]},{"type":"flatten"}"#),
                "layer c (class_token): `shape` [1, 2, 2] does not hold the 2 values of its tensor",
            ),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"position_embedding","name":"p","shape":[1,2,2]},{"type":"flatten"}"#),
                "layer p (position_embedding): `shape` [1, 2, 2] does not hold the 8 values of its tensor",
            ),
            (spec("[2]", r#"{"type":"class_token"}"#), "expected [T, E] tokens, got [2] (flat features)"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"class_token","tokens":0},{"type":"flatten"}"#), "layer 1 (class_token): `tokens` is 0"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"class_token","name":"r","tokens":3,"shape":[1,1,2]},{"type":"flatten"}"#),
                "layer r (class_token): `shape` [1, 1, 2] does not hold the 6 values of its tensor",
            ),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"batchnorm1d"},{"type":"flatten"}"#),
                "layer 1 (batchnorm1d): got [4, 2] tokens; PyTorch's layer reads axis 1 of `[N, T, E]`, the tokens, as its channels",
            ),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"groupnorm","groups":1},{"type":"flatten"}"#), "reads axis 1 of `[N, T, E]`"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"narrow","start":2,"length":3},{"type":"flatten"}"#),
                "layer 1 (narrow): tokens 2..2 + 3 run past its input's 4",
            ),
            (spec("[2,2,2]", r#"{"type":"token_mean","dim":1}"#), "unknown field `dim`: layer type `token_mean` takes none"),
            (spec("[4]", r#"{"type":"token_mean"}"#), "layer 0 (token_mean): expected [T, E] tokens, got [4] (flat features)"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"transpose","dims":[1,2]},{"type":"flatten"}"#), "unknown field `dims`: layer type `transpose` takes none"),
            (spec("[2,2,2]", r#"{"type":"transpose"},{"type":"flatten"}"#), "layer 0 (transpose): expected [T, E] tokens, got [2, 2, 2] (feature maps)"),
            (spec("[2,2,2]", r#"{"type":"shift","name":"b","shape":[4]},{"type":"flatten"}"#), "layer b (shift): `shape` [4] holds neither one value per channel of its input [2, 2, 2]"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"transpose"},{"type":"shift","shape":[1,1,2]},{"type":"flatten"}"#), "layer 2 (shift): `shape` [1, 1, 2] holds neither one value per channel of its input [2, 4]"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"prelu","num_parameters":2},{"type":"flatten"}"#), "reads axis 1 of `[N, T, E]`"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"maxpool2d","kernel":1},{"type":"flatten"}"#), "expected [C, H, W] feature maps, got [4, 2] (tokens)"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"channels_last","layers":[]},{"type":"flatten"}"#), "expected [C, H, W] feature maps, got [4, 2] (tokens)"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"concat","branches":[[],[]]},{"type":"flatten"}"#),
                "layer 1 (concat): its branches output [4, 2], [4, 2]; joined along the channels",
            ),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"product","branches":[[],[{"type":"narrow","start":1,"length":1,"dim":2}]]},{"type":"flatten"}"#), "its branches output [4, 2], [4, 1]; multiplied"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"narrow","start":1,"length":2,"dim":2},{"type":"flatten"}"#), "layer 1 (narrow): features 1..1 + 2 run past its input's 2"),
            (spec("[2,2,2]", r#"{"type":"tokens"},{"type":"narrow","start":0,"length":1,"dim":3},{"type":"flatten"}"#), "layer 1 (narrow): `dim` is 3; a narrow takes axis 1 of its input [4, 2] (axis 2 too of tokens [T, E], their features)"),
            (spec("[2,2,2]", r#"{"type":"narrow","start":0,"length":1,"dim":2},{"type":"flatten"}"#), "layer 0 (narrow): `dim` is 2; a narrow takes axis 1 of its input [2, 2, 2]"),
            (
                spec("[2,2,2]", r#"{"type":"tokens"},{"type":"linear","out":2}"#),
                "the last layer (1) outputs [4, 2] tokens; a classifier ends in flat class scores (add a flatten or a select_token)",
            ),
        ];
        for (result, reason) in cases {
            let err = result.unwrap_err();
            assert!(err.contains(reason), "{err}\n  should contain: {reason}");
        }
    }

    /// A transformer's tensors are named and shaped as `state_dict` holds them: a class token,
    /// a position embedding and a shift (of transposed tokens: one per token) named as their
    /// layers, `nn.MultiheadAttention`'s and timm's projections (timm's output projection with
    /// a bias where its input one has none); class and register tokens, attention's biases and
    /// a shift start at 0, as in PyTorch.
    #[test]
    fn transformer_layers_have_pytorchs_tensors_and_initial_values() {
        let arch = spec(
            "[2,2,2]",
            r#"{"type":"tokens"},{"type":"class_token","name":"class_token"},
               {"type":"group","name":"encoder","layers":[
                   {"type":"position_embedding","name":"pos_embedding"},
                   {"type":"attention","name":"self_attention","heads":2}]},
               {"type":"attention","name":"attn","heads":1,"bias":false,"out_bias":true,
                "tensors":"timm"},{"type":"class_token","name":"reg_token","tokens":4},
               {"type":"transpose"},{"type":"shift","name":"beta"},{"type":"transpose"},
               {"type":"select_token"},{"type":"linear","out":3,"name":"head"}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "class_token[1, 1, 2]",
                "encoder.pos_embedding[1, 5, 2]",
                "encoder.self_attention.in_proj_weight[6, 2]",
                "encoder.self_attention.in_proj_bias[6]",
                "encoder.self_attention.out_proj.weight[2, 2]",
                "encoder.self_attention.out_proj.bias[2]",
                "attn.qkv.weight[6, 2]",
                "attn.proj.weight[2, 2]",
                "attn.proj.bias[2]",
                "reg_token[1, 4, 2]",
                "beta[9]",
                "head.weight[3, 2]",
                "head.bias[3]"
            ]
        );
        let theta = arch.init(crate::Init::PyTorch, 0);
        assert_eq!(theta[..2], [0.0; 2]);
        assert_eq!(theta[24..30], [0.0; 6]);
        assert_eq!(theta[34..36], [0.0; 2]);
        assert!(theta[36..40].iter().all(|w| *w != 0.0));
        // The output projection's bias, the register tokens and the shift.
        assert_eq!(theta[52..71], [0.0; 19]);
        assert!(theta[71..].iter().all(|w| *w != 0.0));
        assert!(!arch.is_piecewise_linear());
    }

    /// Layer, RMS and group norm's γ and β are named and shaped as in `state_dict`, only where
    /// the layer has them, and start at 1 and 0 as in PyTorch, whatever their shape.
    #[test]
    fn layer_and_group_norm_have_pytorchs_tensors_and_initial_values() {
        let arch = spec(
            "[2,3,3]",
            r#"{"type":"layernorm","shape":[2,3,3]},{"type":"groupnorm","groups":1,"name":"gn"},
               {"type":"layernorm","shape":[3],"bias":false},
               {"type":"rmsnorm","name":"rms","shape":[3,3]},{"type":"flatten"},
               {"type":"layernorm","shape":[18],"affine":false},
               {"type":"rmsnorm","shape":[18],"eps":1e-6,"affine":false},
               {"type":"groupnorm","groups":3,"affine":false},{"type":"linear","out":2}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "0.weight[2, 3, 3]",
                "0.bias[2, 3, 3]",
                "gn.weight[2]",
                "gn.bias[2]",
                "2.weight[3]",
                "rms.weight[3, 3]",
                "8.weight[2, 18]",
                "8.bias[2]"
            ]
        );
        assert!(arch.buffers().is_empty());
        let theta = arch.init(crate::Init::PyTorch, 0);
        let ones_zeros = |ones: usize, zeros: usize| {
            let mut v = vec![1.0; ones];
            v.resize(ones + zeros, 0.0);
            v
        };
        assert_eq!(theta[..36], ones_zeros(18, 18));
        assert_eq!(theta[36..40], ones_zeros(2, 2));
        assert_eq!(theta[40..52], [1.0; 12]);
        // The linear layer's own U(−1/√18, 1/√18): its fan-in is not a norm's.
        let bound = 1.0 / 18f64.sqrt();
        assert!(theta[52..].iter().all(|w| w.abs() < bound && *w != 0.0));
        assert!(!arch.is_piecewise_linear());
    }

    /// A group norm without β has only γ; a scale and a shift of one value each (StarReLU's)
    /// hold one value, starting at 1 and 0, and are piecewise linear as any scale and shift.
    #[test]
    fn group_norms_without_beta_and_one_value_scales_have_pytorchs_tensors() {
        let arch = spec(
            "[2,3,3]",
            r#"{"type":"groupnorm","name":"g","groups":1,"bias":false},
               {"type":"scale","name":"s","shape":[1]},{"type":"shift","name":"b","shape":[1]},
               {"type":"flatten"},{"type":"linear","out":2}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "g.weight[2]",
                "s[1]",
                "b[1]",
                "4.weight[2, 18]",
                "4.bias[2]"
            ]
        );
        let theta = arch.init(crate::Init::PyTorch, 0);
        assert_eq!(theta[..4], [1.0, 1.0, 1.0, 0.0]);
        let piecewise = spec(
            "[2,3,3]",
            r#"{"type":"scale","shape":[1,1,1]},{"type":"shift","shape":[1]},{"type":"flatten"}"#,
        )
        .unwrap();
        assert!(piecewise.is_piecewise_linear());
    }

    /// A residual block is one layer (one stage of a resumed pass) whose branches' layers are
    /// named as its children, main branch first; layers without tensors may share a name.
    #[test]
    fn residual_blocks_name_both_branches_as_the_blocks_children() {
        let arch = spec(
            "[2,4,4]",
            r#"{"type":"residual","name":"block","layers":[
                   {"type":"conv2d","out":3,"kernel":3,"stride":2,"padding":1,"name":"conv1"},
                   {"type":"relu","name":"relu"},{"type":"batchnorm2d","name":"bn"}],
                 "shortcut":[{"type":"group","name":"downsample","layers":[
                   {"type":"conv2d","out":3,"kernel":1,"stride":2,"bias":false}]}]},
               {"type":"relu","name":"block"},
               {"type":"residual","layers":[{"type":"relu","name":"relu"},{"type":"relu","name":"relu"}]},
               {"type":"flatten"},{"type":"linear","out":2}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "block.conv1.weight[3, 2, 3, 3]",
                "block.conv1.bias[3]",
                "block.bn.weight[3]",
                "block.bn.bias[3]",
                "block.downsample.0.weight[3, 2, 1, 1]",
                "4.weight[2, 12]",
                "4.bias[2]"
            ]
        );
        let buffers: Vec<String> = arch.buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(buffers[0], "block.bn.running_mean");
        let ArchSpec::Sequential(net) = &arch else {
            unreachable!()
        };
        let layers = net.resolve().unwrap();
        let shapes: Vec<String> = layers
            .iter()
            .map(|l| format!("{} {} → {}", l.name, l.input, l.output))
            .collect();
        assert_eq!(
            shapes,
            [
                "block [2, 4, 4] → [3, 2, 2]",
                "block [3, 2, 2] → [3, 2, 2]",
                "2 [3, 2, 2] → [3, 2, 2]",
                "3 [3, 2, 2] → [12]",
                "4 [12] → [2]"
            ]
        );
        assert_eq!(net.leaves().len(), 9);
        assert_eq!(arch.to_string(), "sequential [2, 4, 4] → [2] (5 layers)");
        assert!(arch.is_piecewise_linear());
        let json = serde_json::to_string(&arch).unwrap();
        assert_eq!(serde_json::from_str::<ArchSpec>(&json).unwrap(), arch);
        assert!(
            !json.contains(r#""shortcut":[]"#),
            "no shortcut is not written"
        );
    }

    /// An unscoped block (`"scoped": false`, a sum written in a forward) names its branches'
    /// layers as its siblings, at the top and in a group; the JSON keeps the field only when
    /// false, and a branch layer may not take a sibling's name.
    #[test]
    fn unscoped_residual_blocks_name_their_layers_as_siblings() {
        let arch = spec(
            "[3]",
            r#"{"type":"linear","out":4,"name":"fc1"},
               {"type":"residual","scoped":false,"layers":[{"type":"linear","out":4,"name":"fc2"},
                 {"type":"relu"}]},
               {"type":"group","name":"body","layers":[{"type":"residual","scoped":false,
                 "layers":[{"type":"linear","out":4,"name":"fc"}],
                 "shortcut":[{"type":"linear","out":4,"bias":false,"name":"proj"}]}]},
               {"type":"linear","out":2,"name":"fc3"}"#,
        )
        .unwrap();
        assert_eq!(
            tensors(&arch),
            [
                "fc1.weight[4, 3]",
                "fc1.bias[4]",
                "fc2.weight[4, 4]",
                "fc2.bias[4]",
                "body.fc.weight[4, 4]",
                "body.fc.bias[4]",
                "body.proj.weight[4, 4]",
                "fc3.weight[2, 4]",
                "fc3.bias[2]"
            ]
        );
        let json = serde_json::to_string(&arch).unwrap();
        assert_eq!(json.matches(r#""scoped":false"#).count(), 2);
        assert_eq!(serde_json::from_str::<ArchSpec>(&json).unwrap(), arch);
        let scoped = spec(
            "[3]",
            r#"{"type":"residual","scoped":true,"layers":[{"type":"relu"}]},{"type":"linear","out":2}"#,
        );
        assert!(!serde_json::to_string(&scoped.unwrap())
            .unwrap()
            .contains("scoped"));
        let clash = spec(
            "[3]",
            r#"{"type":"linear","out":3,"name":"fc"},
               {"type":"residual","scoped":false,"layers":[{"type":"linear","out":3,"name":"fc"}]},
               {"type":"linear","out":2}"#,
        );
        let err = clash.unwrap_err();
        assert!(
            err.contains("two layers with tensors are named fc"),
            "{err}"
        );
    }

    /// `nn.GELU()`, `nn.ELU()`, `nn.Softplus()`, `nn.Hardtanh()` and `nn.PReLU()` as PyTorch
    /// constructs them; PReLU's slopes start at its `init`.
    #[test]
    fn activations_take_pytorchs_defaults() {
        let op = |json| serde_json::from_str::<Layer>(json).unwrap().op;
        let gelu = Op::Gelu {
            approximate: GeluApproximation::None,
        };
        assert_eq!(op(r#"{"type":"gelu"}"#), gelu);
        assert_eq!(op(r#"{"type":"elu"}"#), Op::Elu { alpha: 1.0 });
        let softplus = Op::Softplus {
            beta: 1.0,
            threshold: 20.0,
        };
        assert_eq!(op(r#"{"type":"softplus"}"#), softplus);
        let hardtanh = Op::Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        };
        assert_eq!(op(r#"{"type":"hardtanh"}"#), hardtanh);
        let prelu = Op::Prelu {
            num_parameters: 1,
            init: 0.25,
        };
        assert_eq!(op(r#"{"type":"prelu"}"#), prelu);
        let arch = spec(
            "[3]",
            r#"{"type":"prelu","num_parameters":3,"init":-0.5},{"type":"linear","out":2}"#,
        )
        .unwrap();
        let theta = arch.init(crate::Init::PyTorch, 0);
        assert_eq!(theta[..3], [-0.5; 3]);
        assert!(arch.is_piecewise_linear());
    }

    /// A layer or group norm without γ is one spec however its `bias` is spelled (the
    /// exporter's `"bias":false` and a person's nothing), serialized without it; a layer norm
    /// with both is written without its default flags.
    #[test]
    fn layer_and_group_norm_flags_have_one_spelling() {
        let norm = |kind: &str, flags: &str| {
            let layers = format!(
                r#"{{"type":{kind}{flags}}},{{"type":"flatten"}},{{"type":"linear","out":2}}"#
            );
            spec("[2,2,2]", &layers).unwrap()
        };
        for kind in [r#""layernorm","shape":[2]"#, r#""groupnorm","groups":2"#] {
            let plain = norm(kind, r#","affine":false"#);
            assert!(
                plain.same_spec(&norm(kind, r#","affine":false,"bias":false"#)),
                "{kind}"
            );
            assert!(
                plain.same_spec(&norm(kind, r#","affine":false,"bias":true"#)),
                "{kind}"
            );
            assert!(!plain.same_spec(&norm(kind, "")), "{kind}");
            assert!(
                !norm(kind, "").same_spec(&norm(kind, r#","bias":false"#)),
                "{kind}"
            );
            assert_eq!(tensors(&plain), ["2.weight[2, 8]", "2.bias[2]"], "{kind}");
            let json = serde_json::to_string(&plain).unwrap();
            assert!(
                json.contains(&format!(
                    r#"{{"type":{kind},"eps":0.00001,"affine":false}}"#
                )),
                "{json}"
            );
        }
        let json = serde_json::to_string(&norm(r#""layernorm","shape":[2]"#, "")).unwrap();
        assert!(
            json.contains(r#"{"type":"layernorm","shape":[2],"eps":0.00001},"#),
            "{json}"
        );
    }

    /// A batch norm without γ is one spec however its `bias` is spelled, and without γ or β
    /// has no parameters; `bias=False` keeps γ.
    #[test]
    fn batch_norm_flags_have_one_spelling() {
        let bn = |flags: &str| {
            let layers = format!(r#"{{"type":"batchnorm1d"{flags}}},{{"type":"linear","out":2}}"#);
            spec("[3]", &layers).unwrap()
        };
        let plain = bn(r#","affine":false"#);
        assert!(plain.same_spec(&bn(r#","affine":false,"bias":false"#)));
        assert!(!plain.same_spec(&bn("")));
        let json = serde_json::to_string(&plain).unwrap();
        assert!(
            json.contains(r#"{"type":"batchnorm1d","eps":0.00001,"affine":false},"#),
            "{json}"
        );
        let linear = ["1.weight[2, 3]", "1.bias[2]"];
        assert_eq!(tensors(&plain), linear);
        assert_eq!(
            tensors(&bn(r#","bias":false"#)),
            [&["0.weight[3]"], &linear[..]].concat()
        );
        assert_eq!(
            tensors(&bn("")),
            [&["0.weight[3]", "0.bias[3]"], &linear[..]].concat()
        );
    }

    #[test]
    fn the_json_round_trips() {
        let arch = ArchSpec::named("vgg11").unwrap();
        let json = serde_json::to_string(&arch).unwrap();
        assert!(json.starts_with(r#"{"name":"sequential","input":[3,32,32],"layers":[{"name":"features","type":"group""#), "{json}");
        assert_eq!(serde_json::from_str::<ArchSpec>(&json).unwrap(), arch);
    }
}
