//! Property-based fuzzing of the file readers: random mutations of valid files (byte flips,
//! truncations, insertions, overwritten lengths and numbers) never panic, never make a large
//! allocation, and fail, when they fail, with an error that names the file.
//!
//! 256 cases per reader by default; `PROPTEST_CASES=N` runs more.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::idx::{self, IMAGES_MAGIC, LABELS_MAGIC};
use curvscope_model::{
    load_checkpoint, load_npz, save_checkpoint, Activation, ArchSpec, CheckpointMeta, Dtype,
};
use proptest::prelude::*;

mod common;
use common::chain;

/// Records the largest single allocation made on each thread, so a property can bound it.
struct PeakAllocator;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: allocations during thread teardown find no thread-local and go unrecorded.
    let _ = PEAK.try_with(|peak| peak.set(peak.get().max(size)));
}

unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// `f()` and the largest single allocation it made on this thread.
fn with_peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    PEAK.with(|peak| peak.set(0));
    let out = f();
    (out, PEAK.with(Cell::get))
}

/// The allocation a reader may make for an input of `len` bytes: its contents decompressed
/// (deflate expands at most ~1032×), widened to f64, plus a fixed margin for the parsers.
fn allowed(len: usize) -> usize {
    1100 * len + (1 << 20)
}

/// Numbers that break naive parsers, written over a number in a text header.
const HOSTILE_NUMBERS: [&str; 9] = [
    "0",
    "-1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e400",
    "3.5",
    "",
];

/// One edit of a file's bytes; positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR one byte with a nonzero mask.
    Flip(usize, u8),
    /// Keep only the first bytes.
    Truncate(usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Write a little-endian or big-endian u64/u32 over the bytes there (lengths, counts).
    Number(usize, u64, bool),
    /// Write `n` over the first 8 bytes, as safetensors' header length.
    HeaderLength(u64),
    /// Replace the k-th run of ASCII digits (a JSON shape, offset or size) with a hostile number.
    Digits(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let size = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        Just(1u64 << 40),
        0u64..4096,
        any::<u64>()
    ];
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        2 => (any::<usize>(), size.clone(), any::<bool>())
            .prop_map(|(at, n, le)| Mutation::Number(at, n, le)),
        1 => size.prop_map(Mutation::HeaderLength),
        3 => (any::<usize>(), 0..HOSTILE_NUMBERS.len())
            .prop_map(|(k, which)| Mutation::Digits(k, which)),
    ]
}

fn apply(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, mask) if !out.is_empty() => {
                let i = at(*i, out.len());
                out[i] ^= mask;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(i) => out.truncate(at(*i, out.len() + 1)),
            Mutation::Insert(i, bytes) => {
                let i = at(*i, out.len() + 1);
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Number(i, n, little) => {
                let i = at(*i, out.len());
                let word = if *little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                for (k, b) in word.iter().enumerate() {
                    if let Some(slot) = out.get_mut(i + k) {
                        *slot = *b;
                    }
                }
            }
            Mutation::HeaderLength(n) => {
                for (slot, b) in out.iter_mut().zip(n.to_le_bytes()) {
                    *slot = b;
                }
            }
            Mutation::Digits(k, which) => {
                let runs = digit_runs(&out);
                if !runs.is_empty() {
                    let (start, end) = runs[k % runs.len()];
                    out.splice(start..end, HOSTILE_NUMBERS[*which].bytes());
                }
            }
        }
    }
    out
}

/// The (start, end) of each run of ASCII digits in `bytes`.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().chain([&b' ']).enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// A valid checkpoint's two files: a small MLP, in `dtype` (made once: saving syncs to disk).
fn checkpoint_files(dtype: Dtype) -> (Vec<u8>, Vec<u8>) {
    static FILES: OnceLock<[(Vec<u8>, Vec<u8>); 2]> = OnceLock::new();
    let files = FILES.get_or_init(|| [saved_checkpoint(Dtype::F32), saved_checkpoint(Dtype::F64)]);
    files[(dtype == Dtype::F64) as usize].clone()
}

fn saved_checkpoint(dtype: Dtype) -> (Vec<u8>, Vec<u8>) {
    let arch = ArchSpec::Mlp {
        input: 3,
        hidden: vec![4, 2],
        classes: 5,
        activation: Activation::Tanh,
    };
    let meta = CheckpointMeta {
        step: Some(7),
        lr: Some(0.1),
        ..CheckpointMeta::new(arch.clone())
    };
    let theta: Vec<f64> = (0..arch.dim()).map(|i| (i as f64 * 0.7).sin()).collect();
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(dir.path(), &meta, &theta, dtype).unwrap();
    let read = |f| std::fs::read(dir.path().join(f)).unwrap();
    (read(MODEL_FILE), read(META_FILE))
}

/// Three 2×3 images and their labels, as raw IDX files.
fn idx_files() -> (Vec<u8>, Vec<u8>) {
    let mut images = IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in [3u32, 2, 3] {
        images.extend(d.to_be_bytes());
    }
    images.extend((0..18u8).map(|i| i * 13));
    let mut labels = LABELS_MAGIC.to_be_bytes().to_vec();
    labels.extend(3u32.to_be_bytes());
    labels.extend([7, 0, 9]);
    (images, labels)
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A valid `.npz` (x: float32 [4, 1, 2], y: int64 [4]) with stored (uncompressed) entries, so
/// mutations reach the arrays' headers and data, not only the zip layer.
fn npz_file() -> Vec<u8> {
    use npyz::WriterBuilder;
    let stored = npyz::zip::write::FileOptions::default()
        .compression_method(npyz::zip::CompressionMethod::Stored);
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut npz = npyz::npz::NpzWriter::new(&mut cursor);
        let mut x = npz
            .array("x", stored)
            .unwrap()
            .default_dtype()
            .shape(&[4, 1, 2])
            .begin_nd()
            .unwrap();
        x.extend([0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
            .unwrap();
        x.finish().unwrap();
        let mut y = npz
            .array("y", stored)
            .unwrap()
            .default_dtype()
            .shape(&[4])
            .begin_nd()
            .unwrap();
        y.extend([2i64, 0, 1, 2]).unwrap();
        y.finish().unwrap();
        npz.zip_writer().finish().unwrap();
    }
    cursor.into_inner()
}

/// Checks a reader's outcome on `input`: no large allocation, and an error naming `path`.
fn check<T, E: std::error::Error>(
    path: &Path,
    input: &[u8],
    (result, peak): (Result<T, E>, usize),
) -> Result<(), TestCaseError> {
    prop_assert!(
        peak <= allowed(input.len()),
        "allocated {peak} bytes for a {}-byte input",
        input.len()
    );
    if let Err(e) = result {
        let msg = chain(&e);
        prop_assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        prop_assert!(!msg.contains("panicked"), "{msg}");
    }
    Ok(())
}

fn write_checkpoint(dir: &Path, model: &[u8], meta: &[u8]) -> (PathBuf, PathBuf) {
    let (model_path, meta_path) = (dir.join(MODEL_FILE), dir.join(META_FILE));
    std::fs::write(&model_path, model).unwrap();
    std::fs::write(&meta_path, meta).unwrap();
    (model_path, meta_path)
}

proptest! {
    #[test]
    fn mutated_safetensors_never_panic(
        f64s in any::<bool>(),
        edits in mutations(),
    ) {
        let (model, meta) = checkpoint_files(if f64s { Dtype::F64 } else { Dtype::F32 });
        let bad = apply(&model, &edits);
        let dir = tempfile::tempdir().unwrap();
        let (model_path, _) = write_checkpoint(dir.path(), &bad, &meta);
        let outcome = with_peak(|| load_checkpoint(dir.path()));
        check(&model_path, &bad, outcome)?;
    }

    #[test]
    fn mutated_checkpoint_json_never_panics(edits in mutations()) {
        let (model, meta) = checkpoint_files(Dtype::F32);
        let bad = apply(&meta, &edits);
        let dir = tempfile::tempdir().unwrap();
        let (model_path, meta_path) = write_checkpoint(dir.path(), &model, &bad);
        let (result, peak) = with_peak(|| load_checkpoint(dir.path()));
        prop_assert!(peak <= allowed(model.len() + bad.len()), "allocated {peak} bytes");
        if let Err(e) = result {
            // A changed architecture is reported against the weights it no longer fits.
            let msg = chain(&e);
            prop_assert!(
                msg.contains(&*meta_path.to_string_lossy())
                    || msg.contains(&*model_path.to_string_lossy()),
                "{msg}"
            );
        }
    }

    #[test]
    fn mutated_idx_never_panics(
        labels in any::<bool>(),
        compressed in any::<bool>(),
        edits in mutations(),
    ) {
        let (images, label_file) = idx_files();
        let file = if labels { label_file } else { images };
        let file = if compressed { gz(&file) } else { file };
        let bad = apply(&file, &edits);
        let path = Path::new("fuzzed-idx");
        if labels {
            check(path, &bad, with_peak(|| idx::parse_labels(path, &bad)))?;
        } else {
            check(path, &bad, with_peak(|| idx::parse_images(path, &bad)))?;
        }
    }

    #[test]
    fn mutated_npz_never_panics(edits in mutations()) {
        let bad = apply(&npz_file(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzzed.npz");
        std::fs::write(&path, &bad).unwrap();
        check(&path, &bad, with_peak(|| load_npz(&path, None)))?;
    }
}

/// The unmutated files load, so the properties above start from valid inputs.
#[test]
fn the_seeds_are_valid() {
    for dtype in [Dtype::F32, Dtype::F64] {
        let (model, meta) = checkpoint_files(dtype);
        let dir = tempfile::tempdir().unwrap();
        write_checkpoint(dir.path(), &model, &meta);
        assert_eq!(load_checkpoint(dir.path()).unwrap().dtype, dtype);
    }
    let (images, labels) = idx_files();
    let path = Path::new("seed");
    assert_eq!(idx::parse_images(path, &gz(&images)).unwrap().n, 3);
    assert_eq!(idx::parse_labels(path, &labels).unwrap(), [7, 0, 9]);
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("seed.npz");
    std::fs::write(&npz, npz_file()).unwrap();
    assert_eq!(load_npz(&npz, None).unwrap().len(), 4);
    // The instruments: the allocation probe sees a 10 MB buffer, and Digits edits numbers.
    let (buffer, peak) = with_peak(|| vec![1u8; 10_000_000]);
    assert!(peak >= buffer.len());
    let mutated = apply(b"ab12cd345", &[Mutation::Digits(1, 3)]);
    assert_eq!(mutated, b"ab12cd18446744073709551615");
}
