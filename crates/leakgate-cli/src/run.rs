//! `leakgate run`: scenario → runner → metrics → verdict + snapshot → reports.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use leakgate_dotnet::inspector::Inspector;
use leakgate_gate::report::{self, LoadStats, RunReport};
use leakgate_gate::snapshot::{self, Snapshot, SnapshotOutcome};
use leakgate_gate::{JudgeOptions, Status, Verdict};
use leakgate_runner::{RunOptions, RunOutcome};
use leakgate_scenario::LoadedScenario;

use crate::progress::Progress;
use crate::{Outcome, metrics, print_error};

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Output directory; default `leakgate-out/<scenario>/`. With several scenarios, one subdirectory each.
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
}

pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // A second Ctrl-C while we clean up would leave children behind; the
        // runner's guards stop them, so the handler only raises the flag.
        ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut worst = Outcome::Pass;
    let mut reports = Vec::new();
    let several = args.scenarios.len() > 1;
    for path in &args.scenarios {
        let (outcome, report) = run_one(path, &args, several, &cancel)?;
        reports.extend(report);
        worst = worst.max(outcome);
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    if args.json {
        // One JSON document on stdout: the report, or an array of them.
        let json = match reports.as_slice() {
            [one] => report::to_json(one),
            many => serde_json::to_string_pretty(many)?,
        };
        println!("{json}");
    }
    Ok(worst)
}

fn run_one(
    path: &Path,
    args: &RunArgs,
    several: bool,
    cancel: &Arc<AtomicBool>,
) -> anyhow::Result<(Outcome, Option<RunReport>)> {
    let mut loaded = match leakgate_scenario::load(path) {
        Ok(l) => l,
        Err(e) => {
            print_error(&e);
            return Ok((Outcome::CouldNotRun, None));
        }
    };
    if args.keep_dumps {
        loaded.scenario.sampling.keep_dumps = true;
    }
    let out_dir = match (&args.out, several) {
        (Some(out), true) => out.join(&loaded.name),
        (Some(out), false) => out.clone(),
        (None, _) => crate::default_out_dir(&loaded.name),
    };
    let interactive = !args.quiet && !args.json && std::io::stderr().is_terminal();
    clear_old_reports(&out_dir);

    let inspector = if loaded.scenario.sampling.dump.captures_heap() {
        // Built before the run starts: never in the middle of one.
        match Inspector::ensure_built(None) {
            Ok(i) => Some(i),
            Err(e) => {
                print_error(format_args!("the managed inspector is not available: {e}"));
                return Ok((Outcome::CouldNotRun, None));
            }
        }
    } else {
        None
    };

    let started = now_rfc3339();
    let mut progress = Progress::new(&loaded.name, loaded.scenario.sampling.count, interactive);
    let options = RunOptions {
        out_dir: out_dir.clone(),
        inspector: inspector.as_ref(),
        cancel: cancel.clone(),
        skip_build: args.no_build,
    };
    let outcome = leakgate_runner::run(&loaded, &options, &mut |e| progress.on_event(e));
    progress.finish();

    let report = judge(&loaded, &outcome, started, args.record)?;
    write_reports(&report, &out_dir)?;
    print_result(&report, &outcome, &out_dir, args);

    let outcome = match report.exit_code {
        0 => Outcome::Pass,
        1 => Outcome::GateFailed,
        _ => Outcome::CouldNotRun,
    };
    Ok((outcome, Some(report)))
}

fn judge(
    loaded: &LoadedScenario,
    outcome: &RunOutcome,
    started: String,
    record: bool,
) -> anyhow::Result<RunReport> {
    let s = &loaded.scenario;
    let samples: Vec<_> = outcome
        .samples
        .iter()
        .map(metrics::sample_metrics)
        .collect();
    let options = JudgeOptions {
        warmup_samples: s.sampling.warmup_samples,
        ..JudgeOptions::default()
    };
    let verdict = leakgate_gate::judge(&samples, &s.budgets, &s.ignore, &options);
    let load = LoadStats {
        requests: outcome.load.requests,
        errors: outcome.load.errors,
        p50_ms: outcome.load.p50_ms,
        p99_ms: outcome.load.p99_ms,
    };
    let finished = now_rfc3339();
    let mut report = match &outcome.failure {
        // A partial run is still judged, for information: the exit code stays 2.
        Some(failure) => {
            let mut r = RunReport::failed(
                &loaded.name,
                &started,
                &finished,
                &failure.to_string(),
                load,
                samples,
            );
            r.verdict = (outcome.samples.len() >= 2).then_some(verdict);
            r
        }
        None => {
            let snapshot = check_snapshot(loaded, &verdict, record)?;
            RunReport::new(
                &loaded.name,
                &started,
                &finished,
                load,
                samples,
                verdict,
                snapshot,
            )
        }
    };
    report.scenario_file = loaded.path.display().to_string();
    report.budget_lines = loaded.budget_lines.clone();
    Ok(report)
}

/// Compares with the approved snapshot when the scenario keeps one (or `--record`).
/// `--record` writes the current state as the approved one.
fn check_snapshot(
    loaded: &LoadedScenario,
    verdict: &Verdict,
    record: bool,
) -> anyhow::Result<Option<SnapshotOutcome>> {
    // Compared when the scenario has a `snapshot:` section, or an approved file
    // exists beside it (a `--record` wrote one); `enabled: false` opts out.
    let path = loaded.snapshot_path();
    let enabled = match &loaded.scenario.snapshot {
        Some(config) => config.enabled,
        None => path.exists(),
    };
    if !enabled && !record {
        return Ok(None);
    }
    let current = Snapshot::from_verdict(&loaded.name, verdict);
    if record {
        std::fs::write(&path, current.to_yaml())
            .with_context(|| format!("cannot write {}", path.display()))?;
        let _ = std::fs::remove_file(snapshot::pending_path(&path));
        eprintln!("recorded the snapshot {}", path.display());
        return Ok(Some(SnapshotOutcome::Matches));
    }
    let outcome =
        snapshot::check(&path, &current).with_context(|| format!("snapshot {}", path.display()))?;
    if !matches!(outcome, SnapshotOutcome::Matches) {
        eprintln!(
            "the snapshot changed: review {} with `leakgate review`, or `leakgate accept {}`",
            snapshot::pending_path(&path).display(),
            path.display()
        );
    }
    Ok(Some(outcome))
}

/// An earlier run's reports must not pass for this run's if this one ends early.
fn clear_old_reports(out_dir: &Path) {
    for file in ["report.json", "junit.xml", "summary.md"] {
        let _ = std::fs::remove_file(out_dir.join(file));
    }
    let _ = std::fs::remove_dir_all(out_dir.join("charts"));
}

fn write_reports(report: &RunReport, out_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let write = |name: &str, text: String| {
        let path = out_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("report.json", report::to_json(report))?;
    write("junit.xml", report::junit_xml(report))?;
    let charts = report::charts(report);
    if !charts.is_empty() {
        std::fs::create_dir_all(out_dir.join("charts"))?;
        for (file, svg) in charts {
            write(&format!("charts/{file}"), svg)?;
        }
    }
    write("summary.md", report::markdown(report))?;
    Ok(())
}

fn print_result(report: &RunReport, outcome: &RunOutcome, out_dir: &Path, args: &RunArgs) {
    if args.json {
        return; // printed once for all scenarios, by `run`
    }
    let verdict = match (&outcome.failure, report.status) {
        (Some(_), _) => console::style("COULD NOT RUN").yellow().bold(),
        (None, Status::Fail) => console::style("FAIL").red().bold(),
        (None, Status::Warn) => console::style("PASS (with warnings)").yellow().bold(),
        (None, Status::Pass) => console::style("PASS").green().bold(),
    };
    if !args.quiet {
        println!("{}", colour_rows(&report::console_table(report)));
        if let Some(SnapshotOutcome::Differs { diff, .. }) = &report.snapshot {
            println!("snapshot differs from the approved one:\n{diff}");
        }
    }
    if let Some(failure) = &outcome.failure {
        print_error(failure);
        eprintln!(
            "{} samples were taken before it; the report covers them.",
            outcome.samples.len()
        );
    }
    println!(
        "{verdict} {}: {} samples, {} requests ({} errors); reports in {}",
        report.scenario,
        outcome.samples.len(),
        outcome.load.requests,
        outcome.load.errors,
        out_dir.display()
    );
}

/// Failing rows red, warning rows yellow (only when stdout is a terminal:
/// `console` turns styling off otherwise).
fn colour_rows(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            if line.trim_end().ends_with("┆ fail    │") {
                console::style(line).red().to_string()
            } else if line.trim_end().ends_with("┆ warn    │") {
                console::style(line).yellow().to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
