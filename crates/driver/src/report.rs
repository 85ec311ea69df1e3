//! `curvscope report`: analyses as one self-contained HTML file — inline CSS and SVG, no
//! script and no link outside the file — that opens from disk: per run the metrics with their
//! standard errors, Proposition 1 read in words per checkpoint, the figures, and where every
//! number came from.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context, Result};
use curvscope_metrics::{reading, Verdict};
use curvscope_model::files::{hex, move_aside, write_atomic};
use sha2::{Digest, Sha256};

use crate::checkpoints::{checkpoint_dirs, checkpoint_name, content_sha256};
use crate::export::{locate, Located};
use crate::figures::charts;
use crate::frame::Frame;
use crate::landscape_folder::{landscape_folders, read_figure, SliceOrigin};
use crate::plots::{short_number, svg, Chart};
use crate::record::{CheckpointRecord, FAILURES_CSV, MANIFEST_JSON, METRICS_CSV, REPORTS_DIR};
use crate::run_folder::RUN_JSON;
use crate::tables::{Cell, METRICS};

/// Arguments of `curvscope report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Output folders of `curvscope analyze` (holding metrics.csv), or run folders whose
    /// analysis/ subfolder holds it: one section per folder, in order. A run's run.csv (training
    /// curves) and run.json (training options) are found as `export` finds them.
    #[arg(value_name = "ANALYSIS", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The HTML file to write, named *.html; an existing one is replaced only if it is a
    /// report curvscope wrote, so that no other file, such as an input's metrics.csv or one's
    /// own notes.html, can be overwritten by a slip [default: report.html in the first
    /// analysis folder].
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
    /// Do not print the path written.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let runs = args
        .inputs
        .iter()
        .map(|input| locate(input, None))
        .collect::<Result<Vec<_>>>()?;
    let to = args
        .to
        .clone()
        .unwrap_or_else(|| runs[0].analysis.join("report.html"));
    ensure!(
        to.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm")),
        "--to {}: the report is written to a file named *.html (nothing else is replaced)",
        to.display()
    );
    let existing = match std::fs::read(&to) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        // Unreadable is not absent: what it holds cannot be known to be ours.
        Err(e) => bail!(
            "--to {}: exists and cannot be read ({e}); name another file",
            to.display()
        ),
    };
    if let Some(existing) = existing {
        let existing = String::from_utf8_lossy(&existing);
        ensure!(
            written_by_curvscope(&existing),
            "--to {}: exists and is not a report curvscope wrote; name another file",
            to.display()
        );
        ensure!(
            !edited_since_written(&existing),
            "--to {}: a report curvscope wrote, but edited since; name another file to keep \
             the edits",
            to.display()
        );
    }
    let html = document(&runs)?;
    write_atomic(&to, html.as_bytes()).with_context(|| format!("writing {}", to.display()))?;
    if !args.quiet {
        println!("{}", to.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem;
  color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .3rem; }
h2 { margin-top: 3rem; border-bottom: 1px solid #ccc; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
th { background: #f3f6fa; }
td.text, th.text { text-align: left; white-space: normal; }
.verdict { border-left: 4px solid #999; padding: .2rem .8rem; margin: .8rem 0; }
.incomplete { border-left: 4px solid #ff7f0e; padding: .2rem .8rem; }
.verdict.confirmed { border-color: #2ca02c; }
.verdict.bound-below-one, .verdict.bound-only, .verdict.unchecked, .verdict.within-error,
.verdict.undefined { border-color: #ff7f0e; }
.verdict.violated, .verdict.outside { border-color: #d62728; }
.verdict ul { margin: .2rem 0; }
figure { margin: 1rem 0; }
figure svg { width: 100%; max-width: 900px; height: auto; display: block; }
figcaption { font-size: .85rem; color: #555; }
code { font-size: .85rem; word-break: break-all; }
";

/// The whole HTML document.
fn document(runs: &[Located]) -> Result<String> {
    let mut body = String::new();
    for (i, run) in runs.iter().enumerate() {
        body.push_str(&section(run, i + 1)?);
    }
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    Ok(page(
        &format!("curvscope report: {}", names.join(", ")),
        &body,
    ))
}

/// A reproduction's page (`curvscope reproduce`): its closing table, as printed, and its
/// figures, inline.
pub fn figures_page(title: &str, table: &str, charts: &[Chart]) -> Result<String> {
    let mut body = format!(
        "<section>\n<h2>Measured, beside the paper</h2>\n<div class=\"scroll\"><pre>{}</pre></div>\n\
         <h2>Figures</h2>\n",
        escape(table)
    );
    for chart in charts {
        if let Some(svg) = svg(chart)? {
            body.push_str(&figure(&chart.name, &svg, None));
        }
    }
    body.push_str("</section>\n");
    Ok(page(title, &body))
}

/// The words every page curvscope writes holds, by which `report --to` knows a file it may
/// replace.
const SIGNATURE: &str = "Written by curvscope";

/// Whether `html` is a page curvscope wrote (an analysis' report, a reproduced figure's).
pub fn written_by_curvscope(html: &str) -> bool {
    html.contains(SIGNATURE)
}

/// The last line of every page curvscope writes: the SHA-256 of the bytes before it, so that
/// `report --to` replaces a page only as curvscope wrote it, never one edited by hand.
const SEAL: &str = "<!-- curvscope sha256:";

/// `html` with its [`SEAL`].
fn sealed(html: String) -> String {
    let seal = format!("{SEAL}{} -->\n", hex(&Sha256::digest(html.as_bytes())));
    html + &seal
}

/// Keeps a page at `path` that curvscope wrote and someone edited since as
/// `<stem>.edited-K.html` (said on stderr), before a command that rewrites its own page
/// (`reproduce`, `demo`) writes it again: the edits are never lost, and hours of work are not
/// refused at their last step as `report --to` refuses.
pub fn keep_edited_page(path: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    let page = String::from_utf8_lossy(&bytes);
    if written_by_curvscope(&page) && edited_since_written(&page) {
        let aside = move_aside(path, "edited")?;
        eprintln!(
            "note: {} was edited since curvscope wrote it; kept as {}",
            path.display(),
            aside.display()
        );
    }
    Ok(())
}

/// Whether `page`'s bytes differ from those its [`SEAL`] was computed on. A page without a
/// seal (written before curvscope sealed its pages) counts as unedited.
fn edited_since_written(page: &str) -> bool {
    let Some(at) = page.rfind(SEAL) else {
        return false;
    };
    let sealed_hash = page[at + SEAL.len()..]
        .trim_end()
        .trim_end_matches("-->")
        .trim();
    hex(&Sha256::digest(&page.as_bytes()[..at])) != sealed_hash
}

/// `body` in a page titled `title`, with the report's style and its opening paragraph, sealed.
fn page(title: &str, body: &str) -> String {
    sealed(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p>Curvature and gradient noise after Zhu et al., <i>The Anisotropic Noise in Stochastic \
         Gradient Descent</i> (ICML 2019). Σ is the one-sample gradient noise covariance, \
         Tr(HΣ̄) = Tr(H)·Tr(Σ)/D the isotropic noise of the same size; ± is one standard error \
         of a stochastic estimate. {SIGNATURE} {version}.</p>\n{body}</body>\n</html>\n",
        title = escape(title),
        version = env!("CARGO_PKG_VERSION"),
    ))
}

/// One run: metrics, Proposition 1, figures, provenance. Its figures' ids begin `run{number}-`,
/// so that a report of several runs holds each id once (valid HTML, and links that land).
fn section(run: &Located, number: usize) -> Result<String> {
    let metrics_path = run.analysis.join(METRICS_CSV);
    let metrics = Frame::read(&metrics_path)?;
    // Frame's errors name the file.
    let records = metrics
        .text("checkpoint")?
        .into_iter()
        .map(|name| record(&run.analysis, name))
        .collect::<Result<Vec<_>>>()?;
    let mut html = format!(
        "<section>\n<h2>Run {}</h2>\n<p>Analysis folder <code>{}</code>.</p>\n",
        escape(&run.name),
        escape(&run.analysis.display().to_string())
    );
    if let Some(warning) = run.incomplete_warning() {
        eprintln!("warning: {warning}");
        writeln!(
            html,
            "<p class=\"incomplete\">Incomplete: {}.</p>",
            escape(&warning)
        )?;
    }
    if records.is_empty() {
        let why = format!("{}: no checkpoint has a record", run.analysis.display());
        eprintln!("warning: {why}");
        writeln!(html, "<p class=\"incomplete\">Empty: {}.</p>", escape(&why))?;
    }
    html.push_str(&failures(run)?);
    html.push_str("<h3>Metrics</h3>\n");
    html.push_str(&metrics_table(&metrics)?);
    html.push_str("<h3>Proposition 1, checkpoint by checkpoint</h3>\n");
    for record in &records {
        html.push_str(&proposition(record));
    }
    html.push_str("<h3>Figures</h3>\n");
    let run_log = run.run_csv.as_deref().map(Frame::read).transpose()?;
    for chart in charts(&run.analysis, run_log.as_ref())? {
        if let Some(svg) = svg(&chart)? {
            html.push_str(&figure(&format!("run{number}-{}", chart.name), &svg, None));
        }
    }
    // The analysed checkpoints' folders: their records' paths where absolute, and the analysed
    // folder's checkpoints of their names (a record keeps a path as it was typed, relative to
    // a working folder the report may not share).
    let names: Vec<&str> = records.iter().map(|r| r.checkpoint.as_str()).collect();
    let listed = run.input.as_deref().and_then(|i| checkpoint_dirs(i).ok());
    let checkpoints: Vec<PathBuf> = (records.iter().map(|r| r.path.clone()))
        .filter(|p| p.is_absolute())
        .chain(
            (listed.into_iter().flatten())
                .filter(|dir| names.contains(&checkpoint_name(dir).as_str())),
        )
        .collect();
    let fingerprints: Vec<&str> = records
        .iter()
        .map(|r| r.checkpoint_sha256.as_str())
        .collect();
    for why in rewritten_since_analysis(&records, &checkpoints) {
        eprintln!("warning: {why}");
        writeln!(html, "<p class=\"incomplete\">{}</p>", escape(&why))?;
    }
    for (dir, origin) in landscape_folders(&run.analysis, &checkpoints, &names, &fingerprints) {
        // A slice through another checkpoint, or another version of one, would be shown
        // beside numbers it does not belong to.
        let through = match &origin {
            SliceOrigin::OtherVersion => Some(
                "another version of its checkpoint than the one analysed (checkpoint_sha256 \
                 differs): rerun `curvscope landscape` or `curvscope analyze`"
                    .to_string(),
            ),
            SliceOrigin::Elsewhere(checkpoint) => Some(format!(
                "{checkpoint}, a checkpoint this analysis did not analyse"
            )),
            SliceOrigin::Analysed | SliceOrigin::Unknown => None,
        };
        if let Some(through) = through {
            let why = format!(
                "Landscape slice {} left out: it was taken through {through}.",
                dir.display()
            );
            eprintln!("warning: {why}");
            let _ = writeln!(html, "<p>{}</p>", escape(&why));
            continue;
        }
        // A slice still being computed (or damaged) is named, not allowed to block the report.
        let svg = match read_figure(&dir).and_then(|figure| figure.svg()) {
            Ok(svg) => svg,
            Err(err) => {
                let why = format!("Landscape slice {} left out: {err:#}.", dir.display());
                let _ = writeln!(html, "<p>{}</p>", escape(&why));
                continue;
            }
        };
        // Slices of different checkpoints share folder names: the checkpoint's goes first.
        let name = |p: Option<&Path>| {
            let name = p
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned());
            name.unwrap_or_default()
        };
        let (checkpoint, slice) = (name(dir.parent()), name(Some(&dir)));
        let id = format!("run{number}-{checkpoint}-{slice}");
        html.push_str(&figure(&id, &svg, Some(&dir)));
    }
    html.push_str(&provenance(run, &records)?);
    html.push_str("</section>\n");
    Ok(html)
}

/// The first 12 hex digits of a SHA-256 (all of a shorter text: an edited record's).
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// A sentence for each record whose checkpoint, found among `checkpoints` (by its absolute
/// path, else by its name: a run folder moved since), holds other bytes than were analysed: its
/// numbers then describe weights the folder no longer has. Reads every checkpoint found (37 MB
/// apiece at VGG-11).
fn rewritten_since_analysis(records: &[CheckpointRecord], checkpoints: &[PathBuf]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| {
            let exact = checkpoints.iter().filter(|dir| **dir == r.path);
            let named = checkpoints
                .iter()
                .filter(|dir| checkpoint_name(dir) == r.checkpoint);
            let (dir, now) = exact
                .chain(named)
                .find_map(|dir| content_sha256(dir).map(|now| (dir, now)))?;
            (now != r.checkpoint_sha256).then(|| {
                format!(
                    "Checkpoint {} was rewritten after its analysis (checkpoint SHA-256 {} \
                     then, {} now): its numbers here describe the weights it held then; rerun \
                     `curvscope analyze`.",
                    dir.display(),
                    short(&r.checkpoint_sha256),
                    short(&now)
                )
            })
        })
        .collect()
}

/// The checkpoints of failures.csv with their errors, said on stderr too: a report that left
/// them out looked complete. Empty where none failed (or the analysis wrote no failures.csv).
fn failures(run: &Located) -> Result<String> {
    let path = run.analysis.join(FAILURES_CSV);
    if !path.exists() {
        return Ok(String::new());
    }
    let failed = Frame::read(&path)?;
    let (names, errors) = (failed.text("checkpoint")?, failed.text("error")?);
    if names.is_empty() {
        return Ok(String::new());
    }
    eprintln!(
        "warning: {}: {} checkpoint(s) failed and are not in the report ({}); see {}",
        run.analysis.display(),
        names.len(),
        names.join(", "),
        path.display()
    );
    let mut html = String::from(
        "<h3>Failed checkpoints</h3>\n<div class=\"scroll\"><table>\n\
         <tr><th class=\"text\">checkpoint</th><th class=\"text\">error</th></tr>\n",
    );
    for (name, error) in names.iter().zip(errors) {
        writeln!(
            html,
            "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            escape(name),
            escape(error)
        )?;
    }
    html.push_str("</table></div>\n");
    Ok(html)
}

/// `reports/<checkpoint>.json` of the analysis.
fn record(analysis: &Path, checkpoint: &str) -> Result<CheckpointRecord> {
    let path = analysis
        .join(REPORTS_DIR)
        .join(format!("{checkpoint}.json"));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    CheckpointRecord::parse(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The metrics.csv columns the table shows, each with its standard-error column if estimated
/// (the derived numbers' are absent from a metrics.csv of before 2026-12-04: shown without);
/// a column empty for every checkpoint (an option not asked for) is left out.
const SHOWN: &[(&str, &str, Option<&str>)] = &[
    ("step", "step", None),
    ("loss", "L(θ)", None),
    ("accuracy", "accuracy", None),
    ("lambda_1", "λ₁", None),
    ("lambda_min", "λ_min", None),
    ("trace_h", "Tr(H)", Some("trace_h_stderr")),
    ("trace_sigma", "Tr(Σ)", None),
    ("a_hat", "â", Some("a_hat_stderr")),
    ("trace_h_sigma", "Tr(HΣ)", Some("trace_h_sigma_stderr")),
    (
        "isotropic_trace_h_sigma",
        "Tr(HΣ̄)",
        Some("isotropic_trace_h_sigma_stderr"),
    ),
    ("ratio", "Tr(HΣ)/Tr(HΣ̄)", Some("ratio_stderr")),
    ("prop1_bound", "bound", Some("prop1_bound_stderr")),
    ("prop1_first_k", "first k, d_k > ½", None),
    (
        "expected_sharpness",
        "E-sharpness",
        Some("expected_sharpness_stderr"),
    ),
    ("epsilon_sharpness", "ε-sharpness", None),
    (
        "adaptive_sharpness_avg",
        "adaptive avg",
        Some("adaptive_sharpness_avg_stderr"),
    ),
    ("adaptive_sharpness_l2", "adaptive ℓ2", None),
    ("adaptive_sharpness_linf", "adaptive ℓ∞", None),
];

/// A cell: the number in three significant digits, ± its standard error where non-zero; an
/// integer without one (a step, D) whole, so that steps 120,000 and 125,000 stay apart.
fn cell(value: &str, stderr: Option<&str>) -> String {
    let Ok(v) = value.parse::<f64>() else {
        return escape(value);
    };
    match stderr.and_then(|s| s.parse::<f64>().ok()) {
        Some(s) if s > 0.0 => format!("{} ± {}", short_number(v), short_number(s)),
        _ => value
            .parse::<i64>()
            .map_or_else(|_| short_number(v), |count| count.to_string()),
    }
}

/// The metrics table: one row per checkpoint; each header's tooltip is the column's meaning.
fn metrics_table(metrics: &Frame) -> Result<String> {
    let mut columns = Vec::new();
    for &(name, header, stderr) in SHOWN {
        let values = metrics.text(name)?;
        if values.iter().all(|v| v.is_empty()) {
            continue;
        }
        let stderr = stderr.and_then(|s| metrics.text(s).ok());
        let meaning = METRICS.iter().find(|c| c.0 == name).map_or("", |c| c.1);
        columns.push((header, meaning, values, stderr));
    }
    let mut html =
        String::from("<div class=\"scroll\"><table>\n<tr><th class=\"text\">checkpoint</th>");
    for (header, meaning, _, _) in &columns {
        write!(
            html,
            "<th title=\"{}\">{}</th>",
            escape(meaning),
            escape(header)
        )?;
    }
    html.push_str("</tr>\n");
    for (row, checkpoint) in metrics.text("checkpoint")?.iter().enumerate() {
        write!(html, "<tr><td class=\"text\">{}</td>", escape(checkpoint))?;
        for (_, _, values, stderr) in &columns {
            let se = stderr.as_ref().map(|s| s[row]);
            write!(html, "<td>{}</td>", cell(values[row], se))?;
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></div>\n");
    Ok(html)
}

/// Proposition 1 at one checkpoint: the verdict and its four sentences.
fn proposition(record: &CheckpointRecord) -> String {
    let report = &record.report;
    let r = reading(
        &report.proposition1,
        report.trace_h_sigma.value,
        report.trace_h_sigma.stderr,
        report.trace_h.stderr,
    );
    let (class, verdict) = match r.verdict {
        Verdict::Confirmed => ("confirmed", "as predicted"),
        Verdict::BoundBelowOne => ("bound-below-one", "bound ≤ 1, faster escape not guaranteed"),
        Verdict::BoundOnly => ("bound-only", "bound holds, condition 1 not shown"),
        Verdict::AssumptionUnchecked => ("unchecked", "H ⪰ 0 not checked"),
        Verdict::WithinError => ("within-error", "inconclusive"),
        Verdict::Violated => ("violated", "bound violated"),
        Verdict::OutsideAssumptions => ("outside", "outside the assumptions"),
        Verdict::Undefined => ("undefined", "undefined"),
    };
    let step = record
        .meta
        .step
        .map_or(String::new(), |s| format!(" (step {s})"));
    let mut html = format!(
        "<div class=\"verdict {class}\"><b>{}{}: {verdict}</b>\n<ul>\n",
        escape(&record.checkpoint),
        escape(&step)
    );
    for sentence in [
        &r.ill_conditioning,
        &r.alignment,
        &r.curvature,
        &r.conclusion,
    ] {
        let _ = writeln!(html, "<li>{}.</li>", escape(sentence));
    }
    html.push_str("</ul></div>\n");
    html
}

/// One inline SVG figure with id `id`; a landscape slice names the folder it was drawn from.
fn figure(id: &str, svg: &str, source: Option<&Path>) -> String {
    let caption = source.map_or(String::new(), |dir| {
        format!(
            "<figcaption>From <code>{}</code>.</figcaption>",
            escape(&dir.display().to_string())
        )
    });
    format!(
        "<figure id=\"{}\">\n{svg}\n{caption}</figure>\n",
        escape(id)
    )
}

/// JSON flattened to (dotted key, value) pairs, for a table.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// A two-column table of `value` flattened.
fn options_table(value: &serde_json::Value) -> String {
    let mut rows = Vec::new();
    flatten("", value, &mut rows);
    let mut html = String::from("<div class=\"scroll\"><table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            html,
            "<tr><th class=\"text\">{}</th><td class=\"text\"><code>{}</code></td></tr>",
            escape(&k),
            escape(&v)
        );
    }
    html.push_str("</table></div>\n");
    html
}

/// A JSON file of the run, if present.
fn json_file(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(value))
}

/// Where the numbers came from: the analysis options (analysis.json), the training options
/// (run.json, if found), and per checkpoint its data, seeds, fingerprints and estimators.
fn provenance(run: &Located, records: &[CheckpointRecord]) -> Result<String> {
    let mut html = String::from("<h3>Provenance</h3>\n");
    if let Some(manifest) = json_file(&run.analysis.join(MANIFEST_JSON))? {
        let mut shown = manifest.clone();
        if let Some(map) = shown.as_object_mut() {
            map.remove("files"); // column meanings: the tables' tooltips
        }
        html.push_str("<h4>Analysis options (analysis.json)</h4>\n");
        html.push_str(&options_table(&shown));
    }
    let run_json = run
        .run_csv
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.join(RUN_JSON));
    if let Some(value) = run_json.as_deref().map(json_file).transpose()?.flatten() {
        html.push_str("<h4>Training options (run.json)</h4>\n");
        html.push_str(&options_table(&value));
    }
    html.push_str(
        "<h4>Checkpoints</h4>\n<div class=\"scroll\"><table>\n<tr><th class=\"text\">checkpoint</th>\
         <th class=\"text\">data</th><th>data seed</th><th>N</th><th class=\"text\">labels SHA-256</th>\
         <th class=\"text\">checkpoint SHA-256</th><th>dtype</th><th>seed</th><th>Tr(H)</th>\
         <th>Tr(HΣ)</th><th>seconds</th></tr>\n",
    );
    for r in records {
        let info = &r.data.info;
        let _ = writeln!(
            html,
            "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td>\
             <td class=\"text\"><code>{}</code></td><td class=\"text\"><code>{}</code></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            escape(&r.checkpoint),
            escape(&format!("{} ({})", r.data.spec, info.name)),
            // The seed the data was built with; none for data without random parts (digits).
            info.seed
                .map_or_else(|| "—".to_string(), |seed| seed.to_string()),
            info.n,
            escape(info.labels_sha256.as_deref().unwrap_or("—")),
            escape(&r.checkpoint_sha256),
            escape(&r.dtype),
            r.options.report.curvature.seed,
            Cell::from(r.report.trace_h.estimator).render(),
            Cell::from(r.report.trace_h_sigma.estimator).render(),
            r.wall_time_s,
        );
    }
    html.push_str("</table></div>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("Tr(HΣ̄) ≥ λ₁"), "Tr(HΣ̄) ≥ λ₁");
    }

    #[test]
    fn cells_show_the_standard_error_where_estimated() {
        assert_eq!(cell("12.3456", Some("0.0123")), "12.3 ± 0.0123");
        assert_eq!(cell("12.3456", Some("0")), "12.3");
        assert_eq!(cell("12.3456", None), "12.3");
        assert_eq!(cell("", None), "");
        assert_eq!(cell("true", None), "true");
        assert_eq!(cell("125000", None), "125000");
        assert_eq!(cell("125000.5", None), "1.25e5");
    }
}
