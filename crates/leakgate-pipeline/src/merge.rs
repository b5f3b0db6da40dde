//! `leakgate merge`: one verdict from runs made apart — the shards of a CI
//! matrix (`leakgate run --shard I/N`), each uploaded as an artifact. Every
//! `report.json` under the given directories joins one `report.json` (the
//! runs and the worst outcome), one `junit.xml` (a test suite per scenario)
//! and one `summary.md`.

use std::path::{Path, PathBuf};

use leakgate_gate::report::{RunReport, junit, markdown};
use leakgate_runner::layout::{OutputLayout, write_atomic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Outcome, PipelineError};

/// The merged report (`report.json` of `leakgate merge`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct MergedReport {
    /// The worst outcome of the runs.
    pub outcome: Outcome,
    pub exit_code: u8,
    /// Every run, in the order found (directories as given, then by path).
    pub runs: Vec<RunReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: not a leakgate report: {message}")]
    Report { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no report.json under {0}")]
    Empty(String),
    #[error(transparent)]
    Write(#[from] PipelineError),
}

/// Deepest a report.json is looked for under a directory.
const MAX_DEPTH: usize = 6;

/// Every run report under `dirs` (a `report.json` of `leakgate run`).
pub fn collect(dirs: &[PathBuf]) -> Result<Vec<RunReport>, MergeError> {
    let mut files = Vec::new();
    for dir in dirs {
        let before = files.len();
        find_reports(dir, 0, &mut files)?;
        files[before..].sort();
    }
    if files.is_empty() {
        let named: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(MergeError::Empty(named.join(", ")));
    }
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
                path: path.clone(),
                source,
            })?;
            serde_json::from_str(&text).map_err(|e| MergeError::Report {
                path: path.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn find_reports(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> Result<(), MergeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MergeError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type();
        if kind.as_ref().is_ok_and(|t| t.is_dir()) && depth < MAX_DEPTH {
            find_reports(&path, depth + 1, found)?;
        } else if kind.is_ok_and(|t| t.is_file()) && entry.file_name() == "report.json" {
            found.push(path);
        }
    }
    Ok(())
}

/// Merges the runs under `dirs` into `out` (claimed like a run's output
/// directory); returns the merged report, already written.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergedReport, MergeError> {
    let runs = collect(dirs)?;
    let layout = OutputLayout::new(out.to_path_buf(), Path::new(""));
    layout.prepare().map_err(PipelineError::from)?;
    let outcome = runs
        .iter()
        .map(|r| r.outcome)
        .max()
        .unwrap_or(Outcome::Error);
    let merged = MergedReport {
        outcome,
        exit_code: outcome.exit_code(),
        runs,
    };
    let json = serde_json::to_string_pretty(&merged).expect("reports hold only finite numbers");
    for (path, text) in [
        (layout.report_json(), json),
        (layout.junit_xml(), junit::render_all(&merged.runs)),
        (layout.summary_md(), markdown::render_all(&merged.runs)),
    ] {
        write_atomic(&path, text.as_bytes())
            .map_err(|source| PipelineError::Write { path, source })?;
    }
    Ok(merged)
}

/// The JSON Schema of the merged report.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(MergedReport)).expect("schemas serialise")
        + "\n"
}

/// One of N shares of a list of scenarios (`--shard I/N`, I from 1): the
/// scenarios at positions I-1, I-1+N, ... of the list as given, so every
/// job of a CI matrix given the same list runs a different share, and
/// together they run each scenario once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the scenario at `position` (from 0) is this shard's.
    pub fn holds(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected a shard like 2/5 (the 2nd of 5, from 1), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_scenario_once() {
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.holds(position)).count(), 1);
        }
        assert!(shards[0].holds(0) && shards[0].holds(3) && shards[2].holds(8));
        for bad in ["0/3", "4/3", "1", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
