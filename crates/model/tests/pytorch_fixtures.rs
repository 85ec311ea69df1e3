//! The PyTorch fixtures (tests/data/lenet-pytorch, tests/data/sequential-pytorch,
//! tests/data/activations-pytorch, tests/data/more-activations-pytorch,
//! tests/data/normalization-pytorch, tests/data/residual-pytorch, tests/data/traced-pytorch,
//! tests/data/grouped-pytorch, tests/data/concat-pytorch, tests/data/product-pytorch,
//! tests/data/shuffle-pytorch, tests/data/padding-pytorch, tests/data/std-conv-pytorch,
//! tests/data/eca-pytorch, tests/data/grn-pytorch, tests/data/blur-pytorch,
//! tests/data/split-attention-pytorch, tests/data/gate-pytorch, tests/data/focal-pytorch and
//! the others
//! named below)
//! read through our loaders, and our networks' values against PyTorch's float64 ones.

use std::path::{Path, PathBuf};

use curvscope_model::sequential::{Op, Sequential};
use curvscope_model::{
    default_data_dir, fashion_test, load_checkpoint, load_npz, save_checkpoint, ArchSpec,
    BurnObjective, Checkpoint, Cpu, Dtype, Precision,
};

const LENET: &str = "lenet-pytorch";
/// Every layer kind of a sequential net but the smooth activations below (made by
/// tools/make_sequential_fixture.py).
const SEQUENTIAL: &str = "sequential-pytorch";
/// GELU (erf and tanh), SiLU, ELU and Softplus past its threshold (the same script).
const ACTIVATIONS: &str = "activations-pytorch";
/// Hardswish, PReLU (per channel, shared), Mish, Hardtanh and ReLU6, every piece of each
/// piecewise one taken (the same script).
const MORE_ACTIVATIONS: &str = "more-activations-pytorch";
/// torchvision's BasicBlock (with and without its downsampling shortcut) and Bottleneck in a
/// small ResNet with its stem, and a `Residual` on features (the same script).
const RESIDUAL: &str = "residual-pytorch";
/// A small ResNet written as classes with functional layers, exported by reading its forward
/// with torch.fx: sums in blocks (option B and option A shortcuts), in the net's own forward
/// and in a submodule (the same script).
const TRACED: &str = "traced-pytorch";
/// Grouped, depthwise and dilated convolutions in a net written as classes: MobileNetV2's
/// inverted residual block, a ResNeXt-style grouped 3×3, a dilated one with padding='same' (the
/// same script).
const GROUPED: &str = "grouped-pytorch";
/// Concatenations in a net written as classes: kuangliu's DenseNet layers, a torchvision-style
/// dense block, an Inception module, flat features joined; pooling in `ceil_mode`, an average
/// not counting its padding (the same script).
const CONCAT: &str = "concat-pytorch";
/// Products of paths in a net written as classes, with torchvision's squeeze-and-excitation:
/// MobileNetV3's and EfficientNet's blocks (stochastic depth, the identity in eval mode), a
/// scale read second, SENet's own block, a gated linear unit, a gate on features (the same
/// script).
const PRODUCT: &str = "product-pytorch";
/// Channel splits and shuffles in a net written as classes: torchvision's ShuffleNetV2 blocks
/// (`x.chunk(2, dim=1)`, its `channel_shuffle`), `nn.ChannelShuffle`, a gated linear unit and
/// a split by sizes on features (the same script).
const SHUFFLE: &str = "shuffle-pytorch";
const CHANNELS_LAST: &str = "channels-last-pytorch";
const FUNCTIONAL: &str = "functional-pytorch";
const VIT: &str = "vit-pytorch";
const TOKENS: &str = "tokens-pytorch";
const MIXER: &str = "mixer-pytorch";
const METAFORMER: &str = "metaformer-pytorch";
/// Layer norm (over maps, over their last axis, over features, without β, without γ and β),
/// group norm (on maps, on features) and batch norm (without β, without γ and β), γ, β and the
/// running statistics away from their initial values (the same script).
const NORMALIZATION: &str = "normalization-pytorch";
/// Uneven zero padding in a net written as a class: `nn.ZeroPad2d`, `nn.ConstantPad2d` of
/// zeros, padding='same' of an even and of a dilated kernel, timm's `Conv2dSame` (TensorFlow's
/// "SAME") at strides 2 and (2, 3), `F.pad` of rows, columns and channels (the same script).
const PADDING: &str = "padding-pytorch";
/// timm's weight-standardised convolutions in a net written as a class: `StdConv2d`,
/// `StdConv2dSame` (an uneven "SAME" padding), `ScaledStdConv2d` grouped with a bias and
/// `ScaledStdConv2dSame` dilated, their gains away from 1 (the same script).
const STD_CONV: &str = "std-conv-pytorch";
/// timm's `EcaModule` (ECA-Net's channel attention) with kernels 3 and 5 (the same script).
const ECA: &str = "eca-pytorch";
/// ConvNeXt V2's global response norm, timm's `GlobalResponseNorm`: on maps with a channel of
/// norm 0, in both forms of timm's `ConvNeXtBlock`, and on average-pooled maps (the same script).
const GRN: &str = "grn-pytorch";
/// timm's anti-aliased downsampling `BlurPool2d` with each of `F.pad`'s modes and its
/// `SpaceToDepth`, and a space-to-depth written as a view and a permute (the same script).
const BLUR: &str = "blur-pytorch";
/// Attention across paths: timm's `SplitAttn` (ResNeSt's, radix 2 in 2 groups, and radix 1)
/// and `SelectiveKernel` (SKNet's, three paths and two on runs of the channels) (the same
/// script).
const SPLIT_ATTENTION: &str = "split-attention-pytorch";
/// Products PyTorch broadcasts: a spatial gate `[1, H, W]` times maps, and a scale `[C, 1, 1]`
/// times a gate (the same script).
const GATE: &str = "gate-pytorch";
/// timm's `FocalModulation` (FocalNet's), its contexts carried in one value (the same script).
const FOCAL: &str = "focal-pytorch";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A float64 array `name` from a fixture's `expected.npz`, read independently of our loaders.
fn expected(fixture_name: &str, name: &str) -> (Vec<u64>, Vec<f64>) {
    let mut npz = npyz::npz::NpzArchive::open(fixture(fixture_name).join("expected.npz")).unwrap();
    let arr = npz.by_name(name).unwrap().unwrap();
    (arr.shape().to_vec(), arr.into_vec::<f64>().unwrap())
}

#[test]
fn checkpoint_theta_equals_pytorch_state_dict_exactly() {
    let ckpt = load_checkpoint(&fixture(LENET)).unwrap();
    assert_eq!(ckpt.meta.arch, ArchSpec::Lenet);
    assert_eq!((ckpt.meta.step, ckpt.meta.seed), (Some(0), Some(123)));
    assert!(
        ckpt.meta.extra.contains_key("note"),
        "unknown fields are kept"
    );
    assert_eq!(ckpt.dtype, Dtype::F32);
    let (shape, theta) = expected(LENET, "theta");
    assert_eq!(shape, [11_330]);
    // f32 → f64 widening is exact, so the comparison is exact.
    assert_eq!(ckpt.theta, theta);
}

#[test]
fn data_npz_is_the_first_16_test_images_of_our_bundled_data() {
    let ds = load_npz(&fixture(LENET).join("data.npz"), Some(10)).unwrap();
    assert_eq!(
        (ds.len(), ds.sample_shape(), ds.n_classes()),
        (16, &[1, 28, 28][..], Some(10))
    );
    assert_eq!(ds.x().len(), 16 * 784);
    // PyTorch divided the same bytes by 255 in f32: our Fashion-MNIST loader agrees bit for bit.
    let ours = fashion_test(&default_data_dir(), 16).unwrap();
    assert_eq!(ds.x(), ours.x());
    assert_eq!(ds.labels(), ours.labels());
}

fn rel_err(ours: &[f64], reference: &[f64]) -> f64 {
    let diff: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    diff / reference.iter().map(|b| b * b).sum::<f64>().sqrt()
}

/// `arch`'s parameter tensors as `name[shape]`, in θ's order.
fn tensors(arch: &ArchSpec) -> Vec<String> {
    let params = arch.params().into_iter();
    params.map(|(n, s)| format!("{n}{s:?}")).collect()
}

/// Fixture `name`'s checkpoint, its θ checked to be PyTorch's `state_dict` exactly and its
/// tensors to include `named` (`name[shape]`).
fn fixture_with_tensors(name: &str, named: &[&str]) -> Checkpoint {
    let ckpt = load_checkpoint(&fixture(name)).unwrap();
    assert_eq!(ckpt.theta, expected(name, "theta").1);
    let params = tensors(&ckpt.meta.arch);
    for tensor in named {
        assert!(params.contains(&tensor.to_string()), "{tensor}: {params:?}");
    }
    ckpt
}

/// Logits, loss, gradient and exact H·v of `arch` (f64) against PyTorch's float64 values in
/// fixture `name`, on its weights and data.
fn assert_matches_pytorch(name: &str, arch: ArchSpec, ckpt: &Checkpoint, classes: usize) {
    let data = load_npz(&fixture(name).join("data.npz"), Some(classes)).unwrap();
    let net = BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F64).unwrap();
    let obj = net.as_dyn();
    let theta = &ckpt.theta;
    let checks = [
        ("logits", net.logits(theta)),
        ("loss", vec![obj.loss(theta)]),
        ("grad", obj.grad(theta)),
        ("hvp", obj.hvp(theta, &expected(name, "v").1)),
    ];
    for (quantity, ours) in checks {
        let err = rel_err(&ours, &expected(name, quantity).1);
        // Measured at most 7.2e-15 (layer and group norm's divisions), 6e-16 elsewhere: an
        // f32-rounded constant (an ε, a 1/√π) would be ≳1e-13.
        assert!(
            err < 5e-14,
            "{name} {quantity}: rel. err {err:e} against PyTorch"
        );
    }
}

/// Our burn LeNet, with its fused convolution + pooling, against PyTorch.
#[test]
fn lenet_matches_pytorch_float64_reference() {
    let ckpt = load_checkpoint(&fixture(LENET)).unwrap();
    assert_matches_pytorch(LENET, ckpt.meta.arch.clone(), &ckpt, 10);
}

/// LeNet written as a sequential net (burn's conv2d, max-pooling by gather) on the same
/// weights: the general layers agree with PyTorch as the fused ones do.
#[test]
fn lenet_as_a_sequential_net_matches_pytorch() {
    let ckpt = load_checkpoint(&fixture(LENET)).unwrap();
    let arch = ArchSpec::Sequential(Sequential::lenet());
    assert_eq!(arch.params(), ArchSpec::Lenet.params());
    assert_matches_pytorch(LENET, arch, &ckpt, 10);
}

#[test]
fn sequential_checkpoint_has_pytorch_parameters_and_buffers() {
    let ckpt = load_checkpoint(&fixture(SEQUENTIAL)).unwrap();
    assert_eq!(ckpt.dtype, Dtype::F64);
    let (shape, theta) = expected(SEQUENTIAL, "theta");
    assert_eq!(shape, [760]);
    assert_eq!(ckpt.theta, theta, "θ is the parameters in state_dict order");
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        panic!("not sequential: {:?}", ckpt.meta.arch)
    };
    let names: Vec<String> = net.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "features.1.running_mean",
            "features.1.running_var",
            "features.1.num_batches_tracked",
            "classifier.1.running_mean",
            "classifier.1.running_var",
            "classifier.1.num_batches_tracked",
        ]
    );
    assert_eq!(net.buffer_values["classifier.1.num_batches_tracked"], [7.0]);
    let variances = &net.buffer_values["features.1.running_var"];
    assert!(variances.len() == 4 && variances.iter().all(|v| (0.5..2.0).contains(v)));
    let params: Vec<String> = ckpt
        .meta
        .arch
        .params()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        params.contains(&"features.7.0.weight".to_string()),
        "{params:?}"
    );
    assert!(
        params.contains(&"classifier.4.bias".to_string()),
        "{params:?}"
    );
}

/// Every layer kind (padding, stride, average and adaptive pooling, eval-mode batch norm, a
/// nested group) against PyTorch's float64 values.
#[test]
fn sequential_net_of_every_layer_kind_matches_pytorch() {
    let ckpt = load_checkpoint(&fixture(SEQUENTIAL)).unwrap();
    assert_matches_pytorch(SEQUENTIAL, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// GELU in both forms, SiLU, ELU and Softplus (half its inputs past its threshold) on maps and
/// features, against PyTorch's float64 values: each is composed of ops burn differentiates
/// exactly, so the gradient and H·v agree as the other layers' do.
#[test]
fn smooth_activations_match_pytorch() {
    let ckpt = load_checkpoint(&fixture(ACTIVATIONS)).unwrap();
    assert_eq!(ckpt.theta, expected(ACTIVATIONS, "theta").1);
    assert!(!ckpt.meta.arch.is_piecewise_linear());
    assert_matches_pytorch(ACTIVATIONS, ckpt.meta.arch.clone(), &ckpt, 4);
}

/// Hardswish, PReLU, Mish, Hardtanh and ReLU6 against PyTorch's float64 values, their
/// branches chosen as PyTorch chooses them; PReLU's slopes are parameters.
#[test]
fn more_activations_match_pytorch() {
    let ckpt = load_checkpoint(&fixture(MORE_ACTIVATIONS)).unwrap();
    assert_eq!(ckpt.theta, expected(MORE_ACTIVATIONS, "theta").1);
    let params = tensors(&ckpt.meta.arch);
    assert!(params.contains(&"2.weight[3]".to_string()), "{params:?}");
    assert!(params.contains(&"11.weight[1]".to_string()), "{params:?}");
    assert!(
        !ckpt.meta.arch.is_piecewise_linear(),
        "Mish and Hardswish are not"
    );
    assert_matches_pytorch(MORE_ACTIVATIONS, ckpt.meta.arch.clone(), &ckpt, 4);
}

/// Residual blocks against PyTorch's float64 values: torchvision's blocks read with their
/// `state_dict` names and batch norm's running statistics, both branches differentiated.
#[test]
fn residual_blocks_match_pytorch() {
    let ckpt = load_checkpoint(&fixture(RESIDUAL)).unwrap();
    assert_eq!(ckpt.theta, expected(RESIDUAL, "theta").1);
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        panic!("not sequential: {:?}", ckpt.meta.arch)
    };
    let params: Vec<String> = net.params().into_iter().map(|(n, _)| n).collect();
    for tensor in [
        "layer1.0.conv1.weight",
        "layer1.1.downsample.0.weight",
        "layer1.1.downsample.1.bias",
        "layer2.0.conv3.weight",
        "head.body.0.weight",
        "head.shortcut.weight",
        "fc.bias",
    ] {
        assert!(params.contains(&tensor.to_string()), "{tensor}: {params:?}");
    }
    let buffers = net.buffers();
    assert!(buffers
        .iter()
        .any(|(n, _)| n == "layer1.1.downsample.1.running_var"));
    assert!(net.buffer_values["layer2.0.bn3.running_mean"]
        .iter()
        .all(|m| (-0.5..0.5).contains(m)));
    assert!(!ckpt.meta.arch.is_piecewise_linear(), "the head has a tanh");
    assert_matches_pytorch(RESIDUAL, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// A net exported from its forward (torch.fx) against PyTorch: functional layers where the
/// modules were, CIFAR-style blocks in groups of their modules' names (one with option A's
/// subsampled, zero-padded shortcut), and unscoped sums whose layers keep their modules' names
/// (`fc2`, `head.proj`), main branch first as registered.
#[test]
fn a_traced_forward_matches_pytorch() {
    let ckpt = load_checkpoint(&fixture(TRACED)).unwrap();
    assert_eq!(ckpt.theta, expected(TRACED, "theta").1);
    let params = tensors(&ckpt.meta.arch);
    let mut next = 0;
    for tensor in [
        "conv1.weight[4, 3, 3, 3]",
        "layer1.0.conv1.weight[4, 4, 3, 3]",
        "layer1.1.shortcut.0.weight[8, 4, 1, 1]",
        "layer2.0.conv1.weight[16, 8, 3, 3]",
        "layer2.0.bn2.bias[16]",
        "fc1.weight[16, 16]",
        "fc2.bias[16]",
        "head.mlp.2.weight[16, 16]",
        "head.proj.weight[16, 16]",
        "fc3.bias[5]",
    ] {
        let at = params.iter().position(|p| p == tensor);
        assert!(at >= Some(next), "{tensor} in order: {params:?}");
        next = at.unwrap();
    }
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        panic!("not sequential: {:?}", ckpt.meta.arch)
    };
    assert!(net.buffer_values["layer1.1.shortcut.1.running_var"]
        .iter()
        .all(|v| (0.5..2.0).contains(v)));
    assert_matches_pytorch(TRACED, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Grouped and dilated convolutions against PyTorch: each group's filters read only their own
/// channels (a depthwise 3×3: one group per channel), taps lie `dilation` apart (by axis), and a
/// grouped weight is `[out, in/groups, kh, kw]` as in `state_dict`.
#[test]
fn grouped_and_dilated_convolutions_match_pytorch() {
    let ckpt = fixture_with_tensors(
        GROUPED,
        &[
            "block.conv.3.weight[16, 1, 3, 3]",
            "grouped.weight[12, 2, 3, 3]",
            "dilated.weight[12, 4, 3, 3]",
            "wide.weight[6, 6, 2, 3]",
        ],
    );
    assert_matches_pytorch(GROUPED, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Uneven zero padding against PyTorch: each pad2d puts its zeros on the sides PyTorch's
/// `F.pad` does, PyTorch's padding='same' and timm's "SAME" put an odd total's extra zero
/// after (below, on the right), and a convolution keeps its `state_dict` name with a pad2d
/// layer of the same name before it.
#[test]
fn uneven_zero_padding_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        PADDING,
        &[
            "stem.weight[4, 3, 4, 4]",
            "down.weight[6, 4, 3, 3]",
            "wide.weight[6, 2, 2, 3]",
            "odd.weight[8, 8, 3, 2]",
        ],
    );
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        unreachable!("an exported net is sequential")
    };
    let pads: Vec<(&str, [usize; 4])> = net
        .layers
        .iter()
        .filter_map(|layer| match layer.op {
            Op::Pad2d {
                left,
                right,
                top,
                bottom,
            } => Some((
                layer.name.as_deref().unwrap_or("-"),
                [left, right, top, bottom],
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        pads,
        [
            ("pad", [1, 0, 2, 1]),
            ("stem", [1, 2, 1, 2]),
            ("down", [0, 1, 0, 1]),
            ("wide", [2, 2, 0, 1]),
            ("-", [0, 1, 2, 0]),
            ("blank", [0, 1, 1, 0]),
            ("odd", [0, 1, 2, 2]),
        ]
    );
    assert!(ckpt.meta.arch.is_piecewise_linear());
    assert_matches_pytorch(PADDING, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Weight standardization against PyTorch: each filter less its mean over its (biased)
/// standard deviation with timm's ε, then times `ScaledStdConv2d`'s gain (a parameter after
/// the weight and bias) and scale γ/√fan-in; its derivatives through the filters' mean and
/// variance as PyTorch's double backward of `F.batch_norm`.
#[test]
fn weight_standardized_convolutions_match_pytorch() {
    let ckpt = fixture_with_tensors(
        STD_CONV,
        &[
            "stem.weight[6, 3, 3, 3]",
            "down.weight[8, 6, 3, 3]",
            "grouped.weight[8, 4, 3, 3]",
            "grouped.bias[8]",
            "grouped.gain[8, 1, 1, 1]",
            "same.gain[6, 1, 1, 1]",
        ],
    );
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        unreachable!("an exported net is sequential")
    };
    let standardized: Vec<(&str, f64, bool)> = net
        .layers
        .iter()
        .filter_map(|layer| match layer.op {
            Op::Conv2d {
                standardize: Some(how),
                ..
            } => Some((layer.name.as_deref()?, how.eps, how.gain)),
            _ => None,
        })
        .collect();
    assert_eq!(
        standardized,
        [
            ("stem", 1e-8, false),
            ("down", 1e-6, false),
            ("grouped", 1e-6, true),
            ("same", 1e-6, true)
        ]
    );
    assert!(!ckpt.meta.arch.is_piecewise_linear());
    assert_matches_pytorch(STD_CONV, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// ECA's channel attention against PyTorch: the channel means convolved along the channels by
/// a conv1d whose weight keeps `nn.Conv1d`'s `[1, 1, k]`, zeros at both ends, then a sigmoid
/// gating each channel of the maps.
#[test]
fn eca_channel_attention_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        ECA,
        &["eca.conv.weight[1, 1, 3]", "eca2.conv.weight[1, 1, 5]"],
    );
    assert_matches_pytorch(ECA, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Global response norm against PyTorch: each channel's norm over a sample's positions
/// relative to the channels' mean, on maps (a dead channel's norm 0 giving no NaN; pooled maps
/// in PyTorch's layout) and on a `channels_last` block's positions, between the linear layers
/// of a ConvNeXt V2 block.
#[test]
fn global_response_norm_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        GRN,
        &[
            "grn.weight[8]",
            "conv_mlp.mlp.grn.bias[16]",
            "linear_mlp.mlp.grn.weight[16]",
            "pooled.bias[8]",
        ],
    );
    assert_matches_pytorch(GRN, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Blur pooling and space-to-depth against PyTorch: the binomial filters of sides 3, 4 and 5
/// at strides 1 and 2 after padding by reflection, replication, circularly and with zeros, on
/// maps as small as 2 × 2 (each padded input read back from the side a mode reads it), and
/// each 4 × 4 (2 × 2) square of pixels moved into the channels in TResNet's order.
#[test]
fn blur_pooling_and_space_to_depth_match_pytorch() {
    let ckpt = fixture_with_tensors(
        BLUR,
        &["stem.weight[6, 48, 3, 3]", "conv.weight[8, 24, 1, 1]"],
    );
    assert_matches_pytorch(BLUR, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Split attention and selective kernels against PyTorch: paths summed after each channel's
/// weights, softmax-ed across them within each group, read in timm's radix-major order, and a
/// sigmoid gate for one path; selective kernels' paths concatenated (stacked), from all the
/// channels and from runs of them.
#[test]
fn attention_across_paths_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        SPLIT_ATTENTION,
        &[
            "splat.conv.weight[16, 2, 3, 3]",
            "splat.fc2.weight[16, 2, 1, 1]",
            "gate.fc2.bias[8]",
            "sk.paths.2.conv.weight[6, 8, 3, 3]",
            "sk.attn.fc_select.weight[18, 4, 1, 1]",
            "sk2.paths.1.conv.weight[6, 3, 3, 3]",
        ],
    );
    assert_matches_pytorch(SPLIT_ATTENTION, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Broadcast products against PyTorch: a one-channel gate repeated over the channels, and a
/// scale and a gate each repeated the other way.
#[test]
fn spatial_gates_match_pytorch() {
    let ckpt = fixture_with_tensors(GATE, &["gate.weight[1, 6, 3, 3]", "gate2.bias[1]"]);
    assert_matches_pytorch(GATE, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Focal modulation against PyTorch: a chain of depthwise convolutions whose every link is
/// gated by a one-channel gate, carried as runs of channels, summed by `sum_runs`, averaged,
/// then the query times the modulator, a channels-last layer norm after it.
#[test]
fn focal_modulation_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        FOCAL,
        &[
            "focal.f.weight[11, 4, 1, 1]",
            "focal.focal_layers.1.0.weight[4, 1, 5, 5]",
            "focal.norm.weight[4]",
            "focal2.h.bias[4]",
        ],
    );
    assert_matches_pytorch(FOCAL, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Concatenations against PyTorch: paths joined along the channels in forward's order (the
/// identity where a path is the block's input), a dense block read as nested concatenations,
/// the tensors named as in `state_dict`; and PyTorch's count of `ceil_mode` windows and its
/// divisors of their means.
#[test]
fn concatenations_match_pytorch() {
    let ckpt = fixture_with_tensors(
        CONCAT,
        &[
            "dense1.conv2.weight[2, 4, 3, 3]",
            "block.layer3.2.weight[2, 12, 3, 3]",
            "inception.b3.1.weight[2, 14, 1, 1]",
            "fc2.weight[5, 13]",
        ],
    );
    assert_matches_pytorch(CONCAT, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Products against PyTorch: a `[C, 1, 1]` scale times the maps it was computed from
/// (squeeze-and-excitation, in MobileNetV3's and EfficientNet's blocks, and as SENet's code
/// writes it, on features unflattened to `[C, 1, 1]`), equal shapes
/// multiplied (a gated linear unit, both paths with tensors), each path's tensors named as in
/// `state_dict`, read in module order. PyTorch's H·v runs through hardsigmoid written as
/// relu6(x + 3)/6: its own hardsigmoid has no double backward.
#[test]
fn products_match_pytorch() {
    let ckpt = fixture_with_tensors(
        PRODUCT,
        &[
            "mobile.block.6.fc1.weight[3, 6, 1, 1]",
            "mbconv.block.3.fc2.weight[4, 2, 1, 1]",
            "se.fc.weight[4, 4, 1, 1]",
            "classic.fc.2.weight[4, 2]",
            "b.weight[6, 16]",
        ],
    );
    assert!(!ckpt.meta.arch.is_piecewise_linear());
    assert_matches_pytorch(PRODUCT, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Splits and shuffles against PyTorch: runs of channels (`narrow`) where forward indexes a
/// `chunk` or `split`, ShuffleNet's channel shuffle read from its reshapes and transpose, and
/// `nn.ChannelShuffle`, the convolutions after them reading their tensors as `state_dict` holds
/// them.
#[test]
fn splits_and_shuffles_match_pytorch() {
    let ckpt = fixture_with_tensors(
        SHUFFLE,
        &[
            "stage.0.branch1.0.weight[8, 1, 3, 3]",
            "stage.1.branch2.0.weight[6, 6, 1, 1]",
            "fc1.weight[8, 12]",
        ],
    );
    assert_matches_pytorch(SHUFFLE, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// A small ConvNeXt against PyTorch: layer norms and linear layers on each position's channels
/// (`channels_last`, torchvision's and timm's `LayerNorm2d` and blocks), layer scales `[C, 1, 1]`
/// on maps and `[C]` among channels-last values, each tensor named and shaped as `state_dict`
/// holds it; θ lists CNBlock's `layer_scale` after its block's tensors, forward's order.
#[test]
fn channels_last_layers_match_pytorch() {
    let ckpt = fixture_with_tensors(
        CHANNELS_LAST,
        &[
            "stem.1.weight[4]",
            "stage.0.block.3.weight[16, 4]",
            "stage.0.layer_scale[4, 1, 1]",
            "stage.1.fc2.weight[4, 16]",
            "stage.1.gamma[4]",
            "down.0.bias[4]",
            "head.0.weight[6]",
        ],
    );
    let params = tensors(&ckpt.meta.arch);
    let at = |name: &str| params.iter().position(|p| p.starts_with(name)).unwrap();
    assert!(at("stage.0.block.5.bias") < at("stage.0.layer_scale"));
    assert_matches_pytorch(CHANNELS_LAST, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Modules that call functional forms with their own tensors, as timm's do, against PyTorch:
/// `BatchNormAct2d`'s F.batch_norm of its running statistics, γ and β (on maps and on
/// features), `Linear`'s F.linear, each read as the module's layer and named as `state_dict`
/// names its tensors; layer scales stored `[C]`, viewed `[1, C, 1, 1]` by forward.
#[test]
fn functional_forms_of_modules_match_pytorch() {
    let ckpt = fixture_with_tensors(
        FUNCTIONAL,
        &[
            "bn.weight[4]",
            "ls.gamma[4]",
            "gamma[4]",
            "beta[4]",
            "fc1.weight[6, 16]",
            "bn_fc.bias[6]",
            "fc.weight[5, 6]",
        ],
    );
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        unreachable!("an exported net is sequential")
    };
    assert_eq!(net.buffer("bn_fc.num_batches_tracked", 1), [7.0]);
    assert_matches_pytorch(FUNCTIONAL, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// torchvision's VisionTransformer against PyTorch: patches as tokens, its class token and
/// position embedding, `nn.MultiheadAttention` of 2 heads in each encoder block, the class
/// token's features; each tensor named and shaped as `state_dict` holds it, θ listing the class
/// token after the patch convolution (forward's order).
#[test]
fn a_vision_transformer_matches_pytorch() {
    let ckpt = fixture_with_tensors(
        VIT,
        &[
            "conv_proj.weight[8, 3, 4, 4]",
            "class_token[1, 1, 8]",
            "encoder.pos_embedding[1, 5, 8]",
            "encoder.layers.encoder_layer_0.self_attention.in_proj_weight[24, 8]",
            "encoder.layers.encoder_layer_1.self_attention.out_proj.bias[8]",
            "encoder.layers.encoder_layer_1.mlp.3.weight[8, 16]",
            "heads.head.weight[5, 8]",
        ],
    );
    let params = tensors(&ckpt.meta.arch);
    assert!(params[0].starts_with("conv_proj.weight") && params[2].starts_with("class_token"));
    assert_matches_pytorch(VIT, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// A transformer written as a class, timm's ways: tokens by `flatten(2).transpose(1, 2)`, a
/// position embedding stored `[T, E]`, attention of one head without biases under a layer
/// scale `[E]`, a layer norm over `[T, E]`, the tokens flattened for the head.
#[test]
fn tokens_written_as_a_class_match_pytorch() {
    let ckpt = fixture_with_tensors(
        TOKENS,
        &[
            "cls_token[1, 1, 8]",
            "pos_embed[5, 8]",
            "attn.in_proj_weight[24, 8]",
            "attn.out_proj.weight[8, 8]",
            "gamma[8]",
            "norm_all.weight[5, 8]",
            "head.weight[5, 40]",
        ],
    );
    assert!(!tensors(&ckpt.meta.arch)
        .iter()
        .any(|t| t.starts_with("attn.in_proj_bias")));
    assert_matches_pytorch(TOKENS, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// MLP-Mixer, ResMLP and gMLP blocks and a gated MLP written as classes, timm's ways: MLPs
/// across the tokens between two transposes, timm's `Affine` (`torch.addcmul(beta, alpha, x)`, a
/// scale and a shift of `[1, 1, E]`), `alpha * x + beta` of `[E]`, a shift of the patch
/// convolution's maps `[C, 1, 1]`, layer scales, the tokens' features split in halves and
/// multiplied (gMLP's spatial gating unit, `GluMlp`), RMS norms (`nn.RMSNorm` of maps and
/// tokens, ε PyTorch's default and 1e-6, `F.rms_norm` without γ, timm's `RmsNorm`), the mean of
/// the tokens; θ lists the shift after the convolution it follows (forward's order).
#[test]
fn mixers_match_pytorch() {
    let ckpt = fixture_with_tensors(
        MIXER,
        &[
            "patch.weight[8, 3, 4, 4]",
            "patch_bias[8, 1, 1]",
            "stem_norm.weight[2, 2]",
            "mlp_tokens.0.weight[6, 4]",
            "mlp_channels.2.weight[8, 16]",
            "affine.alpha[1, 1, 8]",
            "affine.beta[1, 1, 8]",
            "linear_tokens.weight[4, 4]",
            "beta[8]",
            "norm3.weight[8]",
            "gmlp.2.norm.weight[6]",
            "gmlp.2.proj.weight[4, 4]",
            "glu_out.weight[8, 5]",
            "norm.weight[8]",
            "head.weight[5, 8]",
        ],
    );
    assert!(tensors(&ckpt.meta.arch)[1].starts_with("patch_bias"));
    assert_matches_pytorch(MIXER, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// MetaFormer blocks written as classes, timm's ways: PoolFormer's difference `pool(x) - x` (a
/// residual block whose shortcut is negated) after a group norm without β, StarReLU's `s *
/// relu(x) ** 2 + b` (a square; a scale and a shift of one value each), a sum with 0 (no
/// layer), a difference and squares of paths.
#[test]
fn metaformers_match_pytorch() {
    let ckpt = fixture_with_tensors(
        METAFORMER,
        &[
            "norm1.weight[4]",
            "ls1[4, 1, 1]",
            "norm2.weight[4]",
            "act.scale[1]",
            "act.bias[1]",
            "b.weight[4, 4, 1, 1]",
        ],
    );
    assert!(!tensors(&ckpt.meta.arch)
        .iter()
        .any(|t| t.starts_with("norm1.bias") || t.starts_with("norm2.bias")));
    assert_matches_pytorch(METAFORMER, ckpt.meta.arch.clone(), &ckpt, 5);
}

/// Layer and group norm against PyTorch's float64 values: each sample's own mean and variance,
/// differentiated through to second order; γ and β named and laid out as in `state_dict`. Batch
/// norm without β (`bias=False`) and without γ and β (`affine=False`): their running statistics
/// read, no parameters in θ.
#[test]
fn layer_group_and_batch_norm_match_pytorch() {
    let ckpt = fixture_with_tensors(
        NORMALIZATION,
        &[
            "1.weight[4]",
            "3.weight[4, 5, 5]",
            "3.bias[4, 5, 5]",
            "5.weight[4]",
            "7.weight[3]",
            "13.bias[6]",
        ],
    );
    let params = tensors(&ckpt.meta.arch);
    assert!(!params.iter().any(|p| ["5.bias", "7.bias", "16.", "17."]
        .iter()
        .any(|absent| p.starts_with(absent))));
    let ArchSpec::Sequential(net) = &ckpt.meta.arch else {
        unreachable!("an exported net is sequential")
    };
    let buffers: Vec<String> = net.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "7.running_mean",
            "7.running_var",
            "7.num_batches_tracked",
            "17.running_mean",
            "17.running_var",
            "17.num_batches_tracked",
        ]
    );
    assert_eq!(net.buffer("17.num_batches_tracked", 1), [7.0]);
    assert!(!ckpt.meta.arch.is_piecewise_linear());
    assert_matches_pytorch(NORMALIZATION, ckpt.meta.arch.clone(), &ckpt, 4);
}

/// Saving writes the buffers back as PyTorch holds them (the step count as I64), so a
/// sequential checkpoint round-trips with its running statistics.
#[test]
fn sequential_checkpoint_round_trips_with_its_buffers() {
    let ckpt = load_checkpoint(&fixture(SEQUENTIAL)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(dir.path(), &ckpt.meta, &ckpt.theta, Dtype::F64).unwrap();
    let again = load_checkpoint(dir.path()).unwrap();
    assert_eq!(again, ckpt);
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let count = file.tensor("features.1.num_batches_tracked").unwrap();
    assert_eq!(count.dtype(), safetensors::Dtype::I64);
}

/// The sequential fixture in a temporary folder, its file without tensor `dropped`.
fn sequential_without(dropped: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["checkpoint.json", "model.safetensors"] {
        std::fs::copy(fixture(SEQUENTIAL).join(file), dir.path().join(file)).unwrap();
    }
    let bytes = std::fs::read(fixture(SEQUENTIAL).join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != dropped);
    let without = safetensors::serialize(kept, None).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), without).unwrap();
    dir
}

/// A checkpoint whose file lacks a buffer of its architecture is refused naming the tensor.
#[test]
fn a_missing_batch_norm_buffer_is_named() {
    let dir = sequential_without("features.1.running_var");
    let err = load_checkpoint(dir.path()).unwrap_err().to_string();
    assert!(
        err.ends_with("model.safetensors: missing tensor `features.1.running_var`"),
        "{err}"
    );
}

/// Only the step count may be absent (PyTorch before 0.4.1 kept none, and loads such a file
/// with the count at 0): everything else loads as from the full file.
#[test]
fn a_missing_step_count_loads_as_zero() {
    let full = load_checkpoint(&fixture(SEQUENTIAL)).unwrap();
    let dir = sequential_without("features.1.num_batches_tracked");
    let mut ckpt = load_checkpoint(dir.path()).unwrap();
    let ArchSpec::Sequential(net) = &mut ckpt.meta.arch else {
        panic!("the fixture is sequential")
    };
    assert_eq!(net.buffer_values["features.1.num_batches_tracked"], [0.0]);
    let ArchSpec::Sequential(original) = &full.meta.arch else {
        unreachable!()
    };
    let count = original.buffer_values["features.1.num_batches_tracked"].clone();
    net.buffer_values
        .insert("features.1.num_batches_tracked".into(), count);
    assert_eq!(ckpt, full);
}

/// A buffer that breaks batch norm is refused naming the tensor: a negative `running_var`
/// (√ of it is NaN, and a NaN behind a ReLU can leave the loss finite while every gradient is
/// NaN) and a step count stored as a float where PyTorch writes I64.
#[test]
fn a_negative_variance_or_a_float_count_is_refused() {
    let bytes = std::fs::read(fixture(SEQUENTIAL).join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let variance = file.tensor("features.1.running_var").unwrap();
    let mut negative = variance.data().to_vec();
    let width = variance.dtype().bitsize() / 8;
    let value = match variance.dtype() {
        safetensors::Dtype::F64 => (-0.3f64).to_le_bytes().to_vec(),
        _ => (-0.3f32).to_le_bytes().to_vec(),
    };
    negative[width..2 * width].copy_from_slice(&value);
    let float_count = 7.0f64.to_le_bytes().to_vec();
    for (tensor, dtype, data, message) in [
        (
            "features.1.running_var",
            variance.dtype(),
            negative,
            "tensor `features.1.running_var` has negative value -0.3",
        ),
        (
            "features.1.num_batches_tracked",
            safetensors::Dtype::F64,
            float_count,
            "tensor `features.1.num_batches_tracked` has dtype F64, expected I64",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let json = fixture(SEQUENTIAL).join("checkpoint.json");
        std::fs::copy(json, dir.path().join("checkpoint.json")).unwrap();
        let shape = file.tensor(tensor).unwrap().shape().to_vec();
        let changed = safetensors::tensor::TensorView::new(dtype, shape, &data).unwrap();
        let views = file.tensors().into_iter().map(|(name, view)| {
            let view = if name == tensor {
                changed.clone()
            } else {
                view
            };
            (name, view)
        });
        let written = safetensors::serialize(views, None).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), written).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
}

/// Batch norm with `eps` 0 over a channel whose `running_var` is 0 divides by zero: refused
/// naming the tensor and the index, where it used to load and give a NaN loss unexplained.
#[test]
fn a_zero_variance_under_a_zero_eps_is_refused() {
    let bytes = std::fs::read(fixture(SEQUENTIAL).join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let variance = file.tensor("features.1.running_var").unwrap();
    let mut zeroed = variance.data().to_vec();
    let width = variance.dtype().bitsize() / 8;
    zeroed[2 * width..3 * width].fill(0);
    let changed =
        safetensors::tensor::TensorView::new(variance.dtype(), variance.shape().to_vec(), &zeroed)
            .unwrap();
    let views = file
        .tensors()
        .into_iter()
        .map(|(name, view)| match &name[..] {
            "features.1.running_var" => (name, changed.clone()),
            _ => (name, view),
        });
    let json = std::fs::read_to_string(fixture(SEQUENTIAL).join("checkpoint.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    // With the fixture's eps of 1e-5 a zero variance is fine ...
    std::fs::write(dir.path().join("checkpoint.json"), &json).unwrap();
    load_checkpoint(dir.path()).unwrap();
    // ... with eps 0 it is not.
    let no_eps = json.replacen(r#""eps": 1e-05"#, r#""eps": 0.0"#, 1);
    assert_ne!(no_eps, json);
    std::fs::write(dir.path().join("checkpoint.json"), no_eps).unwrap();
    let err = load_checkpoint(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("tensor `features.1.running_var` is 0 at flat index 2 and its batch-norm layer's `eps` is 0"),
        "{err}"
    );
}
