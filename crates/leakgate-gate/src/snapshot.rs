//! The approved state of a scenario: what grows, committed as `NAME.snap`.
//!
//! Rates are bucketed to 1-2-5 steps (`~20 MiB/1k requests`, `~50/min`) so
//! run-to-run noise rarely changes the file; entries are sorted by name.
//! Protocol as in cargo-insta: a mismatch writes `NAME.snap.new` beside
//! `NAME.snap`; [`accept`] renames it into place, [`reject`] deletes it,
//! [`pending`] lists them. No hidden state: `git status` shows everything.
//!
//! Snapshot files come from the repository, maybe a pull request's: a search
//! never descends into a linked directory, and a snapshot is read only when
//! it is a regular file of at most [`MAX_SNAPSHOT_BYTES`].
//!
//! ```
//! use leakgate_gate::snapshot::{compare, ApprovedSnapshot, SnapshotComparison};
//!
//! let approved = ApprovedSnapshot::empty("checkout");
//! let mut current = approved.clone();
//! current.finalizable.push(leakgate_gate::snapshot::Entry {
//!     name: "System.Reflection.Emit.DynamicResolver".into(),
//!     rate: "~50/1k requests".into(),
//! });
//! match compare(Some(&approved), &current) {
//!     SnapshotComparison::Differs { new_growth, .. } => {
//!         assert_eq!(new_growth[0].to_string(), "finalizable System.Reflection.Emit.DynamicResolver")
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(ApprovedSnapshot::from_yaml(&approved.to_yaml()).unwrap(), approved);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use leakgate_heap::{LeakSignature, PathGrowth};
use leakgate_scenario::budget::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::judge::{Check, Growing, Status, Verdict};
use crate::series::SeriesKey;

/// What grows in a scenario, as approved by a developer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovedSnapshot {
    pub scenario: String,
    /// Memory metrics that grow (`committed.unknown`, `resident`, ...).
    #[serde(default)]
    pub memory: Vec<Entry>,
    /// Finalizable types that grow.
    #[serde(default)]
    pub finalizable: Vec<Entry>,
    /// How the growing types are kept alive: their retention paths that grew, by leak
    /// signature. Once a type has one here, a run whose growth of that type goes mostly
    /// through a path not listed fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathEntry>,
}

/// One approved retention path of a growing type.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathEntry {
    #[serde(rename = "type")]
    pub type_name: String,
    pub signature: LeakSignature,
    /// The path on one line, abbreviated; informative, the signature is what matches.
    pub path: String,
    /// Whether most of the type's growth went this way in the run (never written: an
    /// approved path is approved whatever its share).
    #[serde(skip)]
    pub top: bool,
}

// Equal and ordered as written in the file: `top` describes a run, not the approval.
impl PartialEq for PathEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for PathEntry {}
impl PartialOrd for PathEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PathEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PathEntry {
    /// By type, then as a person reads the paths.
    fn key(&self) -> (&str, &str, &LeakSignature) {
        (&self.type_name, &self.path, &self.signature)
    }
}

impl fmt::Display for PathEntry {
    /// `TrackedResource through static Audit.kept → … (signature 3f9a2c1d7e4b)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} through {} (signature {})",
            self.type_name, self.path, self.signature
        )
    }
}

/// One growing series with its rounded rate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// Bucketed rate, e.g. `~20 MiB/1k requests`; informative, so a change
    /// here alone never fails the gate.
    pub rate: String,
}

/// The result of comparing with the approved snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SnapshotComparison {
    Matches,
    /// No approved snapshot yet.
    Missing,
    Differs {
        /// Unified diff, approved → current.
        diff: String,
        /// Series growing now that the approved state does not list.
        new_growth: Vec<SeriesKey>,
        /// Types the approved snapshot lists paths for, whose growth now goes mostly
        /// through a path it does not list.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        new_paths: Vec<PathEntry>,
    },
}

impl SnapshotComparison {
    /// New growth that fails the gate: finalizable types growing now that the
    /// approved snapshot does not list.
    pub fn new_finalizer_growth(&self) -> Vec<&SeriesKey> {
        match self {
            SnapshotComparison::Differs { new_growth, .. } => new_growth
                .iter()
                .filter(|g| g.metric == Metric::Finalizable)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What fails the gate, a line each: new finalizer growth, then new paths.
    pub fn failing(&self) -> Vec<String> {
        let SnapshotComparison::Differs { new_paths, .. } = self else {
            return Vec::new();
        };
        self.new_finalizer_growth()
            .iter()
            .map(|k| k.to_string())
            .chain(new_paths.iter().map(|p| format!("new path: {p}")))
            .collect()
    }
}

/// The 1-2-5 step nearest to `x` on a log scale (0 stays 0).
pub fn round_125(x: f64) -> f64 {
    if !(x.is_finite()) || x == 0.0 {
        return 0.0;
    }
    let a = x.abs();
    let exp = a.log10().floor();
    let base = 10f64.powf(exp);
    let m = a / base; // 1 ≤ m < 10
    // Boundaries are geometric means: √2, √10, √50.
    let step = if m < 2f64.sqrt() {
        1.0
    } else if m < 10f64.sqrt() {
        2.0
    } else if m < 50f64.sqrt() {
        5.0
    } else {
        10.0
    };
    (step * base).copysign(x)
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `~20 MiB/1k requests`: bucketed in the unit a person would read it in.
pub fn rounded_rate(rate: f64, unit: Unit, per: &str) -> String {
    let amount = match unit {
        Unit::Count => trim(round_125(rate)),
        Unit::Bytes => {
            // A bucket that rounds up to 1000 of a unit is spelt in the next unit:
            // 0.95 MiB and 1.05 MiB are the same bucket and must read the same,
            // or the snapshot churns.
            let (div, u) = crate::units::binary_unit(rate);
            let rounded = round_125(rate / div);
            match u {
                "B" | "KiB" | "MiB" if rounded.abs() >= 1000.0 => {
                    let (div, u) = crate::units::binary_unit(rate.signum() * div * 1024.0);
                    format!("{} {u}", trim(round_125(rate / div)))
                }
                _ => format!("{} {u}", trim(rounded)),
            }
        }
    };
    format!("~{amount}/{per}")
}

fn entry(g: &Growing) -> Entry {
    let name = match &g.type_name {
        Some(t) => t.clone(),
        None => g.metric.to_string(),
    };
    let rate = match (g.slope_per_1k_requests, g.slope_per_min) {
        (Some(r), _) => rounded_rate(r, g.unit, "1k requests"),
        (None, Some(r)) => rounded_rate(r, g.unit, "min"),
        (None, None) => "growing".into(),
    };
    Entry { name, rate }
}

impl ApprovedSnapshot {
    pub fn empty(scenario: &str) -> Self {
        ApprovedSnapshot {
            scenario: scenario.into(),
            memory: Vec::new(),
            finalizable: Vec::new(),
            paths: Vec::new(),
        }
    }

    /// With the paths that grew for the verdict's growing types (its growing finalizable
    /// types, and the types of its failing or warning per-type checks): for each, the path
    /// that grew most and any other carrying a quarter of the growth. A share that moves
    /// between runs near a quarter only changes the file, which warns; a type fails only
    /// when its top path is new.
    pub fn with_paths(mut self, verdict: &Verdict, retention: &[PathGrowth]) -> Self {
        let judged: BTreeSet<&str> = verdict
            .growing
            .iter()
            .filter_map(|g| g.type_name.as_deref())
            .chain(verdict.checks.iter().filter_map(Check::flagged_type))
            .collect();
        for g in retention
            .iter()
            .filter(|g| judged.contains(g.type_name.as_str()))
        {
            let total = g.groups_growth();
            for (i, group) in g.groups.iter().enumerate() {
                let shown = i == 0 || group.growth * 4 >= total;
                let Some(signature) = group.known_signature().filter(|_| shown) else {
                    continue;
                };
                self.paths.push(PathEntry {
                    type_name: g.type_name.clone(),
                    signature: signature.clone(),
                    path: group.path.without_repeats().abbreviated(6),
                    top: i == 0,
                });
            }
        }
        // One entry per group: a type's groups are distinct paths, so no signature repeats.
        self.paths.sort();
        self
    }

    /// The growing series of a verdict, rounded and sorted.
    pub fn from_verdict(scenario: &str, verdict: &Verdict) -> Self {
        let mut s = ApprovedSnapshot::empty(scenario);
        for g in &verdict.growing {
            match g.metric {
                Metric::Finalizable => s.finalizable.push(entry(g)),
                m if !m.is_per_type() => s.memory.push(entry(g)),
                _ => {}
            }
        }
        s.memory.sort();
        s.finalizable.sort();
        s
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).expect("a snapshot always serialises");
        format!(
            "# leakgate snapshot: what grows in this scenario, approved.\n\
             # Review changes with `leakgate review`; rates are rounded to 1-2-5 steps.\n{body}"
        )
    }

    pub fn from_yaml(text: &str) -> Result<Self, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    /// The series listed (a memory entry that names no metric is left out).
    fn keys(&self) -> BTreeSet<SeriesKey> {
        let memory = self.memory.iter().filter_map(|e| {
            e.name.parse::<Metric>().ok().map(|metric| SeriesKey {
                metric,
                type_name: None,
            })
        });
        let finalizable = self.finalizable.iter().map(|e| SeriesKey {
            metric: Metric::Finalizable,
            type_name: Some(e.name.clone()),
        });
        memory.chain(finalizable).collect()
    }
}

/// Compares the current state with the approved one.
pub fn compare(
    approved: Option<&ApprovedSnapshot>,
    current: &ApprovedSnapshot,
) -> SnapshotComparison {
    let Some(approved) = approved else {
        return SnapshotComparison::Missing;
    };
    if approved == current {
        return SnapshotComparison::Matches;
    }
    let (a, b) = (approved.to_yaml(), current.to_yaml());
    let diff = similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("approved", "current")
        .to_string();
    let known = approved.keys();
    let new_growth = current
        .keys()
        .into_iter()
        .filter(|k| !known.contains(k))
        .collect();
    SnapshotComparison::Differs {
        diff,
        new_growth,
        new_paths: new_paths(approved, current),
    }
}

/// The top paths of `current` whose type the approved snapshot lists paths for, none of
/// them with this signature. A type with no approved path is new growth, or growth approved
/// before leakgate recorded paths: its paths only change the file.
fn new_paths(approved: &ApprovedSnapshot, current: &ApprovedSnapshot) -> Vec<PathEntry> {
    let approved_types: BTreeSet<&str> = approved
        .paths
        .iter()
        .map(|p| p.type_name.as_str())
        .collect();
    let approved_paths: BTreeSet<(&str, &LeakSignature)> = approved
        .paths
        .iter()
        .map(|p| (p.type_name.as_str(), &p.signature))
        .collect();
    current
        .paths
        .iter()
        .filter(|p| p.top && approved_types.contains(p.type_name.as_str()))
        .filter(|p| !approved_paths.contains(&(p.type_name.as_str(), &p.signature)))
        .cloned()
        .collect()
}

/// The gate's final status: new *finalizer* growth versus the approved
/// snapshot fails even inside the budgets (the pull-request check fails on
/// new finalizer growth), and so does a type whose growth goes mostly through a
/// path the snapshot does not list for it; new memory growth, a missing snapshot or any other
/// change warns, so it gets reviewed — memory is judged by its budgets.
///
/// With weak evidence (too few samples for the trend test) new growth only
/// warns: the run's own note says trends cannot fail it.
pub fn final_status(verdict: &Verdict, comparison: &SnapshotComparison) -> Status {
    let verdict_status = verdict.status;
    match comparison {
        SnapshotComparison::Matches => verdict_status,
        o @ SnapshotComparison::Differs { .. }
            if !o.failing().is_empty() && !verdict.weak_evidence =>
        {
            Status::Fail
        }
        SnapshotComparison::Differs { .. } | SnapshotComparison::Missing => {
            verdict_status.max(Status::Warn)
        }
    }
}

// ---- files -----------------------------------------------------------------

/// Errors name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid leakgate snapshot ({source}); fix it or delete it and accept a new one"
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    #[error("no pending snapshot {path}; run the scenario first")]
    NoPending { path: PathBuf },
    #[error(
        "{path} is a symbolic link where leakgate keeps its own snapshot file; nothing was read or changed: put the file itself there"
    )]
    Link { path: PathBuf },
}

/// A link where leakgate keeps its own snapshot file is an error: followed,
/// it would read, overwrite or delete whatever it points at.
pub fn refuse_link(path: &Path) -> Result<(), SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SnapshotError::Link {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io {
        action,
        path,
        source,
    }
}

pub use leakgate_scenario::pending_snapshot_path as pending_path;

fn approved_path(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    match s.strip_suffix(".new") {
        Some(a) if s.ends_with(".snap.new") => PathBuf::from(a),
        _ => path.to_path_buf(),
    }
}

/// The largest snapshot file read: a real one is a few KiB.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 20;

fn read_snapshot(path: &Path) -> std::io::Result<String> {
    leakgate_scenario::files::read_bounded(path, MAX_SNAPSHOT_BYTES)
}

/// The approved snapshot at `snap`, if any.
pub fn load(snap: &Path) -> Result<Option<ApprovedSnapshot>, SnapshotError> {
    refuse_link(snap)?;
    match read_snapshot(snap) {
        Ok(text) => ApprovedSnapshot::from_yaml(&text)
            .map(Some)
            .map_err(|source| SnapshotError::Parse {
                path: snap.to_path_buf(),
                source: Box::new(source),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", snap)(e)),
    }
}

/// Compares `current` with the file at `snap`; writes `snap.new` when they
/// differ (or no snapshot exists) and removes a stale one when they match.
pub fn check(snap: &Path, current: &ApprovedSnapshot) -> Result<SnapshotComparison, SnapshotError> {
    let approved = load(snap)?;
    let comparison = compare(approved.as_ref(), current);
    let new = pending_path(snap);
    refuse_link(&new)?;
    match comparison {
        SnapshotComparison::Matches => {
            if new.exists() {
                fs::remove_file(&new).map_err(io("remove", &new))?;
            }
        }
        _ => {
            if let Some(dir) = new.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io("create", dir))?;
            }
            // Whole, and by a rename: never a half-written snapshot.
            leakgate_scenario::files::write_atomic(&new, current.to_yaml().as_bytes())
                .map_err(io("write", &new))?;
        }
    }
    Ok(comparison)
}

/// Moves `NAME.snap.new` over `NAME.snap`; takes either path. Returns the
/// approved path.
pub fn accept(path: &Path) -> Result<PathBuf, SnapshotError> {
    let new = pending_path(path);
    let snap = approved_path(path);
    refuse_link(&new)?;
    refuse_link(&snap)?;
    if !new.exists() {
        return Err(SnapshotError::NoPending { path: new });
    }
    fs::rename(&new, &snap).map_err(io("rename", &new))?;
    Ok(snap)
}

/// Deletes `NAME.snap.new`; takes either path.
pub fn reject(path: &Path) -> Result<(), SnapshotError> {
    let new = pending_path(path);
    refuse_link(&new)?;
    if !new.exists() {
        return Err(SnapshotError::NoPending { path: new });
    }
    fs::remove_file(&new).map_err(io("remove", &new))
}

/// The pending snapshots `names` name, as `.snap.new` paths, sorted and
/// without repeats: each a directory (searched), a snapshot name, or a
/// `.snap` / `.snap.new` file; no name at all means the current directory.
pub fn pending_named(names: &[PathBuf]) -> Result<Vec<PathBuf>, SnapshotError> {
    let here = [PathBuf::from(".")];
    let names = if names.is_empty() { &here[..] } else { names };
    let mut found = Vec::new();
    for name in names {
        if name.is_dir() {
            found.extend(pending(name)?);
            continue;
        }
        let text = name.to_string_lossy();
        let new = if text.ends_with(".snap") || text.ends_with(".snap.new") {
            pending_path(name)
        } else {
            PathBuf::from(format!("{text}.snap.new"))
        };
        if !new.exists() {
            return Err(SnapshotError::NoPending { path: new });
        }
        found.push(new);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Every `*.snap.new` under `dir`, sorted: regular files, found without
/// descending into linked directories (a link may lead out of the tree, or
/// back into it forever).
pub fn pending(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(io("list", &d))? {
            let e = e.map_err(io("list", &d))?;
            // The entry's own type, not its target's.
            let kind = e.file_type().map_err(io("list", &d))?;
            let p = e.path();
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() && p.to_string_lossy().ends_with(".snap.new") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The unified diff from the approved snapshot (empty if none) to the pending
/// one, for `leakgate review`; takes either path.
pub fn diff_pending(path: &Path) -> Result<String, SnapshotError> {
    let new = pending_path(path);
    let approved = approved_path(path);
    let approved = match read_snapshot(&approved) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        read => read.map_err(io("read", &approved))?,
    };
    let pending = read_snapshot(&new).map_err(io("read", &new))?;
    Ok(similar::TextDiff::from_lines(&approved, &pending)
        .unified_diff()
        .context_radius(3)
        .header("approved", "pending")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(round_125(1.3), 1.0);
        assert_eq!(round_125(1.5), 2.0);
        assert_eq!(round_125(3.0), 2.0);
        assert_eq!(round_125(3.3), 5.0);
        assert_eq!(round_125(42.0), 50.0);
        assert_eq!(round_125(75.0), 100.0);
        assert_eq!(round_125(0.3), 0.2);
        assert_eq!(round_125(-42.0), -50.0);
        assert_eq!(round_125(0.0), 0.0);
        const MIB: f64 = 1048576.0;
        assert_eq!(rounded_rate(1.2 * MIB, Unit::Bytes, "min"), "~1 MiB/min");
        assert_eq!(
            rounded_rate(700.0 * 1024.0, Unit::Bytes, "1k requests"),
            "~500 KiB/1k requests"
        );
        assert_eq!(rounded_rate(0.3, Unit::Count, "min"), "~0.2/min");
    }

    #[test]
    fn paths() {
        let p = Path::new("snaps/checkout.snap");
        assert_eq!(pending_path(p), Path::new("snaps/checkout.snap.new"));
        assert_eq!(pending_path(&pending_path(p)), pending_path(p));
        assert_eq!(approved_path(&pending_path(p)), p);
        assert_eq!(approved_path(p), p);
    }

    fn finalizable(t: &str) -> SeriesKey {
        SeriesKey {
            metric: Metric::Finalizable,
            type_name: Some(t.into()),
        }
    }

    fn verdict(status: Status, weak_evidence: bool) -> Verdict {
        Verdict {
            status,
            checks: vec![],
            weak_evidence,
            judged_from: 0,
            growing: vec![],
            notes: vec![],
            unmeasured: false,
        }
    }

    #[test]
    fn with_weak_evidence_new_growth_only_warns() {
        let comparison = SnapshotComparison::Differs {
            diff: String::new(),
            new_growth: vec![finalizable("X")],
            new_paths: vec![],
        };
        assert_eq!(
            final_status(&verdict(Status::Pass, true), &comparison),
            Status::Warn
        );
        assert_eq!(
            final_status(&verdict(Status::Pass, false), &comparison),
            Status::Fail
        );
    }

    #[test]
    fn rates_near_a_unit_boundary_are_spelt_one_way() {
        let mib = 1048576.0;
        for rate in [0.8 * mib, 0.95 * mib, 1.05 * mib, 1.3 * mib] {
            assert_eq!(
                rounded_rate(rate, Unit::Bytes, "min"),
                "~1 MiB/min",
                "{rate}"
            );
        }
        assert_eq!(rounded_rate(1000.0, Unit::Bytes, "min"), "~1 KiB/min");
        assert_eq!(rounded_rate(300.0, Unit::Bytes, "min"), "~200 B/min");
    }

    fn held(holder: &str, first: u64, last: u64) -> leakgate_heap::GroupGrowth {
        let path = leakgate_heap::RetentionPath {
            root: leakgate_heap::Root::static_field(holder, "kept"),
            steps: vec![leakgate_heap::PathStep::new("Res", None)],
        };
        leakgate_heap::GroupGrowth::new(path, first, last)
    }

    fn grew(groups: Vec<leakgate_heap::GroupGrowth>) -> PathGrowth {
        let counts = leakgate_heap::SnapshotCounts {
            instances: 0,
            unreachable: 0,
            sampled: 0,
        };
        PathGrowth {
            type_name: "Res".into(),
            first: counts,
            last: counts,
            growth: groups.iter().map(|g| g.growth).sum(),
            groups,
        }
    }

    fn growing_res() -> Verdict {
        let mut v = verdict(Status::Pass, false);
        v.growing.push(Growing {
            metric: Metric::Finalizable,
            type_name: Some("Res".into()),
            unit: Unit::Count,
            growth: 100.0,
            slope_per_min: None,
            slope_per_1k_requests: None,
        });
        v
    }

    #[test]
    fn paths_are_approved_by_signature_and_a_new_top_path_fails() {
        let v = growing_res();
        let snap = |groups| ApprovedSnapshot::from_verdict("s", &v).with_paths(&v, &[grew(groups)]);
        // The top path and any with a quarter of the growth are recorded.
        let approved = snap(vec![
            held("Cache", 0, 70),
            held("Audit", 0, 25),
            held("Log", 0, 5),
        ]);
        let recorded: Vec<&str> = approved.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            recorded,
            ["static Audit.kept → Res", "static Cache.kept → Res"]
        );
        let text = approved.to_yaml();
        assert!(
            text.contains(&format!("signature: {}", held("Cache", 0, 1).signature)),
            "{text}"
        );
        assert_eq!(ApprovedSnapshot::from_yaml(&text).unwrap(), approved);
        // The same paths in other shares: the file may change, nothing fails.
        let same = snap(vec![held("Audit", 0, 60), held("Cache", 0, 40)]);
        assert!(compare(Some(&approved), &same).failing().is_empty());
        // A small new path only changes the file.
        let small = snap(vec![held("Cache", 0, 70), held("Log", 0, 30)]);
        let c = compare(Some(&approved), &small);
        assert!(matches!(c, SnapshotComparison::Differs { .. }) && c.failing().is_empty());
        // Most growth through a new path fails, and says which.
        let moved = snap(vec![held("Queue", 0, 90), held("Cache", 0, 10)]);
        let c = compare(Some(&approved), &moved);
        assert_eq!(
            c.failing(),
            [format!(
                "new path: Res through static Queue.kept → Res (signature {})",
                held("Queue", 0, 1).signature
            )]
        );
        assert_eq!(final_status(&v, &c), Status::Fail);
        // A snapshot approved before paths were recorded: the type's paths are news, not a failure.
        let legacy = ApprovedSnapshot::from_verdict("s", &v);
        assert!(compare(Some(&legacy), &moved).failing().is_empty());
    }

    #[test]
    fn final_status_rules() {
        let differs = |new: &[&str]| SnapshotComparison::Differs {
            diff: String::new(),
            new_growth: new.iter().map(|t| finalizable(t)).collect(),
            new_paths: vec![],
        };
        assert_eq!(
            final_status(&verdict(Status::Pass, false), &SnapshotComparison::Matches),
            Status::Pass
        );
        assert_eq!(
            final_status(&verdict(Status::Pass, false), &SnapshotComparison::Missing),
            Status::Warn
        );
        assert_eq!(
            final_status(&verdict(Status::Pass, false), &differs(&[])),
            Status::Warn
        );
        assert_eq!(
            final_status(&verdict(Status::Pass, false), &differs(&["X"])),
            Status::Fail
        );
        assert_eq!(
            final_status(&verdict(Status::Fail, false), &SnapshotComparison::Matches),
            Status::Fail
        );
    }
}
