//! What a landscape folder holds: landscape.csv and landscape.json by name, the CSV written
//! from the slice's points, and both read back, to continue an unfinished grid or to redraw
//! the figure from the folder alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use curvscope_metrics::{QuadraticModel, SlicePoint};
use curvscope_model::DatasetInfo;
use serde::{Deserialize, Serialize};

use crate::flags::{MAX_GRID_POINTS, MAX_SPAN};
use crate::landscape_plots::SliceFigure;
use crate::record::is_options_hash;
use crate::tables::float;
use curvscope_model::files::write_atomic;

/// The slice's values, one row per grid point in grid order.
pub const LANDSCAPE_CSV: &str = "landscape.csv";
/// The options, the directions' provenance and the quadratic model.
pub const LANDSCAPE_JSON: &str = "landscape.json";
/// The figure, as `landscape.svg` and `landscape.png`.
pub const LANDSCAPE_FIGURE: &str = "landscape";

/// Where a landscape slice was taken, against the analysed checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub enum SliceOrigin {
    /// Through an analysed checkpoint, as it was analysed (its SHA-256 is a record's).
    Analysed,
    /// Through a checkpoint of an analysed one's name whose files have changed since.
    OtherVersion,
    /// Through another checkpoint (its path as landscape.json gives it).
    Elsewhere(String),
    /// landscape.json cannot be read (a slice being written, or damaged).
    Unknown,
}

/// The landscape folders of an analysis, for its report, in path order: every folder holding
/// a landscape.json directly inside the analysis folder or inside one of the analysed
/// checkpoint folders `checkpoints` (where `curvscope landscape` writes by default,
/// `CHECKPOINT/landscape-*/`), each with its [`SliceOrigin`] against the analysed checkpoints'
/// SHA-256 (`fingerprints`) and folder names (`names`); and, for a run moved since it was
/// analysed, the slices in the folders beside the analysis folder taken through one of them.
pub fn landscape_folders(
    analysis: &Path,
    checkpoints: &[PathBuf],
    names: &[&str],
    fingerprints: &[&str],
) -> Vec<(PathBuf, SliceOrigin)> {
    let subfolders = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_dir())
            .collect()
    };
    let slices = |dirs: Vec<PathBuf>| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|dir| subfolders(dir))
            .filter(|dir| dir.join(LANDSCAPE_JSON).is_file())
            .filter_map(|dir| dir.canonicalize().ok())
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let origin = |dir: &Path| -> SliceOrigin {
        let json = std::fs::read(dir.join(LANDSCAPE_JSON))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        let Some(json) = json else {
            return SliceOrigin::Unknown;
        };
        let checkpoint = json["checkpoint"].as_str().unwrap_or_default();
        let name = Path::new(checkpoint).file_name().and_then(|n| n.to_str());
        match json["checkpoint_sha256"].as_str() {
            Some(sha) if fingerprints.contains(&sha) => SliceOrigin::Analysed,
            Some(_) if name.is_some_and(|n| names.contains(&n)) => SliceOrigin::OtherVersion,
            Some(_) => SliceOrigin::Elsewhere(checkpoint.to_string()),
            None => SliceOrigin::Unknown,
        }
    };
    let own = slices(
        std::iter::once(analysis.to_path_buf())
            .chain(checkpoints.iter().cloned())
            .collect(),
    );
    let beside = analysis
        .canonicalize()
        .ok()
        .and_then(|a| a.parent().map(subfolders))
        .unwrap_or_default();
    let moved = slices(beside)
        .into_iter()
        .filter(|dir| !own.contains(dir) && origin(dir) == SliceOrigin::Analysed);
    let mut found: Vec<(PathBuf, SliceOrigin)> = own
        .iter()
        .map(|dir| (dir.clone(), origin(dir)))
        .chain(moved.map(|dir| (dir, SliceOrigin::Analysed)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The words and marks of a slice's figure, kept in landscape.json so that the figure can be
/// redrawn from the folder alone ([`read_figure`]).
#[derive(Serialize, Deserialize)]
pub struct FigureText {
    pub title: String,
    pub axis_labels: Vec<String>,
    pub marks: Vec<Vec<f64>>,
}

/// What [`read_figure`] needs of landscape.json.
#[derive(Deserialize)]
struct StoredSlice {
    axes: Vec<Vec<f64>>,
    figure: FigureText,
}

/// The figure of the finished slice in `dir`, from its landscape.json and landscape.csv alone:
/// `read_figure(dir)?.svg()` is the SVG a report inlines.
pub fn read_figure(dir: &Path) -> Result<SliceFigure> {
    let json_path = dir.join(LANDSCAPE_JSON);
    let bytes =
        std::fs::read(&json_path).with_context(|| format!("reading {}", json_path.display()))?;
    let stored: StoredSlice = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a landscape.json of this curvscope",
            json_path.display()
        )
    })?;
    check_figure(&stored).with_context(|| {
        format!(
            "{}: not a landscape.json of this curvscope",
            json_path.display()
        )
    })?;
    let rows = read_rows(dir, stored.axes.len())?;
    let points: usize = stored.axes.iter().map(Vec::len).product();
    ensure!(
        rows.len() == points,
        "{} holds {} of the {points} grid points: rerun `curvscope landscape` with the same \
         options to finish it",
        dir.join(LANDSCAPE_CSV).display(),
        rows.len()
    );
    Ok(SliceFigure {
        title: stored.figure.title,
        axis_labels: stored.figure.axis_labels,
        axes: stored.axes,
        loss: rows.iter().map(|r| r.point.loss).collect(),
        model: rows.iter().map(|r| r.model).collect(),
        accuracy: rows.iter().map(|r| r.point.accuracy).collect(),
        marks: stored.figure.marks,
    })
}

/// What `landscape` writes, checked before a figure is drawn from it: one or two increasing
/// axes of finite coordinates within ±(1 + [`MAX_SPAN`]) (a line to another checkpoint runs
/// to 1 + its span) and of 2 to [`MAX_GRID_POINTS`] points, a label per axis, marks of a
/// coordinate per axis. A damaged file otherwise panicked
/// the plotting code, or kept it busy for minutes on an axis that overflowed to ∞.
fn check_figure(stored: &StoredSlice) -> Result<()> {
    let dims = stored.axes.len();
    ensure!(dims == 1 || dims == 2, "{dims} axes, not 1 or 2");
    for axis in &stored.axes {
        ensure!(
            (2..=MAX_GRID_POINTS).contains(&axis.len()),
            "an axis of {} points, not 2 to {MAX_GRID_POINTS}",
            axis.len()
        );
        ensure!(
            axis.iter().all(|v| v.abs() <= 1.0 + MAX_SPAN) && axis.windows(2).all(|w| w[0] < w[1]),
            "an axis whose coordinates are not increasing and within ±(1 + {MAX_SPAN})"
        );
    }
    let figure = &stored.figure;
    ensure!(
        figure.axis_labels.len() == dims,
        "{} axis labels for {dims} axes",
        figure.axis_labels.len()
    );
    ensure!(
        figure
            .marks
            .iter()
            .all(|m| m.len() == dims && m.iter().all(|v| v.is_finite())),
        "a mark without one finite coordinate per axis"
    );
    Ok(())
}

/// landscape.csv's columns for a slice of `dims` dimensions (coordinates a, b), as [`csv()`]
/// writes them and the readers expect them.
fn csv_header(dims: usize) -> Vec<&'static str> {
    [
        &["a", "b"][..dims],
        &["loss", "accuracy", "quadratic_model"],
    ]
    .concat()
}

/// Every column's meaning (landscape.json's "columns", README.md's table).
pub fn column_docs(dims: usize) -> serde_json::Value {
    let mut docs = serde_json::Map::new();
    docs.insert(
        "a".into(),
        "coordinate along the first direction: θ + a·d₁ (+ b·d₂)".into(),
    );
    if dims == 2 {
        docs.insert("b".into(), "coordinate along the second direction".into());
    }
    docs.insert(
        "loss".into(),
        "L at the grid point, on the data in landscape.json".into(),
    );
    docs.insert(
        "accuracy".into(),
        "fraction classified correctly there (empty for non-classifiers)".into(),
    );
    docs.insert(
        "quadratic_model".into(),
        "L(θ) + gᵀδ + ½δᵀHδ at δ = a·d₁ (+ b·d₂): the second-order Taylor model at θ".into(),
    );
    docs.into()
}

/// landscape.csv: the header and one row per computed point, in grid order.
fn csv(grid: &[Vec<f64>], rows: &[SlicePoint], model: &QuadraticModel, dims: usize) -> String {
    csv_header(dims).join(",") + "\n" + &csv_rows(grid, rows, model)
}

/// The lines of landscape.csv for `rows`, the points at the coordinates `grid`.
fn csv_rows(grid: &[Vec<f64>], rows: &[SlicePoint], model: &QuadraticModel) -> String {
    let mut out = String::new();
    for (c, p) in grid.iter().zip(rows) {
        let coords: Vec<String> = c.iter().copied().map(float).collect();
        let accuracy = p.accuracy.map_or(String::new(), float);
        out.push_str(&format!(
            "{},{},{accuracy},{}\n",
            coords.join(","),
            float(p.loss),
            float(model.at(c))
        ));
    }
    out
}

/// Adds rows to the landscape.csv in a folder as they are computed, each chunk written to the
/// file's end and synced before the next is computed: the bytes written are the file's own,
/// however large the grid (rewriting the file after every chunk wrote the square of it). A
/// kill leaves the rows before the chunk under way, and at most part of one row after them,
/// which [`resumed_rows`] cuts off.
pub struct CsvAppender {
    path: PathBuf,
    dims: usize,
    /// The file, open for appending once its first rows are in place.
    file: Option<std::fs::File>,
}

impl CsvAppender {
    /// The appender of `out`'s landscape.csv for a slice of `dims` dimensions: the file
    /// [`resumed_rows`] left (its kept rows, whole lines), or none yet.
    pub fn new(out: &Path, dims: usize) -> Self {
        Self {
            path: out.join(LANDSCAPE_CSV),
            dims,
            file: None,
        }
    }

    /// Appends the rows of the points `rows` at the coordinates `grid`, the grid's next ones.
    pub fn append(
        &mut self,
        grid: &[Vec<f64>],
        rows: &[SlicePoint],
        model: &QuadraticModel,
    ) -> Result<()> {
        let path = &self.path;
        let open = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))
        };
        let file = match &mut self.file {
            Some(file) => file,
            None if path.exists() => self.file.insert(open()?),
            None => {
                // The first rows with the header, at once: a kill leaves no file or a whole one.
                write_atomic(path, csv(grid, rows, model, self.dims).as_bytes())?;
                self.file = Some(open()?);
                return Ok(());
            }
        };
        file.write_all(csv_rows(grid, rows, model).as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The rows of an unfinished slice in `out` made with the same options from the same
/// checkpoint on the same data: the longest prefix of landscape.csv whose rows can be read and
/// whose coordinates are the grid's. A file with more rows than that (a damaged header or row,
/// a row off the grid, rows past its end) is copied to `earlier/damaged/` with a note naming
/// the line, then rewritten at once with the kept rows (`model` gives their last column), so a
/// rerun finds it whole and copies nothing twice. Part of a row after the last line break is
/// what a kill leaves while [`CsvAppender`] writes: it is cut off, and the next rows appended
/// after the kept ones. The data are compared by [`DatasetInfo::same_data`]: an `.npz` rewritten under
/// its name must not lend its old rows. A slice of other options, another checkpoint or other data
/// is moved to `earlier/<its options hash>/` first (with a note), and a landscape.csv without
/// a readable landscape.json to `earlier/unknown/`: what stays in `out` is then never the
/// rows of another slice, however soon the run is killed after writing its landscape.json.
pub fn resumed_rows(
    out: &Path,
    hash: &str,
    fingerprint: &str,
    data: &DatasetInfo,
    grid: &[Vec<f64>],
    model: &QuadraticModel,
    dims: usize,
) -> Result<Vec<SlicePoint>> {
    let Some(stored) = std::fs::read(out.join(LANDSCAPE_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        if out.join(LANDSCAPE_CSV).exists() {
            let to = set_aside(out, "unknown")?;
            eprintln!(
                "note: {}: a landscape.csv without a readable landscape.json is moved to {}",
                out.display(),
                to.display()
            );
        }
        return Ok(Vec::new());
    };
    let same_data = DatasetInfo::deserialize(&stored["data"]["info"])
        .is_ok_and(|stored| stored.same_data(data));
    if stored["options_hash"] != hash || stored["checkpoint_sha256"] != fingerprint || !same_data {
        let earlier = stored["options_hash"]
            .as_str()
            .filter(|h| is_options_hash(h))
            .unwrap_or("unknown");
        let to = set_aside(out, earlier)?;
        eprintln!(
            "note: {} held a slice of other options, another checkpoint or other data; it is \
             moved to {} (use another --out to keep both in place)",
            out.display(),
            to.display()
        );
        return Ok(Vec::new());
    }
    if !out.join(LANDSCAPE_CSV).exists() {
        return Ok(Vec::new());
    }
    let StoredRows {
        rows: stored,
        damage,
        unfinished,
    } = rows_before_damage(out, dims);
    let kept: Vec<SlicePoint> = stored
        .iter()
        .zip(grid)
        .take_while(|(row, c)| row.coordinates == **c)
        .map(|(row, _)| row.point.clone())
        .collect();
    let path = out.join(LANDSCAPE_CSV);
    // The first thing that ends the kept rows is what the note names.
    let why = match (stored.get(kept.len()), damage) {
        (Some(_), _) if kept.len() == grid.len() => Some(format!(
            "{} rows from line {}: past the grid's {} points",
            path.display(),
            kept.len() + 2,
            grid.len()
        )),
        (Some(row), _) => Some(format!(
            "{} line {}: not the grid's point {} (coordinates {:?})",
            path.display(),
            kept.len() + 2,
            kept.len() + 1,
            row.coordinates
        )),
        (None, Some(error)) => Some(format!("{error:#}")),
        (None, None) => None,
    };
    if let Some(why) = why {
        let to = keep_damaged_csv(out)?;
        write_atomic(&path, csv(grid, &kept, model, dims).as_bytes())?;
        eprintln!(
            "note: {why}; the {} rows before it are kept and the file rewritten with them; the \
             file as it was is kept as {}",
            kept.len(),
            to.display()
        );
    } else if let Some(whole) = unfinished {
        // Part of a row after the kept ones, which the next rows would be appended to.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_len(whole).and_then(|()| file.sync_all()))
            .with_context(|| format!("cutting the unfinished last row of {}", path.display()))?;
    }
    Ok(kept)
}

/// Copies landscape.csv, with the landscape.json that says which slice it is of, to
/// `earlier/damaged/` (or `damaged-2/`, …, never over an earlier copy) and returns the CSV
/// copy's path.
fn keep_damaged_csv(out: &Path) -> Result<PathBuf> {
    let earlier = out.join("earlier");
    let to = std::iter::once(earlier.join("damaged"))
        .chain((2..).map(|i| earlier.join(format!("damaged-{i}"))))
        .find(|to| !to.exists())
        .expect("an unused name");
    std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
    for file in [LANDSCAPE_JSON, LANDSCAPE_CSV] {
        let (from, to) = (out.join(file), to.join(file));
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(to.join(LANDSCAPE_CSV))
}

/// Moves the slice files of `out` into `out/earlier/<name>/`, or `<name>-2/`, `-3/`, … when
/// that holds a slice already (another checkpoint's under the same options: neither is lost,
/// nor one's CSV paired with the other's figures), the CSV and figures before landscape.json,
/// so that a kill midway leaves the JSON in `out` to set the rest aside on the next run: a
/// folder named for an options hash (which came from a landscape.json) without one is such a
/// move cut short, and is continued.
fn set_aside(out: &Path, name: &str) -> Result<PathBuf> {
    let svg = format!("{LANDSCAPE_FIGURE}.svg");
    let png = format!("{LANDSCAPE_FIGURE}.png");
    let files = [LANDSCAPE_CSV, &svg, &png, LANDSCAPE_JSON];
    let earlier = out.join("earlier");
    let cut_short = |to: &Path| is_options_hash(name) && !to.join(LANDSCAPE_JSON).exists();
    let unused = |to: &Path| !files.iter().any(|file| to.join(file).exists());
    let to = std::iter::once(earlier.join(name))
        .chain((2..).map(|i| earlier.join(format!("{name}-{i}"))))
        .find(|to| cut_short(to) || unused(to))
        .expect("an unused name");
    std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
    for file in files {
        let from = out.join(file);
        if from.exists() {
            std::fs::rename(&from, to.join(file))
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(to)
}

/// One row of landscape.csv.
struct CsvRow {
    coordinates: Vec<f64>,
    point: SlicePoint,
    model: f64,
}

/// What landscape.csv in a folder holds, as [`rows_before_damage`] reads it.
struct StoredRows {
    /// Its rows up to the first that cannot be read.
    rows: Vec<CsvRow>,
    /// Why that one could not be read, naming the file and the line; also when the file cannot
    /// be opened or its header is not this slice's.
    damage: Option<anyhow::Error>,
    /// The length of its whole lines where part of a line follows them (a row a kill cut
    /// short while [`CsvAppender`] wrote it), which is not read.
    unfinished: Option<u64>,
}

/// The rows of landscape.csv in `dir`, a slice of `dims` dimensions; an error names the file
/// and the line.
fn read_rows(dir: &Path, dims: usize) -> Result<Vec<CsvRow>> {
    let stored = rows_before_damage(dir, dims);
    match stored.damage {
        None => Ok(stored.rows),
        Some(error) => Err(error),
    }
}

/// The rows of landscape.csv in `dir` up to the first that cannot be read, and why that one
/// could not; no rows and the reason when the file cannot be opened or its header is not this
/// slice's. Read to its last line break: what follows one is a row still being written, or
/// cut short by a kill (a file without a line break is read whole: no run of ours wrote it).
fn rows_before_damage(dir: &Path, dims: usize) -> StoredRows {
    let path = dir.join(LANDSCAPE_CSV);
    let mut stored = StoredRows {
        rows: Vec::new(),
        damage: None,
        unfinished: None,
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            stored.damage = Some(anyhow::anyhow!("{}: {e}", path.display()));
            return stored;
        }
    };
    let whole = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(bytes.len(), |i| i + 1);
    if whole < bytes.len() {
        stored.unfinished = Some(whole as u64);
    }
    stored.damage = read_rows_into(&path, &bytes[..whole], dims, &mut stored.rows).err();
    stored
}

fn read_rows_into(path: &Path, bytes: &[u8], dims: usize, rows: &mut Vec<CsvRow>) -> Result<()> {
    let named = |e: ::csv::Error| anyhow::anyhow!("{}: {e}", path.display());
    let mut reader = ::csv::Reader::from_reader(bytes);
    let header = reader.headers().map_err(named)?;
    let expected = csv_header(dims);
    ensure!(
        header.iter().eq(expected.iter().copied()),
        "{} line 1: the header is '{}', not '{}'",
        path.display(),
        header.iter().collect::<Vec<_>>().join(","),
        expected.join(",")
    );
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(named)?;
        let at = || format!("{} line {}", path.display(), line + 2);
        let cell = |i: usize| -> Result<Option<f64>> {
            match record.get(i) {
                Some("") => Ok(None),
                Some(text) => text
                    .parse()
                    .map(Some)
                    .with_context(|| format!("{}: '{text}' is not a number", at())),
                None => bail!("{}: too few columns", at()),
            }
        };
        let number = |i: usize| cell(i)?.with_context(|| format!("{}: empty cell {}", at(), i + 1));
        rows.push(CsvRow {
            coordinates: (0..dims).map(number).collect::<Result<_>>()?,
            point: SlicePoint {
                loss: number(dims)?,
                accuracy: cell(dims + 1)?,
            },
            model: number(dims + 2)?,
        });
    }
    Ok(())
}
