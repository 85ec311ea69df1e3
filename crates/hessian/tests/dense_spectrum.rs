//! faer's dense spectrum against ground truth it cannot fake: a matrix of chosen eigenvalues,
//! nalgebra's unblocked solver on the same tiny networks, and Lanczos on a small network.

mod common;

use std::cell::Cell;

use common::with_spectrum;
use curvscope_hessian::{
    dense_eigenvalues, dense_spectrum_bytes, extreme_eigenpairs, full_spectrum, CountingOperator,
    DenseSpectrumError, LanczosOptions, LinearOperator, Which,
};
use curvscope_model::{
    default_data_dir, digits, Activation, ArchSpec, BurnObjective, Cpu, HessianOperator, Init,
    Objective, Precision,
};

/// The quadratic ½θᵀAθ with A = Q diag(λ) Qᵀ: its Hessian is A, whose spectrum is chosen, with
/// negative, zero and repeated eigenvalues.
#[test]
fn eigenvalues_of_a_chosen_spectrum() {
    let d = 300;
    let mut lambdas: Vec<f64> = (0..d)
        .map(|i| match i % 5 {
            0 => -(i as f64) / 100.0,
            1 => 0.0,
            2 => 7.5,
            _ => 1.0 + i as f64,
        })
        .collect();
    let a = with_spectrum(&lambdas, 11);
    lambdas.sort_by(|x, y| y.total_cmp(x));
    let done = Cell::new(0);
    let s = dense_eigenvalues(&a, 7, u64::MAX, &|j| {
        assert!(j > done.get(), "progress goes forward");
        done.set(j);
    })
    .unwrap();
    assert_eq!(done.get(), d, "progress reaches D");
    let scale = s.scale();
    assert_eq!(scale, s.eigenvalues[0]);
    for (got, want) in s.eigenvalues.iter().zip(&lambdas) {
        assert!((got - want).abs() <= 1e-12 * scale, "{got} vs {want}");
    }
    assert!(s.asymmetry < 1e-14, "asymmetry {:e}", s.asymmetry);
    let negative = lambdas.iter().filter(|&&l| l < 0.0).count();
    assert_eq!(s.count_negative(1e-6), negative);
    assert_eq!(
        s.count_near_zero(1e-6),
        d / 5 + 1,
        "the zeros and the λ = −0"
    );
}

fn tiny_objective(arch: ArchSpec, samples: usize) -> (Box<dyn Objective>, Vec<f64>) {
    let data = digits(&default_data_dir()).unwrap().slice(0..samples);
    let theta = arch.init(Init::PyTorch, 5);
    (
        BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed(),
        theta,
    )
}

/// faer (blocked, values only) and nalgebra (unblocked, the older dense path) agree on the
/// Hessians of a tanh MLP and a ReLU CNN, and both see the same assembled asymmetry.
#[test]
fn faer_matches_nalgebra_on_tiny_networks() {
    let nets = [
        ArchSpec::Mlp {
            input: 64,
            hidden: vec![4],
            classes: 10,
            activation: Activation::Tanh,
        },
        ArchSpec::Cnn {
            side: 8,
            channels: vec![1, 2],
            kernel: 3,
            hidden: vec![6],
            classes: 10,
        },
    ];
    for arch in nets {
        let (obj, theta) = tiny_objective(arch.clone(), 60);
        let h = HessianOperator::new(&*obj, &theta);
        let faer = dense_eigenvalues(&h, 16, u64::MAX, &|_| {}).unwrap();
        let nalgebra = full_spectrum(&h);
        assert_eq!(faer.eigenvalues.len(), obj.dim());
        // faer's assembly sees only the entries computed on both sides of the diagonal: those
        // within one parameter tensor's trailing block.
        assert!(faer.asymmetry <= 1e-14, "{arch}: {:e}", faer.asymmetry);
        assert!(
            nalgebra.asymmetry <= 1e-14,
            "{arch}: {:e}",
            nalgebra.asymmetry
        );
        let scale = faer.scale();
        for (f, n) in faer.eigenvalues.iter().zip(&nalgebra.eigenvalues) {
            assert!(
                (f - n).abs() <= 1e-12 * scale,
                "{arch}: faer {f} vs nalgebra {n}"
            );
        }
    }
}

/// An operator that knows only its trailing blocks at 0, 3 and 7: every column is asked of the
/// block it falls in (never a whole product), and the upper triangle outside the blocks, which
/// the operator never yields, is taken by symmetry.
#[test]
fn columns_come_from_their_trailing_blocks() {
    struct Blocks {
        a: nalgebra::DMatrix<f64>,
        asked: std::sync::Mutex<Vec<(usize, usize)>>,
    }
    impl LinearOperator for Blocks {
        fn dim(&self) -> usize {
            self.a.nrows()
        }
        fn apply(&self, _: &[f64]) -> Vec<f64> {
            panic!("no whole product is needed")
        }
        fn block_starts(&self) -> Vec<usize> {
            vec![0, 3, 7]
        }
        fn apply_trailing(&self, start: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
            let d = self.dim();
            let block = self.a.view((start, start), (d - start, d - start));
            xs.iter()
                .map(|x| {
                    let column = x.iter().position(|&e| e == 1.0).unwrap();
                    self.asked.lock().unwrap().push((start, start + column));
                    (block * nalgebra::DVector::from_column_slice(x))
                        .as_slice()
                        .to_vec()
                })
                .collect()
        }
    }
    let lambdas: Vec<f64> = (0..10).map(|i| 5.0 - i as f64).collect();
    let op = Blocks {
        a: with_spectrum(&lambdas, 3).matrix().clone(),
        asked: Default::default(),
    };
    let s = dense_eigenvalues(&op, 2, u64::MAX, &|_| {}).unwrap();
    for (got, want) in s.eigenvalues.iter().zip(&lambdas) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let mut asked = op.asked.into_inner().unwrap();
    asked.sort();
    let block_of = |j: usize| [0, 3, 7][(j >= 3) as usize + (j >= 7) as usize];
    assert_eq!(asked, (0..10).map(|j| (block_of(j), j)).collect::<Vec<_>>());
}

/// The top of the dense spectrum is Lanczos' top-k to 1e-8 relative (each eigenvalue), on a
/// CNN of D ≈ 1,000.
#[test]
fn top_eigenvalues_equal_lanczos_on_a_small_cnn() {
    let (obj, theta) = tiny_objective(common::small_cnn(), 100);
    let h = HessianOperator::new(&*obj, &theta);
    let dense = dense_eigenvalues(&h, 32, u64::MAX, &|_| {}).unwrap();
    let k = 10;
    let lanczos = extreme_eigenpairs(
        &h,
        &LanczosOptions {
            k,
            which: Which::Largest,
            tol: 1e-10,
            seed: 2,
            ..Default::default()
        },
    );
    assert!(lanczos.converged);
    for (d, l) in dense.eigenvalues[..k].iter().zip(&lanczos.eigenvalues) {
        assert!((d - l).abs() <= 1e-8 * d.abs(), "dense {d} vs Lanczos {l}");
    }
}

/// Too large for the budget: refused before a single product, naming D and the gigabytes.
#[test]
fn refuses_over_budget_before_any_product() {
    let a = CountingOperator::new(with_spectrum(&[1.0; 50], 1));
    let budget = dense_spectrum_bytes(50) - 1;
    let err = dense_eigenvalues(&a, 8, budget, &|_| panic!("no column may be built")).unwrap_err();
    assert_eq!(a.applications(), 0);
    assert_eq!(
        err,
        DenseSpectrumError::TooLarge {
            dim: 50,
            needed_bytes: 40_000,
            budget_bytes: 39_999
        }
    );
    let lenet = DenseSpectrumError::check_memory(11_330, 2_000_000_000).unwrap_err();
    assert_eq!(
        lenet.to_string(),
        "the full spectrum of D = 11330 needs 2.05 GB (the D×D f64 Hessian and the \
         eigensolver's copy), over the memory budget of 2.00 GB"
    );
}
