//! θ's coordinates in the order of the autodiff leaves ([`super::BurnObjective::theta_parts`]):
//! a convolution weight, which PyTorch stores `[out, in, kh, kw]`, is the `[kh, kw, in, out]`
//! matrix its im2col patches multiply. Reordered on the host once per vector rather than per
//! sample block: θ and v on the way in, a summed gradient or product (or a per-sample
//! gradient) on the way out; a strided copy on the device per sample block cost VGG-11 13% of
//! its time (docs/PERFORMANCE.md).

use rayon::prelude::*;

/// Which way [`reorder`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// From PyTorch's `state_dict` order to the leaves'.
    ToLeaves,
    /// From the leaves' order back to PyTorch's.
    ToPyTorch,
}

/// `values` — θ-shaped coordinates from `start` on, where `start` is where one of the
/// parameter tensors `shapes` begins — reordered `direction`, each mapped by `map` on the way
/// (to the device's precision, or divided by N), so that one pass over D values does both. Only
/// 4-D (convolution) weights move.
///
/// # Panics
/// If `start` falls inside a tensor or `values` does not reach θ's end.
pub(super) fn reorder<T: Copy + Default + Send + Sync>(
    shapes: &[(String, Vec<usize>)],
    values: &[f64],
    start: usize,
    direction: Direction,
    map: impl Fn(f64) -> T + Sync,
) -> Vec<T> {
    let dim: usize = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(
        start + values.len(),
        dim,
        "values must run from coordinate {start} to θ's end"
    );
    let mut reordered = vec![T::default(); values.len()];
    let mut begin = 0;
    for (name, shape) in shapes {
        let len: usize = shape.iter().product();
        let end = begin + len;
        if begin < start {
            assert!(end <= start, "coordinate {start} lies inside {name}");
        } else {
            reorder_tensor(
                shape,
                &values[begin - start..end - start],
                &mut reordered[begin - start..end - start],
                direction,
                &map,
            );
        }
        begin = end;
    }
    reordered
}

/// One parameter tensor of `shape`, `from` reordered `direction` into `to` (as long), each value
/// mapped by `map` on the way: [`reorder`]'s step, and on its own for rows whose tensors lie
/// apart (a per-sample gradient read back tensor by tensor, in the device's precision).
pub(super) fn reorder_tensor<S: Copy + Sync, T: Send>(
    shape: &[usize],
    from: &[S],
    to: &mut [T],
    direction: Direction,
    map: &(impl Fn(S) -> T + Sync),
) {
    assert_eq!(from.len(), to.len(), "a tensor's values and their place");
    match *shape {
        [out, inputs, kh, kw] => transpose_outer(from, to, [out, inputs, kh * kw], direction, map),
        _ => to
            .par_chunks_mut(TASK)
            .zip(from.par_chunks(TASK))
            .for_each(|(to, from)| to.iter_mut().zip(from).for_each(|(t, &f)| *t = map(f))),
    }
}

/// Fewest values per parallel task: a smaller tensor is reordered by the calling thread alone.
/// Splitting small tensors cost LeNet's nested loops (probes, per-sample gradients) up to 2×: a
/// thread waiting on a tiny join steals a whole probe and returns only when it is done.
const TASK: usize = 1 << 18;

/// `[o, i, k]` (PyTorch: out, in, kernel offset) ↔ `[k, i, o]` (the leaves), mapped by `map`,
/// writing `to` contiguously in parallel chunks.
fn transpose_outer<S: Copy + Sync, T: Send>(
    from: &[S],
    to: &mut [T],
    [o, i, k]: [usize; 3],
    direction: Direction,
    map: &(impl Fn(S) -> T + Sync),
) {
    match direction {
        Direction::ToLeaves => to
            .par_chunks_mut(o)
            .with_min_len(TASK / o)
            .enumerate()
            .for_each(|(ki, row)| {
                let (kk, ii) = (ki / i, ki % i);
                row.iter_mut()
                    .enumerate()
                    .for_each(|(oo, x)| *x = map(from[(oo * i + ii) * k + kk]));
            }),
        Direction::ToPyTorch => to
            .par_chunks_mut(k)
            .with_min_len(TASK / k)
            .enumerate()
            .for_each(|(oi, row)| {
                let ii = oi % i;
                let oo = oi / i;
                row.iter_mut()
                    .enumerate()
                    .for_each(|(kk, x)| *x = map(from[(kk * i + ii) * o + oo]));
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::{reorder, Direction};

    fn shapes() -> Vec<(String, Vec<usize>)> {
        vec![
            ("conv.weight".into(), vec![3, 2, 2, 2]),
            ("conv.bias".into(), vec![3]),
            ("fc.weight".into(), vec![2, 5]),
            ("conv2.weight".into(), vec![2, 3, 1, 2]),
        ]
    }

    /// Element (o, i, a, b) of a `[out, in, kh, kw]` weight lands at index ((a·kw + b)·in + i)·out
    /// + o of its leaf, and back; other tensors keep their place.
    #[test]
    fn convolution_weights_move_to_the_gemm_layout_and_back() {
        let shapes = shapes();
        let d: usize = shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let theta: Vec<f64> = (0..d).map(|x| x as f64).collect();
        let leaves = reorder(&shapes, &theta, 0, Direction::ToLeaves, |x| x);
        let [out, inputs, kh, kw] = [3, 2, 2, 2];
        for o in 0..out {
            for i in 0..inputs {
                for a in 0..kh {
                    for b in 0..kw {
                        let pytorch = ((o * inputs + i) * kh + a) * kw + b;
                        let leaf = ((a * kw + b) * inputs + i) * out + o;
                        assert_eq!(leaves[leaf], theta[pytorch]);
                    }
                }
            }
        }
        assert_eq!(leaves[24..37], theta[24..37], "bias and linear weight stay");
        assert_ne!(leaves[37..], theta[37..], "the second convolution moves");
        assert_eq!(
            reorder(&shapes, &leaves, 0, Direction::ToPyTorch, |x| x),
            theta
        );
        let mapped = reorder(&shapes, &theta, 0, Direction::ToLeaves, |x| {
            (x / 2.0) as f32
        });
        let want: Vec<f32> = leaves.iter().map(|&x| (x / 2.0) as f32).collect();
        assert_eq!(mapped, want, "mapped on the way");
        // From a tensor boundary on, the same as the tail of the whole reorder.
        let tail = reorder(&shapes, &theta[27..], 27, Direction::ToLeaves, |x| x);
        assert_eq!(tail, leaves[27..]);
        assert_eq!(
            reorder(&shapes, &tail, 27, Direction::ToPyTorch, |x| x),
            theta[27..]
        );
    }

    #[test]
    #[should_panic(expected = "inside conv.weight")]
    fn a_start_inside_a_tensor_is_refused() {
        reorder(&shapes(), &[0.0; 44], 5, Direction::ToLeaves, |x| x);
    }

    #[test]
    #[should_panic(expected = "values must run from coordinate 24 to θ's end")]
    fn values_short_of_the_end_are_refused() {
        reorder(&shapes(), &[0.0; 20], 24, Direction::ToPyTorch, |x| x);
    }
}
