//! GC roots, named the way a person explains why something is alive.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a retention path starts: something the GC never collects through.
///
/// Sources map their own root kinds onto these (ClrMD's handle kinds, stack roots and
/// static fields; EventPipe's `BulkRootEdge` kinds); what has no better name is `Other`.
#[derive(
    Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Root {
    /// A static field: `static Declaring.Type.field`.
    StaticField {
        declaring_type: String,
        field: String,
    },
    /// A `[ThreadStatic]` field on one thread: `thread static Declaring.Type.field`. It lives
    /// as long as its thread, which for a thread-pool thread is the process's life.
    ThreadStatic {
        declaring_type: String,
        field: String,
        /// The operating system's thread id, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_id: Option<u32>,
    },
    /// A local (or a temporary the JIT keeps) in a method on a thread's stack.
    Stack {
        /// The operating system's thread id, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_id: Option<u32>,
        /// The method whose frame holds the reference, e.g. `Program.<Main>$(System.String[])`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
    },
    /// A strong GC handle (`GCHandle.Alloc(x)`, or the runtime's own).
    StrongHandle,
    /// A pinned GC handle (`GCHandle.Alloc(x, GCHandleType.Pinned)`, async I/O buffers).
    PinnedHandle,
    /// The finalizer queue: the object is waiting for its finalizer to run.
    FinalizerQueue,
    /// A dependent handle (a `ConditionalWeakTable` value), known only as a root.
    DependentHandle,
    /// Something the runtime itself keeps alive, not a GC root of the program: the managed
    /// objects of a non-collectible assembly (its `RuntimeAssembly`, `RuntimeModule` and
    /// `RuntimeType`s), which the loader keeps for as long as the process lives, the
    /// `Thread` of a running thread, which the thread store keeps until the thread ends, and
    /// interned strings (literals, `String.Intern`), which its pinned handle table keeps.
    Runtime {
        /// What the runtime holds it as, e.g. `non-collectible dynamic assembly`, `running thread`,
        /// `interned string`.
        what: String,
        /// Whose it is: the assembly's name (for a dynamic assembly, the namespace of the
        /// types it defines), e.g. `Contoso.Proxies.Generated17`; the thread's name, else the
        /// method it runs. On a grouped path, the names of the group's roots by pattern,
        /// with how many the runtime holds (`Contoso.Proxies.Generated* (412 assemblies)`,
        /// `Poller-* (40 threads)`). Never part of a group key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Any other root, with the source's own words for it.
    Other { label: String },
    /// No root the source reported reaches the object: garbage not yet collected, or a root
    /// the source could not see (a createdump `withheap` core can lack the memory of some GC
    /// handles, and then neither ClrMD nor SOS lists them). The path starts at the outermost
    /// holder that nothing reachable holds. Made by the search, never by a source.
    NotFound,
}

impl Root {
    /// A static field root.
    pub fn static_field(declaring_type: impl Into<String>, field: impl Into<String>) -> Root {
        Root::StaticField {
            declaring_type: declaring_type.into(),
            field: field.into(),
        }
    }

    /// A thread-static field root on thread `thread_id` (unknown: `None`).
    pub fn thread_static(
        declaring_type: impl Into<String>,
        field: impl Into<String>,
        thread_id: Option<u32>,
    ) -> Root {
        Root::ThreadStatic {
            declaring_type: declaring_type.into(),
            field: field.into(),
            thread_id,
        }
    }

    /// A stack root in `method` on thread `thread_id` (either may be unknown).
    pub fn stack(thread_id: Option<u32>, method: Option<&str>) -> Root {
        Root::Stack {
            thread_id,
            method: method.map(str::to_string),
        }
    }

    /// Which root explains an object best when several reach it at the same distance:
    /// long-lived, named roots first (what the runtime holds says more than the handle or
    /// thread static it holds it with: a running thread's `Thread` is all three, through its
    /// `Thread.t_currentThread`); a stack local is often
    /// transient, and an object on the finalizer queue is already dying.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Root::StaticField { .. } => 0,
            Root::Runtime { .. } => 1,
            Root::ThreadStatic { .. } => 2,
            Root::StrongHandle => 3,
            Root::PinnedHandle => 4,
            Root::DependentHandle => 5,
            Root::Other { .. } => 6,
            Root::Stack { .. } => 7,
            Root::FinalizerQueue => 8,
            Root::NotFound => 9,
        }
    }

    /// A root the runtime holds as `what` for `name`.
    pub fn runtime(what: impl Into<String>, name: Option<&str>) -> Root {
        Root::Runtime {
            what: what.into(),
            name: name.map(str::to_string),
        }
    }

    /// The root as it is grouped: which thread a local or a thread static sits on is
    /// incidental (the same method or field on another thread is the same reason), so the
    /// thread id is dropped.
    pub fn without_thread(&self) -> Root {
        match self {
            Root::Stack { method, .. } => Root::Stack {
                thread_id: None,
                method: method.clone(),
            },
            Root::ThreadStatic {
                declaring_type,
                field,
                ..
            } => Root::thread_static(declaring_type, field, None),
            other => other.clone(),
        }
    }

    /// The root as it is grouped and matched ([`crate::RetentionPath::signature`]): no thread,
    /// and no name of what the runtime holds, so 412 generated assemblies are one reason, not
    /// 412 (a name is per instance; the group shows them by pattern instead).
    pub fn grouped(&self) -> Root {
        match self {
            Root::Runtime { what, .. } => Root::Runtime {
                what: what.clone(),
                name: None,
            },
            other => other.without_thread(),
        }
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Root::StaticField {
                declaring_type,
                field,
            } => write!(f, "static {declaring_type}.{field}"),
            Root::ThreadStatic {
                declaring_type,
                field,
                thread_id,
            } => {
                write!(f, "thread static {declaring_type}.{field}")?;
                on_thread(f, *thread_id)
            }
            Root::Stack { thread_id, method } => {
                f.write_str("stack")?;
                if let Some(method) = method {
                    write!(f, ": {method}")?;
                }
                on_thread(f, *thread_id)
            }
            Root::StrongHandle => f.write_str("strong handle"),
            Root::PinnedHandle => f.write_str("pinned handle"),
            Root::FinalizerQueue => f.write_str("finalizer queue"),
            Root::DependentHandle => f.write_str("dependent handle"),
            Root::Runtime { what, name } => {
                write!(f, "runtime: {what}")?;
                if let Some(name) = name {
                    write!(f, " {name}")?;
                }
                Ok(())
            }
            Root::Other { label } => f.write_str(label),
            Root::NotFound => f.write_str("no root found"),
        }
    }
}

fn on_thread(f: &mut fmt::Formatter<'_>, thread_id: Option<u32>) -> fmt::Result {
    match thread_id {
        Some(thread) => write!(f, " (thread 0x{thread:x})"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_read_as_a_person_says_them() {
        assert_eq!(
            Root::static_field("LeakRegistry", "Entries").to_string(),
            "static LeakRegistry.Entries"
        );
        assert_eq!(
            Root::stack(Some(0x3f2c), Some("Program.<Main>$(System.String[])")).to_string(),
            "stack: Program.<Main>$(System.String[]) (thread 0x3f2c)"
        );
        assert_eq!(Root::stack(None, None).to_string(), "stack");
        let on_a_thread = Root::thread_static("PerThreadLog", "Entries", Some(0x3f2c));
        assert_eq!(
            on_a_thread.to_string(),
            "thread static PerThreadLog.Entries (thread 0x3f2c)"
        );
        assert_eq!(
            on_a_thread.grouped(),
            Root::thread_static("PerThreadLog", "Entries", Some(0x51)).without_thread(),
            "the same field on another thread is the same reason"
        );
        assert_eq!(
            on_a_thread.grouped().to_string(),
            "thread static PerThreadLog.Entries"
        );
        assert_eq!(Root::StrongHandle.to_string(), "strong handle");
        assert_eq!(
            Root::runtime(
                "non-collectible assembly",
                Some("Contoso.Proxies.Generated17")
            )
            .to_string(),
            "runtime: non-collectible assembly Contoso.Proxies.Generated17"
        );
    }

    #[test]
    fn a_runtime_root_groups_without_its_name() {
        let one = Root::runtime(
            "non-collectible assembly",
            Some("Contoso.Proxies.Generated1"),
        );
        let other = Root::runtime(
            "non-collectible assembly",
            Some("Contoso.Proxies.Generated2"),
        );
        assert_ne!(one, other);
        assert_eq!(one.grouped(), other.grouped());
        assert_eq!(
            one.grouped().to_string(),
            "runtime: non-collectible assembly"
        );
        assert_ne!(
            one.grouped(),
            Root::runtime("loader allocator", None).grouped()
        );
        let json = serde_json::to_string(&one).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"runtime","what":"non-collectible assembly","name":"Contoso.Proxies.Generated1"}"#
        );
        assert_eq!(serde_json::from_str::<Root>(&json).unwrap(), one);
    }

    #[test]
    fn roots_serialise_with_their_kind() {
        let json = serde_json::to_string(&Root::static_field("A", "b")).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"static_field","declaring_type":"A","field":"b"}"#
        );
        let json = serde_json::to_string(&Root::stack(None, Some("M()"))).unwrap();
        assert_eq!(json, r#"{"kind":"stack","method":"M()"}"#);
        let back: Root = serde_json::from_str(r#"{"kind":"pinned_handle"}"#).unwrap();
        assert_eq!(back, Root::PinnedHandle);
    }
}
