//! Architectures and their parameter layout (temporary; replaced by checkpoint.rs's ArchSpec).
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Tanh,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum ArchSpec {
    Lenet,
    /// Conv(k×k, valid) → ReLU → 2×2 max-pool per entry of `channels[1..]`, then an MLP head.
    Cnn { side: usize, channels: Vec<usize>, kernel: usize, hidden: Vec<usize>, classes: usize },
    Mlp { input: usize, hidden: Vec<usize>, classes: usize, activation: Activation },
    FixedOutput { input: usize, hidden: usize },
    Toy2d,
}

impl ArchSpec {
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>)> {
        let p = |n: &str, s: &[usize]| (n.to_string(), s.to_vec());
        match self {
            ArchSpec::Lenet => self.as_cnn().param_specs(),
            ArchSpec::Cnn { channels, kernel, hidden, classes, .. } => {
                let convs = channels.windows(2).enumerate().flat_map(|(i, c)| {
                    [p(&format!("conv{}.weight", i + 1), &[c[1], c[0], *kernel, *kernel]), p(&format!("conv{}.bias", i + 1), &[c[1]])]
                });
                let widths: Vec<usize> = std::iter::once(self.flat_features()).chain(hidden.iter().copied()).chain([*classes]).collect();
                convs.chain(linear_specs(&widths)).collect()
            }
            ArchSpec::Mlp { input, hidden, classes, .. } => {
                let widths: Vec<usize> = std::iter::once(*input).chain(hidden.iter().copied()).chain([*classes]).collect();
                linear_specs(&widths)
            }
            ArchSpec::FixedOutput { input, hidden } => vec![p("hidden.weight", &[*hidden, *input]), p("hidden.bias", &[*hidden])],
            ArchSpec::Toy2d => vec![p("w", &[2])],
        }
    }
    /// LeNet as the CNN it is: 28×28, conv 1→10→10 (5×5), fc 160→50→10.
    pub fn as_cnn(&self) -> ArchSpec {
        match self {
            ArchSpec::Lenet => ArchSpec::Cnn { side: 28, channels: vec![1, 10, 10], kernel: 5, hidden: vec![50], classes: 10 },
            other => other.clone(),
        }
    }

    /// Side of the feature maps after the conv stack, flattened (CNNs).
    pub fn flat_features(&self) -> usize {
        match self.as_cnn() {
            ArchSpec::Cnn { side, channels, kernel, .. } => {
                let side = (1..channels.len()).fold(side, |s, _| (s + 1 - kernel) / 2);
                side * side * channels[channels.len() - 1]
            }
            _ => 0,
        }
    }

    pub fn dim(&self) -> usize {
        self.param_specs().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }
}

fn linear_specs(widths: &[usize]) -> Vec<(String, Vec<usize>)> {
    widths
        .windows(2)
        .enumerate()
        .flat_map(|(i, w)| [(format!("fc{}.weight", i + 1), vec![w[1], w[0]]), (format!("fc{}.bias", i + 1), vec![w[1]])])
        .collect()
}

/// How to draw the initial θ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's default for `Linear`/`Conv2d`: weights and biases U(−1/√fan_in, 1/√fan_in)
    /// (kaiming-uniform with a = √5).
    PyTorch,
    /// Every parameter N(0, std²); the paper uses std = 0.02.
    Normal { std: f64 },
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
        for (_, shape) in self.param_specs() {
            let len: usize = shape.iter().product();
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
