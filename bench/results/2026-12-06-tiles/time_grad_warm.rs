// Scratch timing program (built as crates/driver/examples/time_grad.rs beside the binary, then
// removed): `GRADS=5 HVPS=5 cargo run --release -p curvscope --example time_grad -- DIR`.
use std::time::Instant;
#[path = "../src/allocator.rs"] mod allocator;
fn cpu() -> f64 { let s = std::fs::read_to_string("/proc/self/stat").unwrap(); let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect(); (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0 }
use curvscope_model::{load_checkpoint, load_npz, BurnObjective, Cpu, Precision};
fn hwm() -> String { std::fs::read_to_string("/proc/self/status").unwrap().lines().filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS")).collect::<Vec<_>>().join(" ") }
fn main() {
    allocator::purge_lazily();
    let dir = std::env::args().nth(1).unwrap();
    let ckpt = load_checkpoint(std::path::Path::new(&dir)).unwrap();
    let data = load_npz(&std::path::Path::new(&dir).join("data.npz"), Some(10)).unwrap();
    let net = BurnObjective::<Cpu>::new(ckpt.meta.arch.clone(), &data, &Default::default(), Precision::F32).unwrap();
    let obj = net.as_dyn();
    let t = &ckpt.theta;
    for _ in 0..2 { obj.grad(t); }
    let mut g = vec![];
    for _ in 0..5 { let s = Instant::now(); let v = obj.grad(t); g.push(s.elapsed().as_secs_f64()); std::hint::black_box(v); }
    eprintln!("after grads {}", hwm());
    let mut h = vec![];
    let v = obj.grad(t);
    std::hint::black_box(obj.hvp(t, &v));
    for _ in 0..std::env::var("HVPS").ok().and_then(|s| s.parse().ok()).unwrap_or(8) { let c = cpu(); let s = Instant::now(); let r = obj.hvp(t, &v); let w = s.elapsed().as_secs_f64(); eprintln!("hvp wall {:.3} cpu {:.2} {}", w, cpu() - c, hwm()); h.push(w); std::hint::black_box(r); }
    g.sort_by(|a, b| a.partial_cmp(b).unwrap()); h.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("grad median {:.3} s, hvp median {:.3} s", g[2], h[h.len() / 2]);
}
