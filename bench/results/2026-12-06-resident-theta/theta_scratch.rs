//! Scratch timing of θ kept on the device (2026-12-06): run as an example of curvscope-model
//! (copy to crates/model/examples/, `cargo run --release -p curvscope-model --example
//! theta_scratch -- N NET`). In one build, an HVP (gradient) at a θ new to the objective
//! against the same call again at that θ, medians of 7 alternating pairs, f32, synthetic
//! images.
use curvscope_model::*;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(4);
    let net = std::env::args().nth(2).unwrap_or("vgg11".into());
    let (arch, shape) = match net.as_str() {
        "lenet" => (ArchSpec::Lenet, vec![1, 28, 28]),
        _ => (ArchSpec::named("vgg11").unwrap(), vec![3, 32, 32]),
    };
    let f: usize = shape.iter().product();
    let x: Vec<f32> = (0..n * f).map(|i| ((i * 7919 % 1000) as f32) / 1000.0 - 0.5).collect();
    let labels = (0..n as i64).map(|i| i % 10).collect();
    let targets = Targets::Classes { labels, n_classes: 10 };
    let data = Dataset::new("r", x.clone(), shape, targets, None).unwrap();
    let obj = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F32)
        .unwrap();
    let t1 = arch.init(Init::PyTorch, 0);
    let t2 = arch.init(Init::PyTorch, 1);
    let v = arch.init(Init::Normal { std: 1.0 }, 2);
    let time = |f: &dyn Fn()| {
        let s = Instant::now();
        f();
        s.elapsed().as_secs_f64()
    };
    obj.hvp(&t1, &v);
    obj.hvp(&t2, &v);
    let (mut same, mut new, mut gsame, mut gnew) = (vec![], vec![], vec![], vec![]);
    for _ in 0..7 {
        new.push(time(&|| drop(obj.hvp(&t1, &v)))); // the call before was at t2
        same.push(time(&|| drop(obj.hvp(&t1, &v))));
        gnew.push(time(&|| drop(obj.grad(&t2))));
        gsame.push(time(&|| drop(obj.grad(&t2))));
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{net} n={n} D={}: HVP new θ {:.4} s, same θ {:.4} s; grad new θ {:.4}, same θ {:.4}",
        obj.dim(),
        med(new),
        med(same),
        med(gnew),
        med(gsame)
    );
}
