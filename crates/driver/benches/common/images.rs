//! CIFAR-shaped random data for the VGG benches (the `vgg11` and `gpu` benches share it).

use curvscope_model::{Dataset, Targets};
use rand::{Rng, SeedableRng};

/// `n` random images of `shape` with random labels of 10 classes, from `seed`.
pub fn images(n: usize, shape: [usize; 3], seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * shape.iter().product::<usize>())
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    let targets = Targets::Classes {
        labels,
        n_classes: 10,
    };
    Dataset::new("cifar-shaped", x, shape.to_vec(), targets, Some(0)).expect("valid")
}
