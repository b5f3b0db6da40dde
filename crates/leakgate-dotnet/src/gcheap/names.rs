//! Type names as the runtime logs them, rewritten the way ClrMD prints them,
//! so that summaries from snapshots and from dumps name generics alike.
//!
//! The runtime writes ``System.Collections.Generic.Dictionary`2[System.String,System.Object]``;
//! ClrMD writes `System.Collections.Generic.Dictionary<System.String, System.Object>`.
//! Array suffixes (`[]`, `[,]`) are kept. What cannot be recovered: the
//! runtime names a nested type without its declaring type (`Entry[K,V]`
//! where ClrMD says `Dictionary<K, V>+Entry`), so nested types still differ.

/// Deepest nesting of brackets rewritten. Real names nest a few levels;
/// each level is a recursion and a pass over the name, so a crafted name of
/// a million `[` would overflow the stack and take quadratic time.
const MAX_DEPTH: usize = 32;

/// `name` with generic arguments as `<A, B>` and arity suffixes dropped.
/// A name whose brackets do not balance, or nest deeper than 32 levels, is
/// returned unchanged.
pub fn clrmd_style_name(name: &str) -> String {
    if !brackets_balance(name) {
        return name.to_string();
    }
    rewrite(name).unwrap_or_else(|| name.to_string())
}

fn brackets_balance(name: &str) -> bool {
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' if depth == MAX_DEPTH => return false,
            '[' => depth += 1,
            ']' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}

fn rewrite(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find(['`', '[']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after_tick) = rest.strip_prefix('`') {
            // The arity: digits after the backtick.
            let digits = after_tick.len()
                - after_tick
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            if digits == 0 {
                out.push('`');
                rest = after_tick;
            } else {
                rest = &after_tick[digits..];
            }
            continue;
        }
        let close = matching_bracket(rest)?;
        let inner = &rest[1..close];
        if inner.chars().all(|c| c == ',') {
            out.push_str(&rest[..=close]); // an array suffix
        } else {
            let arguments: Option<Vec<String>> =
                split_top_level(inner).into_iter().map(rewrite).collect();
            out.push('<');
            out.push_str(&arguments?.join(", "));
            out.push('>');
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Index of the `]` closing the `[` at `text[0]`.
fn matching_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` split at commas outside brackets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::clrmd_style_name as clrmd;

    #[test]
    fn generic_arguments_read_like_clrmd() {
        // Pairs seen for the same objects in a snapshot and in a dump of the fixture.
        assert_eq!(
            clrmd("System.Collections.Generic.List`1[System.Object]"),
            "System.Collections.Generic.List<System.Object>"
        );
        assert_eq!(
            clrmd("System.Func`2[System.Int32,System.Int32]"),
            "System.Func<System.Int32, System.Int32>"
        );
        assert_eq!(
            clrmd(
                "System.Diagnostics.DiagLinkedList`1[System.Diagnostics.Metrics.ListenerSubscription]"
            ),
            "System.Diagnostics.DiagLinkedList<System.Diagnostics.Metrics.ListenerSubscription>"
        );
        assert_eq!(
            clrmd(
                "System.Func`2[Microsoft.Extensions.DependencyInjection.ServiceLookup.ServiceProviderEngineScope,System.Object]"
            ),
            "System.Func<Microsoft.Extensions.DependencyInjection.ServiceLookup.ServiceProviderEngineScope, System.Object>"
        );
    }

    #[test]
    fn nested_generics_and_arrays_are_kept_apart() {
        assert_eq!(
            clrmd(
                "System.Collections.Generic.Dictionary`2[System.String,System.Collections.Generic.List`1[System.Int32[]]][]"
            ),
            "System.Collections.Generic.Dictionary<System.String, System.Collections.Generic.List<System.Int32[]>>[]"
        );
        assert_eq!(clrmd("System.Int32[,]"), "System.Int32[,]");
        assert_eq!(clrmd("System.Byte[]"), "System.Byte[]");
        assert_eq!(
            clrmd("Node[System.String,System.Object]"),
            "Node<System.String, System.Object>"
        );
    }

    #[test]
    fn plain_and_odd_names_are_left_alone() {
        assert_eq!(clrmd("TrackedResource"), "TrackedResource");
        assert_eq!(clrmd("<>c__DisplayClass33_0"), "<>c__DisplayClass33_0");
        assert_eq!(clrmd("Weird`Name"), "Weird`Name");
        assert_eq!(clrmd("Broken`1[System.Int32"), "Broken`1[System.Int32");
        assert_eq!(clrmd("Closing]first[x]"), "Closing]first[x]");
        assert_eq!(clrmd(""), "");
    }

    #[test]
    fn a_name_nested_too_deep_is_left_alone_not_a_stack_overflow() {
        let deep = |levels: usize| format!("{}x{}", "A`1[".repeat(levels), "]".repeat(levels));
        assert_eq!(clrmd(&deep(2)), "A<A<x>>");
        assert_eq!(clrmd(&deep(32)).matches('<').count(), 32);
        let crafted = deep(1_000_000);
        assert_eq!(clrmd(&crafted), crafted);
    }
}
