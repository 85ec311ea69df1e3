//! Scratch: thick restarts of top-20 Lanczos against the unrestricted run.
use curvscope_hessian::{extreme_eigenpairs, LanczosOptions};
use curvscope_model::{default_data_dir, fashion_corrupted, ArchSpec, BurnObjective, Cpu, Init, Precision, HessianOperator};
#[path = "../benches/common/images.rs"]
mod images;

fn main() {
    let net = std::env::var("NET").unwrap_or("lenet".into());
    let runs: Vec<(Option<usize>, usize)> = std::env::var("RUNS")
        .unwrap_or("none:0,40:0,40:100".into())
        .split(',')
        .map(|r| {
            let (m, r) = r.split_once(':').unwrap();
            (m.parse().ok(), r.parse().unwrap())
        })
        .collect();
    let (arch, data, precision) = match net.as_str() {
        "lenet" => (ArchSpec::Lenet, fashion_corrupted(&default_data_dir(), 1000, 200, 0).unwrap(), Precision::F64),
        _ => (ArchSpec::named(&net).unwrap(), images::images(16, [3, 32, 32], 0), Precision::F32),
    };
    let theta = arch.init(Init::PyTorch, 0);
    let obj = BurnObjective::<Cpu>::new(arch, &data, &Default::default(), precision).unwrap();
    let op = HessianOperator::new(&obj, &theta);
    let mut first: Option<Vec<f64>> = None;
    for (max_krylov, restarts) in runs {
        let t = std::time::Instant::now();
        let r = extreme_eigenpairs(&op, &LanczosOptions { k: 20, max_krylov, restarts, ..Default::default() });
        let scale = r.eigenvalues[0];
        let worst = r.residuals.iter().fold(0.0f64, |a, b| a.max(*b)) / scale;
        let diff = first.as_ref().map(|f| f.iter().zip(&r.eigenvalues).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale);
        println!("{net} max_krylov {max_krylov:?} restarts {restarts}: {:.1} s, {} HVPs, m {}, converged {}, worst residual/λ₁ {worst:.1e}, λ₁ {:.6}, λ₂₀ {:.6}, max |Δλ|/λ₁ vs first {diff:?}",
            t.elapsed().as_secs_f64(), r.n_applications, r.krylov_size, r.converged, r.eigenvalues[0], r.eigenvalues[19]);
        first.get_or_insert(r.eigenvalues);
    }
}
