//! Host↔device copies per gradient and per HVP ([`curvscope_model::transfers`]), counted on
//! the CPU backend, which runs the same code path as the GPU's. One test alone in its binary:
//! the counters are process-wide, so no other test may run beside it.

mod vgg_style;

use curvscope_model::{
    default_data_dir, fashion_corrupted, transfers, ArchSpec, BasisStore, BurnObjective, Cpu,
    DeviceBasis, Init, Precision,
};

/// (uploads, read-backs) made by `work`.
fn copies(work: impl FnOnce()) -> (usize, usize) {
    let before = transfers();
    work();
    let made = transfers() - before;
    (made.to_device, made.to_host)
}

/// A gradient uploads θ once and reads each sample block's ∇L back, an HVP uploads v once and
/// reads each block's H·v back (before 2026-12-01, θ and v were uploaded per block), and the
/// per-sample gradients read each block's rows back at once (before 2026-12-01, one pass and
/// one read-back per sample). θ stays on the device from one call to the next at the same θ
/// (before 2026-12-06, every call uploaded it): an HVP at a new θ uploads θ and v, and every
/// call after it at that θ (Lanczos' HVPs, a chunk's per-sample gradients) θ no more. Besides,
/// each block's pass uploads the shape-only index tables of its gathers (LeNet:
/// its second convolution's im2col; the VGG-style net: its two convolutions' im2col and its
/// three poolings' window candidates),
/// writes the device queues without waiting. Pooling locates its maxima on the device: no
/// feature map is read back (before, each pooling layer read its maps and uploaded the maxima).
/// Last, a Krylov basis kept on the device, and its rotation by a thick restart.
#[test]
fn a_gradient_and_an_hvp_copy_only_their_vectors() {
    let data = fashion_corrupted(&default_data_dir(), 16, 0, 0).expect("bundled data");
    for (arch, tables) in [(ArchSpec::Lenet, 1), (vgg_style::vgg_style(), 5)] {
        let theta = arch.init(Init::PyTorch, 0);
        let v = arch.init(Init::Normal { std: 1.0 }, 1);
        // The CPU runs at least two blocks (the GPU one, the same count per block).
        for blocks in [2, 4] {
            let f =
                BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F32)
                    .expect("the net fits the images")
                    .with_samples_per_block(16 / blocks)
                    .boxed();
            let grad = copies(|| drop(f.grad(&theta)));
            let hvp = copies(|| drop(f.hvp(&theta, &v)));
            let rows = copies(|| drop(f.per_sample_grads(&theta)));
            // At another θ, then back at the first: each a new θ to the device.
            let hvp_new = copies(|| drop(f.hvp(&v, &theta)));
            let grad_back = copies(|| drop(f.grad(&theta)));
            eprintln!(
                "{arch}, {blocks} block(s): (uploads, read-backs) gradient {grad:?}, HVP {hvp:?}, \
                 per-sample gradients {rows:?}, HVP at a new θ {hvp_new:?}, gradient back at \
                 the first {grad_back:?}"
            );
            assert_eq!(grad, (1 + blocks * tables, blocks), "{arch}: gradient");
            assert_eq!(hvp, (1 + blocks * tables, blocks), "{arch}: HVP");
            assert_eq!(hvp_new, (2 + blocks * tables, blocks), "{arch}: HVP, new θ");
            assert_eq!(grad_back, grad, "{arch}: gradient, back at the first θ");
            // Per-sample blocks are also at least one per thread.
            let block = (16 / blocks).min(16usize.div_ceil(rayon::current_num_threads()));
            let row_blocks = 16usize.div_ceil(block);
            assert_eq!(
                rows,
                (row_blocks * tables, row_blocks),
                "{arch}: per-sample"
            );
        }
    }
    // A Krylov basis on the device (Lanczos' on a GPU): one upload per vector pushed, one
    // upload (w) and one read-back (h and V·h) per Gram–Schmidt pass, one of each per Ritz
    // vector formed; the sweeps themselves copy nothing.
    let d = 5000;
    let mut basis = DeviceBasis::<Cpu>::new(d, &Default::default(), Precision::F32, 1 << 27);
    let unit = |i: usize| {
        (0..d)
            .map(|j| f64::from(u8::from(i == j)))
            .collect::<Vec<f64>>()
    };
    assert_eq!(copies(|| (0..5).for_each(|i| basis.push(unit(i)))), (5, 0));
    let mut w = vec![1.0; d];
    assert_eq!(copies(|| drop(basis.project_out(&mut w))), (1, 1));
    assert_eq!(
        copies(|| drop(basis.combine(&[&[1.0; 5], &[2.0; 5]]))),
        (2, 2)
    );
    // A thick restart's rotation: the coordinates up, and the last kept vector (formed as a
    // Ritz vector is) up and back.
    assert_eq!(copies(|| basis.rotate(&[&[1.0; 5], &[2.0; 5]])), (2, 1));
}
