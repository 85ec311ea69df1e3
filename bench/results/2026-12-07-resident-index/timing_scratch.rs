use curvscope_model::*;
use std::time::Instant;
fn main() {
    let data = fashion_corrupted(&default_data_dir(), 1200, 200, 0).expect("data");
    let arch = ArchSpec::Lenet;
    let f = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F32).unwrap().boxed();
    let theta = arch.init(Init::PyTorch, 0);
    let v = arch.init(Init::Normal { std: 1.0 }, 1);
    let mut ps = vec![]; let mut gr = vec![]; let mut hv = vec![];
    f.per_sample_grads(&theta);
    for _ in 0..15 {
        let t = Instant::now(); f.per_sample_grads(&theta); ps.push(t.elapsed().as_secs_f64());
        let t = Instant::now(); f.grad(&theta); gr.push(t.elapsed().as_secs_f64());
        let t = Instant::now(); f.hvp(&theta, &v); hv.push(t.elapsed().as_secs_f64());
    }
    for (name, mut x) in [("per-sample", ps), ("grad", gr), ("hvp", hv)] {
        x.sort_by(f64::total_cmp);
        println!("{name}: median {:.4} min {:.4}", x[x.len()/2], x[0]);
    }
}
