//! `leakgate analyze`: the seed's manual WinDbg workflow on dumps taken
//! elsewhere, with the same analysis a run applies to its samples
//! ([`leakgate_runner::analysis::analyse`]).

use std::path::Path;

use leakgate_dotnet::inspector::{Inspector, InspectorError, ManagedSummary};
use leakgate_memory::{MemoryError, MemorySummary};
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

/// The JSON Schema of `leakgate analyze --json` for one dump.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(DumpAnalysis)).expect("a schema serialises")
        + "\n"
}
