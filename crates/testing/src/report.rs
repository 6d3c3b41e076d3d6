//! Benchmark reports: percentiles of measured durations, and each benchmark's table written
//! into its own section of `docs/BENCHMARKS.md`.

use std::path::PathBuf;
use std::time::Duration;

/// The `p` quantile (0.0–1.0) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Replaces the section `name` of the workspace's `docs/BENCHMARKS.md` (between
/// `<!-- name:begin -->` and `<!-- name:end -->`), keeping every other section.
pub fn write_benchmark_section(name: &str, section: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root
        .canonicalize()
        .unwrap_or(root)
        .join("docs/BENCHMARKS.md");
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_owned());
    let block = format!("{begin}\n{section}{end}\n");
    let updated = match (existing.find(&begin), existing.find(&end)) {
        (Some(b), Some(e)) => format!(
            "{}{block}{}",
            &existing[..b],
            existing[e + end.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n\n{block}", existing.trim_end()),
    };
    std::fs::create_dir_all(path.parent().expect("docs has a parent")).expect("create docs/");
    std::fs::write(&path, updated).expect("write docs/BENCHMARKS.md");
    path
}
