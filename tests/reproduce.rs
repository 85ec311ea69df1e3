//! `curvscope reproduce toy2d --quick` end to end: every CSV and figure is written, every number
//! is finite, every rate lies in its Wilson interval inside [0, 1].

use std::path::Path;

/// The rows of `dir/name` under its header, as fields.
fn rows(dir: &Path, name: &str, header: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{name}");
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn number(field: &str) -> f64 {
    let v: f64 = field
        .parse()
        .unwrap_or_else(|_| panic!("'{field}' is a number"));
    assert!(v.is_finite(), "{field} is finite");
    v
}

const DYNAMICS: [&str; 6] = [
    "gd",
    "gld-const",
    "gld-diag",
    "gld-leading",
    "gld-hessian",
    "gld-eigvec1",
];

#[test]
fn quick_toy2d_writes_finite_rates_trajectories_traces_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("toy2d");
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(["reproduce", "toy2d", "--quick", "--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let rates = rows(
        &out,
        "success_rates.csv",
        "dynamic,successes,repetitions,rate,wilson95_low,wilson95_high",
    );
    let names: Vec<&str> = rates.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, DYNAMICS);
    for r in &rates {
        let (k, n) = (number(&r[1]), number(&r[2]));
        let (rate, low, high) = (number(&r[3]), number(&r[4]), number(&r[5]));
        assert_eq!(n, 10.0, "--quick runs 10 repetitions");
        assert_eq!(rate, k / n);
        assert!(
            0.0 <= low && low <= rate && rate <= high && high <= 1.0,
            "{r:?}"
        );
        assert!(
            high - low > 0.0,
            "an interval from 10 runs has width: {r:?}"
        );
        // The table shows the same numbers.
        assert!(stdout.contains(&format!("{}/{}", k, n)), "{stdout}");
    }
    // GD has no noise: every repetition ends at the same point, and never escapes.
    assert_eq!(rates[0][1], "0");

    let finals = rows(
        &out,
        "final_points.csv",
        "dynamic,repetition,seed,steps,w1,w2,success",
    );
    assert_eq!(finals.len(), 60);
    for f in &finals {
        assert_eq!(f[3], "500", "every run takes 500 steps: {f:?}");
        let (w1, w2) = (number(&f[4]), number(&f[5]));
        assert_eq!(f[6], (w1 < -0.5 && w2 < -0.5).to_string(), "{f:?}");
    }
    for (d, r) in DYNAMICS.iter().zip(&rates) {
        let wins = finals
            .iter()
            .filter(|f| f[0] == *d && f[6] == "true")
            .count();
        assert_eq!(
            wins.to_string(),
            r[1],
            "{d}: successes match the final points"
        );
    }

    let path = rows(&out, "trajectories.csv", "dynamic,step,w1,w2");
    assert_eq!(path.len(), 6 * 501);
    for p in &path {
        number(&p[2]);
        number(&p[3]);
    }
    assert!(path
        .iter()
        .filter(|p| p[1] == "0")
        .all(|p| p[2] == "1" && p[3] == "1"));

    let traces = rows(&out, "trace_h_sigma.csv", "dynamic,step,trace_h_sigma");
    assert_eq!(traces.len(), 6 * 51);
    assert!(traces.iter().all(|t| number(&t[2]) > 0.0));

    for chart in ["trajectories", "success_rate", "trace_h_sigma"] {
        for ext in ["svg", "png"] {
            let file = out.join("figures").join(format!("{chart}.{ext}"));
            let size = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .len();
            assert!(size > 1000, "{} has {size} bytes", file.display());
        }
    }
}
