//! A leak signature: a short, stable name for one way objects are kept alive, so that "the
//! same leak" can be recognised across runs, approved in a snapshot, or ignored by a
//! scenario (as LeakCanary's leak signatures and library-leak list do).
//!
//! It hashes the group key of a retention path ([`RetentionPath::group_key`]): the root
//! (its kind and declaring type and field, or method; never the thread), then each type
//! and the field that holds it, repeated hops, loops and the ways inside a linked structure
//! left out. Nothing that varies from run to run goes in: no address, no count, no repeat
//! range, and no number the C# compiler gives a lambda or closure class
//! (`<>c__DisplayClass5_0`, `<Main>b__0_3`), which moves whenever code elsewhere in the file
//! changes.
//!
//! ```
//! use leakgate_heap::{LeakSignature, PathStep, RetentionPath, Root};
//!
//! let path = |root: Root, nodes: usize| {
//!     let mut steps = vec![PathStep::new("Queue", None), PathStep::new("Segment", Some("_head"))];
//!     steps.extend((1..nodes).map(|_| PathStep::new("Segment", Some("_next"))));
//!     steps.push(PathStep::new("Byte[]", Some("_slots")));
//!     RetentionPath { root, steps }.collapsed()
//! };
//! let cache = Root::static_field("Cache", "pending");
//! // However deep in the chain, the same signature.
//! assert_eq!(path(cache.clone(), 1).leak_signature(), path(cache.clone(), 4).leak_signature());
//! // Another holder of the same type: another signature.
//! let other = path(Root::static_field("Audit", "kept"), 1).leak_signature();
//! assert_ne!(path(cache, 1).leak_signature(), other);
//! assert_eq!(other.as_str().len(), LeakSignature::LEN);
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::path::RetentionPath;

/// Twelve hex digits of a SHA-256 over the path's canonical text.
#[derive(
    Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(transparent)]
pub struct LeakSignature(String);

impl LeakSignature {
    /// Hex digits in a signature: 48 bits, ample for the few hundred paths a project has.
    pub const LEN: usize = 12;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A signature written in a file, when `text` is one (12 hex digits, either case): so a
    /// scenario's `ignore_paths:` entry is matched as one rather than as a glob over the path.
    pub fn parse(text: &str) -> Option<LeakSignature> {
        (text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| LeakSignature(text.to_ascii_lowercase()))
    }

    /// Whether this is no signature at all: a group read from a report written before
    /// leakgate had them.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for LeakSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RetentionPath {
    /// This path's [`LeakSignature`].
    pub fn leak_signature(&self) -> LeakSignature {
        let text = canonical(self);
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest
            .iter()
            .take(LeakSignature::LEN / 2)
            .map(|b| format!("{b:02x}"))
            .collect();
        LeakSignature(hex)
    }
}

/// One line per element, each name with the compiler's numbering taken out: the text the
/// signature hashes (its format is part of what makes signatures stable; change it only
/// with a reason, as every approved signature changes with it).
fn canonical(path: &RetentionPath) -> String {
    let key = path.collapsed().group_key();
    let mut text = format!("leakgate signature 1\n{}", key.root);
    for step in &key.steps {
        text.push('\n');
        text.push_str(&step.type_name);
        if let Some(field) = &step.field {
            text.push('.');
            text.push_str(field);
        }
    }
    unnumbered(&text)
}

/// `name` without the numbers the C# compiler appends to what it generates: the digits
/// (and `_` between them) after `__` (`b__0_3`, `<>c__12`) and after `DisplayClass`.
fn unnumbered(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = ["__", "DisplayClass"]
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = rest[i + len..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::PathStep;
    use crate::root::Root;

    #[test]
    fn compiler_numbers_are_left_out() {
        assert_eq!(
            unnumbered("Program+<>c__DisplayClass5_0"),
            "Program+<>c__DisplayClass"
        );
        assert_eq!(unnumbered("<Main>b__0_3"), "<Main>b__");
        assert_eq!(unnumbered("Program+<>c__12.field"), "Program+<>c__.field");
        assert_eq!(unnumbered("<Run>d__4"), "<Run>d__");
        assert_eq!(unnumbered("System.Byte[]"), "System.Byte[]");
        assert_eq!(unnumbered("Cache2"), "Cache2");
    }

    fn held_by(closure: &str, thread: Option<u32>) -> RetentionPath {
        RetentionPath {
            root: Root::stack(thread, Some("Program.<Main>$(System.String[])")),
            steps: vec![
                PathStep::new(closure, None),
                PathStep::new("System.Collections.Generic.List<Entry>", Some("kept")),
                PathStep::new("Entry[]", Some("_items")),
                PathStep::new("Entry", None),
            ],
        }
    }

    #[test]
    fn threads_and_closure_numbers_do_not_change_a_signature() {
        let a = held_by("Program+<>c__DisplayClass0_0", Some(0x10));
        let b = held_by("Program+<>c__DisplayClass3_1", None);
        assert_eq!(a.leak_signature(), b.leak_signature());
        let other = held_by("Worker+<>c__DisplayClass0_0", None);
        assert_ne!(a.leak_signature(), other.leak_signature());
    }

    #[test]
    fn fields_and_roots_are_part_of_it() {
        let path = held_by("Closure", None);
        let mut renamed = path.clone();
        renamed.steps[1].field = Some("cache".into());
        assert_ne!(path.leak_signature(), renamed.leak_signature());
        let mut handle = path.clone();
        handle.root = Root::StrongHandle;
        assert_ne!(path.leak_signature(), handle.leak_signature());
    }

    #[test]
    fn signatures_parse_only_when_they_look_like_one() {
        let s = held_by("Closure", None).leak_signature();
        assert_eq!(LeakSignature::parse(s.as_str()), Some(s.clone()));
        assert_eq!(
            LeakSignature::parse(&s.as_str().to_ascii_uppercase()),
            Some(s)
        );
        assert_eq!(LeakSignature::parse("static Cache.*"), None);
        assert_eq!(LeakSignature::parse("0123456789abcdef"), None);
    }
}
