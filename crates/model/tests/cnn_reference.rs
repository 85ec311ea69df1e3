//! The CNN's forward pass against a direct loop implementation of PyTorch's layers (f64):
//! `Conv2d` (valid, bias), `MaxPool2d(2)` (floor mode, first maximum on ties), ReLU,
//! channels-first flatten and `Linear`, on odd map sizes and with constant (tied) regions.

use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Precision, Targets};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Channels-first maps of one sample: `[channel][row][col]`.
type Maps = Vec<Vec<Vec<f64>>>;

/// Walks θ in `state_dict` order.
struct Weights<'a>(&'a [f64]);

impl Weights<'_> {
    fn take(&mut self, len: usize) -> Vec<f64> {
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        head.to_vec()
    }
}

fn conv(x: &Maps, w: &[f64], b: &[f64], kernel: usize) -> Maps {
    let (inputs, side) = (x.len(), x[0].len());
    let out = side + 1 - kernel;
    (0..b.len())
        .map(|o| {
            (0..out)
                .map(|i| {
                    (0..out)
                        .map(|j| {
                            let mut sum = b[o];
                            for (c, map) in x.iter().enumerate() {
                                for ki in 0..kernel {
                                    for kj in 0..kernel {
                                        let at = ((o * inputs + c) * kernel + ki) * kernel + kj;
                                        sum += w[at] * map[i + ki][j + kj];
                                    }
                                }
                            }
                            sum
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// 2×2 max-pooling, stride 2, floor mode, then ReLU.
fn pool_relu(x: &Maps) -> Maps {
    let out = x[0].len() / 2;
    x.iter()
        .map(|map| {
            (0..out)
                .map(|i| {
                    (0..out)
                        .map(|j| {
                            let window = [(0, 0), (0, 1), (1, 0), (1, 1)]
                                .map(|(di, dj)| map[2 * i + di][2 * j + dj]);
                            window.into_iter().fold(f64::MIN, f64::max).max(0.0)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn linear(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(o, bo)| {
            bo + x
                .iter()
                .zip(&w[o * x.len()..])
                .map(|(x, w)| x * w)
                .sum::<f64>()
        })
        .collect()
}

/// The logits of one sample, layer by layer as PyTorch computes them.
fn reference_logits(arch: &ArchSpec, theta: &[f64], image: &[f64]) -> Vec<f64> {
    let ArchSpec::Cnn {
        side,
        channels,
        kernel,
        hidden,
        classes,
    } = arch
    else {
        unreachable!()
    };
    let mut maps: Maps = image
        .chunks(side * side)
        .map(|c| c.chunks(*side).map(<[f64]>::to_vec).collect())
        .collect();
    let mut weights = Weights(theta);
    for c in channels.windows(2) {
        let w = weights.take(c[1] * c[0] * kernel * kernel);
        let b = weights.take(c[1]);
        maps = pool_relu(&conv(&maps, &w, &b, *kernel));
    }
    let mut x: Vec<f64> = maps.into_iter().flatten().flatten().collect();
    let widths: Vec<usize> = hidden.iter().copied().chain([*classes]).collect();
    for (layer, &width) in widths.iter().enumerate() {
        let w = weights.take(width * x.len());
        let b = weights.take(width);
        x = linear(&x, &w, &b);
        if layer + 1 < widths.len() {
            x.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
    assert!(weights.0.is_empty(), "θ fully used");
    x
}

#[test]
fn cnn_logits_match_a_direct_implementation_on_odd_sizes_with_ties() {
    // 10 → conv 9 (odd: pooling drops a row and a column) → 4 → conv 3 → 1.
    let arch = ArchSpec::Cnn {
        side: 10,
        channels: vec![2, 3, 4],
        kernel: 2,
        hidden: vec![5],
        classes: 3,
    };
    let (n, features) = (7, arch.input_len());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // Random pixels, with the left half of every other image zero: constant patches give tied
    // conv outputs (all equal to the bias), where the first maximum must be taken.
    let x: Vec<f32> = (0..n * features)
        .map(|k| {
            let (sample, col) = (k / features, k % 10);
            if sample % 2 == 0 && col < 5 {
                0.0
            } else {
                rng.random_range(-1.0..1.0)
            }
        })
        .collect();
    let labels = (0..n as i64).map(|i| i % 3).collect();
    let targets = Targets::Classes {
        labels,
        n_classes: 3,
    };
    let data = Dataset::new("random", x.clone(), vec![2, 10, 10], targets, Some(5)).unwrap();
    let theta = arch.init(Init::PyTorch, 9);
    let obj = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
        .unwrap();
    let logits = obj.logits(&theta);
    for (i, image) in x.chunks(features).enumerate() {
        let image: Vec<f64> = image.iter().map(|&v| v.into()).collect();
        let expected = reference_logits(&arch, &theta, &image);
        for (got, want) in logits[i * 3..(i + 1) * 3].iter().zip(&expected) {
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "sample {i}: {got} vs {want}"
            );
        }
    }
}
