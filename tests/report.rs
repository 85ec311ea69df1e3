//! `curvscope report` end to end: a small run is trained and analyzed through the binary, its
//! report checked as HTML with no browser (html5ever, as browsers parse), then loaded in a
//! real headless Chromium: no console error, every figure laid out at a non-zero size, and a
//! screenshot written.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Without it the browser test fails,
//! naming the package, unless `CURVSCOPE_NO_BROWSER=1` says this machine is not expected to
//! have one; `CURVSCOPE_CHROMIUM` names another binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use scraper::{Html, Selector};

fn curvscope(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "curvscope {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A run folder whose name is markup, so any unescaped use of it breaks the document.
const RUN_NAME: &str = "run <b>&\"x\"";

/// The report of a small analysis, made once for every test of this file: a fixed-output net
/// (D = 18) trained 20 SGD steps on 200 half-space points, 3 checkpoints, analyzed with a
/// stochastic Tr(HΣ) (so ± appears), the spectral density and a landscape slice.
fn report() -> &'static Path {
    static REPORT: OnceLock<PathBuf> = OnceLock::new();
    REPORT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
        let _ = std::fs::remove_dir_all(&root);
        let run = root.join(RUN_NAME);
        curvscope(&common::small_run_args(&run));
        curvscope(&[
            "analyze",
            path(&run),
            "-k",
            "3",
            "--samples",
            "20",
            "--trace-h-sigma-probes",
            "10",
            "--density",
            "--density-probes",
            "3",
            "--quiet",
        ]);
        let checkpoint = run.join("step-000020");
        curvscope(&[
            "landscape",
            path(&checkpoint),
            "--data",
            "halfspace:200",
            "--points",
            "5",
            "--quiet",
        ]);
        let html = root.join("report.html");
        curvscope(&["report", path(&run), "--to", path(&html), "--quiet"]);
        html
    })
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

/// Elements that must close: each start tag has its end tag, in the raw text.
const CLOSED: &[&str] = &[
    "html", "head", "body", "section", "div", "table", "tr", "th", "td", "svg", "figure", "ul",
    "li", "h1", "h2", "h3", "h4", "code", "p", "style", "title", "b",
];

#[test]
fn the_report_is_valid_self_contained_html() {
    let text = std::fs::read_to_string(report()).unwrap();
    let doc = Html::parse_document(&text);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    for tag in CLOSED {
        let opened =
            text.matches(&format!("<{tag}>")).count() + text.matches(&format!("<{tag} ")).count();
        let closed = text.matches(&format!("</{tag}>")).count();
        assert_eq!(
            opened, closed,
            "<{tag}> opened {opened} times, closed {closed}"
        );
    }

    // Self-contained: no script, no handler, nothing fetched from anywhere.
    assert!(select(&doc, "script").is_empty(), "a <script>");
    for element in select(&doc, "*") {
        for (name, value) in element.value().attrs() {
            assert!(!name.starts_with("on"), "handler {name}={value}");
            assert!(
                ![
                    "src",
                    "href",
                    "xlink:href",
                    "action",
                    "data",
                    "poster",
                    "srcset"
                ]
                .contains(&name),
                "<{} {name}={value}> refers outside the file",
                element.value().name()
            );
        }
    }
    assert!(
        !text.contains("url(") && !text.contains("@import"),
        "CSS fetches"
    );
    assert!(!text.contains("javascript:"));

    // Every figure is an inline SVG of a positive size.
    let svgs = select(&doc, "figure svg");
    assert!(svgs.len() >= 10, "{} figures", svgs.len());
    for svg in &svgs {
        for dim in ["width", "height"] {
            let v: f64 = svg.value().attr(dim).unwrap().parse().unwrap();
            assert!(v > 0.0, "svg {dim} {v}");
        }
        assert!(
            svg.value().attr("viewBox").is_some(),
            "scales with the page"
        );
    }
    // Every figure with a point to draw (a regression net has no accuracy curve), its id
    // prefixed by its run's number.
    let ids: Vec<&str> = select(&doc, "figure")
        .iter()
        .filter_map(|f| f.value().id())
        .collect();
    for id in [
        "eigenvalues",
        "trace_h",
        "a_hat",
        "escaping",
        "ratio",
        "sharpness",
        "loss",
        "density",
        "layers_trace_h",
        "layers_trace_sigma",
    ] {
        let id = format!("run1-{id}");
        assert!(ids.contains(&id.as_str()), "figure {id} in {ids:?}");
    }
    // A slice's id names its checkpoint too: slices of two checkpoints share folder names.
    assert!(
        ids.iter()
            .any(|id| id.starts_with("run1-") && id.ends_with("-landscape-random-1d")),
        "{ids:?}"
    );
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each id once: {ids:?}");

    // The run's name is text, never markup.
    let heading: String = select(&doc, "h2")[0].text().collect();
    assert_eq!(heading, format!("Run {RUN_NAME}"));
    assert!(select(&doc, "h2 b").is_empty());

    // The metrics table: one row per checkpoint, Tr(HΣ) (stochastic) with its ± stderr.
    let rows = select(&doc, "section > h3 + div table tr");
    assert_eq!(rows.len(), 1 + 3, "header and 3 checkpoints");
    let header: Vec<String> = rows[0]
        .children()
        .filter_map(scraper::ElementRef::wrap)
        .map(|c| c.text().collect())
        .collect();
    let col = header.iter().position(|h| h == "Tr(HΣ)").unwrap();
    for row in &rows[1..] {
        let cells: Vec<String> = row
            .children()
            .filter_map(scraper::ElementRef::wrap)
            .map(|c| c.text().collect())
            .collect();
        let (value, stderr) = cells[col].split_once(" ± ").expect("value ± stderr");
        assert!(
            value.parse::<f64>().is_ok() && stderr.parse::<f64>().unwrap() > 0.0,
            "{}",
            cells[col]
        );
    }

    // Proposition 1 in words for each checkpoint, and the provenance.
    let verdicts = select(&doc, "div.verdict");
    assert_eq!(verdicts.len(), 3);
    for v in &verdicts {
        let words: String = v.text().collect();
        assert!(
            words.contains("Condition 1")
                && words.contains("Condition 2")
                && words.contains("bound"),
            "{words}"
        );
    }
    for provenance in [
        "options_hash",
        "curvscope_version",
        "halfspace:200",
        "Training options",
        "stochastic",
    ] {
        assert!(text.contains(provenance), "provenance: {provenance}");
    }
}

/// The Chromium binary, or why there is none to use.
fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CURVSCOPE_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

/// Put at the top of <head>: gathers every error the page raises (scripts, resources that fail
/// to load, console.error) into `__errors`.
const CATCH_ERRORS: &str = "<script>window.__errors=[];\
window.addEventListener('error',e=>window.__errors.push(String(e.message||(e.target&&e.target.outerHTML))),true);\
const ce=console.error;console.error=(...a)=>{window.__errors.push(a.join(' '));ce(...a)};</script>";

/// Put before </body>: once loaded, writes every <svg>'s laid-out size and the errors into
/// `<pre id="probe">` as JSON, which --dump-dom prints.
const PROBE: &str = "<script>window.addEventListener('load',()=>{\
const sizes=[...document.querySelectorAll('svg')].map(s=>{const r=s.getBoundingClientRect();return [r.width,r.height]});\
const p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify({sizes,errors:window.__errors});\
document.body.appendChild(p);});</script>";

/// What Chromium saw of `html` (written beside it as a probed copy): each SVG's laid-out
/// size, the page's errors, and the console lines Chromium logged.
fn probe(chromium: &str, html: &str, dir: &Path) -> (Vec<(f64, f64)>, Vec<String>, Vec<String>) {
    let probed = html
        .replacen("<head>", &format!("<head>{CATCH_ERRORS}"), 1)
        .replacen("</body>", &format!("{PROBE}</body>"), 1);
    let file = dir.join("probed.html");
    std::fs::write(&file, probed).unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,1600",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = Html::parse_document(&String::from_utf8_lossy(&output.stdout));
    let probe: String = select(&dom, "pre#probe")
        .first()
        .unwrap_or_else(|| panic!("no probe in the DOM: the page did not load"))
        .text()
        .collect();
    let probe: serde_json::Value = serde_json::from_str(&probe).unwrap();
    let sizes = probe["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_f64().unwrap(), s[1].as_f64().unwrap()))
        .collect();
    let errors = probe["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    (sizes, errors, console)
}

#[test]
fn the_report_loads_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        if std::env::var("CURVSCOPE_NO_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: no chromium, and CURVSCOPE_NO_BROWSER=1 says none is expected");
            return;
        }
        panic!(
            "no chromium: install Debian's `chromium` (apt-get install --no-install-recommends \
             chromium), name a binary with CURVSCOPE_CHROMIUM, or set CURVSCOPE_NO_BROWSER=1 \
             where no browser is expected"
        );
    };
    let report = report();
    let dir = report.parent().unwrap();
    let html = std::fs::read_to_string(report).unwrap();

    // The probe itself sees errors and sizes: a page with a broken script and a missing image.
    let broken = "<!DOCTYPE html><html><head><title>t</title></head><body>\
                  <img src=\"missing.png\"><script>undefined_function()</script>\
                  <svg width=\"10\" height=\"0\"></svg></body></html>";
    let (sizes, errors, console) = probe(&chromium, broken, dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(!console.is_empty(), "the uncaught error is logged");
    assert_eq!(sizes, [(10.0, 0.0)]);

    let (sizes, errors, console) = probe(&chromium, &html, dir);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(console.is_empty(), "{console:?}");
    let figures = Html::parse_document(&html)
        .select(&Selector::parse("svg").unwrap())
        .count();
    assert_eq!(sizes.len(), figures, "every figure laid out");
    for (w, h) in &sizes {
        assert!(*w > 100.0 && *h > 50.0, "a figure of {w}×{h} px");
    }

    let screenshot = dir.join("report.png");
    let output = Command::new(&chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1600",
        ])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(png[..8], *b"\x89PNG\r\n\x1a\n");
    let (width, height) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1200, 1600));
    assert!(
        png.len() > 50_000,
        "a blank page compresses to less: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", screenshot.display());
}

/// The slices shown are those of the analysed checkpoints, whatever the working folders of the
/// analysis and the report: `report analysis` from inside the run found none (its parent is
/// ""), and records keep checkpoint paths as typed (`run/step-000010`, relative to the
/// analysis' working folder). A slice taken through another version of an analysed checkpoint
/// (its landscape.json's SHA-256 differs), or through a checkpoint not analysed, is left out
/// with a warning saying which, not shown beside numbers it does not belong to. A checkpoint
/// rewritten after its analysis is named in the report, also after the run folder was moved.
#[test]
fn slices_are_those_of_the_analysed_checkpoints() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-slices");
    let _ = std::fs::remove_dir_all(&root);
    let run = root.join("run");
    curvscope(&common::small_run_args(&run));
    let analyze = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(["analyze", "run", "-k", "2", "--samples", "20", "-q"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(analyze.status.success(), "{analyze:?}");
    for step in ["step-000010", "step-000020"] {
        let checkpoint = run.join(step);
        let args = ["landscape", path(&checkpoint), "--data", "halfspace:200"];
        curvscope(&[&args[..], &["--points", "3", "--quiet"]].concat());
    }
    let stale = run.join("step-000010/landscape-random-1d/landscape.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stale).unwrap()).unwrap();
    json["checkpoint_sha256"] = "0".repeat(64).into();
    std::fs::write(&stale, serde_json::to_vec(&json).unwrap()).unwrap();
    let foreign = run.join("analysis/landscape-foreign");
    std::fs::create_dir(&foreign).unwrap();
    json["checkpoint"] = "elsewhere/step-000099".into();
    std::fs::write(
        foreign.join("landscape.json"),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();

    let report = Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(["report", "analysis", "--to", "../report.html"])
        .current_dir(&run)
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(
        stderr.contains(
            "step-000010/landscape-random-1d left out: it was taken through another \
                         version of its checkpoint"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "landscape-foreign left out: it was taken through elsewhere/step-000099, \
                         a checkpoint this analysis did not analyse"
        ),
        "{stderr}"
    );
    let doc = Html::parse_document(&std::fs::read_to_string(root.join("report.html")).unwrap());
    let ids: Vec<&str> = select(&doc, "figure")
        .iter()
        .filter_map(|f| f.value().attr("id"))
        .filter(|id| id.contains("landscape"))
        .collect();
    assert_eq!(ids, ["run1-step-000020-landscape-random-1d"], "{ids:?}");

    // A checkpoint rewritten after its analysis is named: its numbers are of other bytes.
    let meta = run.join("step-000020/checkpoint.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    json["note"] = "edited by hand".into();
    std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
    let report = curvscope(&[
        "report",
        path(&run.join("analysis")),
        "--to",
        path(&root.join("again.html")),
    ]);
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(
        stderr.contains("step-000020 was rewritten after its analysis")
            && !stderr.contains("step-000010 was rewritten"),
        "{stderr}"
    );
    let html = std::fs::read_to_string(root.join("again.html")).unwrap();
    assert!(html.contains("step-000020 was rewritten after its analysis"));

    // Moved, the run's records name checkpoints that are not there: they are found by name.
    let moved = root.join("moved");
    std::fs::rename(&run, &moved).unwrap();
    let report = curvscope(&[
        "report",
        path(&moved.join("analysis")),
        "--to",
        path(&root.join("moved.html")),
    ]);
    assert!(report.status.success(), "{report:?}");
    let stderr = String::from_utf8_lossy(&report.stderr);
    let rewritten = format!("{} was rewritten", moved.join("step-000020").display());
    assert!(
        stderr.contains(&rewritten) && !stderr.contains("step-000010 was rewritten"),
        "{stderr}"
    );
}
