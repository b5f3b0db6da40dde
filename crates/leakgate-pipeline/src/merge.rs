//! `leakgate merge`: one verdict from runs made apart — the shards of a CI
//! matrix (`leakgate run --shard I/N`), each uploaded as an artifact. Every
//! `report.json` under the given directories joins one `report.json` (the
//! runs and the worst outcome), one `junit.xml` (a test suite per scenario)
//! and one `summary.md`.
//!
//! A leg ran a pull request's code, so merge trusts none of what it says:
//! - a leg's outcome is the worst its own evidence shows (outcome, exit
//!   code, failure, verdict, checks, snapshot); a leg that claims better
//!   keeps the worse outcome and a note naming its file;
//! - a leg that cannot be read or is not a run report is a leg that could
//!   not run (exit 2), named by its path — never skipped;
//! - a file reached twice (overlapping directories, links) counts once;
//! - a `report.json` deeper than [`MAX_DEPTH`] is an error naming it, not
//!   a leg that silently vanishes;
//! - `--out` equal to an input is refused (clearing it would delete that
//!   leg's charts and samples), and so is `--out` inside an input (merge
//!   would take its own output for a leg): both before anything is read or
//!   written;
//! - a shard that held no scenario left an empty run index
//!   ([`index::FILE_NAME`]): merge notes it (on stderr, in `report.json`
//!   and `summary.md`) and changes no outcome; if every leg is one,
//!   nothing was measured, and that is an error, not a pass.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use leakgate_gate::escape::md_cell;
use leakgate_gate::judge::Status;
use leakgate_gate::report::{RunInfo, RunReport, junit, markdown};
use leakgate_gate::snapshot::final_status;
use leakgate_record::OutputFiles;
use leakgate_runner::layout::{OutputLayout, read_bounded, write_atomic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::index::{self, RunIndex};
use crate::{Outcome, PipelineError};

/// The merged report (`report.json` of `leakgate merge`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct MergedReport {
    /// The worst outcome of the runs.
    pub outcome: Outcome,
    pub exit_code: u8,
    /// Every run, in the order found (directories as given, then by path).
    pub runs: Vec<RunReport>,
    /// What merge found besides the runs: a shard that ran no scenarios.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A merge, written, and what the person running it should know.
#[derive(Debug)]
pub struct Merged {
    pub report: MergedReport,
    /// Where it is: `report.json`, `junit.xml` and `summary.md` (the other
    /// paths empty: a merge writes no page, charts, samples or snapshot).
    pub files: OutputFiles,
    /// A leg that claimed a better outcome than its evidence, could not
    /// be read, or was a shard that ran nothing: each names its file.
    pub warnings: Vec<String>,
}

/// The legs under the directories merged, each read once.
#[derive(Debug)]
pub struct Legs {
    /// Every run report (a leg that cannot be read is a run that could not run).
    pub runs: Vec<RunReport>,
    /// A leg that claimed a better outcome than its evidence, or could not
    /// be read: each names its file.
    pub warnings: Vec<String>,
    /// A shard that held no scenario, each naming its run index.
    pub empty_shards: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no report.json under {0}")]
    Empty(String),
    #[error(
        "no scenario ran in any leg: {0}; nothing was measured, so there is no verdict: give the matrix at most as many shards as scenarios, and every leg the same scenario list"
    )]
    OnlyEmptyShards(String),
    #[error(
        "{0} is deeper than {MAX_DEPTH} directories under {1}, where merge does not look; a leg must not vanish, so nothing was merged: pass its directory to merge"
    )]
    TooDeep(PathBuf, PathBuf),
    #[error(
        "{0} holds more than {MAX_ENTRIES} files and directories; merge the legs' own directories"
    )]
    TooMany(PathBuf),
    #[error(
        "--out {0} is one of the directories merged: writing there would delete that leg's charts and samples; choose another --out"
    )]
    OutIsInput(PathBuf),
    #[error(
        "--out {out} lies inside {input}, one of the directories merged: merge would take its own output for a leg (and a second merge would read the first); nothing was read or written: choose an --out outside the directories merged"
    )]
    OutInsideInput { out: PathBuf, input: PathBuf },
    #[error(
        "--out {out} is reached from the directories merged through {link}: merge would take its own output for a leg; nothing was written: choose an --out outside the directories merged, or remove the link"
    )]
    OutLinkedFromInput { out: PathBuf, link: PathBuf },
    #[error(transparent)]
    Write(#[from] PipelineError),
}

/// Deepest a report.json is merged under a directory (`dir/1/2/3/4/5/6/report.json`).
pub const MAX_DEPTH: usize = 6;
/// Files and directories looked at under one directory, at most.
const MAX_ENTRIES: usize = 1_000_000;
/// The largest report.json read: a real run's is a few MiB; one of 100,000
/// failing checks about 120 MiB.
pub const MAX_REPORT_BYTES: u64 = 512 << 20;

/// A file or directory by what it is, not by the path that reached it: one
/// reached twice (overlapping arguments, a link) is one.
type Identity = (u64, u64);

fn identity(path: &Path) -> std::io::Result<Identity> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Every leg under `dirs`, each file read once: run reports, and the run
/// indexes of shards that held no scenario. A leg that cannot be read is a
/// run that could not run. `out` (the merge's own `--out`) reached through
/// a link is refused: merge would take its own output for a leg.
pub fn collect(dirs: &[PathBuf], out: Option<&Path>) -> Result<Legs, MergeError> {
    let mut walk = Walk {
        seen: HashSet::new(),
        found: Vec::new(),
        too_deep: None,
        out: out.and_then(|o| Some((identity(o).ok()?, o.to_path_buf()))),
    };
    for dir in dirs {
        let before = walk.found.len();
        let read = |source| MergeError::Read {
            path: dir.clone(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(read)?;
        if !meta.is_dir() {
            return Err(read(std::io::ErrorKind::NotADirectory.into()));
        }
        if let Some((id, out)) = &walk.out
            && *id == (meta.dev(), meta.ino())
        {
            return Err(MergeError::OutIsInput(out.clone()));
        }
        if walk.seen.insert((meta.dev(), meta.ino())) {
            walk.tree(dir)?;
        }
        if let Some(deep) = walk.too_deep.take() {
            return Err(MergeError::TooDeep(deep, dir.clone()));
        }
        walk.found[before..].sort();
    }
    if walk.found.is_empty() {
        return Err(MergeError::Empty(named(dirs)));
    }
    let mut legs = Legs {
        runs: Vec::new(),
        warnings: Vec::new(),
        empty_shards: Vec::new(),
    };
    for path in &walk.found {
        let (run, doubt) = if is_index(path) {
            match empty_shard(path) {
                Ok(None) => continue,
                Ok(Some(note)) => {
                    legs.empty_shards.push(note);
                    continue;
                }
                Err(message) => unreadable(path, &message),
            }
        } else {
            leg(path)
        };
        legs.warnings.extend(doubt);
        legs.runs.push(run);
    }
    match (legs.runs.is_empty(), legs.empty_shards.is_empty()) {
        (false, _) => Ok(legs),
        (true, true) => Err(MergeError::Empty(named(dirs))),
        (true, false) => Err(MergeError::OnlyEmptyShards(legs.empty_shards.join("; "))),
    }
}

fn named(dirs: &[PathBuf]) -> String {
    let named: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    named.join(", ")
}

fn is_index(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == index::FILE_NAME)
}

struct Walk {
    /// Directories entered and files taken (not other files).
    seen: HashSet<Identity>,
    /// Every `report.json` and run index found.
    found: Vec<PathBuf>,
    /// The first one found beyond [`MAX_DEPTH`].
    too_deep: Option<PathBuf>,
    /// The merge's `--out`, when it exists: never a directory to look in.
    out: Option<(Identity, PathBuf)>,
}

impl Walk {
    /// Looks through `root`, links followed but each directory entered
    /// once, so neither a cycle nor an overlap repeats; a stack, not
    /// recursion, so no nesting is too deep to walk.
    fn tree(&mut self, root: &Path) -> Result<(), MergeError> {
        let mut stack = vec![(root.to_path_buf(), 0)];
        let mut entries = 0;
        while let Some((dir, depth)) = stack.pop() {
            let read = |source| MergeError::Read {
                path: dir.clone(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(read)? {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(MergeError::TooMany(root.to_path_buf()));
                }
                let path = entry.map_err(read)?.path();
                let wanted =
                    path.file_name().is_some_and(|n| n == "report.json") || is_index(&path);
                let meta = std::fs::metadata(&path).ok();
                let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
                if !is_dir && !wanted {
                    continue;
                }
                let id = meta.as_ref().map(|m| (m.dev(), m.ino()));
                // `--out` under an input by its real path was refused before
                // the walk; this is `--out` behind a link.
                if let (Some(id), Some((out_id, out))) = (id, &self.out)
                    && is_dir
                    && id == *out_id
                {
                    return Err(MergeError::OutLinkedFromInput {
                        out: out.clone(),
                        link: path,
                    });
                }
                // Each directory entered once, each file taken once.
                if let Some(id) = id
                    && !self.seen.insert(id)
                {
                    continue;
                }
                if is_dir {
                    stack.push((path, depth + 1));
                } else if depth <= MAX_DEPTH {
                    // Whatever it is (a dangling link too): read, or refused, as a leg.
                    self.found.push(path);
                } else {
                    self.too_deep.get_or_insert(path);
                }
            }
        }
        Ok(())
    }
}

/// One leg's report with the outcome its own evidence shows, and a warning
/// when it claimed better or could not be read.
fn leg(path: &Path) -> (RunReport, Option<String>) {
    let parsed = read_bounded(path, MAX_REPORT_BYTES)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|text| parse(&text));
    match parsed {
        Ok(mut report) => {
            let doubt = distrust(&mut report, path);
            (report, doubt)
        }
        Err(message) => unreadable(path, &message),
    }
}

/// A leg that cannot be read: a run that could not run, named by its path.
fn unreadable(path: &Path, message: &str) -> (RunReport, Option<String>) {
    let message = format!("{}: {message}", path.display());
    let info = RunInfo {
        scenario: path.display().to_string(),
        scenario_file: path.display().to_string(),
        ..RunInfo::default()
    };
    let run = RunReport::failed(info, &format!("leakgate merge: {message}"), vec![], None);
    (run, Some(message))
}

/// A run index ([`index::FILE_NAME`]): the note for a shard that held no
/// scenario, or nothing when it lists runs (each is a leg by its own
/// `report.json`). One that cannot be read, or lists no runs and is no
/// shard (what `run` wrote for an empty shard before it passed), is an
/// error leg.
fn empty_shard(path: &Path) -> Result<Option<String>, String> {
    let text = read_bounded(path, MAX_REPORT_BYTES).map_err(|e| format!("cannot read it: {e}"))?;
    let index: RunIndex =
        serde_json::from_str(&text).map_err(|e| format!("not a leakgate run index: {e}"))?;
    match (index.runs.is_empty(), index.shard) {
        (false, _) => Ok(None),
        (true, Some(shard)) => Ok(Some(format!(
            "shard {shard} ran no scenarios: it held none of the scenarios given ({})",
            path.display()
        ))),
        (true, None) => {
            Err("a run index of no runs, and of no shard: a run that ran nothing".into())
        }
    }
}

fn parse(text: &str) -> Result<RunReport, String> {
    serde_json::from_str(text).map_err(|e| {
        if serde_json::from_str::<MergedReport>(text).is_ok() {
            "a merged report (of `leakgate merge`), not a run's: merge the legs' directories, or write the merge outside them".to_string()
        } else {
            format!("not a leakgate run report: {e}")
        }
    })
}

/// Sets the leg's outcome to the worst of what it says and what its
/// evidence shows; says so, naming the file, when that is worse than it said.
fn distrust(report: &mut RunReport, path: &Path) -> Option<String> {
    let claimed = report.outcome;
    let mut worst = claimed;
    let mut why = Vec::new();
    let mut evidence = |outcome: Outcome, what: String| {
        if outcome > claimed {
            why.push(what);
        }
        worst = worst.max(outcome);
    };
    let by_exit = match report.exit_code {
        0 => Outcome::Pass,
        1 => Outcome::Fail,
        _ => Outcome::Error,
    };
    evidence(by_exit, format!("exit code {}", report.exit_code));
    if report.failure.is_some() {
        evidence(Outcome::Error, "a failure".into());
    }
    match &report.verdict {
        Some(v) => {
            let status = match &report.snapshot {
                Some(s) => final_status(v, s),
                None => v.status,
            };
            evidence(
                Outcome::from(status),
                format!("a verdict that says {status}"),
            );
            let checks = v.checks.iter().map(|c| c.status).max();
            if let Some(status @ (Status::Fail | Status::Warn)) = checks {
                evidence(Outcome::from(status), format!("a check that says {status}"));
            }
        }
        None if report.failure.is_none() => {
            evidence(Outcome::Error, "neither a verdict nor a failure".into())
        }
        None => {}
    }
    report.outcome = worst;
    report.exit_code = worst.exit_code();
    if why.is_empty() {
        return None;
    }
    let word = |o: Outcome| format!("{o:?}").to_lowercase();
    let warning = format!(
        "{} says outcome {} but holds {}: counted as {}",
        path.display(),
        word(claimed),
        why.join(", "),
        word(worst)
    );
    report.notes.push(format!("leakgate merge: {warning}"));
    Some(warning)
}

/// Refuses an `--out` that is one of `dirs` or lies inside one — by real
/// paths, links resolved, an `--out` yet to be made by its nearest existing
/// ancestor — before anything is read or written: clearing it would delete
/// a leg's charts and samples, or merge would take its own output for a leg.
fn refuse_out_among_inputs(dirs: &[PathBuf], out: &Path) -> Result<(), MergeError> {
    let out_real = real_path(out);
    for dir in dirs {
        let dir_real = dir.canonicalize().map_err(|source| MergeError::Read {
            path: dir.clone(),
            source,
        })?;
        if out_real == dir_real {
            return Err(MergeError::OutIsInput(out.to_path_buf()));
        }
        if out_real.starts_with(&dir_real) {
            return Err(MergeError::OutInsideInput {
                out: out.to_path_buf(),
                input: dir.clone(),
            });
        }
    }
    Ok(())
}

/// Where `path` is, or would be once created: its nearest existing
/// ancestor with links resolved, then the rest with `.` and `..` applied
/// (directories merge creates are no links).
fn real_path(path: &Path) -> PathBuf {
    for ancestor in path.ancestors() {
        let at = match ancestor.as_os_str().is_empty() {
            true => Path::new("."),
            false => ancestor,
        };
        let Ok(mut real) = at.canonicalize() else {
            continue;
        };
        let rest = path.strip_prefix(ancestor).unwrap_or(Path::new(""));
        for part in rest.components() {
            match part {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(name) => real.push(name),
                _ => {}
            }
        }
        return real;
    }
    path.to_path_buf()
}

/// Merges the runs under `dirs` into `out` (claimed like a run's output
/// directory; refused when it is, or lies inside, one of `dirs`); returns
/// the merged report, already written.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    refuse_out_among_inputs(dirs, out)?;
    let legs = collect(dirs, Some(out))?;
    let layout = OutputLayout::new(out.to_path_buf(), Path::new(""));
    layout.prepare().map_err(PipelineError::from)?;
    let outcome = legs
        .runs
        .iter()
        .map(|r| r.outcome)
        .max()
        .unwrap_or(Outcome::Error);
    let merged = MergedReport {
        outcome,
        exit_code: outcome.exit_code(),
        runs: legs.runs,
        notes: legs
            .empty_shards
            .iter()
            .map(|n| format!("leakgate merge: {n}"))
            .collect(),
    };
    let json = serde_json::to_string_pretty(&merged).expect("reports hold only finite numbers");
    for (path, text) in [
        (layout.report_json(), json),
        (layout.junit_xml(), junit::render_all(&merged.runs)),
        (layout.summary_md(), summary(&merged)),
    ] {
        write_atomic(&path, text.as_bytes())
            .map_err(|source| PipelineError::Write { path, source })?;
    }
    let mut warnings = legs.warnings;
    warnings.extend(legs.empty_shards);
    let files = OutputFiles {
        report_html: String::new(),
        charts: String::new(),
        samples: String::new(),
        dumps: String::new(),
        service_log: String::new(),
        snapshot: String::new(),
        pending_snapshot: String::new(),
        ..layout.files()
    };
    Ok(Merged {
        report: merged,
        files,
        warnings,
    })
}

/// The merged `summary.md`: the runs' summary, the merge's notes (as
/// text: they hold paths from the legs) under its table of runs.
fn summary(merged: &MergedReport) -> String {
    let md = markdown::render_all(&merged.runs);
    if merged.notes.is_empty() {
        return md;
    }
    let notes: String = merged
        .notes
        .iter()
        .map(|n| format!("- {}\n", md_cell(n)))
        .collect();
    // The heading, a blank line, the table (one line a run: cells hold no
    // line break), then a blank line before each run's section.
    let table = md.find("\n\n").map_or(md.len(), |i| i + 2);
    let end = md[table..].find("\n\n").map_or(md.len(), |i| table + i + 1);
    format!("{}\n{notes}{}", &md[..end], &md[end..])
}

/// The JSON Schema of the merged report.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(MergedReport)).expect("schemas serialise")
        + "\n"
}

/// One of N shares of a list of scenarios (`--shard I/N`, I from 1): the
/// scenarios at positions I-1, I-1+N, ... of the list as given, so every
/// job of a CI matrix given the same list runs a different share, and
/// together they run each scenario once. Written `I/N` (in a run index too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl From<Shard> for String {
    fn from(shard: Shard) -> String {
        shard.to_string()
    }
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(s: String) -> Result<Shard, String> {
        s.parse()
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
