//! θ's coordinates in the order of the autodiff leaves ([`super::BurnObjective::vector_parts`]):
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
        [out, inputs, kh, kw] => match direction {
            Direction::ToLeaves => swap_outer(from, to, [out, inputs, kh * kw], map),
            Direction::ToPyTorch => swap_outer(from, to, [kh * kw, inputs, out], map),
        },
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

/// `[b, i, a]` → `[a, i, b]`, each value mapped by `map` (`to[a][i][b] = map(from[b][i][a])`):
/// a convolution weight's `[out, in, kernel offset]` (PyTorch's) to `[kernel offset, in, out]`
/// (the leaves') with `[b, i, a] = [out, in, kh·kw]`, and back with `[kh·kw, in, out]`.
///
/// In tiles of up to [`TILE`] values of `a` by rows of `i`, each tile in runs of [`STEP`] rows
/// by [`STEP`] values of `b`: a run reads a few cache lines of `from`, each for all the run's
/// values of `a` and rows. Written as a gather in `to`'s order, every value read a new cache
/// line: `resnet50`'s weights (23.5 million values, 2 threads, 2026-12-06) took 54–66 ms into
/// the leaves in f32 and 67–78 ms back in f64, the tiles 30–35 ms and 44–53 ms, a plain copy
/// 10–16 ms. The tiles run in parallel, in tasks of at least [`TASK`] values. (The `transpose`
/// crate transposes one matrix, its type unchanged, on one thread; this transposes each row
/// `i`'s matrix, mapped on the way.)
fn swap_outer<S: Copy + Sync, T: Send>(
    from: &[S],
    to: &mut [T],
    [b_len, i_len, a_len]: [usize; 3],
    map: &(impl Fn(S) -> T + Sync),
) {
    if to.is_empty() {
        return;
    }
    let a_tile = a_len.min(TILE);
    let i_tile = STEP.max(TILE_VALUES / (a_tile * b_len)).min(i_len);
    let i_tiles = i_len.div_ceil(i_tile);
    // Tile t (a_tile values of `a` from a0, i_tile rows of `i` from i0): for each of its values
    // of `a`, the `[i_tile, b]` piece of `to` it writes.
    let mut tiles: Vec<Vec<&mut [T]>> = (0..a_len.div_ceil(a_tile) * i_tiles)
        .map(|_| Vec::with_capacity(a_tile))
        .collect();
    for (a, slab) in to.chunks_mut(i_len * b_len).enumerate() {
        for (rows, piece) in slab.chunks_mut(i_tile * b_len).enumerate() {
            tiles[a / a_tile * i_tiles + rows].push(piece);
        }
    }
    let stride = i_len * a_len;
    tiles
        .into_par_iter()
        .with_min_len(TASK.div_ceil(a_tile * i_tile * b_len))
        .enumerate()
        .for_each(|(t, mut pieces)| {
            let (a0, i0) = (t / i_tiles * a_tile, t % i_tiles * i_tile);
            let rows = pieces[0].len() / b_len;
            for b0 in (0..b_len).step_by(STEP) {
                let b1 = (b0 + STEP).min(b_len);
                for r0 in (0..rows).step_by(STEP) {
                    let r1 = (r0 + STEP).min(rows);
                    for (a, piece) in pieces.iter_mut().enumerate() {
                        let piece = &mut piece[r0 * b_len..r1 * b_len];
                        for (row, out) in (r0..r1).zip(piece.chunks_exact_mut(b_len)) {
                            let column = (i0 + row) * a_len + a0 + a;
                            for (b, x) in (b0..b1).zip(&mut out[b0..b1]) {
                                *x = map(from[b * stride + column]);
                            }
                        }
                    }
                }
            }
        });
}

/// Most values of `a` in one of [`swap_outer`]'s tiles: a row's and `b`'s values of them lie side
/// by side in `from` (16 f64: two cache lines), which a run reads for each `a` in turn while
/// the lines stay in the cache, each `a` writing its own piece of `to`.
const TILE: usize = 16;

/// Rows and values of `b` in one of [`swap_outer`]'s runs.
const STEP: usize = 8;

/// Fewest values in one of [`swap_outer`]'s tiles where the rows allow, so that its list of
/// pieces costs little beside them.
const TILE_VALUES: usize = 2048;

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

    /// Shapes past a tile and a run in every direction, not multiples of them, depthwise (one
    /// input) and 1×1, and one past [`super::TASK`] values (split over the threads), land where
    /// the index formula says, and back.
    #[test]
    fn tiles_of_any_shape_land_where_the_index_formula_says() {
        for shape in [
            [37, 19, 3, 3],
            [20, 300, 1, 1],
            [96, 1, 7, 7],
            [3, 5, 7, 7],
            [1, 1, 1, 1],
            [130, 70, 5, 7],
            [0, 4, 3, 3],
        ] {
            let [out, inputs, kh, kw] = shape;
            let shapes = vec![("w".to_string(), shape.to_vec())];
            let theta: Vec<f64> = (0..out * inputs * kh * kw).map(|x| x as f64).collect();
            let leaves = reorder(&shapes, &theta, 0, Direction::ToLeaves, |x| x);
            for (pytorch, &x) in theta.iter().enumerate() {
                let (o, rest) = (pytorch / (inputs * kh * kw), pytorch % (inputs * kh * kw));
                let (i, k) = (rest / (kh * kw), rest % (kh * kw));
                assert_eq!(
                    leaves[(k * inputs + i) * out + o],
                    x,
                    "{shape:?} at {pytorch}"
                );
            }
            let back = reorder(&shapes, &leaves, 0, Direction::ToPyTorch, |x| x);
            assert_eq!(back, theta, "{shape:?} back");
        }
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
