//! `leakgate run`: arguments, Ctrl-C, progress and the console; the run
//! itself is [`leakgate_pipeline::run_scenario`].

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use console::style;
use leakgate_dotnet::inspector::Inspector;
use leakgate_gate::escape::terminal_text;
use leakgate_gate::judge::Status;
use leakgate_gate::report::{RunReport, annotations, console as view, to_json};
use leakgate_gate::snapshot::SnapshotOutcome;
use leakgate_pipeline::index::{RunEntry, RunIndex};
use leakgate_pipeline::{Options, Outcome, run_scenario};
use leakgate_runner::layout::write_atomic;
use leakgate_scenario::Scenario;

use crate::progress::Progress;
use crate::{error_text, print_error};

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Output directory; default `leakgate-out/<scenario>/`. With several scenarios, one subdirectory each.
    /// leakgate only clears a directory it created (it leaves a `.leakgate-out` marker there).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Record the snapshot when none is approved yet (or overwrite it): write `NAME.snap` directly.
    #[arg(long)]
    record: bool,
    /// Skip the scenario's build step.
    #[arg(long)]
    no_build: bool,
    /// Keep the dumps in the output directory (they may hold secrets).
    #[arg(long)]
    keep_dumps: bool,
    /// Print the run report as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Print only the verdict line.
    #[arg(long, short)]
    quiet: bool,
    /// Print GitHub annotations (workflow commands) for failing checks, on their budget's line.
    #[arg(long)]
    github_annotations: bool,
    /// Write an index of the runs (each scenario's outcome and report files) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    runs_json: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // Every wait in the run watches this flag, so the run winds down in
        // order (children stopped, the partial report written) within ~2 s.
        ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let options = Options {
        out: args.out.clone(),
        several: args.scenarios.len() > 1,
        record: args.record,
        skip_build: args.no_build,
        keep_dumps: args.keep_dumps,
        cancel: cancel.clone(),
    };
    let mut reports = Vec::new();
    let mut entries = Vec::new();
    let mut names = BTreeSet::new();
    for path in &args.scenarios {
        let run = load(path, &mut names, options.several)
            .and_then(|scenario| run_one(&scenario, &args, &options));
        entries.push(match run {
            Ok(report) => {
                let entry = RunEntry {
                    scenario_file: path.display().to_string(),
                    scenario: Some(report.scenario().to_string()),
                    outcome: report.outcome,
                    exit_code: report.exit_code,
                    error: None,
                    files: report.info.files.clone(),
                };
                reports.push(report);
                entry
            }
            Err(e) => {
                print_error(e.as_ref());
                RunEntry {
                    scenario_file: path.display().to_string(),
                    scenario: None,
                    outcome: Outcome::Error,
                    exit_code: Outcome::Error.exit_code(),
                    error: Some(error_text(e.as_ref())),
                    files: None,
                }
            }
        });
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    let index = RunIndex::new(entries);
    if let Some(file) = &args.runs_json {
        let json = serde_json::to_string_pretty(&index)? + "\n";
        write_atomic(file, json.as_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    if args.json {
        // One JSON document on stdout: the report, or an array of them.
        let json = match reports.as_slice() {
            [one] => to_json(one),
            many => serde_json::to_string_pretty(many)?,
        };
        println!("{json}");
    }
    Ok(index.outcome)
}

/// Loads a scenario; with several sharing `--out`, each name must be its own.
fn load(path: &Path, names: &mut BTreeSet<String>, several: bool) -> anyhow::Result<Scenario> {
    let scenario = leakgate_scenario::load(path)?;
    if several && !names.insert(scenario.name.clone()) {
        anyhow::bail!(
            "{}: another scenario of this run is also named {:?}; give each a distinct `name:` so their reports do not overwrite each other",
            path.display(),
            scenario.name
        );
    }
    Ok(scenario)
}

fn run_one(scenario: &Scenario, args: &RunArgs, options: &Options) -> anyhow::Result<RunReport> {
    let inspector = if scenario.sampling.dump.captures_heap() {
        // Built before the run starts: never in the middle of one.
        let built =
            Inspector::ensure_built(None).context("the managed inspector is not available")?;
        Some(built.with_cancel(options.cancel.clone()))
    } else {
        None
    };
    let interactive = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let mut progress = Progress::new(&scenario.name, scenario.sampling.count, interactive);
    let run = run_scenario(scenario, inspector.as_ref(), options, &mut |e| {
        progress.on_event(e)
    });
    progress.finish();
    let run = run?;
    for message in &run.messages {
        eprintln!("{}", terminal_text(message));
    }
    let report = run.report;
    if args.github_annotations {
        let file = workspace_relative(&scenario.file);
        for line in annotations::render(&report, &file) {
            println!("{line}");
        }
    }
    if !args.json {
        print_report(
            &report,
            &run.layout.root().display().to_string(),
            args.quiet,
        );
    }
    Ok(report)
}

fn print_report(report: &RunReport, out_dir: &str, quiet: bool) {
    if !quiet {
        for line in view::render(report) {
            // Failing rows red, warning rows yellow: `console` styles only on a terminal.
            let styled = match line.status {
                Some(Status::Fail) => style(line.text).red().to_string(),
                Some(Status::Warn) => style(line.text).yellow().to_string(),
                _ => line.text,
            };
            println!("{styled}");
        }
        if let Some(SnapshotOutcome::Differs { diff, .. }) = &report.snapshot {
            println!(
                "snapshot differs from the approved one:\n{}",
                terminal_text(diff)
            );
        }
    }
    if report.outcome == Outcome::Error {
        eprintln!(
            "{} samples were taken before the run stopped; the report covers them.",
            report.samples.len()
        );
    }
    let rest = view::verdict_line(report, out_dir);
    let word = report.outcome.headline();
    let word = match report.outcome {
        Outcome::Error | Outcome::Warn => style(word).yellow().bold(),
        Outcome::Fail => style(word).red().bold(),
        Outcome::Pass => style(word).green().bold(),
    };
    println!("{word}{rest}");
}

/// The scenario file as a workflow names it: relative to `GITHUB_WORKSPACE` when inside it.
fn workspace_relative(file: &Path) -> String {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    std::env::var_os("GITHUB_WORKSPACE")
        .and_then(|w| {
            absolute
                .strip_prefix(std::path::absolute(w).ok()?)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or(absolute)
        .display()
        .to_string()
}
