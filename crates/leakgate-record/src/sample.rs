//! One sample: everything measured at one moment of a run, as written to
//! `samples/sample-NN.json`.

use std::path::PathBuf;

use leakgate_memory::MemorySummary;
use serde::{Deserialize, Serialize};

use crate::gc::{GcCommitted, GcHeapStats};
use crate::managed::ManagedSummary;

/// Everything measured at one sample; written as `samples/sample-NN.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapturedSample {
    pub index: usize,
    /// Seconds since the load started.
    pub elapsed_secs: f64,
    /// Requests completed by the built-in client when the sample was taken.
    pub requests: u64,
    pub memory: MemorySummary,
    pub managed: Option<ManagedSummary>,
    /// The GC's committed bytes by what holds them, as the runtime counted
    /// them at the end of the sample's GC (absent without an induced GC or
    /// heap snapshot, or from a runtime that does not report them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_committed: Option<GcCommitted>,
    /// The heap after the sample's full GC (induced, or the snapshot's) as
    /// the GC counted it (absent without either, or from a runtime that
    /// does not report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_heap: Option<GcHeapStats>,
    /// The JSON the scenario's `sampling.stats_url` answered at this sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_stats: Option<serde_json::Value>,
    pub timings: SampleTimings,
    /// The dump (or heap snapshot trace), when the scenario keeps dumps.
    pub dump: Option<PathBuf>,
    pub notes: Vec<String>,
}

/// Where the time of one sample went, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SampleTimings {
    /// The induced full GC.
    pub gc_ms: f64,
    /// Writing the dump, or taking the heap snapshot (its GC included): the
    /// runtime is suspended for most of it.
    pub dump_ms: f64,
    /// Reading /proc maps and smaps.
    pub maps_ms: f64,
    /// The managed inspector (or the snapshot's summary) and the region summary.
    pub analysis_ms: f64,
    /// How long the load was held back for this sample.
    pub load_paused_ms: f64,
}
