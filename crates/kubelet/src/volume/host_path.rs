//! `hostPath` volumes: a path of the node, checked by its `type` as upstream's `checkType`
//! (`DirectoryOrCreate` and `FileOrCreate` create what is missing).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use k8s_openapi::api::core::v1::HostPathVolumeSource;

/// Checks (and for the `OrCreate` types makes) the path; the message is upstream's.
pub fn check(source: &HostPathVolumeSource) -> Result<(), String> {
    let path = Path::new(&source.path);
    let kind = std::fs::metadata(path).map(|m| m.file_type()).ok();
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {} is not {what}",
            source.path
        ))
    };
    match source.type_.as_deref().unwrap_or_default() {
        "" => Ok(()),
        "DirectoryOrCreate" if kind.is_none() => {
            std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", source.path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", source.path))
        }
        "FileOrCreate" if kind.is_none() => {
            let created = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            created
                .map(drop)
                .map_err(|e| format!("{}: {e}", source.path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| format!("{}: {e}", source.path))
        }
        "DirectoryOrCreate" | "Directory" if !kind.is_some_and(|k| k.is_dir()) => {
            fail("a directory")
        }
        "FileOrCreate" | "File" if !kind.is_some_and(|k| k.is_file()) => fail("a file"),
        "Socket" if !kind.is_some_and(|k| k.is_socket()) => fail("a socket file"),
        "CharDevice" if !kind.is_some_and(|k| k.is_char_device()) => fail("a character device"),
        "BlockDevice" if !kind.is_some_and(|k| k.is_block_device()) => fail("a block device"),
        "DirectoryOrCreate" | "Directory" | "FileOrCreate" | "File" | "Socket" | "CharDevice"
        | "BlockDevice" => Ok(()),
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_checked_as_upstream() {
        let root = tempfile::tempdir().unwrap();
        let at = |p: &str| root.path().join(p).to_string_lossy().into_owned();
        std::fs::write(at("file"), "x").unwrap();
        let source = |path: String, kind: &str| HostPathVolumeSource {
            path,
            type_: Some(kind.into()),
        };
        assert!(check(&source(at("file"), "File")).is_ok());
        assert!(check(&source(root.path().to_string_lossy().into(), "Directory")).is_ok());
        assert_eq!(
            check(&source(at("file"), "Directory")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                at("file")
            )
        );
        assert_eq!(
            check(&source(at("none"), "File")).unwrap_err(),
            format!("hostPath type check failed: {} is not a file", at("none"))
        );
        assert!(
            check(&source(at("file"), "Socket"))
                .unwrap_err()
                .ends_with("is not a socket file")
        );
        assert!(check(&source("/dev/null".into(), "CharDevice")).is_ok());
        assert!(
            check(&source(at("file"), "BlockDevice"))
                .unwrap_err()
                .ends_with("is not a block device")
        );
        assert!(check(&source(at("made/dir"), "DirectoryOrCreate")).is_ok());
        assert!(Path::new(&at("made/dir")).is_dir());
        assert!(check(&source(at("made/file"), "FileOrCreate")).is_ok());
        assert!(Path::new(&at("made/file")).is_file());
        assert!(check(&source(at("nothing"), "")).is_ok());
    }
}
