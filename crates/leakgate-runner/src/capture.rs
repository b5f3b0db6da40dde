//! One sample: [induced GC] → dump or heap snapshot + memory maps at the
//! same moment → analysis.
//!
//! The load is paused around the capture so that the dump (which suspends the
//! runtime) does not show up as request errors, and the maps match the dump.
//! With `dump: gcdump` the managed heap comes from an EventPipe heap
//! snapshot instead of a core dump: the runtime's own GC walks the heap and
//! streams it, leakgate parses it (no dump on disk, no inspector).
//!
//! Either way the GC reports its own committed bytes (free regions and
//! bookkeeping included) at the end of the sample's GC; the analysis
//! attributes them to the GC heap, so what stays in Unknown is native. The
//! induced GC also reports the bytes that survived it: the live heap, even
//! when no dump is taken (`dump: none`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use leakgate_dotnet::gccommit::{GcAccount, GcCommitted, GcHeapStats};
use leakgate_dotnet::gcheap::{GcHeapDump, handle_roots, heap_graph, managed_summary};
use leakgate_dotnet::inspector::{Inspector, InspectorError, ManagedSummary};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind, GcDumpError, GcDumpOptions, IpcError};
use leakgate_heap::{BuildError, HeapGraph, SeenRoot};
use leakgate_memory::{MemoryError, MemorySummary};
use leakgate_scenario::DumpMode;

pub use leakgate_record::{CapturedSample, SampleTimings};

/// What a sample captures, and where its files go.
pub struct Plan<'a> {
    pub gc_first: bool,
    pub gc_timeout: Duration,
    pub mode: DumpMode,
    pub dump_path: &'a Path,
    /// Keep the heap snapshot's trace here (`dump: gcdump` with kept dumps).
    pub trace_path: Option<&'a Path>,
    /// With a heap snapshot, also write a `withheap` dump here, for the retention paths'
    /// field names and stack methods (`paths_from: dump`, at the samples compared).
    pub names_dump: Option<&'a Path>,
}

/// The raw material of a sample, taken while the load is paused.
pub struct Raw {
    pub maps: String,
    pub smaps: String,
    /// A core dump to read with the inspector.
    pub dump: Option<PathBuf>,
    /// A heap snapshot (`dump: gcdump`).
    pub heap_snapshot: Option<GcHeapDump>,
    /// The snapshot's trace, when kept.
    pub trace: Option<PathBuf>,
    /// The dump taken beside the snapshot for the retention paths' names.
    pub names_dump: Option<PathBuf>,
    /// The GC's own count of its committed bytes, from the induced GC or the
    /// snapshot's.
    pub gc_committed: Option<GcCommitted>,
    /// The heap after the sample's GC, by the GC's count.
    pub gc_heap: Option<GcHeapStats>,
    pub timings: SampleTimings,
    pub notes: Vec<String>,
}

/// Why a sample could not be taken. Each says the step that failed; the
/// cause is its source (print with [`leakgate_record::error_text`]).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("the {0} failed: no diagnostics connection to the service's runtime")]
    NoRuntime(Step),
    #[error("the induced GC failed")]
    Gc(#[source] IpcError),
    #[error("the dump failed")]
    Dump(#[source] IpcError),
    #[error("the dump failed: the heap snapshot failed")]
    HeapSnapshot(#[source] GcDumpError),
    #[error("could not read the memory maps")]
    Maps(#[source] MemoryError),
    #[error("the managed inspector failed")]
    Inspect(#[source] InspectorError),
    #[error("the managed inspector failed")]
    HeapGraph(#[source] BuildError),
}

/// The step of a sample that needs the service's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    InducedGc,
    Dump,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::InducedGc => "induced GC",
            Step::Dump => "dump",
        })
    }
}

pub fn dump_kind(mode: DumpMode) -> Option<DumpKind> {
    match mode {
        DumpMode::Withheap => Some(DumpKind::WithHeap),
        DumpMode::Full => Some(DumpKind::Full),
        DumpMode::Mini => Some(DumpKind::Normal),
        DumpMode::Gcdump | DumpMode::None => None,
    }
}

/// The session buffer of a heap snapshot, then of its one retry.
const SNAPSHOT_BUFFERS_MB: [u32; 2] = [1024, 2048];

/// Takes the raw sample: GC, dump or heap snapshot, then maps. Call with the
/// load paused. Without a diagnostics connection only the maps can be taken.
pub fn take(
    client: Option<&DiagnosticsClient>,
    pid: u32,
    plan: &Plan,
    cancel: &AtomicBool,
) -> Result<Raw, CaptureError> {
    let mut timings = SampleTimings::default();
    let mut notes = Vec::new();
    let runtime = |step| client.ok_or(CaptureError::NoRuntime(step));
    let (mut gc_committed, mut gc_heap) = (None, None);
    // A heap snapshot runs its own full GC.
    if plan.gc_first && plan.mode != DumpMode::Gcdump {
        let t = Instant::now();
        let account = runtime(Step::InducedGc)?
            .induce_gc(plan.gc_timeout)
            .map_err(CaptureError::Gc)?;
        (gc_committed, gc_heap) = (account.committed, account.heap);
        timings.gc_ms = ms(t);
    }
    let t = Instant::now();
    let (mut dump, mut heap_snapshot, mut trace, mut names_dump) = (None, None, None, None);
    match (plan.mode, dump_kind(plan.mode)) {
        (DumpMode::Gcdump, _) => {
            let client = runtime(Step::Dump)?;
            let (taken, account) = heap_snapshot_with_retry(client, plan, cancel, &mut notes)?;
            (gc_committed, gc_heap) = (account.committed, account.heap);
            match taken {
                Some((s, copy)) => {
                    heap_snapshot = Some(s);
                    trace = copy;
                    // Right after the snapshot's GC, so both see the same objects.
                    if let Some(path) = plan.names_dump {
                        write_dump(client, path, DumpKind::WithHeap)?;
                        names_dump = Some(path.to_path_buf());
                    }
                }
                None => {
                    // Events were lost twice: a core dump says what the snapshot could not.
                    write_dump(client, plan.dump_path, DumpKind::WithHeap)?;
                    dump = Some(plan.dump_path.to_path_buf());
                }
            }
        }
        (_, Some(kind)) => {
            write_dump(runtime(Step::Dump)?, plan.dump_path, kind)?;
            dump = Some(plan.dump_path.to_path_buf());
        }
        (_, None) => {}
    }
    if dump.is_some() || heap_snapshot.is_some() {
        timings.dump_ms = ms(t);
    }
    let t = Instant::now();
    let (maps, smaps) = leakgate_memory::read_live(pid).map_err(CaptureError::Maps)?;
    timings.maps_ms = ms(t);
    Ok(Raw {
        maps,
        smaps,
        dump,
        heap_snapshot,
        trace,
        names_dump,
        gc_committed,
        gc_heap,
        timings,
        notes,
    })
}

fn write_dump(client: &DiagnosticsClient, path: &Path, kind: DumpKind) -> Result<(), CaptureError> {
    client.write_dump(path, kind).map_err(CaptureError::Dump)
}

/// A heap snapshot and its trace copy, if complete.
type HeapSnapshot = Option<(GcHeapDump, Option<PathBuf>)>;

/// A complete heap snapshot, retried once with a larger buffer when events
/// were dropped; `None` when both lost events (the caller falls back). With
/// it, what the GC told of itself in the last attempt (its committed bytes,
/// its survivors), which lost heap-walk events do not make wrong.
fn heap_snapshot_with_retry(
    client: &DiagnosticsClient,
    plan: &Plan,
    cancel: &AtomicBool,
    notes: &mut Vec<String>,
) -> Result<(HeapSnapshot, GcAccount), CaptureError> {
    let mut account = GcAccount::default();
    for buffer_mb in SNAPSHOT_BUFFERS_MB {
        if let Some(path) = plan.trace_path {
            let _ = std::fs::remove_file(path); // an earlier attempt's copy
        }
        let options = GcDumpOptions {
            timeout: plan.gc_timeout,
            buffer_mb,
            trace_copy: plan.trace_path.map(Path::to_path_buf),
            ..GcDumpOptions::default()
        };
        let capture = client
            .capture_gc_heap(&options, cancel)
            .map_err(CaptureError::HeapSnapshot)?;
        account = GcAccount {
            committed: capture.dump.gc_committed,
            heap: capture.dump.gc_heap,
        };
        if capture.dump.is_complete() {
            return Ok((Some((capture.dump, capture.trace_copy)), account));
        }
        notes.push(format!(
            "the heap snapshot lost events with a {buffer_mb} MiB buffer ({} dropped, {} batches missing)",
            capture.dump.dropped_events, capture.dump.missing_batches
        ));
    }
    notes.push("fell back to a withheap dump for this sample".into());
    Ok((None, account))
}

/// A sample's managed heap, read.
pub struct SampleAnalysis {
    pub memory: MemorySummary,
    pub managed: Option<ManagedSummary>,
    /// The heap as a graph, when asked for and the sample is a snapshot.
    pub graph: Option<HeapGraph>,
    /// Type names by method table as a dump of this sample gives them (its
    /// own, or the names dump beside a snapshot); empty for a snapshot alone.
    pub dump_names: HashMap<u64, String>,
    /// The snapshot's GC handles, for the names dump's graph to adopt the
    /// ones its reader missed ([`leakgate_heap::HeapGraph::adopt_roots`]).
    pub seen_roots: Vec<SeenRoot>,
    pub millis: f64,
}

fn names_of(summary: &ManagedSummary) -> HashMap<u64, String> {
    summary
        .type_names()
        .map(|(mt, name)| (mt, name.to_string()))
        .collect()
}

/// Analyses a raw sample: regions from the maps, the managed heap from the
/// snapshot or the dump (see [`crate::analysis::analyse`]), then the GC's
/// committed bytes beyond its ranges from the runtime's own count. With
/// `heap_graph`, the heap's graph too: written there by the inspector (from
/// the dump, or the names dump beside a snapshot), or built from the snapshot
/// and returned.
pub fn analyse_sample(
    raw: &Raw,
    inspector: Option<&Inspector>,
    runtime_version: &str,
    heap_graph_file: Option<&Path>,
) -> Result<SampleAnalysis, CaptureError> {
    let t = Instant::now();
    let mut regions = leakgate_memory::parse_proc_maps(&raw.maps, Some(&raw.smaps))
        .map_err(CaptureError::Maps)?;
    let mut analysed = if let Some(snapshot) = &raw.heap_snapshot {
        let managed = managed_summary(snapshot, runtime_version);
        regions.split_gc(&managed.gc_committed_ranges());
        let graph = match heap_graph_file {
            Some(file) => snapshot_graph(snapshot, raw.names_dump.as_deref(), inspector, file)?,
            None => SnapshotGraph::default(),
        };
        SampleAnalysis {
            memory: regions.summary(),
            managed: Some(managed),
            graph: graph.built,
            dump_names: graph.dump_names,
            seen_roots: graph.seen_roots,
            millis: 0.0,
        }
    } else {
        let dump = raw.dump.as_deref().filter(|_| inspector.is_some());
        let analysis = crate::analysis::analyse(regions, dump, inspector, heap_graph_file)
            .map_err(CaptureError::Inspect)?;
        SampleAnalysis {
            dump_names: analysis.managed.as_ref().map(names_of).unwrap_or_default(),
            memory: analysis.memory,
            managed: analysis.managed,
            graph: None,
            seen_roots: Vec::new(),
            millis: 0.0,
        }
    };
    if let Some(gc) = &raw.gc_committed {
        analysed.memory.attribute_gc_committed(gc.total());
    }
    analysed.millis = ms(t);
    Ok(analysed)
}

/// A snapshot sample's heap graph ([`snapshot_graph`]).
#[derive(Default)]
pub struct SnapshotGraph {
    /// Built from the snapshot, in memory; `None` when the names dump's
    /// graph was written to the file instead.
    pub built: Option<HeapGraph>,
    /// Type names by method table, from the names dump.
    pub dump_names: HashMap<u64, String>,
    /// The snapshot's GC handles, for the names dump's graph.
    pub seen_roots: Vec<SeenRoot>,
}

/// The heap graph of a snapshot sample: the dump's, written to `file` by the
/// inspector when a names dump was taken beside the snapshot (it names fields
/// and stack methods; its type names come back too, and the snapshot's
/// handles go with it for the roots the dump's reader may miss), else built
/// from the snapshot itself and returned.
pub fn snapshot_graph(
    snapshot: &GcHeapDump,
    names_dump: Option<&Path>,
    inspector: Option<&Inspector>,
    file: &Path,
) -> Result<SnapshotGraph, CaptureError> {
    match (names_dump, inspector) {
        (Some(dump), Some(inspector)) => {
            let named = inspector
                .inspect_with_heap_graph(dump, file)
                .map_err(CaptureError::Inspect)?;
            let dump_names = names_of(&named);
            Ok(SnapshotGraph {
                built: None,
                seen_roots: handle_roots(snapshot, &dump_names),
                dump_names,
            })
        }
        _ => Ok(SnapshotGraph {
            built: Some(heap_graph(snapshot).map_err(CaptureError::HeapGraph)?),
            ..SnapshotGraph::default()
        }),
    }
}

/// Writes the names dump of a snapshot sample after the fact (still paused,
/// right after the snapshot): with `count: auto`, once the sample turned out
/// to be the last.
pub fn write_names_dump(
    client: Option<&DiagnosticsClient>,
    path: &Path,
) -> Result<(), CaptureError> {
    write_dump(
        client.ok_or(CaptureError::NoRuntime(Step::Dump))?,
        path,
        DumpKind::WithHeap,
    )
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
