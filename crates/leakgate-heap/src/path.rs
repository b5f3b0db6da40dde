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
}

impl PathStep {
    pub fn new(type_name: &str, field: Option<&str>) -> PathStep {
        PathStep {
            type_name: type_name.to_string(),
            field: field.map(str::to_string),
        }
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
    /// whatever thread a stack root sits on.
    pub fn signature(&self) -> RetentionPath {
        RetentionPath {
            root: self.root.without_thread(),
            steps: self.steps.clone(),
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

/// `Type.field` when the field holding the next object is known, else `Type`.
fn push_step(line: &mut String, step: &PathStep, next: Option<&PathStep>) {
    line.push_str(&step.type_name);
    if let Some(field) = next.and_then(|n| n.field.as_deref()) {
        line.push('.');
        line.push_str(field);
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
