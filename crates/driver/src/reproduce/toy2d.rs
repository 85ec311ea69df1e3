//! `curvscope reproduce toy2d`: Zhu et al. (ICML 2019) Fig. 2 — every dynamic run 100 times from
//! the sharp minimum of the 2-D toy loss, success rates with Wilson intervals, trajectories,
//! Tr(H_tΣ_t) and each dynamic's own Tr(H_tC_t) along a run, as CSVs, figures and a table beside
//! the paper's claim.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use curvscope_metrics::{
    descend, gradient_noise_trace, reached_flat_minimum, repetition_seed, toy2d_options,
    trace_h_sigma_exact, wilson_interval, Descent, Dynamic, SuccessRate, TOY2D_DYNAMICS, TOY2D_LR,
    TOY2D_NOISE_TRACE, TOY2D_REPETITIONS, TOY2D_START, TOY2D_STEPS,
};
use curvscope_model::{ArchSpec, HessianOperator, Objective, Precision};
use rayon::prelude::*;

use super::{color, finish, output_folders, write, ReproduceArgs};
use crate::network::{objective, Device};
use crate::plots::{render, Chart, Series};
use crate::progress;

/// Repetitions per dynamic under `--quick`.
const QUICK_REPETITIONS: u64 = 10;
/// The toy's data: the paper's N = 100 points, drawn with this fixed data seed (the points are
/// part of the loss; `--seed` varies only the noise).
const TOY2D_N: usize = 100;
const TOY2D_DATA_SEED: u64 = 0;
/// The escaping indicators are computed at every this many steps of a run (N + 1 HVPs for
/// Tr(H_tΣ_t), a few for Tr(H_tC_t)).
const TRACE_EVERY: usize = 10;

/// The escaping indicators at one point θ_t of a run.
struct Indicators {
    step: usize,
    /// Tr(H_tΣ_t), Σ_t SGD's one-sample covariance at θ_t.
    trace_h_sigma: f64,
    /// Tr(H_tC_t), C_t the covariance of the dynamic's own gradient noise at step t (trace
    /// [`TOY2D_NOISE_TRACE`]/η² for every noisy dynamic; 0 for GD, which adds none).
    trace_h_noise: f64,
}

/// One run of one dynamic.
struct Run {
    seed: u64,
    path: Vec<Vec<f64>>,
}

impl Run {
    fn last(&self) -> &[f64] {
        self.path.last().expect("a run holds θ₀")
    }
}

/// Fig. 2: runs, CSVs, figures, table. Not resumable: the 600 runs take 2–5 minutes on 2
/// cores (docs/REPRODUCTION.md) and a rerun repeats them bit for bit, so an interrupted run is
/// simply started again (`--quick`: under a minute).
pub fn run(args: &ReproduceArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (out, figures) = output_folders(args)?;
    let data = curvscope_model::toy2d(TOY2D_N, TOY2D_DATA_SEED);
    let toy = objective(&ArchSpec::Toy2d, &data, Precision::F64, Device::Cpu)?;
    let repetitions = if args.quick {
        QUICK_REPETITIONS
    } else {
        TOY2D_REPETITIONS
    };
    let bar = progress::bar(
        args.quiet,
        repetitions * TOY2D_DYNAMICS.len() as u64,
        "runs",
    );
    let mut runs = Vec::new();
    for dynamic in TOY2D_DYNAMICS {
        bar.set_message(dynamic.name());
        let of_dynamic: Vec<Run> = (0..repetitions)
            .into_par_iter()
            .map(|r| {
                let seed = repetition_seed(args.seed, r);
                let options = toy2d_options(dynamic, seed);
                let path = descend(toy.as_ref(), options, TOY2D_LR, &TOY2D_START, TOY2D_STEPS);
                bar.inc(1);
                Run { seed, path }
            })
            .collect();
        runs.push((dynamic, of_dynamic));
    }
    bar.finish_and_clear();
    let rates: Vec<(Dynamic, SuccessRate)> = runs
        .iter()
        .map(|(d, rs)| {
            let k = rs.iter().filter(|r| reached_flat_minimum(r.last())).count();
            (*d, wilson_interval(k as u64, rs.len() as u64))
        })
        .collect();
    let traces: Vec<(Dynamic, Vec<Indicators>)> = runs
        .iter()
        .map(|(d, rs)| (*d, indicators_along(toy.as_ref(), *d, &rs[0])))
        .collect();
    write_csvs(&out, &runs, &rates, &traces)?;
    let charts = draw(&figures, &runs, &rates, &traces)?;
    finish(
        &out,
        "toy2d: Zhu et al. 2019, Fig. 2",
        table(&rates, &traces, repetitions),
        &charts,
        started,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Tr(H_tΣ_t) and Tr(H_tC_t), both exact, at every [`TRACE_EVERY`]-th point of `run`'s path.
/// C_t is the covariance `dynamic` drew its step-t noise from: the toy re-estimates it at every
/// step, so rebuilding it at θ_t with the run's seed gives the run's own.
fn indicators_along(toy: &dyn Objective, dynamic: Dynamic, run: &Run) -> Vec<Indicators> {
    let descent = Descent::new(toy2d_options(dynamic, run.seed));
    run.path
        .iter()
        .enumerate()
        .step_by(TRACE_EVERY)
        .map(|(t, theta)| Indicators {
            step: t,
            trace_h_sigma: trace_h_sigma_exact(toy, theta, TOY2D_N).value,
            trace_h_noise: descent
                .noise_covariance(toy, theta, t as u64)
                .map_or(0.0, |c| {
                    c.escaping_indicator(&HessianOperator::new(toy, theta))
                }),
        })
        .collect()
}

/// success_rates.csv, final_points.csv, trajectories.csv (repetition 0) and trace_h_sigma.csv.
fn write_csvs(
    out: &Path,
    runs: &[(Dynamic, Vec<Run>)],
    rates: &[(Dynamic, SuccessRate)],
    traces: &[(Dynamic, Vec<Indicators>)],
) -> Result<()> {
    let mut text = String::from("dynamic,successes,repetitions,rate,wilson95_low,wilson95_high\n");
    for (d, r) in rates {
        writeln!(
            text,
            "{d},{},{},{},{},{}",
            r.successes, r.trials, r.rate, r.low, r.high
        )?;
    }
    write(out, "success_rates.csv", &text)?;
    let mut text = String::from("dynamic,repetition,seed,steps,w1,w2,success\n");
    for (d, rs) in runs {
        for (i, r) in rs.iter().enumerate() {
            let w = r.last();
            let (steps, ok) = (r.path.len() - 1, reached_flat_minimum(w));
            writeln!(text, "{d},{i},{},{steps},{},{},{ok}", r.seed, w[0], w[1])?;
        }
    }
    write(out, "final_points.csv", &text)?;
    let mut text = String::from("dynamic,step,w1,w2\n");
    for (d, rs) in runs {
        for (t, w) in rs[0].path.iter().enumerate() {
            writeln!(text, "{d},{t},{},{}", w[0], w[1])?;
        }
    }
    write(out, "trajectories.csv", &text)?;
    let mut text = String::from("dynamic,step,trace_h_sigma,trace_h_noise\n");
    for (d, points) in traces {
        for p in points {
            let (t, hs, hc) = (p.step, p.trace_h_sigma, p.trace_h_noise);
            writeln!(text, "{d},{t},{hs},{hc}")?;
        }
    }
    write(out, "trace_h_sigma.csv", &text)
}

/// trajectories (repetition 0 of each dynamic, the two minima as points), success rates with
/// their intervals (an error bar per dynamic at x = its index), Tr(H_tΣ_t) and each noisy
/// dynamic's Tr(H_tC_t) along a run.
fn draw(
    dir: &Path,
    runs: &[(Dynamic, Vec<Run>)],
    rates: &[(Dynamic, SuccessRate)],
    traces: &[(Dynamic, Vec<Indicators>)],
) -> Result<Vec<Chart>> {
    let black = plotters::style::RGBColor(0, 0, 0);
    let mut paths: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, (d, rs))| {
            Series::exact(
                Some(d.to_string()),
                rs[0].path.iter().map(|w| (w[0], w[1])).collect(),
                color(i),
            )
        })
        .collect();
    // Two one-point series, so no line joins the minima.
    for (label, w) in [
        (Some("minima: sharp (1,1), flat (−1,−1)"), 1.0),
        (None, -1.0),
    ] {
        paths.push(Series::exact(
            label.map(str::to_string),
            vec![(w, w)],
            black,
        ));
    }
    let bars = rates
        .iter()
        .enumerate()
        .map(|(i, (d, r))| Series {
            label: Some(format!("{i}: {d}")),
            points: vec![(i as f64, r.rate)],
            intervals: vec![(r.low, r.high)],
            color: color(i),
        })
        .collect();
    // Each dynamic keeps its colour in both charts; GD, without noise, is left out of the second.
    let along = |value: fn(&Indicators) -> f64, noisy_only: bool| {
        traces
            .iter()
            .enumerate()
            .filter(|(_, (d, _))| !noisy_only || d.adds_gaussian_noise())
            .map(|(i, (d, points))| {
                Series::exact(
                    Some(d.to_string()),
                    points.iter().map(|p| (p.step as f64, value(p))).collect(),
                    color(i),
                )
            })
            .collect()
    };
    let charts = [
        Chart {
            name: "trajectories".into(),
            title: "One run per dynamic from the sharp minimum".into(),
            x_label: "w1".into(),
            y_label: "w2".into(),
            log_y: false,
            integer_x: false,
            series: paths,
        },
        Chart {
            name: "success_rate".into(),
            title: "Runs ending at w1, w2 < −0.5 (Wilson 95%)".into(),
            x_label: "dynamic".into(),
            y_label: "success rate".into(),
            log_y: false,
            integer_x: true,
            series: bars,
        },
        Chart {
            name: "trace_h_sigma".into(),
            title: "Tr(H_t Σ_t) along one run".into(),
            x_label: "iteration".into(),
            y_label: "Tr(HΣ)".into(),
            log_y: true,
            integer_x: true,
            series: along(|p| p.trace_h_sigma, false),
        },
        Chart {
            name: "trace_h_noise".into(),
            title: format!(
                "Tr(H_t C_t), C_t each dynamic's own noise (Tr C_t = {:.0})",
                gradient_noise_trace(TOY2D_NOISE_TRACE, TOY2D_LR)
            ),
            x_label: "iteration".into(),
            y_label: "Tr(HC)".into(),
            log_y: true,
            integer_x: true,
            series: along(|p| p.trace_h_noise, true),
        },
    ];
    for chart in &charts {
        render(chart, dir)?;
    }
    Ok(charts.into())
}

/// What Zhu et al. report for each dynamic in Fig. 2 (a description: the figure draws
/// trajectories; no rates are given, and the authors' `2Dim/run.py` only prints its own).
fn paper_claim(dynamic: Dynamic) -> &'static str {
    match dynamic {
        Dynamic::Gd | Dynamic::GldConst | Dynamic::GldDiag => "stays in the sharp minimum",
        _ => "escapes to the flat minimum",
    }
}

/// The closing table (printed and put in report.html): our success rate [Wilson 95%] and the
/// escaping indicator of the dynamic's own noise at the sharp minimum, Tr(H₀C₀), beside the
/// paper's claim.
fn table(
    rates: &[(Dynamic, SuccessRate)],
    traces: &[(Dynamic, Vec<Indicators>)],
    repetitions: u64,
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "toy2d (Zhu et al. Fig. 2): {repetitions} runs per dynamic, {TOY2D_STEPS} steps at lr \
         {TOY2D_LR} from {TOY2D_START:?}, parameter noise E‖ε_t‖² = {TOY2D_NOISE_TRACE} \
         (θ ← θ − η∇L + ε_t); success = both coordinates < −0.5; Tr(H₀C₀): the dynamic's own \
         gradient noise C₀ at the start, Tr C₀ = {:.0} (0 for GD)",
        gradient_noise_trace(TOY2D_NOISE_TRACE, TOY2D_LR)
    );
    let _ = writeln!(
        text,
        "{:<13} {:>9} {:>6} {:>17} {:>10}   paper (Fig. 2)",
        "dynamic", "successes", "rate", "Wilson 95%", "Tr(H₀C₀)"
    );
    for ((d, r), (_, points)) in rates.iter().zip(traces) {
        let _ = writeln!(
            text,
            "{:<13} {:>5}/{:<3} {:>6.2} {:>17} {:>10.0}   {}",
            d.name(),
            r.successes,
            r.trials,
            r.rate,
            format!("[{:.2}, {:.2}]", r.low, r.high),
            points[0].trace_h_noise,
            paper_claim(*d)
        );
    }
    text
}
