//! `leakgate analyze`: the manual WinDbg workflow (`!address -summary`, `!finalizequeue`) on dumps taken elsewhere.
//! `!address -summary` for every dump, `!finalizequeue` and `!dumpheap -stat` with
//! `--managed`, and a growth table when several dumps are given.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use leakgate_dotnet::inspector::Inspector;
use leakgate_gate::escape::terminal_text;
use leakgate_pipeline::Outcome;
use leakgate_pipeline::analyze::analyze as analyze_file;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Windows minidumps, Linux ELF cores, or saved `/proc/<pid>/smaps` (`*.smaps`) / `maps` (`*.maps`) files.
    #[arg(required = true)]
    dumps: Vec<PathBuf>,
    /// Also read the managed heap (finalizer queue, heap statistics) with the ClrMD inspector.
    #[arg(long)]
    managed: bool,
    /// The DAC (`libmscordaccore.so`) to read the managed heap with, for a dump of a
    /// runtime version not installed here.
    #[arg(long, requires = "managed")]
    dac: Option<PathBuf>,
    /// With --managed: why the objects of TYPE (a full type name, as
    /// `!dumpheap -stat` prints it) are alive, like `!gcroot` for all of
    /// them; with several dumps, the path that grew from the first to the last.
    #[arg(long = "paths", value_name = "TYPE", requires = "managed")]
    paths: Vec<String>,
    /// How many heap types to list with --managed.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn analyze(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let inspector = if args.managed {
        let built =
            Inspector::ensure_built(None).context("the managed inspector is not available")?;
        Some(match &args.dac {
            Some(dac) => built.with_dac(dac),
            None => built,
        })
    } else {
        None
    };
    let mut analyses = Vec::new();
    for path in &args.dumps {
        analyses.push(analyze_file(path, inspector.as_ref(), &args.paths)?);
    }
    if args.json {
        let json = match analyses.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            many => serde_json::to_string_pretty(many)?,
        };
        println!("{json}");
        return Ok(Outcome::Pass);
    }
    let text = leakgate_pipeline::analyze::render(&analyses, args.top);
    // Type names and file names come from the dump: terminal-safe.
    print!("{}", terminal_text(&text));
    Ok(Outcome::Pass)
}
