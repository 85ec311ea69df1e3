//! Architectures: their JSON spec, its validation, the layout of θ, and initialisation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sequential::Sequential;

/// Hidden-layer nonlinearity of an [`ArchSpec::Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
}

/// A network architecture, as JSON tagged by `"name"`, e.g. `{"name":"lenet"}` or
/// `{"name":"mlp","input":784,"hidden":[50],"classes":10,"activation":"relu"}`.
///
/// Deserializing also [validates](ArchSpec::validate) the spec, so a zero width, a kernel
/// larger than its image or a network too large to hold is refused with the reason.
///
/// ```
/// use curvscope_model::ArchSpec;
/// let arch: ArchSpec = serde_json::from_str(r#"{"name":"fixed-output","input":2,"hidden":20}"#)?;
/// assert_eq!(arch, ArchSpec::FixedOutput { input: 2, hidden: 20 });
/// assert_eq!(arch.dim(), 20 * 2 + 20);
/// assert_eq!(arch.to_string(), "fixed-output 2→20 (output weights fixed at ±1)");
/// let bad = serde_json::from_str::<ArchSpec>(r#"{"name":"fixed-output","input":2,"hidden":0}"#);
/// assert!(bad.unwrap_err().to_string().contains("`hidden` is 0"));
/// # Ok::<(), serde_json::Error>(())
/// ```
// `remote = "Self"` makes the derives inherent functions, wrapped by the trait impls below
// that validate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArchSpec {
    /// LeNet for 1×28×28 inputs: conv1 1→10 5×5, max-pool 2, conv2 10→10 5×5, max-pool 2,
    /// fc1 160→50, fc2 50→10, ReLU between (D = 11,330).
    Lenet,
    /// A LeNet-like CNN on `channels[0]`×`side`×`side` inputs: for each further entry of
    /// `channels`, conv (`kernel`×`kernel`, valid) → ReLU → 2×2 max-pool; then flatten
    /// (channel-major) and an MLP head with ReLU. Layers are named `conv1…`, `fc1…`.
    Cnn {
        /// Input height = width.
        side: usize,
        /// Input channels, then the output channels of each conv layer.
        channels: Vec<usize>,
        /// Kernel size.
        kernel: usize,
        /// Hidden widths of the head.
        hidden: Vec<usize>,
        /// Number of outputs.
        classes: usize,
    },
    /// Fully connected network `input → hidden… → classes`, layers `fc1, fc2, …`.
    Mlp {
        /// Input size.
        input: usize,
        /// Hidden layer widths (may be empty: multinomial logistic regression).
        hidden: Vec<usize>,
        /// Number of outputs.
        classes: usize,
        /// Hidden nonlinearity.
        activation: Activation,
    },
    /// One hidden ReLU layer whose outputs are summed with fixed weights ±1 (not parameters).
    FixedOutput {
        /// Input size.
        input: usize,
        /// Hidden width.
        hidden: usize,
    },
    /// The paper's 2-D toy model: parameters `w` ∈ R².
    #[serde(rename = "toy2d")]
    Toy2d,
    /// `torch.nn` layers in order, with PyTorch's names ([`Sequential`]), e.g.
    /// `{"name":"sequential","input":[1,28,28],"layers":[...]}`.
    Sequential(Sequential),
}

impl Serialize for ArchSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ArchSpec::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for ArchSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = ArchSpec::deserialize(deserializer)?;
        spec.validate().map_err(serde::de::Error::custom)?;
        Ok(spec)
    }
}

/// The most parameters an architecture may have: θ alone then takes 16 GiB as f64, and the
/// curvature estimates hold several vectors of that size.
pub const MAX_DIM: usize = 1 << 31;

/// Why an architecture was refused: the spec and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("architecture {spec}: {reason}")]
pub struct ArchError {
    /// The spec, as [`ArchSpec`]'s `Display` writes it.
    pub spec: String,
    /// What is wrong.
    pub reason: String,
}

/// A human summary: the name and the layer widths, e.g. `mlp 64→10→10 (relu)`.
impl std::fmt::Display for ArchSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chain = |widths: &[usize]| {
            widths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("→")
        };
        match self {
            ArchSpec::Lenet => f.write_str("lenet"),
            ArchSpec::Cnn {
                side,
                channels,
                kernel,
                hidden,
                classes,
            } => {
                let head: Vec<usize> = std::iter::once(self.flat_features())
                    .chain(hidden.iter().copied())
                    .chain([*classes])
                    .collect();
                write!(
                    f,
                    "cnn {}×{side}×{side}, conv {} ({kernel}×{kernel}), fc {}",
                    channels.first().copied().unwrap_or(0),
                    chain(channels),
                    chain(&head)
                )
            }
            ArchSpec::Mlp {
                input,
                hidden,
                classes,
                activation,
            } => {
                let widths: Vec<usize> = std::iter::once(*input)
                    .chain(hidden.iter().copied())
                    .chain([*classes])
                    .collect();
                let activation = match activation {
                    Activation::Relu => "relu",
                    Activation::Tanh => "tanh",
                };
                write!(f, "mlp {} ({activation})", chain(&widths))
            }
            ArchSpec::FixedOutput { input, hidden } => {
                write!(
                    f,
                    "fixed-output {input}→{hidden} (output weights fixed at ±1)"
                )
            }
            ArchSpec::Toy2d => f.write_str("toy2d"),
            ArchSpec::Sequential(net) => net.fmt(f),
        }
    }
}

impl ArchSpec {
    /// Checks that the spec describes a network that can be built: every size at least 1,
    /// a CNN with at least one conv layer whose inputs are large enough for its kernel and
    /// 2×2 pooling, and D from 1 to [`MAX_DIM`]. JSON specs are checked when deserialized.
    ///
    /// ```
    /// use curvscope_model::{Activation, ArchSpec};
    /// let huge = ArchSpec::Mlp { input: 784, hidden: vec![100_000_000], classes: 10,
    ///     activation: Activation::Relu };
    /// let err = huge.validate().unwrap_err();
    /// assert!(err.to_string().contains("636.0 GB"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), ArchError> {
        let refuse = |reason: String| {
            Err(ArchError {
                spec: self.to_string(),
                reason,
            })
        };
        let mut sizes: Vec<(String, usize)> = Vec::new();
        match self {
            ArchSpec::Lenet | ArchSpec::Toy2d => {}
            ArchSpec::Cnn {
                side,
                channels,
                kernel,
                hidden,
                classes,
            } => {
                if channels.len() < 2 {
                    return refuse(
                        "`channels` lists the input channels, then each conv layer's outputs: \
                         it needs at least two entries"
                            .into(),
                    );
                }
                sizes.extend([("side".into(), *side), ("kernel".into(), *kernel)]);
                sizes.extend(
                    channels
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| (format!("channels[{i}]"), c)),
                );
                sizes.extend(
                    hidden
                        .iter()
                        .enumerate()
                        .map(|(i, &h)| (format!("hidden[{i}]"), h)),
                );
                sizes.push(("classes".into(), *classes));
            }
            ArchSpec::Mlp {
                input,
                hidden,
                classes,
                ..
            } => {
                sizes.push(("input".into(), *input));
                sizes.extend(
                    hidden
                        .iter()
                        .enumerate()
                        .map(|(i, &h)| (format!("hidden[{i}]"), h)),
                );
                sizes.push(("classes".into(), *classes));
            }
            ArchSpec::FixedOutput { input, hidden } => {
                sizes.extend([("input".into(), *input), ("hidden".into(), *hidden)]);
            }
            ArchSpec::Sequential(net) => {
                net.resolve().map_err(|reason| ArchError {
                    spec: self.to_string(),
                    reason,
                })?;
            }
        }
        if let Some((field, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return refuse(format!("`{field}` is 0; every size must be at least 1"));
        }
        if let ArchSpec::Cnn {
            side,
            channels,
            kernel,
            ..
        } = self
        {
            let mut s = *side;
            for layer in 1..channels.len() {
                // Saturating and subtracting what fits: a `kernel` or `side` of usize::MAX
                // from a JSON file is refused (or reaches the D check), never wrapped.
                let needed = kernel.saturating_add(1);
                if s < needed {
                    return refuse(format!(
                        "conv{layer} gets {s}×{s} maps, too small for a {kernel}×{kernel} \
                         kernel followed by 2×2 pooling (needs at least {needed})"
                    ));
                }
                s = (s - (kernel - 1)) / 2;
            }
        }
        let dim = self.dim();
        if dim == 0 {
            return refuse(
                "it has no parameters (D = 0): there is no gradient or Hessian to measure".into(),
            );
        }
        if dim > MAX_DIM {
            return refuse(format!(
                "D = {} parameters would need {:.1} GB for θ alone (f64); at most {MAX_DIM} \
                 parameters are supported",
                if dim == usize::MAX {
                    "more than 2^64".to_string()
                } else {
                    dim.to_string()
                },
                dim as f64 * 8.0 / 1e9
            ));
        }
        Ok(())
    }

    /// Parameters as (PyTorch name, shape), in `state_dict` order: the layout of θ.
    ///
    /// ```
    /// use curvscope_model::ArchSpec;
    /// let names: Vec<String> = ArchSpec::Lenet.params().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names[..2], ["conv1.weight", "conv1.bias"]);
    /// ```
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            ArchSpec::Lenet => self.as_cnn().params(),
            ArchSpec::Cnn {
                channels,
                kernel,
                hidden,
                classes,
                ..
            } => {
                let convs = channels.windows(2).enumerate().flat_map(|(i, c)| {
                    [
                        (
                            format!("conv{}.weight", i + 1),
                            vec![c[1], c[0], *kernel, *kernel],
                        ),
                        (format!("conv{}.bias", i + 1), vec![c[1]]),
                    ]
                });
                let widths: Vec<usize> = std::iter::once(self.flat_features())
                    .chain(hidden.iter().copied())
                    .chain([*classes])
                    .collect();
                convs.chain(linear_layers(&widths)).collect()
            }
            ArchSpec::Mlp {
                input,
                hidden,
                classes,
                ..
            } => {
                let widths: Vec<usize> = std::iter::once(*input)
                    .chain(hidden.iter().copied())
                    .chain([*classes])
                    .collect();
                linear_layers(&widths)
            }
            ArchSpec::FixedOutput { input, hidden } => linear("hidden", *input, *hidden).to_vec(),
            ArchSpec::Toy2d => vec![("w".into(), vec![2])],
            ArchSpec::Sequential(net) => net.params(),
        }
    }

    /// Whether `self` and `other` are the same spec, whatever buffer values (batch norm's running
    /// statistics, loaded from a checkpoint) either holds: equal as JSON.
    ///
    /// ```
    /// use curvscope_model::ArchSpec;
    /// let mut loaded = ArchSpec::named("vgg11").unwrap();
    /// if let ArchSpec::Sequential(net) = &mut loaded {
    ///     net.buffer_values.insert("x.running_mean".into(), vec![0.5]);
    /// }
    /// assert!(loaded.same_spec(&ArchSpec::named("vgg11").unwrap()));
    /// assert!(!loaded.same_spec(&ArchSpec::Lenet));
    /// ```
    pub fn same_spec(&self, other: &ArchSpec) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }

    /// `self` and `other` as an error message names two specs that differ: their summaries
    /// (`mlp 64→8→10 (tanh)`), or their JSON where the summaries are alike (two sequential nets
    /// with other kernels, say).
    ///
    /// ```
    /// use curvscope_model::{Activation, ArchSpec};
    /// let mlp = |h| ArchSpec::Mlp { input: 4, hidden: vec![h], classes: 2,
    ///     activation: Activation::Relu };
    /// assert_eq!(mlp(3).contrast(&mlp(5)), ("mlp 4→3→2 (relu)".into(), "mlp 4→5→2 (relu)".into()));
    /// let a: ArchSpec = serde_json::from_str(
    ///     r#"{"name":"sequential","input":[4],"layers":[{"type":"linear","out":2}]}"#).unwrap();
    /// let b: ArchSpec = serde_json::from_str(
    ///     r#"{"name":"sequential","input":[4],"layers":[{"type":"linear","out":2,"bias":false}]}"#).unwrap();
    /// let (x, y) = a.contrast(&b);
    /// assert!(x.contains(r#""bias":true"#) && y.contains(r#""bias":false"#), "{x} {y}");
    /// ```
    pub fn contrast(&self, other: &ArchSpec) -> (String, String) {
        let (a, b) = (self.to_string(), other.to_string());
        if a != b {
            return (a, b);
        }
        let json = |spec: &ArchSpec| serde_json::to_string(spec).unwrap_or(a.clone());
        (json(self), json(other))
    }

    /// Constant tensors stored beside the parameters but not part of θ, as (PyTorch name,
    /// shape): batch norm's running statistics in a sequential net; none elsewhere.
    pub fn buffers(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            ArchSpec::Sequential(net) => net.buffers(),
            _ => Vec::new(),
        }
    }

    /// The architecture called `name` on the command line: a built-in (`lenet`, `toy2d`) or a
    /// preset sequential net (`vgg11`).
    ///
    /// ```
    /// use curvscope_model::ArchSpec;
    /// assert_eq!(ArchSpec::named("lenet"), Some(ArchSpec::Lenet));
    /// assert_eq!(ArchSpec::named("vgg11").map(|a| a.dim()), Some(9_225_610));
    /// assert_eq!(ArchSpec::named("resnet"), None);
    /// ```
    pub fn named(name: &str) -> Option<ArchSpec> {
        match name {
            "lenet" => Some(ArchSpec::Lenet),
            "toy2d" => Some(ArchSpec::Toy2d),
            _ => Sequential::preset(name).map(ArchSpec::Sequential),
        }
    }

    /// LeNet as the CNN it is: 1×28×28, conv 1→10→10 (5×5), fc 160→50→10.
    pub fn as_cnn(&self) -> ArchSpec {
        match self {
            ArchSpec::Lenet => ArchSpec::Cnn {
                side: 28,
                channels: vec![1, 10, 10],
                kernel: 5,
                hidden: vec![50],
                classes: 10,
            },
            other => other.clone(),
        }
    }

    /// Length of the flattened feature maps after the conv stack (0 for non-CNNs).
    pub fn flat_features(&self) -> usize {
        match self.as_cnn() {
            ArchSpec::Cnn {
                side,
                channels,
                kernel,
                ..
            } => {
                let side = (1..channels.len())
                    .fold(side, |s, _| s.saturating_add(1).saturating_sub(kernel) / 2);
                product(&[side, side, channels.last().copied().unwrap_or(0)])
            }
            _ => 0,
        }
    }

    /// Number of input values per sample.
    pub fn input_len(&self) -> usize {
        product(&self.input_shape())
    }

    /// The shape of one input sample: `[C, H, W]` for the convolutional nets (and a
    /// `sequential` net's `input`), `[F]` for the flat ones.
    pub fn input_shape(&self) -> Vec<usize> {
        match self.as_cnn() {
            ArchSpec::Cnn { side, channels, .. } => {
                vec![channels.first().copied().unwrap_or(0), side, side]
            }
            ArchSpec::Mlp { input, .. } | ArchSpec::FixedOutput { input, .. } => vec![input],
            ArchSpec::Sequential(net) => net.input.clone(),
            _ => vec![2],
        }
    }

    /// What the loss needs as targets: `Some(classes)` for the softmax classifiers (lenet, cnn,
    /// mlp), `None` otherwise (fixed-output regresses on a real target, toy2d has none).
    pub fn classes(&self) -> Option<usize> {
        match self.as_cnn() {
            ArchSpec::Cnn { classes, .. } | ArchSpec::Mlp { classes, .. } => Some(classes),
            ArchSpec::Sequential(net) => Some(net.classes()),
            _ => None,
        }
    }

    /// Number of parameters D (saturating at `usize::MAX` for a spec too large to exist,
    /// which [`ArchSpec::validate`] refuses).
    pub fn dim(&self) -> usize {
        self.params()
            .iter()
            .fold(0, |d, (_, shape)| d.saturating_add(product(shape)))
    }
}

/// The product of `sizes`, saturating at `usize::MAX` instead of wrapping around to a
/// plausible number.
pub(crate) fn product(sizes: &[usize]) -> usize {
    sizes.iter().fold(1, |p, &s| p.saturating_mul(s))
}

/// A linear layer's weight `[out, in]` (PyTorch layout) and bias.
fn linear(name: &str, fan_in: usize, fan_out: usize) -> [(String, Vec<usize>); 2] {
    [
        (format!("{name}.weight"), vec![fan_out, fan_in]),
        (format!("{name}.bias"), vec![fan_out]),
    ]
}

/// `fc1, fc2, …` between consecutive widths.
fn linear_layers(widths: &[usize]) -> Vec<(String, Vec<usize>)> {
    widths
        .windows(2)
        .enumerate()
        .flat_map(|(i, w)| linear(&format!("fc{}", i + 1), w[0], w[1]))
        .collect()
}

/// How to draw the initial θ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's default for `Linear`/`Conv2d`: weights and biases U(−1/√fan_in, 1/√fan_in)
    /// (kaiming-uniform with a = √5); batch, layer and group norm's γ = 1, β = 0; PReLU's slopes
    /// its `init`. Written `pytorch`, as the CLI spells it (runs before that wrote `py-torch`,
    /// which still reads).
    #[serde(rename = "pytorch", alias = "py-torch")]
    PyTorch,
    /// Every parameter N(0, std²); the paper uses std = 0.02.
    Normal {
        /// The standard deviation.
        std: f64,
    },
}

impl ArchSpec {
    /// A seeded initial θ in `state_dict` order, drawn on the host so it is the same on
    /// every backend and precision.
    pub fn init(&self, init: Init, seed: u64) -> Vec<f64> {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut theta = Vec::with_capacity(self.dim());
        let mut fan_in = 1usize;
        let constants = match self {
            ArchSpec::Sequential(net) => net.initial_constants(),
            _ => Default::default(),
        };
        for (name, shape) in self.params() {
            let len: usize = shape.iter().product();
            if let (Init::PyTorch, Some(&value)) = (init, constants.get(&name)) {
                theta.extend(std::iter::repeat_n(value, len));
                continue;
            }
            if shape.len() >= 2 {
                fan_in = shape[1..].iter().product();
            } else if shape.len() == 1 && fan_in == 1 {
                fan_in = len; // a lone vector (the toy's w)
            }
            match init {
                Init::PyTorch => {
                    let bound = 1.0 / (fan_in as f64).sqrt();
                    theta.extend((0..len).map(|_| rng.random_range(-bound..bound)));
                }
                Init::Normal { std } => {
                    let normal = Normal::new(0.0, std).expect("finite std");
                    theta.extend((0..len).map(|_| normal.sample(&mut rng)));
                }
            }
        }
        theta
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// PyTorch's initialisation is written as the CLI spells it; older run.json files read.
    #[test]
    fn pytorch_init_is_written_pytorch_and_reads_the_old_spelling() {
        let written = serde_json::to_string(&Init::PyTorch).unwrap();
        assert_eq!(written, r#"{"kind":"pytorch"}"#);
        let old: Init = serde_json::from_str(r#"{"kind":"py-torch"}"#).unwrap();
        assert_eq!(old, Init::PyTorch);
    }

    /// A small MLP 3→4→2→5 (tanh), D = 41: the test fixture of this crate's unit tests.
    pub(crate) fn mlp() -> ArchSpec {
        ArchSpec::Mlp {
            input: 3,
            hidden: vec![4, 2],
            classes: 5,
            activation: Activation::Tanh,
        }
    }

    #[test]
    fn lenet_has_pytorch_names_shapes_and_d_11330() {
        let params = ArchSpec::Lenet.params();
        let expected: Vec<(&str, Vec<usize>)> = vec![
            ("conv1.weight", vec![10, 1, 5, 5]),
            ("conv1.bias", vec![10]),
            ("conv2.weight", vec![10, 10, 5, 5]),
            ("conv2.bias", vec![10]),
            ("fc1.weight", vec![50, 160]),
            ("fc1.bias", vec![50]),
            ("fc2.weight", vec![10, 50]),
            ("fc2.bias", vec![10]),
        ];
        let params: Vec<(&str, Vec<usize>)> = params
            .iter()
            .map(|(n, s)| (n.as_str(), s.clone()))
            .collect();
        assert_eq!(params, expected);
        assert_eq!(ArchSpec::Lenet.dim(), 11_330);
    }

    #[test]
    fn mlp_fixed_output_and_toy2d_layouts() {
        let names = |a: &ArchSpec| {
            a.params()
                .into_iter()
                .map(|(n, s)| format!("{n}{s:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&mlp()),
            [
                "fc1.weight[4, 3]",
                "fc1.bias[4]",
                "fc2.weight[2, 4]",
                "fc2.bias[2]",
                "fc3.weight[5, 2]",
                "fc3.bias[5]"
            ]
        );
        assert_eq!(mlp().dim(), 12 + 4 + 8 + 2 + 10 + 5);
        let logistic = ArchSpec::Mlp {
            input: 784,
            hidden: vec![],
            classes: 10,
            activation: Activation::Relu,
        };
        assert_eq!(names(&logistic), ["fc1.weight[10, 784]", "fc1.bias[10]"]);
        let fixed = ArchSpec::FixedOutput {
            input: 2,
            hidden: 20,
        };
        assert_eq!(names(&fixed), ["hidden.weight[20, 2]", "hidden.bias[20]"]);
        assert_eq!(names(&ArchSpec::Toy2d), ["w[2]"]);
    }

    #[test]
    fn arch_json_matches_the_documented_format() {
        let cases = [
            (r#"{"name":"lenet"}"#, ArchSpec::Lenet),
            (
                r#"{"name":"mlp","input":3,"hidden":[4,2],"classes":5,"activation":"tanh"}"#,
                mlp(),
            ),
            (
                r#"{"name":"fixed-output","input":2,"hidden":20}"#,
                ArchSpec::FixedOutput {
                    input: 2,
                    hidden: 20,
                },
            ),
            (r#"{"name":"toy2d"}"#, ArchSpec::Toy2d),
        ];
        for (json, arch) in cases {
            assert_eq!(serde_json::from_str::<ArchSpec>(json).unwrap(), arch);
            assert_eq!(serde_json::to_string(&arch).unwrap(), json);
        }
        for bad in [
            r#"{"name":"resnet"}"#,
            r#"{"name":"mlp","input":3,"hidden":[4],"classes":5,"activation":"gelu"}"#,
            r#"{"name":"mlp","input":3,"hiden":[4],"classes":5,"activation":"relu"}"#,
            r#"{"name":"fixed-output","input":2,"hidden":20,"output":1}"#,
        ] {
            assert!(serde_json::from_str::<ArchSpec>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn degenerate_specs_are_refused_naming_the_field() {
        let mlp = |fields: &str| format!(r#"{{"name":"mlp",{fields},"activation":"relu"}}"#);
        let cnn = |fields: &str| format!(r#"{{"name":"cnn",{fields},"hidden":[],"classes":2}}"#);
        let cases = [
            (
                mlp(r#""input":3,"hidden":[0],"classes":2"#),
                "`hidden[0]` is 0",
            ),
            (
                mlp(r#""input":3,"hidden":[4,0],"classes":2"#),
                "`hidden[1]` is 0",
            ),
            (
                mlp(r#""input":3,"hidden":[],"classes":0"#),
                "`classes` is 0",
            ),
            (mlp(r#""input":0,"hidden":[],"classes":2"#), "`input` is 0"),
            (
                r#"{"name":"fixed-output","input":2,"hidden":0}"#.into(),
                "`hidden` is 0",
            ),
            (
                cnn(r#""side":8,"channels":[1,4],"kernel":8"#),
                "conv1 gets 8×8 maps, too small for a 8×8 kernel",
            ),
            (
                cnn(r#""side":12,"channels":[1,2,2],"kernel":5"#),
                "conv2 gets 4×4 maps",
            ),
            (cnn(r#""side":8,"channels":[1],"kernel":3"#), "two entries"),
            (
                cnn(r#""side":8,"channels":[1,0],"kernel":3"#),
                "`channels[1]` is 0",
            ),
            (
                cnn(r#""side":8,"channels":[1,2],"kernel":0"#),
                "`kernel` is 0",
            ),
            (
                cnn(r#""side":0,"channels":[1,2],"kernel":1"#),
                "`side` is 0",
            ),
            (
                mlp(r#""input":784,"hidden":[100000000],"classes":10"#),
                "D = 79500000010 parameters would need 636.0 GB",
            ),
            (
                mlp(r#""input":4000000000000,"hidden":[1],"classes":1"#),
                "D = 4000000000003 parameters",
            ),
            (
                mlp(r#""input":4611686018427387904,"hidden":[8],"classes":1"#),
                "D = more than 2^64 parameters",
            ),
            // usize::MAX sizes, which once wrapped to a small, plausible D.
            (
                cnn(r#""side":18446744073709551615,"channels":[1,1],"kernel":3"#),
                "D = more than 2^64 parameters",
            ),
            (
                cnn(r#""side":28,"channels":[1,1],"kernel":18446744073709551615"#),
                "conv1 gets 28×28 maps, too small",
            ),
        ];
        for (json, reason) in cases {
            let err = serde_json::from_str::<ArchSpec>(&json).unwrap_err();
            assert!(err.to_string().contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn the_built_in_specs_are_valid_and_sizes_saturate() {
        for arch in [
            ArchSpec::Lenet,
            ArchSpec::Toy2d,
            mlp(),
            ArchSpec::Lenet.as_cnn(),
        ] {
            assert_eq!(arch.validate(), Ok(()), "{arch}");
        }
        let huge = ArchSpec::Mlp {
            input: usize::MAX,
            hidden: vec![2],
            classes: 1,
            activation: Activation::Relu,
        };
        assert_eq!(huge.dim(), usize::MAX);
        let big_kernel = ArchSpec::Cnn {
            side: 4,
            channels: vec![1, 2],
            kernel: 9,
            hidden: vec![],
            classes: 2,
        };
        assert_eq!(big_kernel.flat_features(), 0);
    }

    #[test]
    fn display_is_a_human_summary() {
        assert_eq!(ArchSpec::Lenet.to_string(), "lenet");
        assert_eq!(
            ArchSpec::Lenet.as_cnn().to_string(),
            "cnn 1×28×28, conv 1→10→10 (5×5), fc 160→50→10"
        );
        assert_eq!(mlp().to_string(), "mlp 3→4→2→5 (tanh)");
        assert_eq!(ArchSpec::Toy2d.to_string(), "toy2d");
    }
}
