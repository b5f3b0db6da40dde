//! `leakgate`: a memory-leak regression gate for .NET services. This binary
//! parses arguments, shows progress and prints; the pipeline is the
//! `leakgate-pipeline` library.
//!
//! Exit codes ([`Outcome::exit_code`]): 0 the gate passed, 1 the gate
//! failed, 2 the run could not be done.

mod analyze;
mod init;
mod progress;
mod run;
mod snapshots;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use leakgate_gate::escape::{terminal_line, terminal_text};
use leakgate_pipeline::{Outcome, error_text};

#[derive(Parser)]
#[command(name = "leakgate", version, about = "A memory-leak regression gate for .NET services", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and launch the service, drive load, sample it, judge the growth, report.
    Run(run::RunArgs),
    /// Write a scenario for a .NET web project (and a workflow with --workflow).
    Init(init::InitArgs),
    /// Summarise dumps the way `!address -summary` and `!finalizequeue` do.
    Analyze(analyze::AnalyzeArgs),
    /// Walk pending snapshots (`*.snap.new`) and accept, reject or skip each.
    Review(snapshots::PendingArgs),
    /// Accept pending snapshots: move `NAME.snap.new` over `NAME.snap`.
    Accept(snapshots::PendingArgs),
    /// Reject pending snapshots: delete `NAME.snap.new`.
    Reject(snapshots::PendingArgs),
    /// Combine the reports of runs made apart (CI shards) into one report.json,
    /// junit.xml and summary.md; exit with the worst outcome.
    Merge {
        /// Directories holding run reports (searched for `report.json`).
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
        /// Where the combined reports go.
        #[arg(long, short)]
        out: std::path::PathBuf,
        /// Also write the run index (as `run --runs-json` does): the merged
        /// outcome, its exit code and where the merged reports are.
        #[arg(long, value_name = "FILE")]
        runs_json: Option<std::path::PathBuf>,
    },
    /// Print a JSON Schema: the scenario format, the run report, `analyze --json`, or the inspector's output.
    Schema {
        #[arg(value_enum)]
        which: SchemaKind,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    Scenario,
    Report,
    Merged,
    Analyze,
    Inspector,
}

fn merge(
    dirs: &[std::path::PathBuf],
    out: &std::path::Path,
    runs_json: Option<&std::path::Path>,
) -> anyhow::Result<Outcome> {
    let merged = leakgate_pipeline::merge::merge(dirs, out)?;
    for warning in &merged.warnings {
        eprintln!("leakgate: {}", terminal_line(warning));
    }
    if let Some(file) = runs_json {
        let index = leakgate_pipeline::index::RunIndex::merged(merged.report.outcome, merged.files);
        let json = serde_json::to_string_pretty(&index)? + "\n";
        leakgate_runner::layout::write_atomic(file, json.as_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    let merged = merged.report;
    // Names and paths come from the legs: one line each, never a workflow command.
    for r in &merged.runs {
        let line = format!("{} {}", r.outcome.headline(), r.scenario());
        println!("{}", terminal_line(&line));
    }
    let empty = match merged.notes.len() {
        0 => String::new(),
        n => format!(" ({n} empty shard{} noted)", if n == 1 { "" } else { "s" }),
    };
    let line = format!(
        "{}: {} runs merged into {}{empty}",
        merged.outcome.headline(),
        merged.runs.len(),
        out.display()
    );
    println!("{}", terminal_line(&line));
    Ok(merged.outcome)
}

fn print_schema(which: SchemaKind) -> anyhow::Result<Outcome> {
    let text = match which {
        SchemaKind::Scenario => {
            serde_json::to_string_pretty(&leakgate_scenario::json_schema())? + "\n"
        }
        SchemaKind::Report => leakgate_gate::report::schema_json(),
        SchemaKind::Merged => leakgate_pipeline::merge::schema_json(),
        SchemaKind::Analyze => leakgate_pipeline::analyze::json_schema(),
        SchemaKind::Inspector => leakgate_dotnet::inspector::schema_json(),
    };
    print!("{text}");
    Ok(Outcome::Pass)
}

/// `error: MESSAGE` on stderr (see [`error_text`]), the prefix red on a
/// terminal, the message terminal-safe.
pub fn print_error(error: &(dyn std::error::Error + 'static)) {
    eprintln!(
        "{} {}",
        console::style("error:").red().bold().for_stderr(),
        terminal_text(&error_text(error))
    );
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's --help/--version are successes; usage errors mean "could not run".
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // A panic is a bug, but still "could not run" (2), never a gate verdict; the
    // runner's guards have stopped every child process by the time it lands here.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Run(args) => run::run(args),
        Command::Init(args) => init::init(args),
        Command::Analyze(args) => analyze::analyze(args),
        Command::Review(args) => snapshots::review(args),
        Command::Accept(args) => snapshots::accept(args),
        Command::Reject(args) => snapshots::reject(args),
        Command::Merge {
            dirs,
            out,
            runs_json,
        } => merge(&dirs, &out, runs_json.as_deref()),
        Command::Schema { which } => print_schema(which),
    }))
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "leakgate stopped on an internal error (a bug; the message is above)"
        ))
    });
    let outcome = outcome.unwrap_or_else(|e| {
        print_error(e.as_ref());
        Outcome::Error
    });
    ExitCode::from(outcome.exit_code())
}
