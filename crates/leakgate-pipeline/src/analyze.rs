//! `leakgate analyze`: the manual WinDbg workflow (`!address -summary`, `!finalizequeue`) on dumps taken
//! elsewhere, with the same analysis a run applies to its samples
//! ([`leakgate_runner::analysis::analyse`]).

use std::path::Path;

use leakgate_dotnet::gccommit::GcCommitted;
use leakgate_dotnet::inspector::{
    Inspector, InspectorError, ManagedSummary, render_finalize_queue, render_heap_stat,
};
use leakgate_gate::report::holders_words;
use leakgate_heap::{DominatorTree, HeapGraph, PathGrowth, PathOptions, ShortestPaths, TypePaths};
use leakgate_memory::{MemoryError, MemorySummary, render_address_summary, render_growth_table};
use schemars::JsonSchema;
use serde::Serialize;

/// One dump's analysis, as `--json` prints it (`schemas/analyze.schema.json`;
/// several dumps print an array of these).
#[derive(Serialize, JsonSchema)]
pub struct DumpAnalysis {
    pub file: String,
    /// Memory by usage; absent for a heap snapshot trace (`.nettrace`), which
    /// holds the managed heap only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedSummary>,
    /// All the GC had committed at the end of the snapshot's GC, by its own
    /// count (a `.nettrace` from .NET 8 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc_committed: Option<GcCommitted>,
    /// With `--paths TYPE`: why the instances of each type are alive, like
    /// SOS `!gcroot` for all of them at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<TypePaths>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Managed(#[from] InspectorError),
    #[error(transparent)]
    Graph(#[from] leakgate_dotnet::inspector::HeapGraphFileError),
    #[error("cannot make a place for the heap graph: {0}")]
    Temp(std::io::Error),
    #[error(transparent)]
    HeapSnapshot(#[from] leakgate_dotnet::gcheap::GcHeapError),
    #[error("{0}: {1}")]
    HeapSnapshotGraph(String, leakgate_heap::BuildError),
}

/// A kept heap snapshot (`dump: gcdump`, `*.nettrace`): the managed heap
/// and, with `path_types`, their retention paths.
fn analyze_snapshot(path: &Path, path_types: &[String]) -> Result<DumpAnalysis, AnalyzeError> {
    let snapshot = leakgate_dotnet::gcheap::read_nettrace(path)?;
    let paths = if path_types.is_empty() {
        Vec::new()
    } else {
        let graph = leakgate_dotnet::gcheap::heap_graph(&snapshot)
            .map_err(|e| AnalyzeError::HeapSnapshotGraph(path.display().to_string(), e))?;
        type_paths(&graph, path_types)
    };
    Ok(DumpAnalysis {
        file: path.display().to_string(),
        memory: None,
        managed: Some(leakgate_dotnet::gcheap::managed_summary(&snapshot, "")),
        gc_committed: snapshot.gc_committed,
        paths,
    })
}

/// Regions of `path` (a dump, or saved maps/smaps), and its managed heap
/// when an `inspector` is given and `path` is a dump; with `path_types`, the
/// retention paths of those types (read in the same walk of the heap).
pub fn analyze(
    path: &Path,
    inspector: Option<&Inspector>,
    path_types: &[String],
) -> Result<DumpAnalysis, AnalyzeError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name.ends_with(".nettrace") || name.ends_with(".nettrace.gz") {
        return analyze_snapshot(path, path_types);
    }
    let regions = leakgate_memory::read_regions(path)?;
    let is_dump = regions.source != leakgate_memory::SourceKind::ProcMaps;
    let dump = Some(path).filter(|_| is_dump);
    let graph_dir = match (&dump, path_types.is_empty()) {
        (Some(_), false) => Some(tempfile::tempdir().map_err(AnalyzeError::Temp)?),
        _ => None,
    };
    let graph = graph_dir.as_ref().map(|d| d.path().join("heap.graph"));
    let analysis = leakgate_runner::analysis::analyse(regions, dump, inspector, graph.as_deref())?;
    let paths = match &graph {
        Some(file) if inspector.is_some() => {
            let graph = leakgate_dotnet::inspector::read_heap_graph(file)?;
            type_paths(&graph, path_types)
        }
        _ => Vec::new(),
    };
    Ok(DumpAnalysis {
        file: path.display().to_string(),
        memory: Some(analysis.memory),
        managed: analysis.managed,
        gc_committed: None,
        paths,
    })
}

/// The retention paths of `types` in `graph`, each group with its holder (from the
/// dominator tree) and the memory that holder retains.
fn type_paths(graph: &HeapGraph, types: &[String]) -> Vec<TypePaths> {
    let shortest = ShortestPaths::compute(graph);
    let dominators = DominatorTree::compute(graph);
    types
        .iter()
        .map(|t| shortest.type_paths_with(t, &PathOptions::default(), Some(&dominators)))
        .collect()
}

/// `!gcroot` for a whole type: its groups of retention paths, most common first, each with
/// its leak signature and what holds it.
fn render_paths(text: &mut String, paths: &TypePaths) {
    text.push_str(&format!(
        "--- Why {} is alive: {} instances ({} unreachable), {} traced ---\n",
        paths.type_name, paths.instances, paths.unreachable, paths.sampled
    ));
    let blank = " ".repeat(9);
    for group in &paths.groups {
        for (i, line) in group.path.chain().iter().enumerate() {
            let count = if i == 0 {
                format!("{:>9}", group.estimated)
            } else {
                blank.clone()
            };
            text.push_str(&format!("{count}  {line}\n"));
        }
        let mut about = format!("signature {}", group.path.leak_signature());
        if let Some(h) = &group.holder {
            let (count, retains) = holders_words(h.holders, h.retained_bytes);
            about.push_str(&format!(
                "; held by {count}{}, {retains} ({} objects)",
                h.type_name,
                leakgate_gate::units::count(h.retained_objects)
            ));
        }
        text.push_str(&format!("{blank}  ({about})\n"));
    }
}

/// The analyses as WinDbg would print them: `!address -summary` per dump,
/// with the managed heap `!finalizequeue` and `!dumpheap -stat` (the `top`
/// types), and a growth table across several dumps.
pub fn render(analyses: &[DumpAnalysis], top: usize) -> String {
    let mut text = String::new();
    for a in analyses {
        if analyses.len() > 1 {
            text.push_str(&format!("==> {} <==\n", a.file));
        }
        if let Some(memory) = &a.memory {
            text.push_str(&render_address_summary(memory));
        }
        if let Some(m) = &a.managed {
            text.push('\n');
            text.push_str(&render_finalize_queue(m));
            text.push('\n');
            text.push_str(&render_heap_stat(m, top));
        }
        if let Some(gc) = &a.gc_committed {
            let line = leakgate_gate::report::gc_committed(gc);
            text.push_str(&format!("\nGC committed {line} at the snapshot's GC\n"));
        }
        for paths in &a.paths {
            text.push('\n');
            render_paths(&mut text, paths);
        }
        text.push('\n');
    }
    if let [first, .., last] = analyses {
        let rows: Vec<(String, MemorySummary)> = analyses
            .iter()
            .filter_map(|a| Some((a.file.clone(), a.memory.clone()?)))
            .collect();
        if rows.len() > 1 {
            text.push_str(&render_growth_table(&rows));
        }
        // The path that grew, from the first dump to the last.
        for (before, after) in first.paths.iter().zip(&last.paths) {
            text.push_str(&format!("\n{}\n", PathGrowth::between(before, after)));
        }
    }
    text
}

/// The JSON Schema of `leakgate analyze --json` for one dump.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(DumpAnalysis)).expect("a schema serialises")
        + "\n"
}
