//! One sample: [induced GC] → dump + memory maps at the same moment → analysis.
//!
//! The load is paused around the capture so that the dump (which suspends the
//! runtime) does not show up as request errors, and the maps match the dump.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::{Inspector, ManagedSummary};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};
use leakgate_memory::MemorySummary;
use leakgate_scenario::DumpMode;
use serde::{Deserialize, Serialize};

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
    /// The JSON the scenario's `sampling.stats_url` answered at this sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_stats: Option<serde_json::Value>,
    pub timings: SampleTimings,
    /// The dump, when the scenario keeps dumps.
    pub dump: Option<PathBuf>,
    pub notes: Vec<String>,
}

/// Where the time of one sample went, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SampleTimings {
    /// The induced full GC.
    pub gc_ms: f64,
    /// Writing the dump (the runtime is suspended for most of it).
    pub dump_ms: f64,
    /// Reading /proc maps and smaps.
    pub maps_ms: f64,
    /// The managed inspector and the region summary.
    pub analysis_ms: f64,
    /// How long the load was held back for this sample.
    pub load_paused_ms: f64,
}

/// The raw material of a sample, taken while the load is paused.
pub struct Raw {
    pub maps: String,
    pub smaps: String,
    pub dump: Option<PathBuf>,
    pub timings: SampleTimings,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("the induced GC failed: {0}")]
    Gc(String),
    #[error("the dump failed: {0}")]
    Dump(String),
    #[error("could not read the memory maps: {0}")]
    Maps(String),
    #[error("the managed inspector failed: {0}")]
    Inspect(String),
}

pub fn dump_kind(mode: DumpMode) -> Option<DumpKind> {
    match mode {
        DumpMode::Withheap => Some(DumpKind::WithHeap),
        DumpMode::Full => Some(DumpKind::Full),
        DumpMode::Mini => Some(DumpKind::Normal),
        DumpMode::None => None,
    }
}

/// Takes the raw sample: GC, dump, then maps. Call with the load paused.
/// Without a diagnostics connection only the maps can be taken.
pub fn take(
    client: Option<&DiagnosticsClient>,
    pid: u32,
    gc_first: bool,
    gc_timeout: Duration,
    mode: DumpMode,
    dump_path: &Path,
) -> Result<Raw, CaptureError> {
    let mut timings = SampleTimings::default();
    let runtime = || client.ok_or("no diagnostics connection to the service's runtime".to_string());
    if gc_first {
        let t = Instant::now();
        runtime()
            .map_err(CaptureError::Gc)?
            .induce_gc(gc_timeout)
            .map_err(|e| CaptureError::Gc(e.to_string()))?;
        timings.gc_ms = ms(t);
    }
    let dump = match dump_kind(mode) {
        Some(kind) => {
            let t = Instant::now();
            runtime()
                .map_err(CaptureError::Dump)?
                .write_dump(dump_path, kind)
                .map_err(|e| CaptureError::Dump(e.to_string()))?;
            timings.dump_ms = ms(t);
            Some(dump_path.to_path_buf())
        }
        None => None,
    };
    let t = Instant::now();
    let (maps, smaps) =
        leakgate_memory::read_live(pid).map_err(|e| CaptureError::Maps(e.to_string()))?;
    timings.maps_ms = ms(t);
    Ok(Raw {
        maps,
        smaps,
        dump,
        timings,
    })
}

/// Analyses a raw sample: regions from the maps, managed data from the dump
/// (see [`crate::analysis::analyse`]). Returns the milliseconds it took.
pub fn analyse(
    raw: &Raw,
    inspector: Option<&Inspector>,
) -> Result<(MemorySummary, Option<ManagedSummary>, f64), CaptureError> {
    let t = Instant::now();
    let regions = leakgate_memory::parse_proc_maps(&raw.maps, Some(&raw.smaps))
        .map_err(|e| CaptureError::Maps(e.to_string()))?;
    let dump = raw.dump.as_deref().filter(|_| inspector.is_some());
    let analysis = crate::analysis::analyse(regions, dump, inspector)
        .map_err(|e| CaptureError::Inspect(e.to_string()))?;
    Ok((analysis.memory, analysis.managed, ms(t)))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
