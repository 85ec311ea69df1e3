//! File primitives every crate of the workspace shares: atomic writes, removal of stale
//! files, setting aside what must not be lost, and hex encoding.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so
/// a reader, or a process killed mid-write, sees the old file or the new one, never half of
/// one. The file gets the permissions of `std::fs::write` (0666 less the umask, not a
/// temporary file's 0600). The error message names `path` (or the folder, if the temporary
/// file cannot be made there).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.txt");
/// curvscope_model::files::write_atomic(&path, b"one")?;
/// curvscope_model::files::write_atomic(&path, b"two")?;
/// assert_eq!(std::fs::read(&path)?, b"two");
/// let err = curvscope_model::files::write_atomic(&dir.path().join("no/such/dir/b"), b"")
///     .unwrap_err();
/// assert!(err.to_string().contains("no/such/dir"), "{err}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let named = |at: &Path, what: &str| {
        let at = at.display().to_string();
        let what = what.to_string();
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{at}: {what}: {e}"))
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).rand_bytes(TEMP_RANDOM_CHARS);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(named(dir, "cannot create a temporary file in this folder"))?;
    let write = named(path, "cannot write");
    tmp.write_all(contents).map_err(&write)?;
    tmp.as_file().sync_all().map_err(&write)?;
    tmp.persist(path).map_err(|e| write(e.error))?;
    Ok(())
}

const TEMP_PREFIX: &str = ".tmp";
const TEMP_RANDOM_CHARS: usize = 6;

/// Whether `name` is that of [`write_atomic`]'s temporary file (`.tmp` and six random letters
/// or digits), which a kill can leave behind: a user's own `.tmp_notes` is not.
///
/// ```
/// use curvscope_model::files::is_atomic_write_leftover;
/// assert!(is_atomic_write_leftover(".tmpAb12Zx"));
/// assert!(!is_atomic_write_leftover(".tmp_notes.txt"));
/// ```
pub fn is_atomic_write_leftover(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|random| {
        random.len() == TEMP_RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Checks that a file can be made in the folder `dir` by making, and removing, one named as
/// [`write_atomic`]'s temporary files are: one left by a kill between the two steps is then
/// the leftover every folder check already passes over ([`is_atomic_write_leftover`]), and two
/// processes probing one folder never see each other's as a foreign file.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// curvscope_model::files::probe_writable(dir.path())?;
/// assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
/// assert!(curvscope_model::files::probe_writable(&dir.path().join("absent")).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .rand_bytes(TEMP_RANDOM_CHARS)
        .tempfile_in(dir)
        .map(drop)
}

/// Whether the folder entry `entry` is a file [`write_atomic`] left behind when killed (see
/// [`is_atomic_write_leftover`]): what a rerun may take as its own folder's, and remove.
pub fn is_leftover_file(entry: &std::fs::DirEntry) -> bool {
    is_atomic_write_leftover(&entry.file_name().to_string_lossy()) && entry.path().is_file()
}

/// Removes the temporary files of [`write_atomic`] that a kill left in the folder `dir`
/// ([`is_leftover_file`]; a missing folder holds none). Only for a folder this process writes
/// alone (it holds the folder's exclusive lock): another's write under way has one too.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join(".tmpAb12Zx"), "cut short")?;
/// std::fs::write(dir.path().join(".tmp_notes.txt"), "the user's")?;
/// curvscope_model::files::remove_leftovers(dir.path())?;
/// assert!(!dir.path().join(".tmpAb12Zx").exists());
/// assert!(dir.path().join(".tmp_notes.txt").exists());
/// curvscope_model::files::remove_leftovers(&dir.path().join("absent"))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn remove_leftovers(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        entries => entries?,
    };
    for entry in entries {
        let entry = entry?;
        if is_leftover_file(&entry) {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes the file at `path` if there is one; its absence is no error (a stale file that
/// another run already removed, or never wrote).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("stale.csv");
/// std::fs::write(&path, "old")?;
/// curvscope_model::files::remove_if_present(&path)?;
/// curvscope_model::files::remove_if_present(&path)?;
/// assert!(!path.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Renames the file or folder at `path` to the first free `<stem>.<label>-K[.<extension>]`
/// (K = 1, 2, …) beside it and returns the new path: what a command cannot use, or would
/// replace, is kept under another name, never deleted. The extension stays last, so the file
/// still opens in what opened it; a name taken by anything, a dangling link too, is skipped.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("analysis.ipynb");
/// std::fs::write(&path, "mine")?;
/// let aside = curvscope_model::files::move_aside(&path, "edited")?;
/// assert_eq!(aside, dir.path().join("analysis.edited-1.ipynb"));
/// std::fs::write(&path, "again")?;
/// assert!(curvscope_model::files::move_aside(&path, "edited")?.ends_with("analysis.edited-2.ipynb"));
/// let snapshot = dir.path().join("step-000010");
/// std::fs::create_dir(&snapshot)?;
/// assert!(curvscope_model::files::move_aside(&snapshot, "bad")?.ends_with("step-000010.bad-1"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn move_aside(path: &Path, label: &str) -> std::io::Result<PathBuf> {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let extension = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let free = (1..)
        .map(|k| path.with_file_name(format!("{stem}.{label}-{k}{extension}")))
        .find(|p| p.symlink_metadata().is_err())
        .expect("some suffix is free");
    std::fs::rename(path, &free).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("renaming {} to {}: {e}", path.display(), free.display()),
        )
    })?;
    Ok(free)
}

/// `bytes` with an SI unit for messages: "687.0 kB", "12.3 GB".
///
/// ```
/// assert_eq!(curvscope_model::format_bytes(134_217_728), "134.2 MB");
/// ```
pub fn format_bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().si().to_string()
}

/// Lowercase hexadecimal of `bytes`, two digits per byte (as Python's `bytes.hex()`).
///
/// ```
/// assert_eq!(curvscope_model::files::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_writes_get_the_permissions_of_a_plain_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (plain, atomic) = (dir.path().join("plain"), dir.path().join("atomic"));
        std::fs::write(&plain, b"x").unwrap();
        write_atomic(&atomic, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&atomic), mode(&plain));
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"old").unwrap();
        // A folder cannot be replaced by a file: the rename fails.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"new").unwrap_err();
        assert!(err.to_string().contains(&*sub.to_string_lossy()), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
