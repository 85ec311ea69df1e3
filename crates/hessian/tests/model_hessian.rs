//! Lanczos on a real network's exact-HVP operator against the dense path (D < 2,000).

mod common;

use curvscope_hessian::{extreme_eigenpairs, full_spectrum, true_residuals, LanczosOptions, Which};
use curvscope_model::{
    default_data_dir, digits, BurnObjective, Cpu, HessianOperator, Init, Objective, Precision,
};

/// [`common::small_cnn`] on 300 digits.
fn small_cnn_on_digits() -> (Box<dyn Objective>, Vec<f64>) {
    let arch = common::small_cnn();
    let data = digits(&default_data_dir()).unwrap().slice(0..300);
    let theta = arch.init(Init::PyTorch, 3);
    (
        BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed(),
        theta,
    )
}

#[test]
fn lanczos_matches_the_dense_hessian_of_a_small_cnn() {
    let (obj, theta) = small_cnn_on_digits();
    assert!(obj.dim() <= 2000, "D = {}", obj.dim());
    let h = HessianOperator::new(&*obj, &theta);
    let dense = full_spectrum(&h);
    assert!(
        dense.asymmetry < 1e-12,
        "assembled Hessian asymmetry {:e}",
        dense.asymmetry
    );
    let scale = dense.eigenvalues[0]
        .abs()
        .max(dense.eigenvalues.last().unwrap().abs());
    for which in [Which::Largest, Which::Smallest] {
        let pairs = extreme_eigenpairs(
            &h,
            &LanczosOptions {
                k: 5,
                which,
                tol: 1e-10,
                seed: 1,
                ..Default::default()
            },
        );
        assert!(
            pairs.converged,
            "{which:?} did not converge in {} HVPs",
            pairs.n_applications
        );
        let truth: Vec<f64> = match which {
            Which::Largest => dense.eigenvalues[..5].to_vec(),
            _ => dense.eigenvalues.iter().rev().take(5).copied().collect(),
        };
        for (got, want) in pairs.eigenvalues.iter().zip(&truth) {
            assert!(
                (got - want).abs() <= 1e-8 * scale,
                "{which:?}: {got} vs dense {want}"
            );
        }
        for r in true_residuals(&h, &pairs) {
            assert!(r <= 1e-8 * scale, "{which:?}: true residual {r:e}");
        }
    }
}
