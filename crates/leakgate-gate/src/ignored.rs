//! Growth through retention that is not a leak: the scenario's `ignore_paths:` (leak
//! signatures, or globs over a path's one-line form) and leakgate's list of known runtime
//! and framework retention (`leakgate_scenario::KNOWN_RETENTION`: pools and caches that grow
//! to a bound under load).
//!
//! The paths they match are set aside from "why it is alive" and from the snapshot; a
//! per-type check that failed or warned passes when nine tenths of its type's traced growth
//! went through them, with a reason saying so. Its numbers stay in the report.

use leakgate_heap::PathGrowth;
use leakgate_scenario::PathFilter;

use crate::judge::{Status, Verdict};
use crate::reason::{NotALeak, Reason};

/// What one type grew through that `ignore_paths:` excuses.
#[derive(Clone, Debug, PartialEq)]
pub struct SetAside {
    pub type_name: String,
    /// Instances on the ignored paths that grew, and on all the paths that grew.
    pub ignored: i64,
    pub of: i64,
    /// Each matching entry, with why for a known one.
    pub because: Vec<String>,
}

impl SetAside {
    /// At least nine tenths of the growth: the type's growth is not a leak.
    pub fn excuses_the_type(&self) -> bool {
        self.of > 0 && self.ignored * 10 >= self.of * 9
    }

    /// The report's note.
    pub fn note(&self) -> String {
        format!(
            "{}: {:+} of {:+} instances grew through retention that is not a leak, left out of \
             the paths ({})",
            self.type_name,
            self.ignored,
            self.of,
            self.because.join("; ")
        )
    }
}

/// Takes the groups `filter` ignores out of each type's grown paths, and a type whose grown
/// paths were all ignored out of `retention`.
pub fn set_aside(retention: &mut Vec<PathGrowth>, filter: &PathFilter) -> Vec<SetAside> {
    let mut aside = Vec::new();
    for g in retention.iter_mut() {
        let of = g.groups_growth();
        let mut ignored = 0;
        let mut because: Vec<String> = Vec::new();
        g.groups.retain(|group| {
            let Some(by) = filter.ignores(group.known_signature(), &group.path.to_string()) else {
                return true;
            };
            ignored += group.growth.max(0);
            let why = match by.known {
                Some(known) => format!("{}: {known}", by.pattern),
                None => by.pattern,
            };
            if !because.contains(&why) {
                because.push(why);
            }
            false
        });
        if ignored > 0 {
            aside.push(SetAside {
                type_name: g.type_name.clone(),
                ignored,
                of,
                because,
            });
        }
    }
    retention.retain(|g| !g.groups.is_empty() || !aside.iter().any(|a| a.type_name == g.type_name));
    aside
}

/// Passes the failing or warning per-type checks of the types whose growth `aside` excuses,
/// and sets the verdict's status again from its checks.
pub fn excuse(verdict: &mut Verdict, aside: &[SetAside]) {
    let mut changed = false;
    for a in aside.iter().filter(|a| a.excuses_the_type()) {
        for c in verdict
            .checks
            .iter_mut()
            .filter(|c| c.flagged_type() == Some(a.type_name.as_str()))
        {
            c.status = Status::Pass;
            c.reasons.push(Reason::NotALeak(NotALeak {
                ignored: a.ignored,
                of: a.of,
                because: a.because.clone(),
            }));
            changed = true;
        }
    }
    if changed {
        let floor = if verdict.unmeasured {
            Status::Warn
        } else {
            Status::Pass
        };
        verdict.status = verdict
            .checks
            .iter()
            .map(|c| c.status)
            .fold(floor, Status::max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{JudgeOptions, judge};
    use crate::testing::{Samples, budgets};
    use leakgate_heap::{GroupGrowth, PathStep, RetentionPath, Root, SnapshotCounts};
    use leakgate_scenario::TypeFilter;

    fn through(root: Root, steps: &[&str], growth: u64) -> GroupGrowth {
        let path = RetentionPath {
            root,
            steps: steps.iter().map(|t| PathStep::new(t, None)).collect(),
        };
        GroupGrowth::new(path, 0, growth)
    }

    fn bytes_grew(groups: Vec<GroupGrowth>) -> PathGrowth {
        let counts = SnapshotCounts {
            instances: 0,
            unreachable: 0,
            sampled: 0,
        };
        PathGrowth {
            type_name: "System.Byte[]".into(),
            first: counts,
            last: counts,
            growth: groups.iter().map(|g| g.growth).sum(),
            groups,
        }
    }

    fn pool(growth: u64) -> GroupGrowth {
        through(
            Root::static_field("System.Buffers.ArrayPool<System.Byte>", "s_shared"),
            &[
                "System.Buffers.SharedArrayPool<System.Byte>",
                "System.Buffers.SharedArrayPoolPartitions[]",
                "System.Byte[]",
            ],
            growth,
        )
    }

    fn leak(growth: u64) -> GroupGrowth {
        through(
            Root::static_field("Leak", "Keep"),
            &[
                "System.Collections.Generic.List<System.Byte[]>",
                "System.Byte[]",
            ],
            growth,
        )
    }

    /// A verdict whose heap.count check of System.Byte[] fails.
    fn failing() -> Verdict {
        let rules = budgets("- metric: heap.count\n  types: \"*\"\n  max_growth: 100\n");
        let grows = Samples::new(6)
            .heap(
                "System.Byte[]",
                &[100, 400, 700, 1000, 1300, 1600],
                &[10_000, 40_000, 70_000, 100_000, 130_000, 160_000],
            )
            .build();
        let v = judge(
            &grows,
            &rules,
            &TypeFilter::none(),
            &JudgeOptions::default(),
        );
        assert_eq!(v.status, Status::Fail);
        v
    }

    #[test]
    fn growth_through_known_retention_alone_passes_with_a_reason() {
        let mut retention = vec![bytes_grew(vec![pool(1480), leak(20)])];
        let aside = set_aside(&mut retention, &PathFilter::default());
        assert_eq!(retention[0].groups.len(), 1, "the pool's path is set aside");
        assert_eq!((aside[0].ignored, aside[0].of), (1480, 1500));
        assert!(
            aside[0].note().contains("ArrayPool.Shared"),
            "{}",
            aside[0].note()
        );
        let mut v = failing();
        excuse(&mut v, &aside);
        assert_eq!(v.status, Status::Pass);
        let reasons = v.checks[0].reasons_text();
        assert!(
            reasons.contains("not a leak: +1480 of its +1500"),
            "{reasons}"
        );
    }

    #[test]
    fn a_leak_beside_known_retention_still_fails() {
        let mut retention = vec![bytes_grew(vec![pool(900), leak(600)])];
        let aside = set_aside(&mut retention, &PathFilter::default());
        let mut v = failing();
        excuse(&mut v, &aside);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            retention[0].groups[0].path.root,
            Root::static_field("Leak", "Keep")
        );
    }

    #[test]
    fn the_scenario_ignores_by_signature_or_by_glob() {
        let signature = leak(1).signature.to_string();
        for entry in [signature.as_str(), "static Leak.Keep → *"] {
            let filter = PathFilter::new(&[entry.to_string()]).unwrap();
            let mut retention = vec![bytes_grew(vec![leak(1500)])];
            let aside = set_aside(&mut retention, &filter);
            assert!(
                retention.is_empty(),
                "a type whose only path is ignored leaves: {entry}"
            );
            assert_eq!(aside[0].because, [entry.to_string()]);
        }
        let mut retention = vec![bytes_grew(vec![leak(1500)])];
        assert!(set_aside(&mut retention, &PathFilter::default()).is_empty());
    }
}
