//! `leakgate analyze`: the manual WinDbg workflow (`!address -summary`, `!finalizequeue`) on dumps taken
//! elsewhere, with the same analysis a run applies to its samples
//! ([`leakgate_runner::analysis::analyse`]).

use std::path::Path;

use leakgate_dotnet::inspector::{
    Inspector, InspectorError, ManagedSummary, render_finalize_queue, render_heap_stat,
};
use leakgate_memory::{MemoryError, MemorySummary, render_address_summary, render_growth_table};
use schemars::JsonSchema;
use serde::Serialize;

/// One dump's analysis, as `--json` prints it (`schemas/analyze.schema.json`;
/// several dumps print an array of these).
#[derive(Serialize, JsonSchema)]
pub struct DumpAnalysis {
    pub file: String,
    pub memory: MemorySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedSummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Managed(#[from] InspectorError),
}

/// Regions of `path` (a dump, or saved maps/smaps), and its managed heap
/// when an `inspector` is given and `path` is a dump.
pub fn analyze(path: &Path, inspector: Option<&Inspector>) -> Result<DumpAnalysis, AnalyzeError> {
    let regions = leakgate_memory::read_regions(path)?;
    let is_dump = regions.source != leakgate_memory::SourceKind::ProcMaps;
    let analysis =
        leakgate_runner::analysis::analyse(regions, Some(path).filter(|_| is_dump), inspector)?;
    Ok(DumpAnalysis {
        file: path.display().to_string(),
        memory: analysis.memory,
        managed: analysis.managed,
    })
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
        text.push_str(&render_address_summary(&a.memory));
        if let Some(m) = &a.managed {
            text.push('\n');
            text.push_str(&render_finalize_queue(m));
            text.push('\n');
            text.push_str(&render_heap_stat(m, top));
        }
        text.push('\n');
    }
    if analyses.len() > 1 {
        let rows: Vec<(String, MemorySummary)> = analyses
            .iter()
            .map(|a| (a.file.clone(), a.memory.clone()))
            .collect();
        text.push_str(&render_growth_table(&rows));
    }
    text
}

/// The JSON Schema of `leakgate analyze --json` for one dump.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(DumpAnalysis)).expect("a schema serialises")
        + "\n"
}
