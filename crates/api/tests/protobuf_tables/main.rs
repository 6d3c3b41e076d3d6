//! The committed protobuf tables (`src/protobuf/messages.rs`) are what the generator makes of
//! k8s-pb's prost output, k8s-openapi's schemas and `src/protobuf/go_pointers.txt`.
//!
//! Regenerate after changing any of them (a k8s-pb or k8s-openapi upgrade, a served kind):
//! `FERROKUBE_REGENERATE=1 cargo test -p ferrokube-api --test protobuf_tables`.

mod generate;
mod parse;

use std::path::{Path, PathBuf};

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// k8s-pb's `src/` directory, from `cargo metadata` (k8s-pb is a dev-dependency). The
/// platform filter keeps cargo from wanting other platforms' crates, which an offline
/// machine lacks.
fn k8s_pb_src() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host_triple(), "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let package = metadata["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "k8s-pb"))
        .expect("k8s-pb is a dependency");
    let manifest_path = package["manifest_path"].as_str().expect("manifest_path");
    Path::new(manifest_path)
        .parent()
        .expect("a directory")
        .join("src")
}

fn generated() -> String {
    let protos = parse::read_dir(&k8s_pb_src()).expect("k8s-pb parses");
    let pointers = include_str!("../../src/protobuf/go_pointers.txt");
    generate::generate(&protos, pointers).unwrap_or_else(|e| panic!("generator: {e}"))
}

#[test]
fn committed_tables_are_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protobuf/messages.rs");
    let want = generated();
    if std::env::var_os("FERROKUBE_REGENERATE").is_some() {
        std::fs::write(&path, &want).expect("write messages.rs");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `FERROKUBE_REGENERATE=1 cargo test -p ferrokube-api --test protobuf_tables`",
        path.display()
    );
}

#[test]
fn every_served_kind_has_a_root() {
    let roots = generate::root_kinds();
    // Reviews (TokenReview) are answered from JSON bodies; a protobuf one gets the clear
    // "not supported; send the object as JSON" refusal (their UserInfo.extra has no schema).
    let stored = ferrokube_api::Registry::builtin();
    for info in stored.resources().iter().filter(|i| !i.is_review()) {
        let api_version = info.api_version();
        assert!(
            roots.contains(&(api_version.as_str(), info.kind)),
            "{api_version} {} is served but has no protobuf root in the generator",
            info.kind
        );
    }
}
