//! The path that grew: the retention-path groups of one type in two snapshots (the first and
//! the last judged sample), matched by signature, each group's estimated instances compared.
//!
//! ```
//! use leakgate_heap::{PathGroup, PathGrowth, PathStep, RetentionPath, Root, TypePaths};
//!
//! let through = |field: &str| RetentionPath {
//!     root: Root::static_field("Program", field),
//!     steps: vec![PathStep::new("Entry", None)],
//! };
//! let paths = |kept: u64, cached: u64| TypePaths {
//!     type_name: "Entry".into(),
//!     instances: kept + cached,
//!     unreachable: 0,
//!     sampled: kept + cached,
//!     groups: vec![
//!         PathGroup { path: through("kept"), sampled: kept, estimated: kept, example_address: 0x10, holder: None },
//!         PathGroup { path: through("cache"), sampled: cached, estimated: cached, example_address: 0x20, holder: None },
//!     ],
//! };
//! let growth = PathGrowth::between(&paths(10, 50), &paths(420, 51));
//! assert_eq!(growth.growth, 411);
//! assert_eq!(growth.groups[0].to_string(), "+410 through static Program.kept → Entry");
//! assert_eq!(growth.to_string(), "Entry: +410 of +411 through static Program.kept → Entry\n\
//!                                 Entry: +1 of +411 through static Program.cache → Entry");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::grouping::{GroupHolder, PathGroup, TypePaths, widened};
use crate::path::{RetentionPath, join_linked_entries, linked_types};
use crate::signature::LeakSignature;

/// How the instances of one type grew between two snapshots, and through which paths.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct PathGrowth {
    pub type_name: String,
    pub first: SnapshotCounts,
    pub last: SnapshotCounts,
    /// Instances in the last snapshot minus instances in the first.
    pub growth: i64,
    /// The groups whose estimated instances grew, most growth first. Estimates come from
    /// samples: each is good to about `instances / sampled` of its snapshot.
    pub groups: Vec<GroupGrowth>,
}

/// One snapshot's counts for the type.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub struct SnapshotCounts {
    pub instances: u64,
    pub unreachable: u64,
    pub sampled: u64,
}

/// One retention path's estimated instances in both snapshots.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct GroupGrowth {
    pub path: RetentionPath,
    /// The path's [`LeakSignature`]: the same in every run that keeps objects this way.
    #[serde(default)]
    pub signature: LeakSignature,
    /// Estimated instances on this path in the first snapshot (0 when the path was absent).
    pub first: u64,
    pub last: u64,
    pub growth: i64,
    /// An instance on this path in the last snapshot.
    pub example_address: Option<u64>,
    /// What keeps this path's instances alive in the last snapshot, and how much it retains
    /// there and in the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<HolderGrowth>,
}

/// A group's holder ([`crate::GroupHolder`]) in the last snapshot, with its retained size then
/// and in the first snapshot.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct HolderGrowth {
    pub type_name: String,
    /// Which of the group path's `steps` the holder is (0: the object the root holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The holder's address in the last snapshot (of several, the one retaining most).
    pub address: u64,
    /// Bytes the first snapshot's holder of the same path retained; `None` when that path
    /// had no holder there, or one of another type.
    pub retained_first: Option<u64>,
    pub retained_last: u64,
    pub objects_first: Option<u64>,
    pub objects_last: u64,
    /// How many objects of the type hold the group in the last snapshot, each from its own
    /// root ([`GroupHolder::holders`]); the retained sizes are theirs together.
    #[serde(
        default = "crate::grouping::one",
        skip_serializing_if = "crate::grouping::is_one"
    )]
    pub holders: u64,
}

impl GroupGrowth {
    /// The group's signature, unless it was read from a report written before signatures.
    pub fn known_signature(&self) -> Option<&LeakSignature> {
        (!self.signature.is_empty()).then_some(&self.signature)
    }

    /// A group with `first` instances on `path` in the first snapshot and `last` in the
    /// last, no example and no holder known.
    pub fn new(path: RetentionPath, first: u64, last: u64) -> GroupGrowth {
        GroupGrowth {
            signature: path.leak_signature(),
            path,
            first,
            last,
            growth: last as i64 - first as i64,
            example_address: None,
            holder: None,
        }
    }
}

impl HolderGrowth {
    /// Retained bytes in the last snapshot minus the first, when both are known.
    pub fn retained_growth(&self) -> Option<i64> {
        self.retained_first
            .map(|first| self.retained_last as i64 - first as i64)
    }
}

impl PathGrowth {
    /// Matches the groups of `first` and `last` (the same type in two snapshots) by path.
    pub fn between(first: &TypePaths, last: &TypePaths) -> PathGrowth {
        // Collapsed paths match whatever their repeat counts; the match keeps the range over
        // both snapshots.
        // Matched by structure key, with the types either snapshot's paths loop through as
        // linked: a structure entered by one end in one snapshot and by both in the other is
        // one group too. A group shows the path of the first shape it was seen with.
        let mut paths: Vec<RetentionPath> = first
            .groups
            .iter()
            .chain(&last.groups)
            .map(|g| g.path.clone())
            .collect();
        join_linked_entries(&mut paths);
        let linked = linked_types(&paths);
        let (first_paths, last_paths) = paths.split_at(first.groups.len());
        let mut by_path: BTreeMap<RetentionPath, GroupGrowth> = BTreeMap::new();
        let mut first_holders = BTreeMap::new();
        for (group, path) in first.groups.iter().zip(first_paths) {
            let (key, entry) = matched(&mut by_path, path, &linked);
            entry.first += group.estimated;
            if let Some(holder) = &group.holder {
                first_holders.insert(key, holder);
            }
        }
        let mut last_groups = BTreeMap::new();
        for (group, path) in last.groups.iter().zip(last_paths) {
            let (key, entry) = matched(&mut by_path, path, &linked);
            entry.last += group.estimated;
            entry.example_address = Some(group.example_address);
            last_groups.insert(key, group);
        }
        let mut groups: Vec<GroupGrowth> = by_path
            .into_iter()
            .map(|(key, mut g)| {
                g.growth = g.last as i64 - g.first as i64;
                g.signature = g.path.leak_signature();
                g.holder = last_groups.get(&key).and_then(|last| {
                    holder_growth(last, first_holders.get(&key).copied(), &g.path)
                });
                g
            })
            .filter(|g| g.growth > 0)
            .collect();
        // Most growth first; then the larger group; then the path order (stable sort).
        groups.sort_by(|a, b| b.growth.cmp(&a.growth).then(b.last.cmp(&a.last)));
        PathGrowth {
            type_name: last.type_name.clone(),
            first: counts(first),
            last: counts(last),
            growth: last.instances as i64 - first.instances as i64,
            groups,
        }
    }

    /// The group that grew most, if any did.
    pub fn top(&self) -> Option<&GroupGrowth> {
        self.groups.first()
    }

    /// The instances the grown groups gained together (each estimated from its sample, so
    /// this may differ from [`PathGrowth::growth`]); a group read back with no growth adds
    /// nothing.
    pub fn groups_growth(&self) -> i64 {
        self.groups.iter().map(|g| g.growth.max(0)).sum()
    }

    /// `+410 of +411`: a group's growth against the type's; `~` when the counts are
    /// estimated from a sample of instances, and an estimate never reads as more than the
    /// whole growth.
    pub fn share(&self, group: &GroupGrowth) -> String {
        let estimated =
            self.first.sampled < self.first.instances || self.last.sampled < self.last.instances;
        let part = if self.growth > 0 {
            group.growth.min(self.growth)
        } else {
            group.growth
        };
        format!(
            "{}{part:+} of {:+}",
            if estimated { "~" } else { "" },
            self.growth
        )
    }
}

/// The group `path` (of either snapshot) matches in `by_path`, keyed by structure key with
/// the `linked` types, a new one if none does; its path widened to cover `path` when they
/// have one shape.
fn matched<'a>(
    by_path: &'a mut BTreeMap<RetentionPath, GroupGrowth>,
    path: &RetentionPath,
    linked: &BTreeSet<String>,
) -> (RetentionPath, &'a mut GroupGrowth) {
    let key = path.structure_key(linked);
    let entry = by_path.entry(key.clone()).or_insert_with(|| empty(path));
    if entry.path.shape() == path.shape() {
        entry.path = widened(&entry.path, path);
    }
    (key, entry)
}

fn empty(path: &RetentionPath) -> GroupGrowth {
    GroupGrowth {
        path: path.clone(),
        signature: LeakSignature::default(),
        first: 0,
        last: 0,
        growth: 0,
        example_address: None,
        holder: None,
    }
}

/// The last snapshot's holder of a group, with the first's when it is of the same type (an
/// address cannot match: the GC moves objects), its step placed on the matched `path`.
fn holder_growth(
    last: &PathGroup,
    first: Option<&GroupHolder>,
    path: &RetentionPath,
) -> Option<HolderGrowth> {
    let holder = last.holder.as_ref()?;
    let first = first.filter(|f| f.type_name == holder.type_name);
    Some(HolderGrowth {
        type_name: holder.type_name.clone(),
        // (Where the group shows another shape than the last snapshot's, the step may not
        // be the holder's.)
        step: holder
            .step
            .and_then(|step| last.path.aligned_step(step, path))
            .filter(|&step| path.steps[step].type_name == holder.type_name),
        address: holder.address,
        retained_first: first.map(|f| f.retained_bytes),
        retained_last: holder.retained_bytes,
        objects_first: first.map(|f| f.retained_objects),
        objects_last: holder.retained_objects,
        holders: holder.holders,
    })
}

fn counts(paths: &TypePaths) -> SnapshotCounts {
    SnapshotCounts {
        instances: paths.instances,
        unreachable: paths.unreachable,
        sampled: paths.sampled,
    }
}

impl fmt::Display for GroupGrowth {
    /// `+410 through static Program.kept → …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+} through {}", self.growth, self.path)
    }
}

impl fmt::Display for PathGrowth {
    /// One line per grown group: `Type: +410 of +411 through static Program.kept → …`
    /// ([`PathGrowth::share`]); a type whose paths did not grow gets one line saying so.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups.is_empty() {
            return write!(
                f,
                "{}: {:+} instances, no retention path grew",
                self.type_name, self.growth
            );
        }
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{}: {} through {}",
                self.type_name,
                self.share(group),
                group.path
            )?;
        }
        Ok(())
    }
}
