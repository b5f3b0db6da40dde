//! `leakgate run`: arguments, Ctrl-C, progress and the console; the run
//! itself is [`leakgate_pipeline::run_scenario`].

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use console::style;
use leakgate_gate::escape::terminal_text;
use leakgate_gate::judge::Status;
use leakgate_gate::report::{RunReport, console as view, to_json};
use leakgate_pipeline::error_text;
use leakgate_pipeline::index::{self, RunEntry, RunIndex};
use leakgate_pipeline::merge::Shard;
use leakgate_pipeline::{Options, Outcome, run_scenario};
use leakgate_runner::layout::write_atomic;
use leakgate_scenario::{DumpMode, PathsFrom, Scenario};

use crate::print_error;
use crate::progress::Progress;

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
    /// Read the managed heap this way instead of the scenario's `sampling.dump`.
    #[arg(long, value_enum, value_name = "MODE")]
    dump: Option<HeapCapture>,
    /// With `gcdump`: take the retention paths from a `withheap` dump beside the snapshots
    /// compared (`dump`, the default: field names and stack methods) or from the snapshots
    /// themselves (`snapshot`: no dump, no .NET SDK needed) (`sampling.paths_from`).
    #[arg(long, value_enum, value_name = "SOURCE")]
    paths_from: Option<PathsSource>,
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
    /// Run only share I of N of the scenarios (1/3, 2/3, 3/3 in a CI matrix);
    /// the output layout is the same as without it. Combine with `leakgate merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

/// Where `--dump gcdump`'s retention paths come from (`--paths-from`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum PathsSource {
    Snapshot,
    Dump,
}

/// The `sampling.dump` modes that read the managed heap (what `--dump` may choose).
#[derive(Clone, Copy, clap::ValueEnum)]
enum HeapCapture {
    Withheap,
    Full,
    Gcdump,
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
    let mine = |position: usize| args.shard.is_none_or(|s| s.holds(position));
    for (_, path) in args.scenarios.iter().enumerate().filter(|(i, _)| mine(*i)) {
        let scenario = match options.several {
            true => leakgate_pipeline::load_distinct(path, &mut names).map_err(anyhow::Error::from),
            false => leakgate_scenario::load(path).map_err(anyhow::Error::from),
        };
        let run = scenario.and_then(|scenario| run_one(&scenario, &args, &options));
        entries.push(match run {
            Ok(report) => {
                let entry = RunEntry::of(path, &report);
                reports.push(report);
                entry
            }
            Err(e) => {
                print_error(e.as_ref());
                RunEntry::failed(path, error_text(e.as_ref()))
            }
        });
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    let index = RunIndex::new(entries, args.shard);
    let mut index_files: Vec<PathBuf> = args.runs_json.iter().cloned().collect();
    if let (true, Some(shard)) = (index.is_empty_shard(), args.shard) {
        // Nothing to run is not a failure of this leg: it passes, says why,
        // and leaves its run index where `leakgate merge` finds it.
        let leg = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("leakgate-out"));
        let file = leg.join(index::FILE_NAME);
        eprintln!(
            "{} {}",
            style("note:").yellow().bold().for_stderr(),
            terminal_text(&format!(
                "shard {shard} holds none of the {} scenario(s) given (shard I/N runs the scenarios at positions I, I+N, ...): nothing to run, so it passes; its run index {} tells `leakgate merge`, which reports it. To run something in every leg, use at most {} shards, or give more scenarios",
                args.scenarios.len(),
                file.display(),
                args.scenarios.len()
            ))
        );
        std::fs::create_dir_all(&leg)
            .with_context(|| format!("cannot create {}", leg.display()))?;
        if !index_files.contains(&file) {
            index_files.push(file);
        }
    }
    for file in &index_files {
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

fn run_one(scenario: &Scenario, args: &RunArgs, options: &Options) -> anyhow::Result<RunReport> {
    let mut scenario = scenario.clone();
    if let Some(mode) = args.dump {
        scenario.sampling.dump = match mode {
            HeapCapture::Withheap => DumpMode::Withheap,
            HeapCapture::Full => DumpMode::Full,
            HeapCapture::Gcdump => DumpMode::Gcdump,
        };
    }
    if let Some(source) = args.paths_from {
        scenario.sampling.paths_from = Some(match source {
            PathsSource::Snapshot => PathsFrom::Snapshot,
            PathsSource::Dump => PathsFrom::Dump,
        });
    }
    // As the scenario check says of `paths_from: dump`: only a heap snapshot takes its
    // paths elsewhere; a dump's come from the dump itself.
    if scenario.sampling.dump != DumpMode::Gcdump {
        anyhow::ensure!(
            !matches!(args.paths_from, Some(PathsSource::Dump)),
            "--paths-from dump applies to heap snapshots: add --dump gcdump (this run takes {} dumps)",
            scenario.sampling.dump.name()
        );
        scenario.sampling.paths_from = None;
    }
    let scenario = &scenario;
    let inspector = leakgate_pipeline::inspector_for(scenario, &options.cancel)
        .context("the managed inspector is not available")?;
    let interactive = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let mut progress = Progress::new(&scenario.name, scenario.sampling.count.max(), interactive);
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
        for line in leakgate_pipeline::github_annotations(&report) {
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
