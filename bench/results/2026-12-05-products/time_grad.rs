// Scratch timing program (run as crates/model/examples/time_grad.rs, then removed):
// `cargo run --release -p curvscope-model --example time_grad -- DIR`, DIR a checkpoint
// exported by run.py with data.npz written by data64.py. f32, all cores (2 here).
#[path = "../src/allocator.rs"]
mod allocator;
use std::time::Instant;
use curvscope_model::{load_checkpoint, load_npz, BurnObjective, Cpu, Precision};
fn main() {
    if std::env::var_os("GLIBC_LIKE").is_none() { allocator::purge_lazily(); }
    let dir = std::env::args().nth(1).unwrap();
    let ckpt = load_checkpoint(std::path::Path::new(&dir)).unwrap();
    let data = load_npz(&std::path::Path::new(&dir).join("data.npz"), Some(10)).unwrap();
    let net = BurnObjective::<Cpu>::new(ckpt.meta.arch.clone(), &data, &Default::default(), Precision::F32).unwrap();
    let obj = net.as_dyn();
    let t = &ckpt.theta;
    for _ in 0..2 { obj.grad(t); }
    let mut g = vec![];
    for _ in 0..5 { let s = Instant::now(); let v = obj.grad(t); g.push(s.elapsed().as_secs_f64()); std::hint::black_box(v); }
    let mut h = vec![];
    let v = obj.grad(t);
    for _ in 0..3 { let s = Instant::now(); let r = obj.hvp(t, &v); h.push(s.elapsed().as_secs_f64()); std::hint::black_box(r); }
    g.sort_by(|a, b| a.partial_cmp(b).unwrap()); h.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("grad median {:.3} s, hvp median {:.3} s", g[2], h[1]);
}
