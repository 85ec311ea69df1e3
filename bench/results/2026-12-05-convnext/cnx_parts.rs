#[path = "../src/allocator.rs"]
mod allocator;
use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Precision, Targets};
use std::time::Instant;
fn main() {
    allocator::purge_lazily();
    let c: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let side: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let n: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    let dw = format!(r#"{{"type":"conv2d","name":"dw","out":{c},"kernel":7,"padding":3,"groups":{c}}}"#);
    let mlp = format!(r#"{{"type":"channels_last","layers":[{{"type":"layernorm","name":"n","shape":[{c}]}},{{"type":"linear","name":"a","out":{}}},{{"type":"gelu"}},{{"type":"linear","name":"b","out":{c}}}]}}"#, 4 * c);
    let variants = [("dw+mlp", format!("{dw},{mlp}")), ("dw", dw.clone()), ("mlp", mlp.clone()),
        ("dw1x1", format!(r#"{{"type":"conv2d","name":"dw","out":{c},"kernel":1,"groups":{c}}}"#))];
    for (name, body) in variants {
        let json = format!(r#"{{"name":"sequential","input":[{c},{side},{side}],"layers":[
            {{"type":"residual","layers":[{body}]}},{{"type":"adaptive_avgpool2d","output":1}},{{"type":"flatten"}},{{"type":"linear","out":10}}]}}"#);
        let arch: ArchSpec = serde_json::from_str(&json).unwrap();
        let x: Vec<f32> = (0..n * c * side * side).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let data = Dataset::new("r", x, vec![c, side, side], Targets::Classes { labels: (0..n).map(|i| (i % 10) as i64).collect(), n_classes: 10 }, None).unwrap();
        let net = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F32).unwrap();
        let obj = net.as_dyn();
        let t = arch.init(Init::PyTorch, 1);
        for _ in 0..2 { obj.grad(&t); }
        let mut g = vec![];
        for _ in 0..5 { let s = Instant::now(); std::hint::black_box(obj.grad(&t)); g.push(s.elapsed().as_secs_f64()); }
        g.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{name}: grad median {:.4} s", g[2]);
    }
}
