//! Scratch: does top-20 Lanczos at tol 1e-6 converge on VGG-11 in f32 vs f64?
use curvscope_hessian::{extreme_eigenpairs, LanczosOptions};
use curvscope_model::{ArchSpec, BurnObjective, Cpu, Init, Objective, Precision, HessianOperator};
#[path = "../benches/common/images.rs"]
mod images;

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let net = std::env::var("NET").unwrap_or("vgg11".into());
    let tol: f64 = std::env::var("TOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e-6);
    let arch = ArchSpec::named(&net).expect("preset");
    let theta = arch.init(Init::PyTorch, 0);
    let data = images::images(n, [3, 32, 32], 0);
    let f64obj =
        BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
            .unwrap();
    for p in [Precision::F32, Precision::F64] {
        let obj = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), p).unwrap();
        let op = HessianOperator::new(&obj, &theta);
        let t = std::time::Instant::now();
        let r = extreme_eigenpairs(
            &op,
            &LanczosOptions {
                k: 20,
                tol,
                ..Default::default()
            },
        );
        let scale = r.eigenvalues.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        println!(
            "{p:?}: {:.1}s hvps {} m {} converged {} top5 {:?}",
            t.elapsed().as_secs_f64(),
            r.n_applications,
            r.krylov_size,
            r.converged,
            &r.eigenvalues[..5]
        );
        println!(
            "  est residual/scale: {:?}",
            r.residuals
                .iter()
                .map(|x| format!("{:.1e}", x / scale))
                .collect::<Vec<_>>()
        );
        let true_res: Vec<String> = (0..20)
            .step_by(4)
            .map(|i| {
                let u = &r.eigenvectors[i];
                let hu = f64obj.hvp(&theta, u);
                let res: f64 = hu
                    .iter()
                    .zip(u)
                    .map(|(h, x)| (h - r.eigenvalues[i] * x).powi(2))
                    .sum::<f64>()
                    .sqrt();
                format!("#{i} {:.1e}", res / scale)
            })
            .collect();
        println!("  true (f64 H) residual/scale: {true_res:?}");
    }
}
