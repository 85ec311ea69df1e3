//! What an analysis folder holds: the record of each analyzed checkpoint
//! (`reports/<checkpoint>.json`), the options that produced it, the checkpoints that failed, and
//! the names of every file. `analyze` writes these records; `tables` turns them into CSVs;
//! `export` and `demo` read the files back by these names.

use std::path::{Path, PathBuf};

use curvscope_metrics::{Report, ReportOptions};
use curvscope_model::{CheckpointMeta, Dataset, DatasetInfo, Normalize, Precision};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::DataChoice;
use crate::network::Device;
use curvscope_model::files::hex;

/// One row per analyzed checkpoint (see `tables::METRICS`).
pub const METRICS_CSV: &str = "metrics.csv";
/// Top Hessian eigenvalues, one row per eigenvalue.
pub const EIGENVALUES_CSV: &str = "eigenvalues.csv";
/// Condition 1 of Proposition 1, one row per k.
pub const PROP1_CSV: &str = "prop1.csv";
/// Every Hessian eigenvalue (only with `--full-spectrum`), one row per eigenvalue.
pub const SPECTRUM_CSV: &str = "spectrum.csv";
/// The SLQ spectral density (only with `--density`).
pub const DENSITY_CSV: &str = "density.csv";
/// Tr(H) and Tr(Σ) per named tensor of θ (for nets with an exact diag(H), and for any net with
/// `--full-spectrum`).
pub const LAYERS_CSV: &str = "layers.csv";
/// The checkpoints that could not be analyzed, with why.
pub const FAILURES_CSV: &str = "failures.csv";
/// The options, their hash and every column's meaning.
pub const MANIFEST_JSON: &str = "analysis.json";
/// Every column's meaning, for people.
pub const README_MD: &str = "README.md";
/// Folder of the per-checkpoint records.
pub const REPORTS_DIR: &str = "reports";

/// Everything that determines the numbers; its hash decides whether a stored record is reused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// `--data`, if given.
    pub data: Option<String>,
    /// `--data-seed`, if given.
    pub data_seed: Option<u64>,
    /// `--batch`, if given.
    pub batch: Option<usize>,
    /// `--full-spectrum` (absent when off, so older records keep their hash).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_spectrum: bool,
    /// Precision of the network evaluation.
    pub precision: Precision,
    /// Device of the network evaluation (absent when cpu).
    #[serde(default, skip_serializing_if = "Device::is_cpu")]
    pub device: Device,
    /// What the metrics crate computes (batch size filled in per checkpoint).
    pub report: ReportOptions,
}

impl AnalysisOptions {
    /// The options' [`options_hash`].
    pub fn hash(&self) -> String {
        options_hash(self)
    }
}

/// First 16 hex digits of the SHA-256 of `options`' JSON: what names an analysis' or a
/// slice's options in its files and in the `earlier/<hash>/` folders of replaced ones.
pub fn options_hash<T: Serialize>(options: &T) -> String {
    let json = serde_json::to_vec(options).expect("options are plain JSON");
    hex(&Sha256::digest(json))[..16].to_string()
}

/// Whether `text` has the form of an [`options_hash`], so that it may name a folder.
pub fn is_options_hash(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The folder the analysis in `analysis` was made of, as its analysis.json records it: `None`
/// when there is none or it is relative (earlier analyses recorded the path as given, relative
/// to a working folder unknown here, where it can name another run). An analysis made inside
/// the folder it analysed (a run's analysis/, as the manifest's own recorded place `analysis`
/// tells, from 2026-12-07) that is now elsewhere, in a folder holding a checkpoint folder for
/// each of its records, was moved with that run: it names the run where it is now (the
/// recorded path is gone, or another run's). An analysis moved out of its run alone, or a copy
/// of the manifest without the records (an export's), names what was recorded.
pub fn analyzed_input(analysis: &Path) -> Option<PathBuf> {
    let manifest = std::fs::read(analysis.join(MANIFEST_JSON)).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    let input = PathBuf::from(manifest["input"].as_str()?);
    if !input.is_absolute() {
        return None;
    }
    let here = std::path::absolute(analysis).ok()?;
    let folder = |path: &Path| path.canonicalize().ok();
    let moved_with_its_run = manifest["analysis"].as_str().is_some_and(|made_at| {
        let made_at = Path::new(made_at);
        made_at.parent() == Some(&input)
            && folder(made_at) != folder(&here)
            && here
                .parent()
                .is_some_and(|run| holds_checkpoints_of(run, &here))
    });
    match moved_with_its_run {
        true => here.parent().map(Path::to_path_buf),
        false => Some(input),
    }
}

/// Whether `run` holds a folder for the checkpoint of each record in `analysis`, at least one.
fn holds_checkpoints_of(run: &Path, analysis: &Path) -> bool {
    let Ok(records) = std::fs::read_dir(analysis.join(REPORTS_DIR)) else {
        return false;
    };
    let names: Vec<PathBuf> = records
        .flatten()
        .map(|entry| PathBuf::from(entry.file_name()))
        .filter(|name| name.extension().is_some_and(|e| e == "json"))
        .collect();
    !names.is_empty()
        && names
            .iter()
            .all(|name| run.join(name.with_extension("")).is_dir())
}

/// The data a checkpoint was evaluated on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataUsed {
    /// Spec (`--data` syntax).
    pub spec: String,
    /// Seed of its random parts.
    pub seed: u64,
    /// What was built.
    pub info: DatasetInfo,
    /// The checkpoint's input normalisation, applied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
}

impl DataUsed {
    /// The record of `data`, loaded for `choice`.
    pub fn new(choice: &DataChoice, data: &Dataset) -> Self {
        DataUsed {
            spec: choice.spec.clone(),
            seed: choice.seed,
            info: data.info().clone(),
            normalize: choice.normalize.clone(),
        }
    }
}

/// `reports/<checkpoint>.json`: one checkpoint's analysis with everything needed to trust it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Checkpoint folder name.
    pub checkpoint: String,
    /// Checkpoint folder.
    pub path: PathBuf,
    /// SHA-256 of checkpoint.json and model.safetensors, to notice a rewritten checkpoint.
    pub checkpoint_sha256: String,
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// Storage precision of its tensors ("f32" or "f64").
    pub dtype: String,
    /// ‖θ‖.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub theta_norm: f64,
    /// The data it was evaluated on.
    pub data: DataUsed,
    /// Fraction classified correctly (classifiers only).
    #[serde(with = "curvscope_hessian::non_finite::option")]
    pub accuracy: Option<f64>,
    /// The options used.
    pub options: AnalysisOptions,
    /// [`AnalysisOptions::hash`] of `options`.
    pub options_hash: String,
    /// Seconds spent computing the record.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub wall_time_s: f64,
    /// The metrics crate's report.
    pub report: Report,
}

/// A checkpoint that could not be analyzed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Checkpoint folder name.
    pub checkpoint: String,
    /// Checkpoint folder.
    pub path: PathBuf,
    /// The error chain.
    pub error: String,
}

impl CheckpointRecord {
    /// A record from its JSON, Proposition 1's condition 1 re-read as a new record would read
    /// it: one written before 2026-12-04 with `--full-spectrum` takes the negative-curvature
    /// flag its whole spectrum shows (it left it unknown without a λ_min run), and one written
    /// before 2026-12-07 without it tests condition 1 on its converged eigenvalues only (it
    /// tested unconverged ones too). A reused record then reads as a new one would.
    /// A record whose spectrum does not hold together (a residual per eigenvalue, a whole
    /// spectrum with eigenvalues) is refused, so it is computed again.
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        use serde::de::Error;
        let mut record: Self = serde_json::from_slice(bytes)?;
        let report = &mut record.report;
        if report.hessian_residuals.len() != report.hessian_eigenvalues.len() {
            return Err(serde_json::Error::custom(
                "hessian_residuals and hessian_eigenvalues differ in length",
            ));
        }
        let whole = report.whole_spectrum.as_ref().map(|w| &w.eigenvalues[..]);
        if whole.is_some_and(<[f64]>::is_empty) {
            return Err(serde_json::Error::custom(
                "whole_spectrum has no eigenvalues",
            ));
        }
        report.proposition1 = report.proposition1.clone().over_known_spectrum(
            whole,
            &report.hessian_eigenvalues,
            &report.hessian_residuals,
            report.hessian_converged,
            record.options.report.curvature.tol,
        );
        Ok(record)
    }

    /// The stored record at `path` if it was made with the options hashed to `hash` from a
    /// checkpoint with these contents, or why there is none to reuse: no record, one that
    /// cannot be read, or one of other options or other checkpoint bytes. The checkpoint's
    /// `fingerprint` is asked for last, only of a record of these options: reading a checkpoint
    /// is the costly part.
    pub fn stored(
        path: &Path,
        hash: &str,
        fingerprint: impl FnOnce() -> Option<String>,
    ) -> Result<Self, String> {
        let where_ = path.display();
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("no record {where_}"),
            _ => format!("{where_}: cannot read: {e}"),
        })?;
        let record = Self::parse(&bytes)
            .map_err(|e| format!("{where_}: not a record this curvscope reads: {e}"))?;
        if record.options_hash != hash {
            return Err(format!(
                "{where_} was made with options hash {}, not {hash}",
                record.options_hash
            ));
        }
        match fingerprint() {
            None => return Err(format!("{where_}: the checkpoint itself cannot be read")),
            Some(bytes) if bytes != record.checkpoint_sha256 => {
                return Err(format!(
                    "{where_} is of other checkpoint bytes (it changed since)"
                ))
            }
            Some(_) => {}
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An analysis inside the run it analysed names the run where it is now once both are
    /// moved, even where another run, analysed too, took the old place; an analysis moved out
    /// of its run alone, a copy of its manifest, and one of one checkpoint of the run name what
    /// they recorded.
    #[test]
    fn an_analysis_moved_with_its_run_names_the_run_where_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        // An analysis of `input` at `analysis` with a record of its checkpoint step-1.
        let manifest = |analysis: &Path, input: &Path| {
            std::fs::create_dir_all(analysis.join(REPORTS_DIR)).unwrap();
            std::fs::write(analysis.join(REPORTS_DIR).join("step-1.json"), "{}").unwrap();
            let json = serde_json::json!({"input": input, "analysis": analysis});
            std::fs::write(analysis.join(MANIFEST_JSON), json.to_string()).unwrap();
        };
        let run = tmp.path().join("run");
        std::fs::create_dir_all(run.join("step-1")).unwrap();
        manifest(&run.join("analysis"), &run);
        assert_eq!(analyzed_input(&run.join("analysis")), Some(run.clone()));
        let moved = tmp.path().join("moved");
        std::fs::rename(&run, &moved).unwrap();
        assert_eq!(analyzed_input(&moved.join("analysis")), Some(moved.clone()));
        // Another run analysed at the old place.
        std::fs::create_dir_all(run.join("step-1")).unwrap();
        manifest(&run.join("analysis"), &run);
        assert_eq!(analyzed_input(&moved.join("analysis")), Some(moved.clone()));
        assert_eq!(analyzed_input(&run.join("analysis")), Some(run.clone()));
        // The analysis alone moved out of its run, which stays.
        let archive = tmp.path().join("archive");
        std::fs::create_dir(&archive).unwrap();
        std::fs::rename(run.join("analysis"), archive.join("analysis-run")).unwrap();
        assert_eq!(
            analyzed_input(&archive.join("analysis-run")),
            Some(run.clone())
        );

        // An export's copy of the manifest, without the records.
        let copy = tmp.path().join("export");
        std::fs::create_dir(&copy).unwrap();
        let original = moved.join("analysis").join(MANIFEST_JSON);
        std::fs::copy(original, copy.join(MANIFEST_JSON)).unwrap();
        assert_eq!(analyzed_input(&copy), Some(run));

        let one = moved.join("step-1");
        manifest(&moved.join("of-one"), &one);
        std::fs::rename(&moved, tmp.path().join("again")).unwrap();
        let again = tmp.path().join("again/of-one");
        assert_eq!(analyzed_input(&again), Some(one));
    }
}
