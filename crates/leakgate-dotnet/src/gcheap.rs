//! GC heap snapshots from the runtime's own events — what dotnet-gcdump
//! collects — read in Rust: no dump file, no ClrMD.
//!
//! ```
//! use leakgate_dotnet::gcheap::{managed_summary, read_gc_heap, synth::HeapTrace};
//!
//! // The trace a runtime would send for a heap of three objects.
//! let trace = HeapTrace::new()
//!     .finalizable_type("App.TrackedResource")
//!     .object(0x1000, 48, "App.Cache", &[0x2000, 0x3000])
//!     .object(0x2000, 32, "App.TrackedResource", &[])
//!     .object(0x3000, 32, "App.TrackedResource", &[])
//!     .stack_root(0x1000)
//!     .build();
//!
//! let dump = read_gc_heap(trace.as_slice())?;
//! assert!(dump.is_complete());
//! let summary = managed_summary(&dump, "10.0.0");
//! assert_eq!(summary.finalizable_count("App.TrackedResource"), 2);
//! # Ok::<(), leakgate_dotnet::gcheap::GcHeapError>(())
//! ```
//!
//! Live capture is [`DiagnosticsClient::capture_gc_heap`](crate::ipc::DiagnosticsClient::capture_gc_heap);
//! a kept `.nettrace` file is read with [`read_nettrace`].
//!
//! Layers: [`events`] decodes the payload of each GC event; [`builder`]
//! follows the induced GC and collects its heap walk into the compact
//! [`model`]; [`summary`] turns a snapshot into the inspector's
//! [`ManagedSummary`](crate::inspector::ManagedSummary); [`synth`] writes
//! synthetic snapshot traces for tests.
//!
//! Reading is bounded whatever the trace says: a file by [`TraceLimits`]
//! (how far it is read, how far a `.gz` decompresses), the snapshot by the
//! builder's memory budget ([`builder::MEMORY_PER_TRACE_BYTE`]).
//!
//! A snapshot with [`GcHeapDump::dropped_events`] or
//! [`GcHeapDump::missing_batches`] above zero lost events to a full session
//! buffer: counts are then low and references misaligned. Retry with a
//! larger buffer.

pub mod builder;
pub mod error;
pub mod events;
pub mod file;
pub mod graph;
pub mod model;
pub mod names;
pub mod summary;
pub mod synth;

pub use builder::HeapSnapshotBuilder;
pub use error::GcHeapError;
pub use file::{
    TRACE_LIMIT_ENV, TraceLimits, compress_trace, read_gc_heap, read_nettrace, read_nettrace_with,
};
pub use graph::{handle_roots, heap_graph};
pub use model::{DependentHandle, GcHeapDump, GcNode, GcRoot, GcType, GenerationRange, RootKind};
pub use names::clrmd_style_name;
pub use summary::managed_summary;

#[cfg(test)]
mod tests;
