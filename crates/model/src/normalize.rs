//! Per-channel input normalisation, torchvision's `Normalize(mean, std)`: the network was
//! trained on (x − mean_c) / std_c, so its loss and curvature are only the trained ones on
//! inputs normalised the same way. checkpoint.json's `normalize` field holds it, and every
//! dataset the checkpoint is evaluated on gets it applied once, on loading.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::dataset::{DataError, Dataset};

/// Per-channel `mean` and `std` along a sample's first axis (C of `[C, H, W]`, the features
/// of `[F]`); one value of each applies to every channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Subtracted from each channel.
    pub mean: Vec<f64>,
    /// Then divides each channel; every one finite and > 0.
    pub std: Vec<f64>,
}

// Finite values only (`Dataset::normalized` refuses others), so equality is an equivalence.
impl Eq for Normalize {}

impl Hash for Normalize {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.mean.iter().chain(&self.std) {
            v.to_bits().hash(state);
        }
        self.mean.len().hash(state);
    }
}

impl Dataset {
    /// The dataset with every input replaced by (x − mean_c) / std_c, computed in f32 as
    /// torchvision's `Normalize` does on a float32 tensor, so the inputs equal PyTorch's bit
    /// for bit. Labels, name and seed are kept.
    ///
    /// Fails when `mean` and `std` differ in length, their length is neither 1 nor the number
    /// of channels (the sample's first axis), or a value is not finite or a std not positive.
    ///
    /// ```
    /// use curvscope_model::{Dataset, Normalize, Targets};
    /// // Two samples of 2 channels × 2 pixels.
    /// let data = Dataset::new("d", vec![0.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0], vec![2, 2],
    ///     Targets::Classes { labels: vec![0, 1], n_classes: 2 }, None)?;
    /// let norm = Normalize { mean: vec![0.5, 0.0], std: vec![0.5, 2.0] };
    /// assert_eq!(data.normalized(&norm)?.x(), &[-1.0, 1.0, 0.25, 0.25, 1.0, 1.0, 0.0, 0.0]);
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn normalized(mut self, norm: &Normalize) -> Result<Dataset, DataError> {
        let channels = self.sample_shape.first().copied().unwrap_or(1);
        let (mean, std) = (&norm.mean, &norm.std);
        let bad = |m: String| Err(DataError::Inconsistent(format!("normalize: {m}")));
        if mean.len() != std.len() || (mean.len() != 1 && mean.len() != channels) {
            return bad(format!(
                "{} means and {} stds for samples of shape {:?}: give one value, or one per \
                 channel ({channels})",
                mean.len(),
                std.len(),
                self.sample_shape
            ));
        }
        if let Some(v) = mean.iter().chain(std).find(|v| !v.is_finite()) {
            return bad(format!("{v:?} is not a finite number"));
        }
        if let Some(s) = std.iter().find(|&&s| s <= 0.0) {
            return bad(format!("std {s:?} is not positive"));
        }
        // The record names the source: its inputs' hash is of the values before normalisation.
        self.info();
        let per_channel = self.sample_len() / channels;
        let channel = |i: usize| if mean.len() == 1 { 0 } else { i % channels };
        for (i, values) in self.x.chunks_exact_mut(per_channel).enumerate() {
            let (m, s) = (mean[channel(i)] as f32, std[channel(i)] as f32);
            values.iter_mut().for_each(|x| *x = (*x - m) / s);
        }
        // Finite in f64 is not enough: 1e308 or 5e-324 in f32 gives ∞ or NaN inputs, which a
        // ReLU or max-pool would turn into a finite, wrong loss.
        if let Some(i) = self.x.iter().position(|x| !x.is_finite()) {
            let c = channel(i / per_channel);
            return bad(format!(
                "mean {:?} and std {:?} give the input {} in float32, where the network computes",
                mean[c], std[c], self.x[i]
            ));
        }
        // A float64 source is normalised in f64, as a float64 pipeline would.
        if let Some(exact) = &mut self.exact {
            for (i, values) in exact.chunks_exact_mut(per_channel).enumerate() {
                let (m, s) = (mean[channel(i)], std[channel(i)]);
                values.iter_mut().for_each(|x| *x = (*x - m) / s);
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Targets;

    fn two_channels() -> Dataset {
        let x = (0..12).map(|v| v as f32).collect();
        Dataset::new("d", x, vec![2, 3], Targets::None, None).unwrap()
    }

    #[test]
    fn each_channel_of_each_sample_gets_its_own_mean_and_std() {
        let norm = Normalize {
            mean: vec![1.0, -2.0],
            std: vec![2.0, 0.5],
        };
        let x = two_channels().normalized(&norm).unwrap().x().to_vec();
        let expected: Vec<f32> = (0..12)
            .map(|v| {
                let c = (v / 3) % 2;
                (v as f32 - norm.mean[c] as f32) / norm.std[c] as f32
            })
            .collect();
        assert_eq!(x, expected);
        assert_eq!(x[..4], [-0.5, 0.0, 0.5, 10.0]);
        let one = Normalize {
            mean: vec![1.0],
            std: vec![4.0],
        };
        let x = two_channels().normalized(&one).unwrap().x().to_vec();
        assert_eq!(x[11], 2.5);
    }

    /// The record names the source: normalising keeps the raw inputs' hash, which training
    /// (that never normalises) recorded.
    #[test]
    fn normalised_data_keeps_the_sources_inputs_hash() {
        let norm = Normalize {
            mean: vec![1.0],
            std: vec![4.0],
        };
        let raw = two_channels().info().clone();
        assert_eq!(two_channels().normalized(&norm).unwrap().info(), &raw);
    }

    #[test]
    fn mismatched_or_invalid_values_are_refused() {
        for (mean, std) in [
            (vec![0.0; 3], vec![1.0; 3]),
            (vec![0.0; 2], vec![1.0]),
            (vec![], vec![]),
            (vec![f64::NAN], vec![1.0]),
            (vec![0.0], vec![0.0]),
            (vec![0.0, 0.0], vec![1.0, -1.0]),
            (vec![0.0], vec![f64::INFINITY]),
            // Finite in f64, not in the f32 the network computes in: 0 and ∞ there.
            (vec![0.0], vec![5e-324]),
            (vec![1e308], vec![1.0]),
        ] {
            let err = two_channels()
                .normalized(&Normalize { mean, std })
                .unwrap_err();
            assert!(err.to_string().contains("normalize: "), "{err}");
        }
    }
}
