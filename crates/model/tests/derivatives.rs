//! The objective's derivatives against finite differences and closed forms (f64 unless noted).

use curvscope_model::{
    Activation, ArchSpec, BurnObjective, Cpu, Dataset, Init, NdArray, Objective, Precision, Targets,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    diff / norm
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(theta: &[f64], eps: f64, v: &[f64]) -> Vec<f64> {
    theta.iter().zip(v).map(|(t, v)| t + eps * v).collect()
}

fn unit_direction(dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let norm = dot(&v, &v).sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// A classification problem with random inputs: `n` samples of `features` in [0, 1).
fn classification(
    arch: ArchSpec,
    features: usize,
    classes: usize,
    n: usize,
    precision: Precision,
) -> BurnObjective<Cpu> {
    BurnObjective::new(
        arch,
        &random_images(features, classes, n),
        &Default::default(),
        precision,
    )
    .unwrap()
}

/// `n` random samples of `features` values in [0, 1) with random labels.
fn random_images(features: usize, classes: usize, n: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x: Vec<f32> = (0..n * features)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let labels = (0..n)
        .map(|_| rng.random_range(0..classes as i64))
        .collect();
    Dataset::new(
        "random",
        x,
        vec![features],
        Targets::Classes {
            labels,
            n_classes: classes,
        },
        Some(7),
    )
    .unwrap()
}

fn small_mlp() -> (ArchSpec, usize, usize) {
    (
        ArchSpec::Mlp {
            input: 6,
            hidden: vec![8, 5],
            classes: 3,
            activation: Activation::Tanh,
        },
        6,
        3,
    )
}

fn small_relu_mlp() -> (ArchSpec, usize, usize) {
    (
        ArchSpec::Mlp {
            input: 6,
            hidden: vec![12],
            classes: 4,
            activation: Activation::Relu,
        },
        6,
        4,
    )
}

fn small_cnn() -> (ArchSpec, usize, usize) {
    (
        ArchSpec::Cnn {
            side: 8,
            channels: vec![1, 3],
            kernel: 3,
            hidden: vec![6],
            classes: 3,
        },
        64,
        3,
    )
}

fn fixed_output(n: usize) -> BurnObjective<Cpu> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-2.0..2.0)).collect();
    let y = x
        .chunks(2)
        .map(|p| if p[0] >= p[1] { 1.0 } else { 0.0 })
        .collect();
    let data = Dataset::new("halfspace", x, vec![2], Targets::Regression(y), Some(11)).unwrap();
    BurnObjective::new(
        ArchSpec::FixedOutput {
            input: 2,
            hidden: 10,
        },
        &data,
        &Default::default(),
        Precision::F64,
    )
    .unwrap()
}

/// Central-difference gradient, one coordinate at a time.
fn fd_grad(obj: &dyn Objective, theta: &[f64], eps: f64) -> Vec<f64> {
    (0..theta.len())
        .map(|j| {
            let mut e = vec![0.0; theta.len()];
            e[j] = 1.0;
            (obj.loss(&axpy(theta, eps, &e)) - obj.loss(&axpy(theta, -eps, &e))) / (2.0 * eps)
        })
        .collect()
}

/// Central-difference HVP (g(θ+εv) − g(θ−εv))/(2ε), the test oracle for the exact HVP.
fn fd_hvp(obj: &dyn Objective, theta: &[f64], v: &[f64], eps: f64) -> Vec<f64> {
    let plus = obj.grad(&axpy(theta, eps, v));
    let minus = obj.grad(&axpy(theta, -eps, v));
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect()
}

/// The dense Hessian assembled from D exact HVPs (column j = H·e_j).
fn hessian_from_hvps(obj: &dyn Objective, theta: &[f64]) -> Vec<Vec<f64>> {
    let d = obj.dim();
    (0..d)
        .map(|j| {
            let mut e = vec![0.0; d];
            e[j] = 1.0;
            obj.hvp(theta, &e)
        })
        .collect()
}

#[test]
fn lenet_has_11330_parameters() {
    assert_eq!(ArchSpec::Lenet.dim(), 11_330);
    assert_eq!(ArchSpec::Lenet.flat_features(), 160);
}

#[test]
fn gradient_matches_central_differences_on_small_nets() {
    for (arch, features, classes) in [small_mlp(), small_relu_mlp(), small_cnn()] {
        let obj = classification(arch.clone(), features, classes, 20, Precision::F64).boxed();
        let theta = arch.init(Init::PyTorch, 1);
        let err = rel_err(&obj.grad(&theta), &fd_grad(&*obj, &theta, 1e-6));
        assert!(err < 1e-6, "{arch:?}: gradient rel. err {err:e}");
    }
    let obj = fixed_output(50);
    let theta = obj.arch().init(Init::PyTorch, 2);
    let obj = obj.as_dyn();
    let err = rel_err(&obj.grad(&theta), &fd_grad(obj, &theta, 1e-6));
    assert!(err < 1e-6, "fixed-output: gradient rel. err {err:e}");
}

#[test]
fn lenet_directional_derivatives_match_central_differences() {
    let obj = classification(ArchSpec::Lenet, 784, 10, 8, Precision::F64).boxed();
    let theta = ArchSpec::Lenet.init(Init::PyTorch, 3);
    let g = obj.grad(&theta);
    for seed in 0..3 {
        let v = unit_direction(theta.len(), seed);
        let eps = 1e-5;
        let fd =
            (obj.loss(&axpy(&theta, eps, &v)) - obj.loss(&axpy(&theta, -eps, &v))) / (2.0 * eps);
        let exact = dot(&g, &v);
        assert!(
            ((exact - fd) / exact).abs() < 1e-6,
            "lenet ⟨g,v⟩ {exact} vs FD {fd}"
        );
    }
}

#[test]
fn exact_hvp_matches_central_difference_hvp() {
    let cases: Vec<(String, Box<dyn Objective>, Vec<f64>)> = [
        small_mlp(),
        small_relu_mlp(),
        small_cnn(),
        (ArchSpec::Lenet, 784, 10),
    ]
    .into_iter()
    .map(|(arch, features, classes)| {
        let theta = arch.init(Init::PyTorch, 4);
        (
            format!("{arch:?}"),
            classification(arch, features, classes, 12, Precision::F64).boxed(),
            theta,
        )
    })
    .chain(std::iter::once({
        let obj = fixed_output(40);
        let theta = obj.arch().init(Init::PyTorch, 5);
        ("fixed-output".to_string(), obj.boxed(), theta)
    }))
    .collect();
    for (name, obj, theta) in &cases {
        for seed in 0..2 {
            let v = unit_direction(obj.dim(), 100 + seed);
            // ε small enough that ReLU/max-pool kinks are not crossed (see design notes).
            let err = rel_err(&obj.hvp(theta, &v), &fd_hvp(&**obj, theta, &v, 1e-5));
            assert!(err < 1e-6, "{name}: HVP rel. err {err:e}");
        }
    }
}

#[test]
fn assembled_hessian_is_symmetric_and_matches_finite_differences() {
    for (arch, features, classes) in [small_mlp(), small_cnn()] {
        let obj = classification(arch.clone(), features, classes, 16, Precision::F64).boxed();
        assert!(obj.dim() <= 400, "{arch:?} has D = {}", obj.dim());
        let theta = arch.init(Init::PyTorch, 6);
        checked_dense_hessian(&format!("{arch:?}"), &*obj, &theta);
    }
}

/// The dense Hessian from D exact HVPs, after checking that it is symmetric to 1e-12 of its
/// largest entry and matches central differences of the gradient to 1e-6.
fn checked_dense_hessian(name: &str, obj: &dyn Objective, theta: &[f64]) -> Vec<Vec<f64>> {
    let h = hessian_from_hvps(obj, theta);
    let scale = h.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let d = obj.dim();
    for (i, row) in h.iter().enumerate() {
        for (j, column) in h.iter().enumerate().take(i) {
            assert!(
                (row[j] - column[i]).abs() <= 1e-12 * scale,
                "{name}: H[{i}][{j}] asymmetric"
            );
        }
    }
    let fd: Vec<f64> = (0..d)
        .flat_map(|j| {
            let mut e = vec![0.0; d];
            e[j] = 1.0;
            fd_hvp(obj, theta, &e, 1e-5)
        })
        .collect();
    let err = rel_err(&h.concat(), &fd);
    assert!(err < 1e-6, "{name}: Hessian vs FD rel. err {err:e}");
    check_trailing_blocks(name, obj, theta, &h, scale);
    h
}

/// Every trailing block H[s.., s..] (s at each parameter tensor's start, and one past it) times
/// a unit vector and a random one equals the dense Hessian's block: holding the tensors
/// before s fixed loses nothing of the rows after it.
fn check_trailing_blocks(
    name: &str,
    obj: &dyn Objective,
    theta: &[f64],
    h: &[Vec<f64>],
    scale: f64,
) {
    let d = obj.dim();
    let tensor_starts = obj
        .parameter_tensors()
        .into_iter()
        .scan(0, |end, (_, shape)| {
            *end += shape.iter().product::<usize>();
            Some(*end - shape.iter().product::<usize>())
        });
    for start in tensor_starts.flat_map(|s| [s, s + 1]).filter(|&s| s < d) {
        let mut unit = vec![0.0; d - start];
        unit[0] = 1.0;
        let random = unit_direction(d - start, start as u64);
        let got = obj.trailing_hvps(theta, start, &[unit.clone(), random.clone()]);
        for (v, hv) in [unit, random].iter().zip(&got) {
            assert_eq!(hv.len(), d - start, "{name}: start {start}");
            for (i, value) in hv.iter().enumerate() {
                let want: f64 = (v.iter().enumerate())
                    .map(|(j, vj)| vj * h[start + j][start + i])
                    .sum();
                assert!(
                    (value - want).abs() <= 1e-12 * scale,
                    "{name}: H[{start}.., {start}..]·v, row {i}: {value} vs {want}"
                );
            }
        }
    }
    let empty = obj.trailing_hvps(theta, d, &[Vec::new(), Vec::new()]);
    assert_eq!(empty, vec![Vec::<f64>::new(); 2], "{name}: the empty block");
}

#[test]
fn toy2d_hessian_at_sharp_minimum() {
    let origin = Dataset::new("origin", vec![0.0, 0.0], vec![2], Targets::None, None).unwrap();
    let obj = BurnObjective::<Cpu>::new(
        ArchSpec::Toy2d,
        &origin,
        &Default::default(),
        Precision::F64,
    )
    .unwrap()
    .boxed();
    let theta = [1.0, 1.0];
    assert_eq!(obj.loss(&theta), 0.0);
    // Exact up to the rounding of cos(π/4)² = 1/2 in f64.
    let close = |a: Vec<f64>, b: [f64; 2]| rel_err(&a, &b) < 1e-14;
    assert!(close(obj.hvp(&theta, &[1.0, 0.0]), [110.0, 90.0]));
    assert!(close(obj.hvp(&theta, &[0.0, 1.0]), [90.0, 110.0]));
    // Near (−1,−1) the flat branch is active: L = |w − x + 1|², H = 2I.
    assert!(close(obj.hvp(&[-1.0, -1.0], &[1.0, 0.0]), [2.0, 0.0]));
}

#[test]
fn per_sample_gradients_average_to_the_gradient() {
    let (arch, features, classes) = small_cnn();
    let obj = classification(arch.clone(), features, classes, 10, Precision::F64).boxed();
    let theta = arch.init(Init::PyTorch, 8);
    let d = obj.dim();
    let rows = obj.per_sample_grads(&theta);
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.chunks(d).map(|r| r[j]).sum::<f64>() / 10.0)
        .collect();
    let g = obj.grad(&theta);
    assert!(rel_err(&mean, &g) < 1e-12);
    let mut chunked = Vec::new();
    obj.for_each_grad_chunk(&theta, 3, &mut |_, chunk| chunked.extend(chunk));
    assert_eq!(chunked, rows);
    let weighted = obj.weighted_grad(&theta, &[0.1; 10]);
    assert!(rel_err(&weighted, &g) < 1e-12);
}

/// The per-sample gradients, taken in one pass per block through per-sample copies of θ, are
/// each sample's own gradient ∇ℓ_i = N·∇(Σ_j w_j ℓ_j / N) at the one-hot w = e_i, taken
/// through the shared θ: for every network kind and sequential layer kind, in blocks of 1, 4
/// and all samples (block boundaries inside the range asked for).
#[test]
fn per_sample_gradients_are_each_samples_gradient() {
    let toy = BurnObjective::<Cpu>::new(
        ArchSpec::Toy2d,
        &Dataset::new(
            "points",
            vec![0.3, -0.2, 1.1, 0.9, -1.4, 0.5],
            vec![2],
            Targets::None,
            None,
        )
        .unwrap(),
        &Default::default(),
        Precision::F64,
    )
    .unwrap();
    let mut objectives = vec![
        ("toy2d".to_string(), toy),
        ("fixed-output".into(), fixed_output(7)),
    ];
    for (arch, features, classes) in [small_mlp(), small_relu_mlp(), small_cnn()] {
        let obj = classification(arch.clone(), features, classes, 7, Precision::F64);
        objectives.push((arch.to_string(), obj));
    }
    objectives.push((
        "lenet".into(),
        classification(ArchSpec::Lenet, 784, 10, 7, Precision::F64),
    ));
    for (on_maps, on_features) in SEQUENTIAL_CASES {
        let obj = classification(
            tiny_sequential(on_maps, on_features),
            50,
            3,
            7,
            Precision::F64,
        );
        objectives.push((format!("{on_maps}{on_features}"), obj));
    }
    for (name, mut obj) in objectives {
        let (n, d) = (obj.n_samples(), obj.dim());
        let theta = obj.arch().init(Init::PyTorch, 4);
        let own = each_samples_gradient(obj.as_dyn(), &theta);
        for block in [1, 4, n] {
            obj = obj.with_samples_per_block(block);
            let rows = obj.as_dyn().per_sample_grads_range(&theta, 1, n - 1);
            assert_eq!(rows.len(), (n - 1) * d, "{name}");
            for (i, row) in rows.chunks(d).enumerate() {
                // A zero gradient (the fixed-output net's clipped predictions) must be zero.
                let err = rel_err(row, &own[i + 1]);
                assert!(
                    err < 1e-12 || row == own[i + 1],
                    "{name}, blocks of {block}, sample {}: {err:e}",
                    i + 1
                );
            }
        }
        assert!(
            own[1..].iter().flatten().any(|&g| g != 0.0),
            "{name}: some gradient is not zero"
        );
    }
}

/// Each sample's gradient by the batched path: the gradient weighted by a one-hot w.
fn each_samples_gradient(obj: &dyn Objective, theta: &[f64]) -> Vec<Vec<f64>> {
    let n = obj.n_samples();
    (0..n)
        .map(|i| {
            let one_hot: Vec<f64> = (0..n).map(|j| f64::from(u8::from(i == j))).collect();
            obj.weighted_grad(theta, &one_hot)
        })
        .collect()
}

/// In f32 the per-sample rows come back in the device's precision and are reordered straight
/// into place (convolution weights moved back to PyTorch's layout on the way): each row is that
/// sample's gradient by the batched one-hot weighted gradient, to f32's rounding, in blocks of
/// any size.
#[test]
fn per_sample_gradients_in_f32_are_each_samples_gradient() {
    let (cnn, features, classes) = small_cnn();
    for (name, arch, features, classes) in [
        ("cnn", cnn, features, classes),
        ("lenet", ArchSpec::Lenet, 784, 10),
    ] {
        let mut obj = classification(arch.clone(), features, classes, 6, Precision::F32);
        let (n, d) = (obj.n_samples(), obj.dim());
        let theta = arch.init(Init::PyTorch, 4);
        let own = each_samples_gradient(obj.as_dyn(), &theta);
        for block in [1, 4, n] {
            obj = obj.with_samples_per_block(block);
            let rows = obj.as_dyn().per_sample_grads(&theta);
            assert_eq!(rows.len(), n * d, "{name}");
            for (i, row) in rows.chunks(d).enumerate() {
                let err = rel_err(row, &own[i]);
                assert!(err < 1e-5, "{name}, blocks of {block}, sample {i}: {err:e}");
            }
        }
    }
}

/// The gradient, the per-sample gradients and the exact diag(H) have the same bits on 1, 2 and 3
/// threads: blocks of per-sample copies follow the thread count only where the results do not
/// depend on the blocks (the per-sample rows).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (arch, features, classes) = small_cnn();
    let obj = classification(arch.clone(), features, classes, 12, Precision::F64)
        .with_samples_per_block(5)
        .boxed();
    let theta = arch.init(Init::PyTorch, 5);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        pool.install(|| {
            (
                obj.grad(&theta),
                obj.per_sample_grads(&theta),
                obj.hessian_diagonal(&theta).expect("a ReLU CNN"),
            )
        })
    };
    let one = on(1);
    for threads in [2, 3] {
        assert!(on(threads) == one, "{threads} threads");
    }
}

#[test]
fn f32_hvp_agrees_with_f64() {
    let theta = ArchSpec::Lenet.init(Init::PyTorch, 9);
    let v = unit_direction(theta.len(), 9);
    let lenet = |precision| classification(ArchSpec::Lenet, 784, 10, 12, precision).boxed();
    let h64 = lenet(Precision::F64).hvp(&theta, &v);
    let h32 = lenet(Precision::F32).hvp(&theta, &v);
    let err = rel_err(&h32, &h64);
    assert!(err < 1e-4, "f32 vs f64 HVP rel. err {err:e}");
    assert!(
        err > 1e-10,
        "the f32 path must really compute in single precision"
    );
}

/// burn-flex (the default) and burn-ndarray agree on the whole pipeline in f64.
#[test]
fn flex_and_ndarray_backends_agree() {
    let (arch, features, classes) = small_cnn();
    let theta = arch.init(Init::PyTorch, 10);
    let v = unit_direction(theta.len(), 10);
    let data = random_images(features, classes, 12);
    let flex = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed();
    let ndarray =
        BurnObjective::<NdArray>::new(arch, &data, &Default::default(), Precision::F64).unwrap();
    assert!(rel_err(&flex.grad(&theta), &ndarray.grad(&theta)) < 1e-12);
    assert!(rel_err(&flex.hvp(&theta, &v), &ndarray.hvp(&theta, &v)) < 1e-12);
}

/// Inputs prepared once for all samples (the default) or per block when over the memory limit
/// give the same numbers: the cache is an optimisation, not a different computation.
#[test]
fn prepared_inputs_cached_or_per_block_agree() {
    let (arch, features, classes) = small_cnn();
    let theta = arch.init(Init::PyTorch, 12);
    let v = unit_direction(theta.len(), 12);
    let cached = classification(arch.clone(), features, classes, 12, Precision::F64)
        .with_samples_per_block(5);
    let per_block = classification(arch, features, classes, 12, Precision::F64)
        .with_samples_per_block(5)
        .with_prepared_input_limit(0);
    assert_eq!(cached.logits(&theta), per_block.logits(&theta));
    let (cached, per_block) = (cached.as_dyn(), per_block.as_dyn());
    assert_eq!(
        cached.per_sample_losses(&theta),
        per_block.per_sample_losses(&theta)
    );
    assert_eq!(cached.grad(&theta), per_block.grad(&theta));
    assert_eq!(cached.hvp(&theta, &v), per_block.hvp(&theta, &v));
    assert_eq!(
        cached.per_sample_grads(&theta),
        per_block.per_sample_grads(&theta)
    );
}

/// An objective told of a device's largest buffer cuts its blocks so that no tensor outgrows
/// it, and gives the numbers of unlimited blocks (one on a GPU; on the CPU, as here, two);
/// data that cannot fit is refused by name.
#[test]
fn blocks_within_a_largest_buffer_agree_with_one_block() {
    let (arch, features, classes) = small_cnn();
    let theta = arch.init(Init::PyTorch, 13);
    let v = unit_direction(theta.len(), 13);
    let data = random_images(features, classes, 12);
    let within = |bytes| {
        BurnObjective::<Cpu>::new_within(
            arch.clone(),
            &data,
            &Default::default(),
            Precision::F64,
            bytes,
        )
    };
    // One sample's largest tensor: 36 im2col rows (the 6×6 outputs) × 9 = 324 f64 values,
    // 2,592 bytes; 5 fit in 12,960 bytes, so the 12 samples go in four blocks of 3 (on a GPU
    // three of 4), and the prepared inputs (31,104 bytes) are prepared per block.
    let blocks = within(5 * 2592).unwrap().with_samples_per_block(usize::MAX);
    let whole = within(usize::MAX)
        .unwrap()
        .with_samples_per_block(usize::MAX);
    let close = |a: &[f64], b: &[f64], what: &str| {
        assert!(rel_err(a, b) < 1e-13, "{what}: {:e}", rel_err(a, b));
    };
    close(&blocks.logits(&theta), &whole.logits(&theta), "logits");
    let (blocks, whole) = (blocks.as_dyn(), whole.as_dyn());
    let of = |f: &dyn Objective| {
        [
            f.per_sample_losses(&theta),
            f.grad(&theta),
            f.hvp(&theta, &v),
            f.per_sample_grads(&theta),
            f.hessian_diagonal(&theta).expect("a ReLU net"),
        ]
    };
    let names = [
        "per-sample losses",
        "gradient",
        "HVP",
        "per-sample gradients",
        "diag(H)",
    ];
    for ((got, want), what) in of(blocks).iter().zip(&of(whole)).zip(names) {
        close(got, want, what);
    }
    // 12 samples' 64 inputs take 6,144 bytes; one sample's largest tensor 2,592; θ 1,752.
    let refused = |bytes| within(bytes).err().expect("refused").to_string();
    let inputs = refused(6000);
    assert!(
        inputs.contains("its inputs would take 6.1 kB as one tensor")
            && inputs.contains("largest buffer (6.0 kB)")
            && inputs.contains("'random'"),
        "{inputs}"
    );
    // θ's 219 values take 1,752 bytes: whatever the samples, only the CPU can help.
    let parameters = refused(1751);
    assert!(
        parameters.contains("its parameters θ would take 1.8 kB")
            && parameters.ends_with("; use the CPU"),
        "{parameters}"
    );
    let sample = refused(2591);
    assert!(
        sample.contains("one sample's largest tensor would take 2.6 kB"),
        "{sample}"
    );
}

/// A one-hidden-layer ReLU MLP's logits written out on the host from θ's tensors
/// (fc1.weight [H, F], fc1.bias, fc2.weight [C, H], fc2.bias), one row per sample.
fn host_mlp_logits(arch: &ArchSpec, theta: &[f64], x: &[f32]) -> Vec<Vec<f64>> {
    let shapes: Vec<Vec<usize>> = arch.params().into_iter().map(|(_, s)| s).collect();
    let (hidden, features, classes) = (shapes[0][0], shapes[0][1], shapes[2][0]);
    let (w1, rest) = theta.split_at(hidden * features);
    let (b1, rest) = rest.split_at(hidden);
    let (w2, b2) = rest.split_at(classes * hidden);
    let affine = |w: &[f64], b: &[f64], v: &[f64]| -> Vec<f64> {
        b.iter()
            .zip(w.chunks(v.len()))
            .map(|(b, row)| b + dot(row, v))
            .collect()
    };
    x.chunks(features)
        .map(|sample| {
            let sample: Vec<f64> = sample.iter().map(|&v| v as f64).collect();
            let h: Vec<f64> = affine(w1, b1, &sample)
                .into_iter()
                .map(|a| a.max(0.0))
                .collect();
            affine(w2, b2, &h)
        })
        .collect()
}

/// Accuracy against the host's forward pass, and `loss_and_accuracy`'s single pass against
/// `loss` and `accuracy` apart, to the bit, whatever the block size; a regression net has a
/// loss and no accuracy.
#[test]
fn accuracy_matches_a_host_forward_pass_in_blocks_of_any_size() {
    let (arch, features, classes) = small_relu_mlp();
    let n = 53;
    let data = random_images(features, classes, n);
    let theta = arch.init(Init::PyTorch, 5);
    let labels = data.labels().unwrap();
    let correct = host_mlp_logits(&arch, &theta, data.x())
        .iter()
        .zip(labels)
        .filter(|(logits, &label)| {
            let top = (0..classes)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap();
            top as i64 == label
        })
        .count();
    // Random labels among 4 classes: neither all nor none right, so the count is tested.
    assert!(0 < correct && correct < n, "{correct}");
    let want = correct as f64 / n as f64;
    for block in [1, 7, 1000] {
        let obj =
            BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
                .unwrap()
                .with_samples_per_block(block)
                .boxed();
        let (loss, accuracy) = obj.loss_and_accuracy(&theta);
        assert_eq!(loss.to_bits(), obj.loss(&theta).to_bits(), "block {block}");
        assert_eq!(accuracy, Some(want), "block {block}");
        assert_eq!(obj.accuracy(&theta), Some(want), "block {block}");
    }
    let fixed = fixed_output(9).boxed();
    let theta = ArchSpec::FixedOutput {
        input: 2,
        hidden: 10,
    }
    .init(Init::PyTorch, 5);
    assert_eq!(fixed.loss_and_accuracy(&theta), (fixed.loss(&theta), None));
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("panics");
    payload.downcast::<String>().map(|s| *s).unwrap_or_default()
}

/// A θ of the wrong length is refused loudly at every entry point, never read as a prefix
/// (one parameter too many) or run off the end (one too few).
#[test]
fn wrong_theta_length_is_refused_with_a_clear_message() {
    let (arch, features, classes) = small_relu_mlp();
    let obj = classification(arch.clone(), features, classes, 5, Precision::F64).boxed();
    let theta = arch.init(Init::PyTorch, 1);
    let v = vec![0.0; obj.dim()];
    for wrong in [theta.len() + 1, theta.len() - 1] {
        let mut bad = theta.clone();
        bad.resize(wrong, 0.5);
        let want = format!("θ has {wrong} entries but the model has D = {}", obj.dim());
        let messages = [
            panic_message(|| {
                obj.loss(&bad);
            }),
            panic_message(|| drop(obj.grad(&bad))),
            panic_message(|| drop(obj.hvp(&bad, &v))),
            panic_message(|| drop(obj.per_sample_grads(&bad))),
            panic_message(|| {
                obj.accuracy(&bad);
            }),
        ];
        for msg in messages {
            assert!(msg.contains(&want), "{msg}");
        }
    }
}

/// A tiny sequential net on 2×5×5 inputs with 3 classes: a padded convolution, then
/// `on_maps` (layers on feature maps), flatten, `on_features` (layers on flat features) and a
/// linear output; batch norm gets running statistics away from PyTorch's initial 0 and 1.
fn tiny_sequential(on_maps: &str, on_features: &str) -> ArchSpec {
    let json = format!(
        r#"{{"name":"sequential","input":[2,5,5],"layers":[
            {{"type":"conv2d","out":2,"kernel":3,"padding":1}}{on_maps},
            {{"type":"flatten"}}{on_features},
            {{"type":"linear","out":3}}]}}"#
    );
    let mut arch: ArchSpec = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    let ArchSpec::Sequential(net) = &mut arch else {
        unreachable!()
    };
    for (name, shape) in net.buffers() {
        let len: usize = shape.iter().product();
        let values = (0..len).map(|i| 0.6 + 0.3 * i as f64).collect();
        net.buffer_values.insert(name, values);
    }
    arch
}

/// Global response norm on maps after a ReLU, on a `channels_last` block's positions and on
/// features (one position each).
const GLOBAL_RESPONSE_NORM: (&str, &str) = (
    r#",{"type":"relu"},{"type":"global_response_norm","name":"g"},
        {"type":"channels_last","layers":[{"type":"linear","name":"a","out":3},
            {"type":"global_response_norm","name":"h","eps":0.01}]}"#,
    r#",{"type":"global_response_norm","name":"f"}"#,
);

/// Each sequential layer kind on its own in a tiny net (`on_maps`, `on_features` of
/// [`tiny_sequential`]); batch norm on maps in both of their layouts (after a convolution,
/// channels-last pixels; after average pooling, NCHW maps) and on features.
const SEQUENTIAL_CASES: [(&str, &str); 91] = [
    GLOBAL_RESPONSE_NORM,
    // Blur pooling: a reflection and a 3-tap binomial at stride 2 on a convolution's pixels,
    // then replication and 5 taps; zeros and an even filter of 4 at stride 2 on NCHW maps,
    // then a circular padding. Space-to-depth of 2 × 2 squares between convolutions.
    (
        r#",{"type":"relu"},{"type":"blur_pool2d","kernel":3,"stride":2,"padding":1},
            {"type":"conv2d","out":2,"kernel":1},
            {"type":"blur_pool2d","kernel":5,"stride":1,"padding":2,"pad_mode":"replicate"}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},
            {"type":"blur_pool2d","kernel":4,"stride":2,"padding":2,"pad_mode":"constant"},
            {"type":"blur_pool2d","kernel":3,"stride":1,"padding":1,"pad_mode":"circular"}"#,
        "",
    ),
    (
        r#",{"type":"conv2d","out":3,"kernel":2},{"type":"space_to_depth","block":2},
            {"type":"conv2d","out":2,"kernel":1}"#,
        "",
    ),
    // Spatial gates: a `[1, H, W]` path repeated over the channels; three factors, a `[C, 1, 1]`
    // scale times a `[1, H, W]` gate (each repeated the other way) times the maps.
    (
        r#",{"type":"product","branches":[[],[{"type":"conv2d","out":1,"kernel":3,"padding":1},
            {"type":"sigmoid"}]]}"#,
        "",
    ),
    (
        r#",{"type":"product","branches":[
            [{"type":"adaptive_avgpool2d","output":1},{"type":"conv2d","out":2,"kernel":1}],
            [{"type":"conv2d","out":1,"kernel":1}],[]]}"#,
        "",
    ),
    // Split attention as ResNeSt's: two runs of channels weighted by a softmax across them in
    // two groups, then summed; a softmax across paths of NCHW maps' values and of features.
    (
        r#",{"type":"conv2d","out":4,"kernel":1},
            {"type":"product","branches":[[],[{"type":"sum_runs","runs":2},
                {"type":"adaptive_avgpool2d","output":1},
                {"type":"conv2d","out":4,"kernel":1,"groups":2},
                {"type":"radix_softmax","radix":2,"cardinality":2}]]},
            {"type":"sum_runs","runs":2}"#,
        r#",{"type":"linear","out":6},{"type":"radix_softmax","radix":3},
            {"type":"sum_runs","runs":2}"#,
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"radix_softmax","radix":2}"#,
        "",
    ),
    (
        r#",{"type":"conv2d","out":3,"kernel":[3,2],"stride":[2,1],"padding":[1,0],"bias":false}"#,
        "",
    ),
    (
        r#",{"type":"maxpool2d","kernel":3,"stride":2,"padding":1}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1,"padding":1}"#,
        "",
    ),
    // Pooling in `ceil_mode`: last windows cut short (5 → 3 along the second axis), a window
    // that would start in the right padding dropped (5 → 3, not 4), means over what a window
    // covers of the input alone.
    (
        r#",{"type":"maxpool2d","kernel":[2,3],"stride":2,"padding":1,"ceil_mode":true}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":[3,2],"stride":2,"padding":[1,0],"ceil_mode":true}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":[3,2],"stride":2,"padding":[1,0],"ceil_mode":true,
            "count_include_pad":false}"#,
        "",
    ),
    (r#",{"type":"adaptive_avgpool2d","output":[3,2]}"#, ""),
    (r#",{"type":"relu"}"#, ""),
    (r#",{"type":"leaky_relu","negative_slope":0.2}"#, ""),
    (r#",{"type":"tanh"}"#, ""),
    (r#",{"type":"sigmoid"}"#, ""),
    (r#",{"type":"gelu"}"#, ""),
    (r#",{"type":"gelu","approximate":"tanh"}"#, ""),
    (r#",{"type":"silu"}"#, ""),
    (r#",{"type":"elu","alpha":0.7}"#, ""),
    // A threshold the pre-activations cross, so both of softplus's branches are differentiated
    // (`the_softplus_case_takes_both_branches`).
    ("", SOFTPLUS_LAYERS),
    (r#",{"type":"mish"}"#, ""),
    (r#",{"type":"hardtanh","min_val":-0.2,"max_val":0.3}"#, ""),
    (r#",{"type":"relu6"}"#, ""),
    (r#",{"type":"hardsigmoid"}"#, ""),
    (r#",{"type":"hardswish"}"#, ""),
    (r#",{"type":"prelu","num_parameters":2}"#, ""),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"prelu","init":-0.3}"#,
    ),
    // On NCHW maps (after average pooling) rather than a convolution's pixels.
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"prelu","num_parameters":2}"#,
        "",
    ),
    (r#",{"type":"dropout","p":0.5}"#, ""),
    (r#",{"type":"identity"}"#, ""),
    (r#",{"type":"batchnorm2d"}"#, ""),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"batchnorm2d"}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"batchnorm1d","eps":0.001}"#,
    ),
    // Without β (`bias=False`) on a convolution's pixels, without γ and β on NCHW maps and on
    // features.
    (r#",{"type":"batchnorm2d","bias":false}"#, ""),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"batchnorm2d","affine":false}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"batchnorm1d","affine":false}"#,
    ),
    (r#",{"type":"layernorm","shape":[2,5,5],"eps":0.01}"#, ""),
    (r#",{"type":"layernorm","shape":[5],"bias":false}"#, ""),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"layernorm","shape":[4],"affine":false}"#,
    ),
    (r#",{"type":"groupnorm","groups":2}"#, ""),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"groupnorm","groups":2,"eps":0.1}"#,
    ),
    (
        "",
        r#",{"type":"group","name":"g","layers":[{"type":"linear","out":4},{"type":"relu"}]}"#,
    ),
    // Residual blocks: an identity shortcut; torchvision's BasicBlock with its downsampling
    // shortcut (batch norm in both branches, the last ReLU after the block); on features, with
    // a projection.
    (
        r#",{"type":"residual","layers":[{"type":"conv2d","out":2,"kernel":3,"padding":1},
            {"type":"relu"},{"type":"conv2d","out":2,"kernel":3,"padding":1}]},{"type":"relu"}"#,
        "",
    ),
    (
        r#",{"type":"residual","name":"b","layers":[
            {"type":"conv2d","out":3,"kernel":3,"stride":2,"padding":1,"bias":false,"name":"conv1"},
            {"type":"batchnorm2d","name":"bn1"},{"type":"relu","name":"relu"},
            {"type":"conv2d","out":3,"kernel":3,"padding":1,"bias":false,"name":"conv2"},
            {"type":"batchnorm2d","name":"bn2"}],
          "shortcut":[{"type":"group","name":"downsample","layers":[
            {"type":"conv2d","out":3,"kernel":1,"stride":2,"bias":false},{"type":"batchnorm2d"}]}]},
          {"type":"relu","name":"b"}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"residual","layers":[{"type":"linear","out":4},
            {"type":"tanh"}],"shortcut":[{"type":"linear","out":4,"bias":false,"name":"proj"}]}"#,
    ),
    // Branches in different layouts: a convolution's pixels plus NCHW maps, and back.
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},
            {"type":"residual","layers":[{"type":"conv2d","out":2,"kernel":3,"padding":1}]}"#,
        "",
    ),
    (
        r#",{"type":"residual","layers":[{"type":"avgpool2d","kernel":3,"stride":1,"padding":1}],
            "shortcut":[{"type":"conv2d","out":2,"kernel":1,"name":"s"}]}"#,
        "",
    ),
    // A CIFAR ResNet's "option A" block: its shortcut subsamples (a 1×1 average pooling of
    // stride 2) and pads the channels with zeros; and zero channels after NCHW maps.
    (
        r#",{"type":"residual","layers":[{"type":"conv2d","out":4,"kernel":3,"stride":2,"padding":1},
            {"type":"relu"}],"shortcut":[{"type":"avgpool2d","kernel":1,"stride":2},
            {"type":"pad_channels","before":1,"after":1}]},{"type":"relu"}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"pad_channels","before":0,"after":2},
            {"type":"conv2d","out":2,"kernel":1}"#,
        "",
    ),
    // Uneven zero padding before a convolution: one row and column after (an odd "SAME"
    // padding's extra zero, as timm's `Conv2dSame` adds it) on a convolution's pixels, then a
    // stride-2 3×3; and zeros of a different count on each side of NCHW maps.
    (
        r#",{"type":"conv2d","out":3,"kernel":3,"padding":1},{"type":"relu"},
            {"type":"pad2d","right":1,"bottom":1},{"type":"conv2d","out":2,"kernel":3,"stride":2}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},
            {"type":"pad2d","left":2,"right":1,"top":0,"bottom":3},{"type":"conv2d","out":2,"kernel":2}"#,
        "",
    ),
    // Grouped and dilated convolutions: two groups of two filters with taps 2 apart; groups,
    // dilation and stride differing by axis; and a MobileNetV2 block (1×1 expansion, a
    // depthwise 3×3, one group per channel, a 1×1 projection) on NCHW maps.
    (
        r#",{"type":"conv2d","out":4,"kernel":3,"padding":2,"dilation":2,"groups":2}"#,
        "",
    ),
    (
        r#",{"type":"conv2d","out":2,"kernel":[2,3],"stride":[1,2],"padding":[0,1],
            "dilation":[2,1],"groups":2,"bias":false}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"residual","layers":[
            {"type":"conv2d","out":4,"kernel":1},{"type":"relu6"},
            {"type":"conv2d","out":4,"kernel":3,"padding":1,"groups":4,"bias":false},
            {"type":"batchnorm2d"},{"type":"conv2d","out":2,"kernel":1}]}"#,
        "",
    ),
    // Concatenations: of a convolution's pixels, the identity and NCHW maps; two DenseNet
    // layers in a row (each x ↦ cat(f(x), x)), the second inside a residual block's branch;
    // of features, unscoped.
    (
        r#",{"type":"concat","branches":[[{"type":"conv2d","out":3,"kernel":3,"padding":1},
            {"type":"relu"}],[],[{"type":"avgpool2d","kernel":3,"stride":1,"padding":1}]]}"#,
        "",
    ),
    (
        r#",{"type":"concat","branches":[[{"type":"batchnorm2d"},{"type":"relu"},
            {"type":"conv2d","out":2,"kernel":1,"bias":false}],[]]},
            {"type":"residual","layers":[{"type":"concat","branches":[[{"type":"batchnorm2d"},
            {"type":"relu"},{"type":"conv2d","out":2,"kernel":3,"padding":1,"bias":false}],[]]},
            {"type":"conv2d","out":4,"kernel":1}]}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"concat","branches":[[],
            [{"type":"linear","out":2,"name":"a"},{"type":"tanh"}]],"scoped":false}"#,
    ),
    // Products: MobileNetV3's squeeze-and-excitation (a [C, 1, 1] scale of 1×1 convolutions
    // times the block's pixels) inside an inverted residual; a scale read first, of NCHW maps,
    // times a convolution; a gate on features, unscoped.
    (
        r#",{"type":"residual","layers":[{"type":"conv2d","out":4,"kernel":1},{"type":"relu"},
            {"type":"product","name":"se","branches":[[],[{"type":"adaptive_avgpool2d","output":1},
            {"type":"conv2d","out":3,"kernel":1,"name":"fc1"},{"type":"relu"},
            {"type":"conv2d","out":4,"kernel":1,"name":"fc2"},{"type":"hardsigmoid"}]]},
            {"type":"conv2d","out":2,"kernel":1}]}"#,
        "",
    ),
    (
        r#",{"type":"avgpool2d","kernel":2,"stride":1},{"type":"product","branches":[
            [{"type":"adaptive_avgpool2d","output":1},{"type":"conv2d","out":2,"kernel":1},
            {"type":"sigmoid"}],[{"type":"conv2d","out":2,"kernel":3,"padding":1}]]}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"product","branches":[
            [{"type":"linear","out":4,"name":"g"},{"type":"sigmoid"}],[]],"scoped":false}"#,
    ),
    // ShuffleNetV2's block (the input's halves, one kept, one convolved, joined and shuffled);
    // a shuffle of three groups of NCHW maps; a gated linear unit, a·σ(b) of the halves.
    (
        r#",{"type":"conv2d","out":4,"kernel":1},{"type":"concat","branches":[
            [{"type":"narrow","start":0,"length":2}],[{"type":"narrow","start":2,"length":2},
            {"type":"conv2d","out":2,"kernel":3,"padding":1,"groups":2},{"type":"relu"}]]},
            {"type":"channel_shuffle","groups":2}"#,
        "",
    ),
    (
        r#",{"type":"conv2d","out":6,"kernel":1},{"type":"avgpool2d","kernel":2,"stride":1},
            {"type":"channel_shuffle","groups":3},{"type":"conv2d","out":2,"kernel":1}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":4},{"type":"product","branches":[
            [{"type":"narrow","start":0,"length":2}],
            [{"type":"narrow","start":2,"length":2},{"type":"sigmoid"}]]}"#,
    ),
    // The classic squeeze-and-excitation (its scale computed on features, unflattened to
    // [C, 1, 1]); features unflattened to maps that a convolution reads.
    (
        r#",{"type":"product","branches":[[],[{"type":"adaptive_avgpool2d","output":1},
            {"type":"flatten"},{"type":"linear","out":3},{"type":"relu"},
            {"type":"linear","out":2},{"type":"sigmoid"},{"type":"unflatten","shape":[2,1,1]}]]}"#,
        "",
    ),
    (
        "",
        r#",{"type":"linear","out":8},{"type":"unflatten","shape":[2,2,2]},
            {"type":"conv2d","out":2,"kernel":2},{"type":"flatten"}"#,
    ),
    // ConvNeXt's block: a depthwise convolution, then on each position's channels a layer norm
    // and an MLP, a layer scale [C, 1, 1], and the shortcut. ε = 0.01, as in the layer norm
    // case above: over 2 channels a smaller ε curves x̂ too sharply for the differences.
    (
        r#",{"type":"residual","layers":[
            {"type":"conv2d","name":"dw","out":2,"kernel":3,"padding":1,"groups":2},
            {"type":"channels_last","layers":[
                {"type":"layernorm","name":"norm","shape":[2],"eps":0.01},
                {"type":"linear","name":"fc1","out":8},{"type":"gelu"},
                {"type":"linear","name":"fc2","out":2}]},
            {"type":"scale","name":"layer_scale"}]}"#,
        "",
    ),
    // torchvision's LayerNorm2d, widening the channels after it on each position.
    (
        r#",{"type":"channels_last","layers":[{"type":"layernorm","name":"ln","shape":[2]},
            {"type":"linear","name":"up","out":3,"bias":false}]}"#,
        "",
    ),
    // Piecewise linear on each position: PReLU per channel and a scale [C] among features.
    (
        r#",{"type":"channels_last","layers":[{"type":"linear","name":"a","out":3},
            {"type":"prelu","name":"p","num_parameters":3},{"type":"scale","name":"gamma"},
            {"type":"linear","name":"b","out":2}]}"#,
        "",
    ),
    // DeiT's mean of two heads' scores, (a + b)/2, by a product with a number (1/3 here, which
    // is not a power of 2), on maps after a residual block.
    (
        r#",{"type":"residual","layers":[{"type":"conv2d","out":2,"kernel":1}]},
            {"type":"multiply","by":0.3333333333333333}"#,
        r#",{"type":"multiply","by":-2.5}"#,
    ),
    // A scale [F] of features.
    (
        "",
        r#",{"type":"linear","out":4},{"type":"scale","name":"gamma"}"#,
    ),
    // A scale of maps stored [C], as timm's.
    (r#",{"type":"scale","name":"gamma","shape":[2]}"#, ""),
    // A vision transformer: the maps as 25 tokens, a class token, a position embedding, an
    // encoder block (attention of 2 heads and an MLP, each after a layer norm, each with its
    // shortcut), a last layer norm and the class token's features. ε = 0.01 as above.
    (
        r#",{"type":"tokens"},{"type":"class_token","name":"cls"},
            {"type":"position_embedding","name":"pos"},
            {"type":"residual","name":"attn","layers":[
                {"type":"layernorm","name":"ln","shape":[2],"eps":0.01},
                {"type":"attention","name":"sa","heads":2}]},
            {"type":"residual","name":"mlp","layers":[
                {"type":"layernorm","name":"ln","shape":[2],"eps":0.01},
                {"type":"linear","name":"fc1","out":4},{"type":"gelu"},
                {"type":"linear","name":"fc2","out":2}]},
            {"type":"layernorm","name":"ln","shape":[2],"eps":0.01},
            {"type":"select_token"}"#,
        "",
    ),
    // Attention of one head without biases, wider tokens, a layer norm over all of [T, E],
    // and the tokens flattened token by token.
    (
        r#",{"type":"tokens"},{"type":"linear","name":"up","out":4},
            {"type":"attention","name":"sa","heads":1,"bias":false},
            {"type":"layernorm","name":"ln","shape":[25,4]},{"type":"flatten"}"#,
        "",
    ),
    // Piecewise linear on tokens: a scale [E], a PReLU of one slope, a position embedding
    // stored [T, E], the last token.
    (
        r#",{"type":"tokens"},{"type":"scale","name":"gamma"},{"type":"prelu"},
            {"type":"position_embedding","name":"pos","shape":[25,2]},
            {"type":"select_token","index":24}"#,
        "",
    ),
    // timm's average pooling: a class token and 2 register tokens, then the mean of the tokens
    // after them.
    (
        r#",{"type":"tokens"},{"type":"class_token","name":"reg","tokens":2},
            {"type":"class_token","name":"cls"},
            {"type":"linear","name":"fc","out":3},{"type":"gelu"},
            {"type":"narrow","start":3,"length":25},{"type":"token_mean"}"#,
        "",
    ),
    // An MLP-Mixer block: a layer norm, the tokens transposed, an MLP across the 25 tokens,
    // transposed back, with its shortcut; the mean of the tokens.
    (
        r#",{"type":"tokens"},{"type":"residual","name":"mix","layers":[
                {"type":"layernorm","name":"ln","shape":[2],"eps":0.01},{"type":"transpose"},
                {"type":"linear","name":"fc1","out":3},{"type":"gelu"},
                {"type":"linear","name":"fc2","out":25},{"type":"transpose"}]},
            {"type":"token_mean"}"#,
        "",
    ),
    // Piecewise linear: a shift of maps [C, 1, 1]; ResMLP's affine (a scale and a shift
    // [1, 1, E]), a linear layer across the tokens, a ReLU and a shift of the transposed tokens'
    // [T] before transposing them back; a shift of features.
    (
        r#",{"type":"shift","name":"b"},{"type":"tokens"},
            {"type":"scale","name":"alpha","shape":[1,1,2]},
            {"type":"shift","name":"beta","shape":[1,1,2]},{"type":"transpose"},
            {"type":"linear","name":"across","out":4},{"type":"relu"},
            {"type":"shift","name":"c"},{"type":"transpose"}"#,
        r#",{"type":"shift","name":"f"}"#,
    ),
    // gMLP's spatial gating unit: the tokens' features in halves, one normalized, mixed across
    // the tokens and multiplied by the other.
    (
        r#",{"type":"tokens"},{"type":"linear","name":"fc","out":4},{"type":"product","branches":[
                [{"type":"narrow","start":0,"length":2,"dim":2}],
                [{"type":"narrow","start":2,"length":2,"dim":2},
                 {"type":"layernorm","name":"ln","shape":[2]},{"type":"transpose"},
                 {"type":"linear","name":"proj","out":25},{"type":"transpose"}]]},
            {"type":"token_mean"}"#,
        "",
    ),
    // Piecewise linear but for the product: a gated unit of ReLU on tokens.
    (
        r#",{"type":"tokens"},{"type":"linear","name":"fc","out":6},{"type":"product","branches":[
                [{"type":"narrow","start":1,"length":3,"dim":2},{"type":"relu"}],
                [{"type":"narrow","start":3,"length":3,"dim":2}]]},
            {"type":"select_token","index":7}"#,
        "",
    ),
    // RMS norm over [H, W] of maps (ε the machine epsilon, as PyTorch's default) and over
    // features without γ.
    (
        r#",{"type":"rmsnorm","name":"n","shape":[5,5]}"#,
        r#",{"type":"rmsnorm","shape":[50],"eps":0.01,"affine":false}"#,
    ),
    // RMS norm over each position's channels, then over each token's features.
    (
        r#",{"type":"channels_last","layers":[{"type":"rmsnorm","name":"c","shape":[2]}]},
            {"type":"tokens"},{"type":"rmsnorm","name":"t","shape":[2],"eps":1e-6},
            {"type":"select_token","index":3}"#,
        "",
    ),
    // PoolFormer's token mixer: a group norm without β, then pool(x) − x (a residual block whose
    // shortcut is negated); a scale and a shift of one value each on features.
    (
        r#",{"type":"groupnorm","name":"g","groups":1,"bias":false},{"type":"residual","layers":[
                {"type":"avgpool2d","kernel":3,"stride":1,"padding":1,"count_include_pad":false}],
             "shortcut":[{"type":"multiply","by":-1}]}"#,
        r#",{"type":"scale","name":"s","shape":[1]},{"type":"shift","name":"b","shape":[1]}"#,
    ),
    // StarReLU, s·relu(x)² + b: a square (a product of the value with itself), one-value
    // parameters [1, 1, 1] on maps.
    (
        r#",{"type":"relu"},{"type":"product","branches":[[],[]]},
            {"type":"scale","name":"s","shape":[1,1,1]},{"type":"shift","name":"b","shape":[1]}"#,
        "",
    ),
    // Piecewise linear: one-value scales and shifts of maps, pixels and tokens.
    (
        r#",{"type":"scale","name":"s","shape":[1]},{"type":"relu"},
            {"type":"shift","name":"b","shape":[1]},{"type":"tokens"},
            {"type":"scale","name":"t","shape":[1]},{"type":"shift","name":"c","shape":[1,1,1]},
            {"type":"select_token","index":12}"#,
        "",
    ),
    // timm's weight-standardized convolutions: StdConv2d (BiT's ε), and ScaledStdConv2d's gain
    // and scale on a grouped, dilated one with a bias.
    (
        r#",{"type":"conv2d","name":"ws","out":3,"kernel":3,"padding":1,"bias":false,
             "standardize":{"eps":1e-8}}"#,
        "",
    ),
    (
        r#",{"type":"conv2d","name":"ss","out":4,"kernel":[2,3],"dilation":[2,1],"groups":2,
             "standardize":{"gain":true,"scale":0.4}},{"type":"relu"}"#,
        "",
    ),
    // ECA's channel attention: the channel means convolved along the channels, gating the
    // maps; 1-D convolutions of features with and without padding and bias.
    (
        r#",{"type":"product","name":"eca","branches":[[],[
                {"type":"adaptive_avgpool2d","output":1},{"type":"flatten"},
                {"type":"conv1d","name":"conv","kernel":3,"padding":1,"bias":false},
                {"type":"sigmoid"},{"type":"unflatten","shape":[2,1,1]}]]}"#,
        r#",{"type":"conv1d","name":"a","kernel":5,"padding":2},{"type":"relu"},
            {"type":"conv1d","name":"b","kernel":3,"bias":false}"#,
    ),
];

/// The softplus case of [`SEQUENTIAL_CASES`]: β = 2 and a threshold of 0.1, which 5 of the 24
/// inputs (6 samples × 4 features) pass at that test's θ.
const SOFTPLUS_LAYERS: &str =
    r#",{"type":"linear","out":4},{"type":"softplus","beta":2,"threshold":0.1}"#;

/// The softplus case's inputs, the outputs of the same layers up to its linear layer (at the
/// leading entries of the same θ), lie on both sides of the threshold, and none within 1e-3 of
/// it, where a finite difference could step across.
#[test]
fn the_softplus_case_takes_both_branches() {
    let theta = tiny_sequential("", SOFTPLUS_LAYERS).init(Init::PyTorch, 8);
    let json = r#"{"name":"sequential","input":[2,5,5],"layers":[
            {"type":"conv2d","out":2,"kernel":3,"padding":1},
            {"type":"flatten"},{"type":"linear","out":4}]}"#;
    let cut: ArchSpec = serde_json::from_str(json).unwrap();
    let inputs = classification(cut.clone(), 50, 3, 6, Precision::F64).logits(&theta[..cut.dim()]);
    let past = inputs.iter().filter(|z| 2.0 * **z > 0.1).count();
    assert!(
        0 < past && past < inputs.len(),
        "{past} of {} past",
        inputs.len()
    );
    assert!(
        inputs.iter().all(|z| (2.0 * z - 0.1).abs() > 1e-3),
        "{inputs:?}"
    );
}

/// An average pooling whose windows are single pixels (kernel 1, as VGG's for CIFAR-10, or
/// adaptive to the input's own size) passes its input on: loss, gradient and HVP equal the
/// net's without it, bit for bit.
#[test]
fn identity_poolings_pass_their_input_on() {
    let without = tiny_sequential("", "");
    let theta = without.init(Init::PyTorch, 3);
    let v = unit_direction(theta.len(), 4);
    let of = |arch: ArchSpec| {
        let obj = classification(arch, 50, 3, 6, Precision::F64).boxed();
        (obj.loss(&theta), obj.grad(&theta), obj.hvp(&theta, &v))
    };
    let want = of(without);
    for pool in [
        r#",{"type":"avgpool2d","kernel":1}"#,
        r#",{"type":"avgpool2d","kernel":1,"stride":1,"padding":0,"count_include_pad":false}"#,
        r#",{"type":"adaptive_avgpool2d","output":5}"#,
    ] {
        assert!(of(tiny_sequential(pool, "")) == want, "{pool}");
    }
}

/// Global response norm away from its initial γ = β = 0, where it is the identity and its
/// curvature in the values is multiplied by γ: gradient and the dense Hessian of exact HVPs
/// against central differences at every parameter drawn from N(0, 0.7²), and per-sample
/// gradients in blocks (γ and β copied per sample) equal to each sample's own.
#[test]
fn global_response_norm_has_exact_derivatives_away_from_the_identity() {
    let arch = tiny_sequential(GLOBAL_RESPONSE_NORM.0, GLOBAL_RESPONSE_NORM.1);
    let obj = classification(arch.clone(), 50, 3, 6, Precision::F64).with_samples_per_block(4);
    let theta = arch.init(Init::Normal { std: 0.7 }, 8);
    let obj = obj.as_dyn();
    let err = rel_err(&obj.grad(&theta), &fd_grad(obj, &theta, 1e-6));
    assert!(err < 1e-6, "gradient rel. err {err:e}");
    checked_dense_hessian("global_response_norm", obj, &theta);
    let (n, d) = (obj.n_samples(), obj.dim());
    let rows = obj.per_sample_grads_range(&theta, 0, n);
    for (row, own) in rows.chunks(d).zip(each_samples_gradient(obj, &theta)) {
        assert!(rel_err(row, &own) < 1e-12);
    }
}

/// Each sequential layer kind on its own in a tiny net: gradient and exact H·v against central
/// differences, the dense Hessian (from D exact HVPs) symmetric and equal to its finite
/// differences, and for piecewise-linear layers diag(H) equal to the Gauss–Newton diagonal.
#[test]
fn every_sequential_layer_kind_has_exact_first_and_second_derivatives() {
    for (on_maps, on_features) in SEQUENTIAL_CASES {
        let arch = tiny_sequential(on_maps, on_features);
        let name = format!("{on_maps}{on_features}");
        let obj = classification(arch.clone(), 50, 3, 6, Precision::F64).boxed();
        let theta = arch.init(Init::PyTorch, 8);
        let err = rel_err(&obj.grad(&theta), &fd_grad(&*obj, &theta, 1e-6));
        assert!(err < 1e-6, "{name}: gradient rel. err {err:e}");
        let h = checked_dense_hessian(&name, &*obj, &theta);
        let smooth = [
            "tanh",
            "sigmoid",
            "gelu",
            "silu",
            "elu",
            "softplus",
            "mish",
            "hardswish",
            "layernorm",
            "rmsnorm",
            "groupnorm",
            "attention",
            "global_response_norm",
            "radix_softmax",
            // Not smooth, but a parameter before the block reaches both factors.
            "product",
        ];
        // A standardized convolution's filters are not linear in its weights.
        let piecewise_linear = !smooth
            .iter()
            .any(|kind| name.contains(&format!(r#""type":"{kind}""#)))
            && !name.contains(r#""standardize""#);
        assert_eq!(arch.is_piecewise_linear(), piecewise_linear, "{name}");
        let diagonal = obj.hessian_diagonal(&theta);
        assert_eq!(diagonal.is_some(), piecewise_linear, "{name}");
        if let Some(diagonal) = diagonal {
            let exact: Vec<f64> = (0..h.len()).map(|j| h[j][j]).collect();
            let err = rel_err(&diagonal, &exact);
            assert!(
                err < 1e-10,
                "{name}: Gauss–Newton diagonal rel. err {err:e}"
            );
        }
    }
}
