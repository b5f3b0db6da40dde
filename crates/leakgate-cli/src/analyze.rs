//! `leakgate analyze`: the seed's manual WinDbg workflow on dumps taken elsewhere.
//! `!address -summary` for every dump, `!finalizequeue` and `!dumpheap -stat` with
//! `--managed`, and a growth table when several dumps are given.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use leakgate_dotnet::inspector::{
    Inspector, ManagedSummary, render_finalize_queue, render_heap_stat,
};
use leakgate_memory::{MemorySummary, render_address_summary, render_growth_table};
use schemars::JsonSchema;
use serde::Serialize;

use crate::Outcome;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Windows minidumps, Linux ELF cores, or saved `/proc/<pid>/smaps` (`*.smaps`) / `maps` (`*.maps`) files.
    #[arg(required = true)]
    dumps: Vec<PathBuf>,
    /// Also read the managed heap (finalizer queue, heap statistics) with the ClrMD inspector.
    #[arg(long)]
    managed: bool,
    /// How many heap types to list with --managed.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// One dump's analysis, as `--json` prints it (`schemas/analyze.schema.json`;
/// several dumps print an array of these).
#[derive(Serialize, JsonSchema)]
pub struct DumpAnalysis {
    pub file: String,
    pub memory: MemorySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedSummary>,
}

pub fn analyze(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let inspector = if args.managed {
        Some(Inspector::ensure_built(None).context("the managed inspector is not available")?)
    } else {
        None
    };
    let mut analyses = Vec::new();
    for path in &args.dumps {
        analyses.push(analyze_one(path, inspector.as_ref())?);
    }
    if args.json {
        let json = if analyses.len() == 1 {
            serde_json::to_string_pretty(&analyses[0])?
        } else {
            serde_json::to_string_pretty(&analyses)?
        };
        println!("{json}");
        return Ok(Outcome::Pass);
    }
    for a in &analyses {
        if analyses.len() > 1 {
            println!("==> {} <==", a.file);
        }
        print!("{}", render_address_summary(&a.memory));
        if let Some(m) = &a.managed {
            println!();
            print!("{}", render_finalize_queue(m));
            println!();
            print!("{}", render_heap_stat(m, args.top));
        }
        println!();
    }
    if analyses.len() > 1 {
        let rows: Vec<(String, MemorySummary)> = analyses
            .iter()
            .map(|a| (a.file.clone(), a.memory.clone()))
            .collect();
        print!("{}", render_growth_table(&rows));
    }
    Ok(Outcome::Pass)
}

fn analyze_one(path: &Path, inspector: Option<&Inspector>) -> anyhow::Result<DumpAnalysis> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut regions = if name.ends_with(".smaps") || name.ends_with(".maps") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // An smaps file is its own maps view (the parser skips the field lines).
        let smaps = name.ends_with(".smaps").then_some(text.as_str());
        leakgate_memory::parse_proc_maps(&text, smaps)
            .with_context(|| path.display().to_string())?
    } else {
        leakgate_memory::read_dump(path)?
    };
    let managed = match inspector {
        Some(i) => Some(i.inspect(path)?),
        None => None,
    };
    if let Some(m) = &managed {
        regions.split_gc(&m.gc_committed_ranges());
    }
    Ok(DumpAnalysis {
        file: path.display().to_string(),
        memory: regions.summary(),
        managed,
    })
}

/// The JSON Schema of `leakgate analyze --json` for one dump.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(DumpAnalysis)).expect("a schema serialises")
        + "\n"
}
