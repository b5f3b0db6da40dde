//! A retention path as a person reads it: the root, then each object's type, with the field
//! that holds the next one.
//!
//! ```
//! use leakgate_heap::{PathStep, RetentionPath, Root};
//!
//! let path = RetentionPath {
//!     root: Root::static_field("LeakRegistry", "Entries"),
//!     steps: vec![
//!         PathStep::new("System.Collections.Generic.List<StaticHeldEntry>", None),
//!         PathStep::new("StaticHeldEntry[]", Some("_items")),
//!         PathStep::new("StaticHeldEntry", None), // an array element
//!     ],
//! };
//! assert_eq!(
//!     path.to_string(),
//!     "static LeakRegistry.Entries → System.Collections.Generic.List<StaticHeldEntry>._items \
//!      → StaticHeldEntry[] → StaticHeldEntry"
//! );
//! assert_eq!(path.chain()[1], "→ System.Collections.Generic.List<StaticHeldEntry>._items");
//! assert_eq!(
//!     path.abbreviated(2),
//!     "static LeakRegistry.Entries → System.Collections.Generic.List<StaticHeldEntry>._items \
//!      → … → StaticHeldEntry"
//! );
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Root;

/// One object on a path.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub struct PathStep {
    pub type_name: String,
    /// The field of the previous object that holds this one; `None` for the object a root
    /// holds, for array elements and where the source names no fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// On a collapsed path ([`RetentionPath::collapsed`]): how many consecutive objects of this
    /// type, each held through `field` of the one before (one of them where it lists several,
    /// `Next|Prev`), this step stands for, as the fewest and the most seen (a linked list's
    /// nodes, a queue's segments); `None` for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<(u32, u32)>,
}

impl PathStep {
    pub fn new(type_name: &str, field: Option<&str>) -> PathStep {
        PathStep {
            type_name: type_name.to_string(),
            field: field.map(str::to_string),
            repeats: None,
        }
    }

    /// The fewest and the most objects this step stands for: `(1, 1)` unless collapsed.
    pub fn repeat_range(&self) -> (u32, u32) {
        self.repeats.unwrap_or((1, 1))
    }
}

/// A root and the chain of objects from it to an instance (the last step).
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub struct RetentionPath {
    pub root: Root,
    /// From the object the root holds to the instance itself; never empty.
    pub steps: Vec<PathStep>,
}

impl RetentionPath {
    /// The path as it is grouped: the same chain of types and fields from the same root,
    /// whatever thread a stack root sits on and whichever assembly a runtime root names
    /// ([`Root::grouped`]).
    pub fn signature(&self) -> RetentionPath {
        RetentionPath {
            root: self.root.grouped(),
            steps: self.steps.clone(),
        }
    }

    /// The path with each run of consecutive steps of the same type held through the same
    /// field collapsed into one step that records how many it stands for (the object a root
    /// holds is never merged into a run). Repeats already recorded add up; a step standing
    /// for one object has no repeats.
    pub fn collapsed(&self) -> RetentionPath {
        let mut steps: Vec<PathStep> = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if self.merges_into_previous(i)
                && let Some(last) = steps.last_mut()
            {
                let (a, b) = last.repeat_range();
                let (c, d) = step.repeat_range();
                last.repeats = Some((a + c, b + d));
                last.field = joined_fields(&last.field, &step.field);
                continue;
            }
            steps.push(step.clone());
        }
        RetentionPath {
            root: self.root.clone(),
            steps,
        }
    }

    /// What a collapsed path is matched by, and its signature hashes: the root as grouped
    /// ([`Root::grouped`]: a group's path may carry the names of what the runtime holds,
    /// which differ between snapshots), no repeat counts, and each linked structure it
    /// passes as the one step that enters it: a structure's instances are one group whether
    /// they sit 0, 1 or 5 hops down it, and whichever way the path walks inside it. A type
    /// is linked when the path loops through it ([`RetentionPath::is_loop`]) and it is not
    /// an array; see [`RetentionPath::structure_key`].
    pub fn group_key(&self) -> RetentionPath {
        self.structure_key(&self.loop_types())
    }

    /// The group key with the types of `linked` taken as linked structures (a sample's paths
    /// are grouped with the types any of them loops through): from the first step of such a
    /// type (past the object a root holds) to the last, only the first is kept. A doubly
    /// linked list's node is reached from the head through `next` or from another node
    /// through `prev`, or through the list's owner back to its head: the same key.
    pub(crate) fn structure_key(&self, linked: &BTreeSet<String>) -> RetentionPath {
        RetentionPath {
            root: self.root.grouped(),
            steps: self
                .kept_steps(linked)
                .into_iter()
                .map(|i| PathStep {
                    repeats: None,
                    ..self.steps[i].clone()
                })
                .collect(),
        }
    }

    /// The steps [`RetentionPath::structure_key`] keeps, in order: never a loop step.
    fn kept_steps(&self, linked: &BTreeSet<String>) -> Vec<usize> {
        let mut kept = Vec::with_capacity(self.steps.len());
        let mut i = 0;
        while i < self.steps.len() {
            kept.push(i);
            let type_name = &self.steps[i].type_name;
            let structure = i >= 1 && linked.contains(type_name);
            let last = (i..self.steps.len())
                .rev()
                .find(|&j| structure && self.steps[j].type_name == *type_name);
            i = last.unwrap_or(i) + 1;
            while self.is_loop(i) {
                i += 1;
            }
        }
        kept
    }

    /// What collapsed paths are widened into one path by ([`widened`](crate::grouping)):
    /// the path without repeat counts or loop steps, so its steps align one to one.
    pub(crate) fn shape(&self) -> RetentionPath {
        RetentionPath {
            root: self.root.grouped(),
            steps: (0..self.steps.len())
                .filter(|&i| !self.is_loop(i))
                .map(|i| PathStep {
                    repeats: None,
                    ..self.steps[i].clone()
                })
                .collect(),
        }
    }

    /// The linked structures' types this path loops through: not arrays, whose nesting
    /// (an `Object[]` of `Object[]`s) says nothing about what lies between two of them
    /// further apart on the path; their own loop steps are left out of a key all the same.
    pub(crate) fn loop_types(&self) -> BTreeSet<String> {
        (0..self.steps.len())
            .filter(|&i| self.is_loop(i) && !self.steps[i].type_name.ends_with(']'))
            .map(|i| self.steps[i].type_name.clone())
            .collect()
    }

    /// Whether step `i` is an object held by one of its own type (a linked list's next
    /// node, a queue's next segment); the object a root holds never is.
    pub fn is_loop(&self, i: usize) -> bool {
        i >= 2 && i < self.steps.len() && self.steps[i].type_name == self.steps[i - 1].type_name
    }

    /// Where step `i` of this (not yet collapsed) path ends up in [`RetentionPath::collapsed`].
    pub(crate) fn collapsed_index(&self, i: usize) -> usize {
        (1..=i.min(self.steps.len().saturating_sub(1)))
            .filter(|&k| !self.merges_into_previous(k))
            .count()
    }

    /// Whether [`RetentionPath::collapsed`] merges step `k` into the one before: the same hop
    /// again (type and field), or another hop of a run of loop steps (a list walked through
    /// `Next`, then `Prev`). The object a root holds and the step that enters a run stay.
    fn merges_into_previous(&self, k: usize) -> bool {
        k >= 2 && k < self.steps.len() && {
            let (step, previous) = (&self.steps[k], &self.steps[k - 1]);
            step.type_name == previous.type_name
                && (step.field == previous.field || self.is_loop(k - 1))
        }
    }

    /// Step `i` of this collapsed path in `wider`, a path of the same shape that
    /// [`widened`](crate::grouping) paths including this one: the same non-loop step (they
    /// align one to one), or for a loop step the loop step of the same type after
    /// the same non-loop step. `None` when `i` is past the end or no such step is in `wider`.
    pub(crate) fn aligned_step(&self, i: usize, wider: &RetentionPath) -> Option<usize> {
        let step = self.steps.get(i)?;
        let non_loop =
            |path: &RetentionPath, end: usize| (0..end).filter(|&k| !path.is_loop(k)).count();
        let before = non_loop(self, i);
        if !self.is_loop(i) {
            return (0..wider.steps.len())
                .filter(|&k| !wider.is_loop(k))
                .nth(before);
        }
        // The loop step of `wider` right after its `before`-th non-loop step (a collapsed path
        // has at most one there: a run of loop steps is one).
        (0..wider.steps.len())
            .filter(|&k| wider.is_loop(k) && non_loop(wider, k) == before)
            .find(|&k| wider.steps[k].type_name == step.type_name)
    }

    /// Where this path enters a linked structure whose type is in `linked`: the first step
    /// of each, as its structure key keeps it (a list's head node, its tail node).
    fn linked_entries(&self, linked: &BTreeSet<String>) -> Vec<usize> {
        self.kept_steps(linked)
            .into_iter()
            .filter(|&i| i >= 1 && linked.contains(&self.steps[i].type_name))
            .collect()
    }

    /// The same path with no repeat counts.
    pub fn without_repeats(&self) -> RetentionPath {
        RetentionPath {
            root: self.root.clone(),
            steps: self
                .steps
                .iter()
                .map(|s| PathStep {
                    repeats: None,
                    ..s.clone()
                })
                .collect(),
        }
    }

    /// The one-line form with at most `max_steps` objects: the first ones (where the reason
    /// is) and the instance itself, `…` for what is left out.
    pub fn abbreviated(&self, max_steps: usize) -> String {
        let max_steps = max_steps.max(2);
        if self.steps.len() <= max_steps {
            return self.to_string();
        }
        let mut line = self.root.to_string();
        let head = max_steps - 1;
        for (i, step) in self.steps[..head].iter().enumerate() {
            line.push_str(" → ");
            push_step(&mut line, step, self.steps.get(i + 1));
        }
        line.push_str(" → … → ");
        line.push_str(&self.steps[self.steps.len() - 1].type_name);
        line
    }
}

/// Gives collapsed paths (of one type's instances) that differ only in which field of a
/// holder they enter a linked structure by one entry: the fields joined with `|`
/// (`SemaphoreSlim.m_asyncHead|m_asyncTail`), so that they group as one. A doubly linked
/// list's nodes are reached from its head through `next` or from its tail through `prev`,
/// whichever is shorter: without this, one leak would be two groups of about half each. A type
/// is linked when any of the paths loops through it (so the node at either end, which takes
/// no hop, joins too).
pub(crate) fn join_linked_entries(paths: &mut [RetentionPath]) {
    let linked = linked_types(paths);
    if linked.is_empty() {
        return;
    }
    // Paths of one group key but for their entry fields: their entry steps, one list each.
    let mut classes: BTreeMap<RetentionPath, Vec<(usize, Vec<usize>)>> = BTreeMap::new();
    for (p, path) in paths.iter().enumerate() {
        let entries = path.linked_entries(&linked);
        if entries.is_empty() {
            continue;
        }
        let mut blank = path.clone();
        for &i in &entries {
            blank.steps[i].field = None;
        }
        classes
            .entry(blank.structure_key(&linked))
            .or_default()
            .push((p, entries));
    }
    for members in classes.into_values() {
        // Equal keys: the same number of entry steps, in the same order.
        for k in 0..members[0].1.len() {
            let joined = members.iter().fold(None, |joined, (p, entries)| {
                joined_fields(&joined, &paths[*p].steps[entries[k]].field)
            });
            for (p, entries) in &members {
                paths[*p].steps[entries[k]].field = joined.clone();
            }
        }
    }
}

/// Two fields as one: the same field, or each field they name once, in order, joined with
/// `|` (`Next|Prev`); a field not known leaves the other.
pub(crate) fn joined_fields(a: &Option<String>, b: &Option<String>) -> Option<String> {
    let fields: BTreeSet<&str> = [a, b]
        .into_iter()
        .flatten()
        .flat_map(|field| field.split('|'))
        .collect();
    (!fields.is_empty()).then(|| fields.into_iter().collect::<Vec<_>>().join("|"))
}

/// The types any of `paths` loops through: what [`RetentionPath::structure_key`] takes as
/// linked structures for a sample of paths.
pub(crate) fn linked_types(paths: &[RetentionPath]) -> BTreeSet<String> {
    paths.iter().flat_map(RetentionPath::loop_types).collect()
}

impl RetentionPath {
    /// The path as a chain, one line a link: the root, then `→ Type.field`
    /// per object (for reports that show a path in a code block).
    pub fn chain(&self) -> Vec<String> {
        let mut lines = vec![self.root.to_string()];
        for (i, step) in self.steps.iter().enumerate() {
            let mut line = String::from("→ ");
            push_step(&mut line, step, self.steps.get(i + 1));
            lines.push(line);
        }
        lines
    }
}

/// `Type.field` when the field holding the next object is known, else `Type`; `×1..3` (or
/// `×3`) after it when the next step is a collapsed run reached through that hop.
fn push_step(line: &mut String, step: &PathStep, next: Option<&PathStep>) {
    line.push_str(&step.type_name);
    if let Some(field) = next.and_then(|n| n.field.as_deref()) {
        line.push('.');
        line.push_str(field);
    }
    if let Some((min, max)) = next.and_then(|n| n.repeats) {
        if min == max {
            line.push_str(&format!(" ×{min}"));
        } else {
            line.push_str(&format!(" ×{min}..{max}"));
        }
    }
}

impl fmt::Display for RetentionPath {
    /// `root → Type.field → Type → … → InstanceType`, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.root.to_string();
        for (i, step) in self.steps.iter().enumerate() {
            line.push_str(" → ");
            push_step(&mut line, step, self.steps.get(i + 1));
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(nodes: usize) -> RetentionPath {
        let mut steps = vec![
            PathStep::new("Source", None),
            PathStep::new("Node", Some("head")),
        ];
        steps.extend((1..nodes).map(|_| PathStep::new("Node", Some("next"))));
        steps.push(PathStep::new("Action", Some("callback")));
        RetentionPath {
            root: Root::static_field("Token", "source"),
            steps,
        }
    }

    #[test]
    fn runs_of_the_same_hop_collapse_into_one_step() {
        let path = linked(4).collapsed();
        assert_eq!(path.steps.len(), 4);
        assert_eq!(
            path.steps[2],
            PathStep {
                repeats: Some((3, 3)),
                ..PathStep::new("Node", Some("next"))
            }
        );
        assert_eq!(
            path.to_string(),
            "static Token.source → Source.head → Node.next ×3 → Node.callback → Action"
        );
        assert_eq!(path.chain()[2], "→ Node.next ×3");
        assert_eq!(path.without_repeats(), linked(2));
        // Nothing to collapse: the same path.
        assert_eq!(linked(2).collapsed(), linked(2));
        assert_eq!(linked(1).collapsed(), linked(1));
        // A range, and the abbreviated form keeps the repeat of the hops it shows.
        let mut ranged = path.clone();
        ranged.steps[2].repeats = Some((1, 3));
        assert_eq!(
            ranged.abbreviated(3),
            "static Token.source → Source.head → Node.next ×1..3 → … → Action"
        );
        // Collapsing again changes nothing.
        assert_eq!(ranged.collapsed(), ranged);
    }

    #[test]
    fn a_step_is_found_again_on_the_collapsed_and_the_widened_path() {
        let long = linked(4); // Source, Node.head, Node.next ×3, Node.callback → Action
        let at: Vec<usize> = (0..6).map(|i| long.collapsed_index(i)).collect();
        assert_eq!(at, vec![0, 1, 2, 2, 2, 3]);
        // A group of a short and a long chain: the short one's steps on the widened path.
        let (short, long) = (linked(1), long.collapsed());
        let wide = crate::grouping::widened(&short, &long);
        assert_eq!(
            wide.to_string(),
            "static Token.source → Source.head → Node.next ×0..3 → Node.callback → Action"
        );
        let placed: Vec<Option<usize>> = (0..4).map(|i| short.aligned_step(i, &wide)).collect();
        assert_eq!(placed, vec![Some(0), Some(1), Some(3), None]);
        let placed: Vec<Option<usize>> = (0..4).map(|i| long.aligned_step(i, &wide)).collect();
        assert_eq!(placed, vec![Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn nested_arrays_are_no_structure_that_hides_a_holder() {
        let through = |holder: &str, depth: usize| {
            let mut steps = vec![
                PathStep::new("List", None),
                PathStep::new("Object[]", Some("_items")),
            ];
            steps.extend((1..depth).map(|_| PathStep::new("Object[]", None)));
            steps.push(PathStep::new(holder, None));
            steps.push(PathStep::new("Object[]", Some("_slots")));
            steps.push(PathStep::new("Byte[]", None));
            RetentionPath {
                root: Root::static_field("App", "all"),
                steps,
            }
            .collapsed()
        };
        let (cache, registry) = (through("Cache", 3), through("Registry", 1));
        let linked = linked_types(&[cache.clone(), registry.clone()]);
        assert!(linked.is_empty(), "{linked:?}");
        // The array's own loop steps are still no part of the key.
        assert_eq!(cache.group_key(), through("Cache", 1).group_key());
        assert_ne!(cache.group_key(), registry.group_key());
        assert_ne!(cache.leak_signature(), registry.leak_signature());
    }

    #[test]
    fn a_run_walked_through_several_fields_is_one_step() {
        // Into the list at its head, then forward twice and back once.
        let mut path = linked(3);
        path.steps.insert(4, PathStep::new("Node", Some("prev")));
        let collapsed = path.collapsed();
        assert_eq!(
            collapsed.to_string(),
            "static Token.source → Source.head → Node.next|prev ×3 → Node.callback → Action"
        );
        assert_eq!(collapsed.collapsed(), collapsed);
        let at: Vec<usize> = (0..path.steps.len())
            .map(|i| path.collapsed_index(i))
            .collect();
        assert_eq!(at, vec![0, 1, 2, 2, 2, 3]);
    }

    #[test]
    fn the_object_a_root_holds_is_not_merged_into_a_run() {
        let path = RetentionPath {
            root: Root::StrongHandle,
            steps: vec![
                PathStep::new("Object[]", None),
                PathStep::new("Object[]", None),
                PathStep::new("Object[]", None),
                PathStep::new("Entry", None),
            ],
        }
        .collapsed();
        assert_eq!(path.steps.len(), 3);
        assert_eq!(path.steps[1].repeats, Some((2, 2)));
    }

    #[test]
    fn repeats_round_trip_through_json_and_are_absent_without_them() {
        let plain = PathStep::new("Node", Some("next"));
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"type_name":"Node","field":"next"}"#
        );
        let step = PathStep {
            repeats: Some((1, 3)),
            ..plain
        };
        let json = serde_json::to_string(&step).unwrap();
        assert_eq!(
            json,
            r#"{"type_name":"Node","field":"next","repeats":[1,3]}"#
        );
        assert_eq!(serde_json::from_str::<PathStep>(&json).unwrap(), step);
        let path = linked(3).collapsed();
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(serde_json::from_str::<RetentionPath>(&json).unwrap(), path);
    }
}
