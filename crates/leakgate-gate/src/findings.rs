//! One leak, one finding: types that grow together through the same
//! holder are judged and reported together.
//!
//! A hung task keeps its state machine, its buffers, the task node that
//! waits for it; a registered callback keeps the node, the delegate, its
//! target and what that holds. Each type alone may grow too little to
//! matter — a few KiB per 1k requests — while together they are the leak.
//!
//! ```
//! use leakgate_gate::findings::group;
//! use leakgate_heap::{GroupGrowth, PathGrowth, PathStep, RetentionPath, Root, SnapshotCounts};
//!
//! let grown = |steps: &[&str]| {
//!     let path = RetentionPath {
//!         root: Root::static_field("Pending", "Waiters"),
//!         steps: steps.iter().map(|t| PathStep::new(t, None)).collect(),
//!     };
//!     let counts = SnapshotCounts { instances: 0, unreachable: 0, sampled: 0 };
//!     PathGrowth {
//!         type_name: steps.last().unwrap().to_string(),
//!         first: counts,
//!         last: counts,
//!         growth: 100,
//!         groups: vec![GroupGrowth::new(path, 0, 100)],
//!     }
//! };
//! let paths = [
//!     grown(&["SemaphoreSlim", "TaskNode", "TaskNode", "Box", "Reply", "Byte[]"]),
//!     grown(&["SemaphoreSlim", "TaskNode"]),
//!     grown(&["SemaphoreSlim", "TaskNode", "Box", "Reply"]),
//! ];
//! let found = group(&paths);
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].members, ["Byte[]", "Reply", "TaskNode"]); // most grown first, then by name
//! assert_eq!(found[0].holder.to_string(), "static Pending.Waiters → SemaphoreSlim → TaskNode");
//! ```
//!
//! # The rule
//! The types traced for "why it is alive" ([`crate::traced`]: the failing
//! ones, those rising significantly but too slowly to matter alone, and
//! the types rising with them) are grouped by the path that grew most for each, its
//! repeated hops collapsed (a linked list's `next` → `next` → … is one
//! hop): two types share a holder when their paths start at the same root
//! and share their first steps — at least two, and at least half of the
//! shorter path — and the group as a whole still shares two; types the
//! runtime itself holds by one kind of root (a loader's generated
//! assemblies, their modules and types) share it as their holder. A group of
//! two or more is a finding. Its bytes — the sum of its members'
//! `heap.bytes` at each judged sample, all their instances, not only those
//! on the path — are judged by the trend rule of the per-type `heap.bytes`
//! budget that covers every member, as one more check
//! ([`crate::judge::judge_findings`]): the sum must rise by the growth
//! that matters, and at least one member must rise significantly in the
//! budget's family — the members were traced because they rose, so the
//! sum's own p-value would count the same chance twice.

use leakgate_heap::{PathGrowth, RetentionPath, Root};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Types whose grown retention paths share a holder.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Finding {
    /// The path the members share, from the root to the last common step.
    pub holder: RetentionPath,
    /// The types, most grown instances first (then by name).
    pub members: Vec<String>,
}

impl Finding {
    /// "3 types held by static Pending.Waiters → SemaphoreSlim → TaskNode".
    pub fn label(&self) -> String {
        format!(
            "{} types held by {}",
            self.members.len(),
            self.holder.abbreviated(4)
        )
    }
}

/// Fewest shared steps that make a holder (besides the root).
const MIN_SHARED: usize = 2;

/// The findings among the traced types (see the module docs).
pub fn group(paths: &[PathGrowth]) -> Vec<Finding> {
    let mut grown: Vec<(&str, i64, RetentionPath)> = paths
        .iter()
        .filter(|p| p.growth > 0)
        .filter_map(|p| Some((p.type_name.as_str(), p.growth, grown_most(p)?)))
        .collect();
    grown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..grown.len() {
        let joins = |g: &Vec<usize>| g.iter().any(|&j| shares_holder(&grown[i].2, &grown[j].2));
        match groups.iter_mut().find(|g| joins(g)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
        .into_iter()
        .filter(|g| g.len() >= 2)
        .map(|g| {
            let mut holder = g
                .iter()
                .map(|&i| grown[i].2.clone())
                .reduce(|a, b| common_prefix(&a, &b))
                .expect("a group has members");
            // What the runtime holds is named by the most grown member's top group
            // (`Contoso.Proxies.Generated* (412 assemblies)`), as its own path is.
            let named = paths.iter().find(|p| p.type_name == grown[g[0]].0);
            if let Some(top) = named.and_then(PathGrowth::top)
                && held_by_the_runtime(&holder)
                && top.path.root.grouped() == holder.root
            {
                holder.root = top.path.root.clone();
            }
            Finding {
                holder,
                members: g.iter().map(|&i| grown[i].0.to_string()).collect(),
            }
        })
        // Chained through different members, a group may share only its
        // root: no holder, no finding.
        .filter(|f| f.holder.steps.len() >= MIN_SHARED || held_by_the_runtime(&f.holder))
        .collect()
}

/// The collapsed path through which most instances grew: a linked list
/// splits its instances into one group per position, which collapse into one.
fn grown_most(p: &PathGrowth) -> Option<RetentionPath> {
    let mut by_path: Vec<(RetentionPath, i64)> = Vec::new();
    for g in &p.groups {
        let path = collapsed(&g.path);
        match by_path.iter_mut().find(|(q, _)| *q == path) {
            Some((_, growth)) => *growth += g.growth,
            None => by_path.push((path, g.growth)),
        }
    }
    by_path
        .into_iter()
        .filter(|(_, growth)| *growth > 0)
        .max_by_key(|(_, growth)| *growth)
        .map(|(path, _)| path)
}

/// The path with consecutive steps through the same type (a linked list's
/// nodes, a queue's segments) collapsed into one, whatever their repeats:
/// the heap's collapsed path ([`RetentionPath::collapsed`]) already merges
/// runs through one field; the hop into a run (`head`, then `next` × n) is
/// merged here too.
fn collapsed(path: &RetentionPath) -> RetentionPath {
    let mut path = path.signature().collapsed().without_repeats();
    path.steps
        .dedup_by(|step, kept| step.type_name == kept.type_name);
    path
}

fn shared_steps(a: &RetentionPath, b: &RetentionPath) -> usize {
    if a.root != b.root {
        return 0;
    }
    a.steps
        .iter()
        .zip(&b.steps)
        .take_while(|(x, y)| x.type_name == y.type_name)
        .count()
}

fn shares_holder(a: &RetentionPath, b: &RetentionPath) -> bool {
    if held_by_the_runtime(a) && a.root == b.root {
        return true;
    }
    let shared = shared_steps(a, b);
    shared >= MIN_SHARED && 2 * shared >= a.steps.len().min(b.steps.len())
}

/// Whether the runtime itself holds the path's first object (a loader's generated
/// assemblies, their modules and types): one holder for whatever it holds of one kind,
/// with no object of the heap between it and them.
fn held_by_the_runtime(path: &RetentionPath) -> bool {
    matches!(path.root, Root::Runtime { .. })
}

fn common_prefix(a: &RetentionPath, b: &RetentionPath) -> RetentionPath {
    RetentionPath {
        root: a.root.clone(),
        steps: a.steps[..shared_steps(a, b)].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakgate_heap::{GroupGrowth, PathStep, Root, SnapshotCounts};

    fn path(root: Root, steps: &[&str]) -> RetentionPath {
        RetentionPath {
            root,
            steps: steps.iter().map(|t| PathStep::new(t, Some("f"))).collect(),
        }
    }

    fn grown(type_name: &str, growth: i64, path: RetentionPath) -> PathGrowth {
        let counts = SnapshotCounts {
            instances: 0,
            unreachable: 0,
            sampled: 0,
        };
        PathGrowth {
            type_name: type_name.into(),
            first: counts,
            last: counts,
            growth,
            groups: vec![GroupGrowth {
                growth,
                ..GroupGrowth::new(path, 0, growth.max(0) as u64)
            }],
        }
    }

    #[test]
    fn what_the_runtime_holds_of_one_kind_is_one_finding() {
        let loader = |name: &str| Root::runtime("non-collectible dynamic assembly", Some(name));
        let found = group(&[
            grown(
                "System.Reflection.RuntimeAssembly",
                400,
                path(
                    loader("Proxies.Generated1"),
                    &["System.Reflection.RuntimeAssembly"],
                ),
            ),
            grown(
                "System.RuntimeType",
                400,
                path(loader("Proxies.Generated9"), &["System.RuntimeType"]),
            ),
            grown(
                "System.Reflection.RuntimeModule",
                300,
                path(
                    Root::runtime("non-collectible assembly", Some("System.Linq")),
                    &["System.Reflection.RuntimeModule"],
                ),
            ),
        ]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].members,
            ["System.Reflection.RuntimeAssembly", "System.RuntimeType"]
        );
        assert_eq!(
            found[0].label(),
            "2 types held by runtime: non-collectible dynamic assembly Proxies.Generated1"
        );
    }

    #[test]
    fn leaks_under_the_same_root_that_part_early_are_two_findings_or_none() {
        let di = || Root::static_field("Host", "Services");
        let paths = [
            grown("A", 50, path(di(), &["Provider", "Cache", "List", "A"])),
            grown(
                "A2",
                50,
                path(di(), &["Provider", "Cache", "List", "A", "A2"]),
            ),
            grown("B", 40, path(di(), &["Provider", "Registry", "Dict", "B"])),
            grown(
                "C",
                30,
                path(Root::static_field("Other", "x"), &["Provider", "C"]),
            ),
            grown(
                "shrinking",
                -5,
                path(di(), &["Provider", "Cache", "List", "A"]),
            ),
        ];
        let found = group(&paths);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, ["A", "A2"]);
        assert_eq!(found[0].holder.steps.len(), 4);
        assert!(
            found[0]
                .label()
                .starts_with("2 types held by static Host.Services")
        );
    }

    #[test]
    fn a_linked_list_is_one_hop() {
        let root = || Root::static_field("Token", "source");
        let long = path(
            root(),
            &["Source", "Node", "Node", "Node", "Node", "Action", "Flush"],
        );
        let short = path(root(), &["Source", "Node", "Action"]);
        assert_eq!(collapsed(&long).steps.len(), 4);
        assert!(shares_holder(&collapsed(&long), &collapsed(&short)));
        assert!(group(&[]).is_empty());
    }
}
