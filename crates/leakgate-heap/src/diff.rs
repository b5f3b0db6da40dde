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
//!         PathGroup { path: through("kept"), sampled: kept, estimated: kept, example_address: 0x10 },
//!         PathGroup { path: through("cache"), sampled: cached, estimated: cached, example_address: 0x20 },
//!     ],
//! };
//! let growth = PathGrowth::between(&paths(10, 50), &paths(420, 51));
//! assert_eq!(growth.growth, 411);
//! assert_eq!(growth.groups[0].to_string(), "+410 through static Program.kept → Entry");
//! assert_eq!(growth.to_string(), "Entry: +410 of +411 through static Program.kept → Entry\n\
//!                                 Entry: +1 of +411 through static Program.cache → Entry");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::grouping::TypePaths;
use crate::grouping::widened;
use crate::path::RetentionPath;

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
    /// Estimated instances on this path in the first snapshot (0 when the path was absent).
    pub first: u64,
    pub last: u64,
    pub growth: i64,
    /// An instance on this path in the last snapshot.
    pub example_address: Option<u64>,
}

impl PathGrowth {
    /// Matches the groups of `first` and `last` (the same type in two snapshots) by path.
    pub fn between(first: &TypePaths, last: &TypePaths) -> PathGrowth {
        // Collapsed paths match whatever their repeat counts; the match keeps the range over
        // both snapshots.
        let mut by_path: BTreeMap<RetentionPath, GroupGrowth> = BTreeMap::new();
        for group in &first.groups {
            let entry = by_path
                .entry(group.path.group_key())
                .or_insert_with(|| empty(&group.path));
            entry.path = widened(&entry.path, &group.path);
            entry.first += group.estimated;
        }
        for group in &last.groups {
            let entry = by_path
                .entry(group.path.group_key())
                .or_insert_with(|| empty(&group.path));
            entry.path = widened(&entry.path, &group.path);
            entry.last += group.estimated;
            entry.example_address = Some(group.example_address);
        }
        let mut groups: Vec<GroupGrowth> = by_path
            .into_values()
            .map(|mut g| {
                g.growth = g.last as i64 - g.first as i64;
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
}

fn empty(path: &RetentionPath) -> GroupGrowth {
    GroupGrowth {
        path: path.clone(),
        first: 0,
        last: 0,
        growth: 0,
        example_address: None,
    }
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
    /// One line per grown group: `Type: +410 of +411 through static Program.kept → …`; a
    /// type whose paths did not grow gets one line saying so.
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
                "{}: {:+} of {:+} through {}",
                self.type_name, group.growth, self.growth, group.path
            )?;
        }
        Ok(())
    }
}
