//! A CSV read back as text: what `export` and `demo` read of an analysis.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A CSV read back as text: its header and rows, with typed access by column name.
pub struct Frame {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Where it was read from, for errors: a missing column is named with its file.
    path: PathBuf,
}

impl Frame {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let mut reader =
            csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        let parsing = || format!("parsing {}", path.display());
        let header = reader
            .headers()
            .with_context(parsing)?
            .iter()
            .map(String::from)
            .collect();
        let rows = reader
            .records()
            .map(|r| Ok(r?.iter().map(String::from).collect()))
            .collect::<Result<_>>()
            .with_context(parsing)?;
        Ok(Self {
            header,
            rows,
            path: path.to_path_buf(),
        })
    }

    /// The column `name` as text; an error naming the file and the column if it is absent.
    pub fn text(&self, name: &str) -> Result<Vec<&str>> {
        let i = self
            .header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column '{name}'", self.path.display()))?;
        Ok(self.rows.iter().map(|r| r[i].as_str()).collect())
    }

    /// The column `name` as numbers (`None` for empty or unparsable cells).
    pub fn numbers(&self, name: &str) -> Result<Vec<Option<f64>>> {
        Ok(self
            .text(name)?
            .into_iter()
            .map(|s| s.parse().ok())
            .collect())
    }
}
