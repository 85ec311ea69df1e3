//! Host↔device copies per gradient and per HVP ([`curvscope_model::transfers`]), counted on
//! the CPU backend, which runs the same code path as the GPU's. One test alone in its binary:
//! the counters are process-wide, so no other test may run beside it.

mod vgg_style;

use curvscope_hessian::BasisStore;
use curvscope_model::{
    default_data_dir, fashion_corrupted, transfers, ArchSpec, BurnObjective, Cpu, DeviceBasis,
    Init, Precision,
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
/// call after it at that θ (Lanczos' HVPs, a chunk's per-sample gradients) θ no more. The
/// shape-only index tables of the gathers (im2col's pixels, pooling's window candidates) are
/// uploaded once per process and block size (before 2026-12-07, by every block's pass; LeNet
/// has one, the VGG-style net two of im2col, which depend on the block's samples on the CPU,
/// and three of pooling, which do not); the device queues are written without waiting. Pooling
/// locates its maxima on the device: no feature map is read back (before, each pooling layer
/// read its maps and uploaded the maxima). Eval batch norm's statistics and an average
/// pooling's matrices are float constants of the pass's own autodiff level, uploaded by every
/// block (2 each; before 2026-12-07 uncounted). Last, a Krylov basis kept on the device, and
/// its rotation by a thick restart.
#[test]
fn a_gradient_and_an_hvp_copy_only_their_vectors() {
    let data = fashion_corrupted(&default_data_dir(), 16, 0, 0).expect("bundled data");
    let normed: ArchSpec = serde_json::from_str(
        r#"{"name":"sequential","input":[1,28,28],"layers":[
            {"type":"conv2d","out":3,"kernel":5,"padding":2},{"type":"batchnorm2d"},
            {"type":"relu"},{"type":"avgpool2d","kernel":1},{"type":"adaptive_avgpool2d","output":3},
            {"type":"flatten"},{"type":"linear","out":10}]}"#,
    )
    .expect("a valid spec");
    // (net, index tables per block size, other index tables, float constants per pass). The
    // normed net's 5×5 convolution has tables of its own: a 3×3 one at padding 1 would find the
    // VGG-style net's first. Its pooling of kernel 1 (VGG-11's for CIFAR-10) is the identity
    // and uploads nothing.
    let nets = [
        (ArchSpec::Lenet, 1, 0, 0),
        (vgg_style::vgg_style(), 2, 3, 0),
        (normed, 1, 0, 4),
    ];
    for (arch, per_size, per_shape, constants) in nets {
        let theta = arch.init(Init::PyTorch, 0);
        let v = arch.init(Init::Normal { std: 1.0 }, 1);
        // The CPU runs at least two blocks (the GPU one, the same count per block). Four blocks
        // first: their per-sample blocks (at most 4 samples) cannot hold the 8 samples of the
        // two blocks after, whose im2col tables are then new.
        for (pass, blocks) in [4, 2].into_iter().enumerate() {
            let f =
                BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F32)
                    .expect("the net fits the images")
                    .with_samples_per_block(16 / blocks)
                    .boxed();
            let first = copies(|| drop(f.grad(&theta)));
            let grad = copies(|| drop(f.grad(&theta)));
            let hvp = copies(|| drop(f.hvp(&theta, &v)));
            // At another θ, then back at the first: each a new θ to the device.
            let hvp_new = copies(|| drop(f.hvp(&v, &theta)));
            let grad_back = copies(|| drop(f.grad(&theta)));
            // The per-sample blocks (at least one per thread) may be of another size: the second
            // call finds its tables.
            let rows_first = copies(|| drop(f.per_sample_grads(&theta)));
            let rows = copies(|| drop(f.per_sample_grads(&theta)));
            eprintln!(
                "{arch}, {blocks} block(s): (uploads, read-backs) first gradient {first:?}, \
                 gradient {grad:?}, HVP {hvp:?}, HVP at a new θ {hvp_new:?}, gradient back at \
                 the first {grad_back:?}, per-sample gradients {rows_first:?}, then {rows:?}"
            );
            let tables = per_size + if pass == 0 { per_shape } else { 0 };
            let each = blocks * constants;
            assert_eq!(first, (1 + tables + each, blocks), "{arch}: first gradient");
            assert_eq!(grad, (each, blocks), "{arch}: gradient");
            assert_eq!(hvp, (1 + each, blocks), "{arch}: HVP");
            assert_eq!(hvp_new, (2 + each, blocks), "{arch}: HVP, new θ");
            assert_eq!(
                grad_back,
                (1 + each, blocks),
                "{arch}: gradient, back at the first θ"
            );
            let block = (16 / blocks).min(16usize.div_ceil(rayon::current_num_threads()));
            let row_blocks = 16usize.div_ceil(block);
            assert!(
                rows_first.0 >= row_blocks * constants,
                "{arch}: per-sample, first"
            );
            assert_eq!(
                rows,
                (row_blocks * constants, row_blocks),
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
