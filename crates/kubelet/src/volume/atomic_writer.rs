//! Upstream's atomic writer: a volume's files live in a timestamped hidden directory, `..data`
//! is a symlink to it, and each top-level name is a symlink into `..data`. An update writes a
//! new directory and swaps `..data` with one rename, so a reader sees the old files or the new
//! ones, never a mix.
//!
//! Example: payload `{"app.conf": …, "keys/a": …}` in `cm/` gives `cm/..2026_12_03_14_00_00.1234/`
//! holding `app.conf` and `keys/a`, `cm/..data -> ..2026_12_03_14_00_00.1234`,
//! `cm/app.conf -> ..data/app.conf` and `cm/keys -> ..data/keys`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

/// The link to the current data directory.
const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// One file of a volume: its bytes and permission bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, FileData>;

/// Why a payload path is refused (upstream's `validatePath`): relative, without `..` parts,
/// not starting with `..`.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(format!("invalid path: must be relative path: {path}"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("invalid path: must not contain '..': {path}"));
    }
    if path.starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {path}"));
    }
    Ok(())
}

/// The top-level names of a payload (what gets a link beside `..data`).
fn top_level(payload: &Payload) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| Path::new(p).components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// Whether the current data directory holds exactly `payload`, modes included.
fn holds(dir: &Path, payload: &Payload, group: Option<u32>) -> bool {
    let data = dir.join(DATA);
    let mut found = 0;
    let same = payload.iter().all(|(path, file)| {
        let path = data.join(path);
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777);
        found += 1;
        mode.is_ok_and(|m| m == with_group(file.mode, group))
            && std::fs::read(&path).is_ok_and(|bytes| bytes == file.data)
    });
    same && found == count_files(&data)
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            _ => 1,
        })
        .sum()
}

/// A file's mode once owned by the pod's `fsGroup`: readable by the group (upstream's
/// `SetVolumeOwnership` for read-only volumes).
fn with_group(mode: u32, group: Option<u32>) -> u32 {
    if group.is_some() { mode | 0o440 } else { mode }
}

/// Writes `payload` into `dir` unless it already holds it; whether it wrote. `group` is the
/// pod's `fsGroup`, made the files' group.
pub fn write(dir: &Path, payload: &Payload, group: Option<u32>) -> io::Result<bool> {
    for path in payload.keys() {
        check_path(path).map_err(io::Error::other)?;
    }
    std::fs::create_dir_all(dir)?;
    if dir.join(DATA).exists() && holds(dir, payload, group) {
        return Ok(false);
    }
    let old = std::fs::read_link(dir.join(DATA)).ok();
    let stamp = jiff::Timestamp::now()
        .strftime("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let fresh = dir.join(&stamp);
    std::fs::create_dir(&fresh)?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755))?;
    for (path, file) in payload {
        let target = fresh.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.data)?;
        std::fs::set_permissions(
            &target,
            std::fs::Permissions::from_mode(with_group(file.mode, group)),
        )?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&target, None, Some(gid))?;
        }
    }
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA))?;
    let wanted = top_level(payload);
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA).join(name), &link)?;
        }
    }
    remove_stale(dir, &wanted, old.as_deref())?;
    Ok(true)
}

/// Removes the links no longer in the payload and the previous data directory.
fn remove_stale(dir: &Path, wanted: &BTreeSet<String>, old: Option<&Path>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if is_link && !name.starts_with("..") && !wanted.contains(&name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    if let Some(old) = old.filter(|o| o.to_string_lossy().starts_with("..")) {
        std::fs::remove_dir_all(dir.join(old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                let file = FileData {
                    data: d.as_bytes().to_vec(),
                    mode: *m,
                };
                ((*p).to_owned(), file)
            })
            .collect()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn layout_update_and_removal_as_upstream() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cm");
        let first = payload(&[("app.conf", "a=1", 0o644), ("keys/k1", "x", 0o400)]);
        assert!(write(&dir, &first, None).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("app.conf")).unwrap(),
            "a=1"
        );
        assert_eq!(std::fs::read_to_string(dir.join("keys/k1")).unwrap(), "x");
        assert_eq!(
            std::fs::read_link(dir.join("app.conf")).unwrap(),
            Path::new("..data/app.conf")
        );
        let data = std::fs::read_link(dir.join(DATA)).unwrap();
        assert!(data.to_string_lossy().starts_with("..20"), "{data:?}");
        assert_eq!(mode(&dir.join("keys/k1")), 0o400);
        assert!(!write(&dir, &first, None).unwrap(), "unchanged: no write");

        let second = payload(&[("app.conf", "a=2", 0o644), ("new", "n", 0o644)]);
        assert!(write(&dir, &second, None).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("app.conf")).unwrap(),
            "a=2"
        );
        assert_eq!(std::fs::read_to_string(dir.join("new")).unwrap(), "n");
        assert!(
            std::fs::symlink_metadata(dir.join("keys")).is_err(),
            "stale link removed"
        );
        assert!(!dir.join(&data).exists(), "old data directory removed");
        let names: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..20"))
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["..data".into(), "app.conf".into(), "new".into()])
        );

        let mode_only = payload(&[("app.conf", "a=2", 0o600), ("new", "n", 0o644)]);
        assert!(
            write(&dir, &mode_only, None).unwrap(),
            "a mode change is a change"
        );
        assert_eq!(mode(&dir.join("app.conf")), 0o600);
    }

    #[test]
    fn a_group_makes_files_group_readable() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("s");
        let gid = unsafe { libc::getgid() };
        write(&dir, &payload(&[("token", "t", 0o400)]), Some(gid)).unwrap();
        assert_eq!(mode(&dir.join("token")), 0o440);
        assert!(!write(&dir, &payload(&[("token", "t", 0o400)]), Some(gid)).unwrap());
    }

    #[test]
    fn paths_are_checked() {
        for bad in ["", "/etc/passwd", "a/../../b", "..data", "..x/y"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in ["a", "a/b", "a..b", ".hidden"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        let root = tempfile::tempdir().unwrap();
        assert!(write(root.path(), &payload(&[("../escape", "x", 0o644)]), None).is_err());
        assert!(!root.path().parent().unwrap().join("escape").exists());
    }
}
