//! Names that become file names. Type names are untrusted and long (nested
//! generics and async state-machine boxes reach hundreds of characters) and
//! may hold any character, so none is ever used raw: [`file_stem`] keeps a
//! readable prefix, replaces anything unsafe, bounds the length and adds a
//! stable hash of the whole name, so two names never share a file.
//!
//! ```
//! use leakgate_gate::names::file_stem;
//! let a = file_stem("finalizable List<String>[]");
//! let b = file_stem("finalizable List<String[]>");
//! assert_ne!(a, b);
//! assert!(a.starts_with("finalizable-List-String-"));
//! assert!(file_stem(&"Nested<".repeat(300)).len() <= 100);
//! ```

use sha2::{Digest, Sha256};

/// Longest stem, in bytes (a file name may have 255; room for an extension).
pub const MAX_STEM: usize = 100;
/// Hex digits of the hash: 48 bits, so collisions need ~16 million names.
const HASH_DIGITS: usize = 12;

/// A file-name-safe stem for `name`: ASCII letters, digits, `.`, `_` and `-`
/// only, at most [`MAX_STEM`] bytes, ending in a hash of the exact name.
pub fn file_stem(name: &str) -> String {
    let mut readable = String::new();
    for c in name.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '.' | '_');
        if keep {
            readable.push(c);
        } else if !readable.ends_with('-') {
            readable.push('-');
        }
    }
    let readable = readable.trim_matches(['-', '.']);
    let prefix_len = MAX_STEM - HASH_DIGITS - 1;
    let prefix = &readable[..readable.len().min(prefix_len)];
    let prefix = prefix.trim_end_matches(['-', '.']);
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    if prefix.is_empty() {
        hash[..HASH_DIGITS].to_string()
    } else {
        format!("{prefix}-{}", &hash[..HASH_DIGITS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_short_safe_distinct_and_stable() {
        let long = format!(
            "finalizable System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+AsyncStateMachineBox`1[{}]",
            "System.Collections.Generic.Dictionary<System.String, System.Collections.Generic.List<System.Int32>>, ".repeat(8)
        );
        let stem = file_stem(&long);
        assert!(stem.len() <= MAX_STEM, "{}", stem.len());
        assert!(stem.starts_with("finalizable-System.Runtime.CompilerServices"));
        assert_eq!(stem, file_stem(&long), "stable");
        for name in ["a/b", "../..", "\u{0}\n", "", "名前", ":::", "a b"] {
            let s = file_stem(name);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{name:?} → {s}"
            );
            assert!(
                !s.starts_with(['.', '-']) && !s.is_empty(),
                "{name:?} → {s}"
            );
        }
        assert_ne!(file_stem("a b"), file_stem("a-b"));
    }
}
