// Scratch timing of the reorder (appended to crates/model/src/burn_objective/leaf_order.rs as a
// test module, then removed): `CKPT=/tmp/tv/resnet50 cargo test --release -p curvscope-model
// --lib scratch -- --include-ignored --nocapture`. `old_reorder` is the gather of e66ff15; the
// outputs are allocated once, so the times are the reorders' own (medians of 9).
#[cfg(test)]
mod scratch_timing {
    use rayon::prelude::*;
    const TASK: usize = 1 << 18;
    fn transpose_outer<S: Copy + Sync, T: Send>(from: &[S], to: &mut [T], [o, i, k]: [usize; 3], direction: Direction, map: &(impl Fn(S) -> T + Sync)) {
        match direction {
            Direction::ToLeaves => to.par_chunks_mut(o).with_min_len(TASK / o).enumerate().for_each(|(ki, row)| {
                let (kk, ii) = (ki / i, ki % i);
                row.iter_mut().enumerate().for_each(|(oo, x)| *x = map(from[(oo * i + ii) * k + kk]));
            }),
            Direction::ToPyTorch => to.par_chunks_mut(k).with_min_len(TASK / k).enumerate().for_each(|(oi, row)| {
                let ii = oi % i; let oo = oi / i;
                row.iter_mut().enumerate().for_each(|(kk, x)| *x = map(from[(kk * i + ii) * o + oo]));
            }),
        }
    }
    fn old_reorder<S: Copy + Sync, T: Send>(shape: &[usize], from: &[S], to: &mut [T], direction: Direction, map: &(impl Fn(S) -> T + Sync)) {
        match *shape {
            [out, inputs, kh, kw] => transpose_outer(from, to, [out, inputs, kh * kw], direction, map),
            _ => to.par_chunks_mut(TASK).zip(from.par_chunks(TASK)).for_each(|(to, from)| to.iter_mut().zip(from).for_each(|(t, &f)| *t = map(f))),
        }
    }
    use super::{reorder_tensor, Direction};
    #[test]
    #[ignore]
    fn time_reorder() {
        let dir = std::env::var("CKPT").unwrap();
        let ck = crate::load_checkpoint(std::path::Path::new(&dir)).unwrap();
        let shapes = ck.meta.arch.params();
        let t = &ck.theta;
        let mut out32 = vec![0f32; t.len()];
        let mut out64 = vec![0f64; t.len()];
        let time = |f: &mut dyn FnMut()| {
            let mut v: Vec<f64> = (0..9).map(|_| { let s = std::time::Instant::now(); f(); s.elapsed().as_secs_f64() }).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[4]
        };
        let run = |to: Direction, out: &mut dyn FnMut(usize, usize, &[usize], &[f64])| {
            let mut b = 0;
            for (_, s) in &shapes { let len: usize = s.iter().product(); out(b, len, s, &t[b..b + len]); b += len; }
        };
        let a = time(&mut || run(Direction::ToLeaves, &mut |b, len, s, f| reorder_tensor(s, f, &mut out32[b..b + len], Direction::ToLeaves, &|x| x as f32)));
        let b = time(&mut || run(Direction::ToPyTorch, &mut |bb, len, s, f| reorder_tensor(s, f, &mut out64[bb..bb + len], Direction::ToPyTorch, &|x| x / 16.0)));
        let oa = time(&mut || run(Direction::ToLeaves, &mut |b, len, s, f| old_reorder(s, f, &mut out32[b..b + len], Direction::ToLeaves, &|x| x as f32)));
        let ob = time(&mut || run(Direction::ToPyTorch, &mut |bb, len, s, f| old_reorder(s, f, &mut out64[bb..bb + len], Direction::ToPyTorch, &|x| x / 16.0)));
        println!("old: to_leaves {:.4} to_pytorch {:.4}", oa, ob);
        let c = time(&mut || run(Direction::ToPyTorch, &mut |bb, len, _s, f| reorder_tensor(&[len], f, &mut out64[bb..bb + len], Direction::ToPyTorch, &|x| x / 16.0)));
        let d = time(&mut || run(Direction::ToPyTorch, &mut |bb, len, _s, f| reorder_tensor(&[len], f, &mut out32[bb..bb + len], Direction::ToPyTorch, &|x| x as f32)));
        let mut agg: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
        let mut b0 = 0;
        for (_, sh) in &shapes { let len: usize = sh.iter().product(); if sh.len() == 4 {
            let tt = time(&mut || reorder_tensor(sh, &t[b0..b0 + len], &mut out64[b0..b0 + len], Direction::ToPyTorch, &|x| x / 16.0));
            let tl = time(&mut || reorder_tensor(sh, &t[b0..b0 + len], &mut out32[b0..b0 + len], Direction::ToLeaves, &|x| x as f32));
            let e = agg.entry(format!("{:?}", sh)).or_default(); e.0 += tt; e.1 += 1; println!("{:?} topt {:.2} ns/value toleaves {:.2}", sh, tt / len as f64 * 1e9, tl / len as f64 * 1e9); }
            b0 += len; }
        println!("D {} to_leaves(f32) {:.4} to_pytorch(f64) {:.4} plain f64 {:.4} plain f32 {:.4}", t.len(), a, b, c, d);
    }
}
