//! The list of files a command wrote into a folder, each with the SHA-256 of what it wrote
//! (`name<TAB>sha256` a line, in a hidden file of the folder): a rerun knows its own files, and
//! which of them someone changed since (a notebook run, a CSV annotated), and keeps those
//! aside instead of overwriting them.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use curvscope_model::files::{hex, move_aside, write_atomic};
use sha2::{Digest, Sha256};

/// The list file `list` in `folder`.
pub struct Ledger {
    folder: PathBuf,
    list: &'static str,
}

impl Ledger {
    /// The list named `list` in `folder` (read and written when asked, not here).
    pub fn new(folder: &Path, list: &'static str) -> Self {
        Ledger {
            folder: folder.to_path_buf(),
            list,
        }
    }

    /// The list file itself.
    pub fn path(&self) -> PathBuf {
        self.folder.join(self.list)
    }

    /// The files listed, as (name relative to the folder, SHA-256 as written): only plain
    /// names inside the folder, whatever the list says (a garbled line must not reach a file
    /// elsewhere). The hash is `None` in a list written before hashes were kept, or for a file
    /// that could not be read back.
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        let list = std::fs::read_to_string(self.path()).unwrap_or_default();
        let inside = |name: &str| {
            !name.is_empty()
                && Path::new(name)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
        };
        list.lines()
            .map(|line| match line.split_once('\t') {
                Some((name, hash)) => (
                    name.to_string(),
                    Some(hash).filter(|h| !h.is_empty()).map(String::from),
                ),
                None => (line.to_string(), None),
            })
            .filter(|(name, _)| inside(name))
            .collect()
    }

    /// Sets the listed file `name` aside as `<stem>.edited-K.<extension>` (said on stderr) if
    /// it was changed since it was written; nothing for a file the list does not hash.
    pub fn keep_if_edited(&self, name: &str, written: Option<&str>) -> Result<()> {
        let path = self.folder.join(name);
        if written.zip(file_sha256(&path)).is_some_and(|(a, b)| a != b) {
            let aside = move_aside(&path, "edited")?;
            eprintln!(
                "note: {} was changed since curvscope wrote it; kept as {}",
                path.display(),
                aside.display()
            );
        }
        Ok(())
    }

    /// Writes the list anew: `written` (paths in the folder), each with its hash as it is now.
    pub fn record(&self, written: &[PathBuf]) -> Result<()> {
        let lines: String = written
            .iter()
            .filter_map(|path| {
                let name = path.strip_prefix(&self.folder).ok()?;
                let hash = file_sha256(path).unwrap_or_default();
                Some(format!("{}\t{hash}\n", name.display()))
            })
            .collect();
        Ok(write_atomic(&self.path(), lines.as_bytes())?)
    }

    /// `text` as the folder's file `name`, written atomically and listed; an earlier file of
    /// that name that was changed since it was listed is kept aside first
    /// ([`Self::keep_if_edited`]). Other lines of the list stay.
    pub fn write(&self, name: &str, text: &[u8]) -> Result<()> {
        let mut entries = self.entries();
        let earlier = entries.iter().position(|(listed, _)| listed == name);
        if let Some(i) = earlier {
            self.keep_if_edited(name, entries[i].1.as_deref())?;
            entries.remove(i);
        }
        write_atomic(&self.folder.join(name), text)?;
        let lines: String = entries
            .iter()
            .map(|(listed, hash)| format!("{listed}\t{}\n", hash.as_deref().unwrap_or_default()))
            .chain([format!("{name}\t{}\n", hex(&Sha256::digest(text)))])
            .collect();
        Ok(write_atomic(&self.path(), lines.as_bytes())?)
    }
}

/// The hex SHA-256 of the file at `path`, if it can be read.
pub(crate) fn file_sha256(path: &Path) -> Option<String> {
    crate::checkpoints::files_sha256(&[path])
}
