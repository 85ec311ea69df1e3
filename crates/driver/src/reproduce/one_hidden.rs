//! `curvscope reproduce one-hidden`: Zhu et al. (ICML 2019) Fig. 4 — SGD on one-hidden-layer
//! ReLU nets with fixed ±1 output weights and clipped squared loss, at several widths; Tr(HΣ)
//! and Tr(HΣ̄) along training, their ratio against D, and Props. 2–3 checked at the trained nets
//! (`curvscope_metrics::proposition2_check`).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use curvscope_metrics::{
    anisotropy_ratio, clipped_square_traces, isotropic_trace_h_sigma, minibatch_factor,
    minibatch_weights, power_law_exponent, proposition2_check, Descent, DescentOptions, Dynamic,
    Proposition2Check, ONE_HIDDEN_BATCH, ONE_HIDDEN_LR, ONE_HIDDEN_MEASURE_EVERY, ONE_HIDDEN_N,
    ONE_HIDDEN_STEPS, ONE_HIDDEN_WIDTHS,
};
use curvscope_model::{ArchSpec, Dataset, Init, Objective, Precision};

use super::{color, finish, output_folders, write, ReproduceArgs};
use crate::data::load_dataset;
use crate::network::{objective, Device};
use crate::plots::{render, Chart, Series};
use crate::progress;

/// `--quick`: two widths, 500 steps, measured every 100.
const QUICK_WIDTHS: [usize; 2] = [32, 64];
const QUICK_STEPS: u64 = 500;
const QUICK_MEASURE_EVERY: u64 = 100;

/// Tr(HΣ) and Tr(HΣ̄) at one step of one width's run.
struct Measurement {
    step: u64,
    loss: f64,
    trace_h: f64,
    trace_sigma: f64,
    trace_h_sigma: f64,
    trace_h_sigma_bar: f64,
}

/// One width's run: its measurements along training and the check at the last θ.
struct WidthRun {
    width: usize,
    dim: usize,
    along: Vec<Measurement>,
    check: Proposition2Check,
}

impl WidthRun {
    /// Whether SGD trained the net: its loss at least halved. At some seeds the ReLUs of a net
    /// die early (the loss stays ≈ 0.5, one or two samples active, then none: width 128 at seed
    /// 0): H and Σ have rank one or none, the ratio is D exactly or undefined, and nothing of
    /// Fig. 4's claim is measured.
    fn trained(&self) -> bool {
        let ends = self.along.first().zip(self.along.last());
        ends.is_some_and(|(first, last)| last.loss <= 0.5 * first.loss)
    }
}

/// Fig. 4: runs, CSVs, figures, table. Not resumable: the full run takes minutes
/// (docs/REPRODUCTION.md) and repeats bit for bit, so it is simply started again.
pub fn run(args: &ReproduceArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (out, figures) = output_folders(args)?;
    let (widths, steps, every) = if args.quick {
        (&QUICK_WIDTHS[..], QUICK_STEPS, QUICK_MEASURE_EVERY)
    } else {
        (
            &ONE_HIDDEN_WIDTHS[..],
            ONE_HIDDEN_STEPS,
            ONE_HIDDEN_MEASURE_EVERY,
        )
    };
    let data = load_dataset(&format!("halfspace:{ONE_HIDDEN_N}"), args.seed)?;
    let bar = progress::bar(args.quiet, steps * widths.len() as u64, "steps");
    let mut runs = Vec::new();
    for &width in widths {
        bar.set_message(format!("width {width}"));
        runs.push(train(&data, width, args.seed, steps, every, &bar)?);
    }
    bar.finish_and_clear();
    write_csvs(&out, &runs)?;
    let charts = draw(&figures, &runs)?;
    finish(
        &out,
        "one-hidden: Zhu et al. 2019, Fig. 4",
        table(&runs, steps),
        &charts,
        started,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The net of hidden width `width` on `data`, trained by SGD from θ₀ ~ N(0, I/D) for `steps`
/// steps, measured every `every` steps (and at both ends), then [`proposition2_check`] at the
/// last θ.
fn train(
    data: &Dataset,
    width: usize,
    seed: u64,
    steps: u64,
    every: u64,
    bar: &indicatif::ProgressBar,
) -> Result<WidthRun> {
    let arch = ArchSpec::FixedOutput {
        input: 2,
        hidden: width,
    };
    let net = objective(&arch, data, Precision::F64, Device::Cpu)
        .with_context(|| format!("the width-{width} net"))?;
    let net = net.as_ref();
    let (n, dim) = (net.n_samples(), net.dim());
    let std = curvscope_metrics::one_hidden_init_std(dim);
    let mut theta = arch.init(Init::Normal { std }, seed);
    let mut descent = Descent::new(DescentOptions {
        seed,
        ..DescentOptions::new(Dynamic::Sgd, ONE_HIDDEN_BATCH)
    });
    let minibatch = |t: &[f64], idx: &[usize]| net.weighted_grad(t, &minibatch_weights(n, idx));
    let mut along = vec![measure(net, &theta, 0)];
    for step in 0..steps {
        anyhow::ensure!(
            descent.step(
                net,
                &mut theta,
                ONE_HIDDEN_LR,
                Precision::F64,
                step,
                &minibatch
            ),
            "θ diverged at step {} of {arch}",
            step + 1
        );
        if (step + 1).is_multiple_of(every) || step + 1 == steps {
            along.push(measure(net, &theta, step + 1));
        }
        bar.inc(1);
    }
    Ok(WidthRun {
        width,
        dim,
        along,
        check: proposition2_check(net, &theta),
    })
}

/// Exact Tr(H), Tr(Σ), Tr(HΣ) ([`clipped_square_traces`], from the per-sample gradients) and
/// Tr(HΣ̄) at θ.
fn measure(net: &dyn Objective, theta: &[f64], step: u64) -> Measurement {
    let t = clipped_square_traces(net, theta);
    Measurement {
        step,
        loss: t.loss,
        trace_h: t.trace_h,
        trace_sigma: t.trace_sigma,
        trace_h_sigma: t.trace_h_sigma,
        trace_h_sigma_bar: isotropic_trace_h_sigma(t.trace_h, t.trace_sigma, net.dim()),
    }
}

/// along_training.csv (every measurement) and proposition2.csv (the check at each trained net).
fn write_csvs(out: &Path, runs: &[WidthRun]) -> Result<()> {
    let mut text = String::from(
        "width,dim,step,loss,trace_h,trace_sigma,trace_h_sigma,trace_h_sigma_bar,ratio\n",
    );
    for r in runs {
        for m in &r.along {
            let ratio = anisotropy_ratio(m.trace_h_sigma, m.trace_h_sigma_bar);
            writeln!(
                text,
                "{},{},{},{},{},{},{},{},{}",
                r.width,
                r.dim,
                m.step,
                m.loss,
                m.trace_h,
                m.trace_sigma,
                m.trace_h_sigma,
                m.trace_h_sigma_bar,
                optional(ratio)
            )?;
        }
    }
    write(out, "along_training.csv", &text)?;
    let mut text = String::from(
        "width,dim,loss,active_samples,gauss_newton_error,sigma_h_cosine,trace_h,trace_sigma,\
         trace_h_sigma,trace_h_sigma_bar,ratio,proportional_ratio,lambda1,a_hat,bound,bound_holds,\
         first_ill_conditioned_k,negative_curvature,trained\n",
    );
    for r in runs {
        let (c, p) = (&r.check, &r.check.proposition1);
        writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.width,
            r.dim,
            c.loss,
            c.active_samples,
            c.gauss_newton_error,
            c.sigma_h_cosine,
            p.trace_h,
            c.trace_sigma,
            c.trace_h_sigma,
            isotropic_trace_h_sigma(p.trace_h, c.trace_sigma, r.dim),
            optional(p.ratio),
            optional(c.proportional_ratio),
            p.lambda1,
            optional(p.projection_coefficient),
            optional(p.bound),
            optional(p.bound_holds),
            optional(p.first_ill_conditioned_k),
            optional(p.negative_curvature),
            r.trained()
        )?;
    }
    write(out, "proposition2.csv", &text)
}

/// A CSV field: the value, or empty when undefined.
fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

/// Tr(HΣ) and Tr(HΣ̄) along training (log y, one colour per width), their ratio along
/// training, and the final ratio against D (log-log, with the Σ ∝ H ratio beside it).
fn draw(dir: &Path, runs: &[WidthRun]) -> Result<Vec<Chart>> {
    // A measurement without a value (a ratio of no Tr(HΣ̄)) is left out, as in the CSV.
    let along = |pick: fn(&Measurement) -> Option<f64>| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| {
                Series::exact(
                    Some(format!("width {} (D = {})", r.width, r.dim)),
                    r.along
                        .iter()
                        .filter_map(|m| pick(m).map(|v| (m.step as f64, v)))
                        .collect(),
                    color(i),
                )
            })
            .collect()
    };
    let log_points = |pick: fn(&WidthRun) -> Option<f64>| -> Vec<(f64, f64)> {
        runs.iter()
            .filter(|r| r.trained())
            .filter_map(|r| pick(r).map(|v| ((r.dim as f64).log10(), v.log10())))
            .collect()
    };
    let chart = |name: &str, title: &str, y_label: &str, series| Chart {
        name: name.into(),
        title: title.into(),
        x_label: "iteration".into(),
        y_label: y_label.into(),
        log_y: true,
        integer_x: true,
        series,
    };
    let charts = [
        chart(
            "trace_h_sigma",
            "Tr(HΣ) along SGD (Σ of one sample; a batch of b divides it by b)",
            "Tr(HΣ), one-sample Σ",
            along(|m| Some(m.trace_h_sigma)),
        ),
        chart(
            "trace_h_sigma_bar",
            "Tr(H)Tr(Σ)/D, i.e. Tr(HΣ̄) of isotropic noise, along SGD (one-sample Σ)",
            "Tr(H)Tr(Σ)/D, one-sample Σ",
            along(|m| Some(m.trace_h_sigma_bar)),
        ),
        chart(
            "ratio_along_training",
            "Tr(HΣ) ÷ Tr(H)Tr(Σ)/D along SGD",
            "ratio",
            along(|m| anisotropy_ratio(m.trace_h_sigma, m.trace_h_sigma_bar)),
        ),
        Chart {
            name: "ratio_vs_dim".into(),
            title: "Tr(HΣ) ÷ Tr(H)Tr(Σ)/D at the trained nets against D".into(),
            x_label: "log10 D".into(),
            y_label: "log10 ratio".into(),
            log_y: false,
            integer_x: false,
            series: vec![
                Series::exact(
                    Some("measured ratio".into()),
                    log_points(|r| r.check.proposition1.ratio),
                    color(0),
                ),
                Series::exact(
                    Some("D·‖H‖²/Tr(H)² (if Σ ∝ H)".into()),
                    log_points(|r| r.check.proportional_ratio),
                    color(1),
                ),
            ],
        },
    ];
    for chart in &charts {
        render(chart, dir)?;
    }
    Ok(charts.into())
}

/// The closing table (printed and put in report.html): per width, the trained net's Tr(HΣ), Tr(HΣ̄), their ratio, the Prop. 2
/// check and Prop. 1's â and bound; then the fitted exponent of ratio ~ D^p.
fn table(runs: &[WidthRun], steps: u64) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "one-hidden (Zhu et al. Fig. 4): N = {ONE_HIDDEN_N} points in [−2,2]², label 1[x1 ≥ x2], \
         fixed ±1 output, clipped MSE (δ = 1e-3); SGD b = {ONE_HIDDEN_BATCH}, lr {ONE_HIDDEN_LR}, \
         {steps} steps, θ₀ ~ N(0, I/D)"
    );
    let _ = writeln!(
        text,
        "Tr(HΣ) and Tr(HΣ̄) = Tr(H)Tr(Σ)/D of the one-sample Σ, not of SGD's b = {ONE_HIDDEN_BATCH}: \
         the covariance of a batch of {ONE_HIDDEN_BATCH} distinct samples (the authors' Fig. 4) \
         divides both by {:.2}, and leaves their ratio as it is",
        1.0 / minibatch_factor(ONE_HIDDEN_BATCH, ONE_HIDDEN_N).without_replacement
    );
    let _ = writeln!(
        text,
        "{:>6} {:>5} {:>9} {:>10} {:>10} {:>8} {:>9} {:>7} {:>7} {:>8}",
        "width", "D", "loss", "Tr(HΣ)", "Tr(HΣ̄)", "ratio", "|H−GN|/H", "cos", "â", "bound"
    );
    for r in runs {
        let (c, p) = (&r.check, &r.check.proposition1);
        let _ = writeln!(
            text,
            "{:>6} {:>5} {:>9.5} {:>10.3e} {:>10.3e} {:>8.2} {:>9.1e} {:>7.3} {:>7} {:>8}",
            r.width,
            r.dim,
            c.loss,
            c.trace_h_sigma,
            isotropic_trace_h_sigma(p.trace_h, c.trace_sigma, r.dim),
            p.ratio.unwrap_or(f64::NAN),
            c.gauss_newton_error,
            c.sigma_h_cosine,
            optional(p.projection_coefficient.map(|a| format!("{a:.3}"))),
            optional(p.bound.map(|b| format!("{b:.2}"))),
        );
    }
    for r in runs.iter().filter(|r| !r.trained()) {
        let (first, last) = (r.along.first().map_or(f64::NAN, |m| m.loss), r.check.loss);
        let active = r.check.active_samples;
        // A handful of active samples is the mark of dead ReLUs; otherwise SGD was slow.
        let why = if active <= 2 {
            format!("its ReLUs died ({active} active samples): H and Σ have rank at most {active}")
        } else {
            format!("{active} active samples")
        };
        let _ = writeln!(
            text,
            "width {}: SGD did not train this net (loss {first:.3} → {last:.3}, not halved; \
             {why}); it is left out of the fit and the ratio-vs-D figure (another --seed \
             trains it)",
            r.width,
        );
    }
    let points: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r.trained())
        .filter_map(|r| r.check.proposition1.ratio.map(|v| (r.dim as f64, v)))
        .collect();
    if let Some(p) = power_law_exponent(&points) {
        let _ = writeln!(
            text,
            "ratio ~ D^{p:.2} (least squares on log-log); the paper: the ratio grows with D \
             (Eq. 17, ~ a·D^(2d−1))"
        );
    }
    text
}
