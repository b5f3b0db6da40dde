//! leakgate's pipeline as a library: a loaded scenario and a few options in,
//! a judged, reported run out.
//!
//! ```text
//! Scenario ─► runner::run (samples, load, process) ─► gate::metrics ─► gate::judge
//!          ─► snapshot compare ─► RunReport ─► files (OutputLayout): the verdict
//!             first (report.json, junit.xml, summary.md, each atomic), charts after
//! ```
//!
//! Which crate owns what: `leakgate-scenario` the scenario (file, checks,
//! typed model); `leakgate-memory` regions and `!address`; `leakgate-dotnet`
//! the runtime (diagnostics IPC, the ClrMD inspector); `leakgate-runner`
//! processes, load, sampling and the output layout; `leakgate-gate` metrics,
//! trends, budgets, snapshots and report rendering; this crate the sequence
//! and the files; `leakgate-cli` arguments, progress and the exit code.
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use leakgate_pipeline::{Options, run_scenario};
//!
//! let scenario = leakgate_scenario::load("fixtures/scenarios/healthy.yaml")?;
//! let options = Options { cancel: Arc::new(AtomicBool::new(false)), ..Options::default() };
//! let run = run_scenario(&scenario, None, &options, &mut |_| {})?;
//! println!("{:?}: exit {}", run.report.outcome, run.report.outcome.exit_code());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analyze;
pub mod index;
pub mod merge;
pub mod retention;
mod write;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use leakgate_dotnet::inspector::Inspector;
use leakgate_gate::judge::judge_findings;
use leakgate_gate::report::{RunInfo, RunReport};
use leakgate_gate::sequential::{AutoSampling, Next, SamplingPlan, Stop, next_step};
use leakgate_gate::series::SampleMetrics;
use leakgate_gate::snapshot::{self, ApprovedSnapshot, SnapshotComparison, SnapshotError};
use leakgate_gate::{JudgeOptions, Verdict, findings, ignored, judge, metrics, traced};
use leakgate_runner::capture::CapturedSample;
use leakgate_runner::layout::{LayoutError, OutputLayout, write_atomic};
use leakgate_runner::{Event, HeapGraphSource, RunOptions, StopRule};
use leakgate_scenario::{Count, Scenario, TypeFilter};

pub use leakgate_gate::report::Outcome;

/// Settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--out`: the output directory (with several scenarios, their parent).
    pub out: Option<PathBuf>,
    /// Several scenarios share `out`: each gets `out/<name>/`.
    pub several: bool,
    /// Write the snapshot as approved (`--record`).
    pub record: bool,
    /// Skip the scenario's build step.
    pub skip_build: bool,
    /// Keep the dumps whatever the scenario says.
    pub keep_dumps: bool,
    /// Set from a Ctrl-C handler; the run winds down when it turns true.
    pub cancel: Arc<AtomicBool>,
}

/// A finished run: its report (already written) and where its files are.
pub struct ScenarioRun {
    pub report: RunReport,
    pub layout: OutputLayout,
    /// What the user should know besides the report (snapshot written, ...).
    pub messages: Vec<String>,
}

/// Why a run could not even start writing its report.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot {path}")]
    ApprovedSnapshot {
        path: PathBuf,
        #[source]
        source: SnapshotError,
    },
    #[error("snapshot {path}")]
    WriteApprovedSnapshot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a scenario of a run of several could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Scenario(#[from] leakgate_scenario::ScenarioError),
    #[error(
        "{}: another scenario of this run is also named {name:?}; give each a distinct `name:` so their reports do not overwrite each other",
        path.display()
    )]
    DuplicateName { path: PathBuf, name: String },
}

/// Loads a scenario for a run of several: each must have its own name, or
/// their reports would overwrite each other under one `--out`.
pub fn load_distinct(
    path: &std::path::Path,
    names: &mut std::collections::BTreeSet<String>,
) -> Result<Scenario, LoadError> {
    let scenario = leakgate_scenario::load(path)?;
    if !names.insert(scenario.name.clone()) {
        return Err(LoadError::DuplicateName {
            path: path.to_path_buf(),
            name: scenario.name,
        });
    }
    Ok(scenario)
}

/// The managed inspector a scenario needs (when its dumps hold the heap),
/// built before the run starts — never in the middle of one — and stopped by
/// `cancel`.
pub fn inspector_for(
    scenario: &Scenario,
    cancel: &Arc<AtomicBool>,
) -> Result<Option<Inspector>, leakgate_dotnet::inspector::InspectorError> {
    if !scenario.sampling.dump.needs_inspector() && !scenario.sampling.names_dump() {
        return Ok(None);
    }
    Ok(Some(
        Inspector::ensure_built(None)?.with_cancel(cancel.clone()),
    ))
}

/// Runs one scenario end to end and writes its reports. A run that could not
/// measure still returns its report (outcome [`Outcome::Error`]); only a
/// failure to write the reports at all is an `Err`.
pub fn run_scenario(
    scenario: &Scenario,
    inspector: Option<&Inspector>,
    options: &Options,
    on_event: &mut dyn FnMut(Event),
) -> Result<ScenarioRun, PipelineError> {
    let mut scenario = scenario.clone();
    scenario.sampling.keep_dumps |= options.keep_dumps;
    let root = OutputLayout::root_for(options.out.as_deref(), &scenario.name, options.several);
    let layout = OutputLayout::new(root, &scenario.snapshot.path);
    layout.prepare()?;

    let started = now_rfc3339();
    let mut judge_options = JudgeOptions {
        warmup_samples: scenario.sampling.warmup_samples,
        materiality: scenario.materiality,
        ..JudgeOptions::default()
    };
    let auto = AutoStop::new(&scenario, &judge_options);
    let decide = |samples: &[CapturedSample]| auto.as_ref().is_some_and(|a| a.decide(samples));
    let run_options = RunOptions {
        layout: &layout,
        inspector,
        cancel: options.cancel.clone(),
        skip_build: options.skip_build,
        decide: auto.is_some().then_some(&decide as &StopRule),
    };
    let record = leakgate_runner::run(&scenario, &run_options, on_event);

    let samples: Vec<_> = record.samples.iter().map(metrics::sample_metrics).collect();
    let auto_sampling = auto.and_then(AutoStop::into_report);
    // The sequential decision spent its error rate across looks: the verdict
    // uses the level of the look that stopped, so that the two agree.
    if let Some(a) = &auto_sampling {
        judge_options.alpha = a.alpha;
    }
    let verdict = judge(
        &samples,
        &scenario.budgets,
        &scenario.ignore,
        &judge_options,
    );
    let info = RunInfo {
        scenario: scenario.name.clone(),
        scenario_file: scenario.file.display().to_string(),
        budget_lines: scenario.budget_lines(),
        started,
        finished: now_rfc3339(),
        load: record.load.clone(),
        sampled: record.sampled.clone(),
        files: Some(layout.files()),
        auto_sampling,
    };
    let mut messages = Vec::new();
    let report = match &record.failure {
        // A partial run is still judged, for information: the outcome stays "error".
        Some(failure) => {
            let verdict = (samples.len() >= 2).then_some(verdict);
            RunReport::failed(info, &failure.to_string(), samples, verdict)
        }
        None => {
            let mut verdict = verdict;
            let judged = samples.get(verdict.judged_from..).unwrap_or(&[]);
            let mut why = explain(
                &verdict,
                judged,
                &record.heap_graphs,
                &scenario.ignore,
                judge_options.alpha,
            );
            // Known retention first: it neither makes a finding nor fails a check.
            let aside = ignored::set_aside(&mut why.retention, &scenario.ignore_paths);
            why.notes.extend(aside.iter().map(ignored::SetAside::note));
            let found = findings::group(&why.retention);
            judge_findings(
                &mut verdict,
                &found,
                &samples,
                &scenario.budgets,
                &judge_options,
            );
            ignored::excuse(&mut verdict, &aside);
            // The types traced only to find what grows with the others are
            // shown as members of a finding, not on their own.
            why.retention.retain(|g| {
                why.targets.contains(&g.type_name)
                    || found.iter().any(|f| f.members.contains(&g.type_name))
            });
            let snapshot = check_snapshot(
                &scenario,
                &layout,
                &verdict,
                &why.retention,
                options.record,
                &mut messages,
            )?;
            let mut report = RunReport::judged(info, samples, verdict, snapshot);
            report.retention = why.retention;
            report.findings = found;
            report.notes.extend(why.notes);
            report
        }
    };
    // Graphs hold type names and sizes, no values; still, kept only with the dumps.
    if !scenario.sampling.keep_dumps {
        for (_, graph) in &record.heap_graphs {
            if let HeapGraphSource::File { path: file, .. } = graph {
                let _ = std::fs::remove_file(file);
            }
        }
    }
    let report = write::reports(report, &layout)?;
    Ok(ScenarioRun {
        report,
        layout,
        messages,
    })
}

/// `sampling.count: auto`: the gate's sequential rule asked after each
/// sample, and the stop it reached.
struct AutoStop<'a> {
    scenario: &'a Scenario,
    options: &'a JudgeOptions,
    plan: SamplingPlan,
    /// The metrics of the samples so far, each computed once.
    metrics: RefCell<Vec<SampleMetrics>>,
    stop: RefCell<Option<Stop>>,
}

impl<'a> AutoStop<'a> {
    fn new(scenario: &'a Scenario, options: &'a JudgeOptions) -> Option<Self> {
        let Count::Auto { min, max } = scenario.sampling.count else {
            return None;
        };
        Some(AutoStop {
            scenario,
            options,
            plan: SamplingPlan {
                min_count: min,
                max_count: max,
                ..SamplingPlan::default()
            },
            metrics: RefCell::new(Vec::new()),
            stop: RefCell::new(None),
        })
    }

    /// True when sampling should stop after these samples.
    fn decide(&self, samples: &[CapturedSample]) -> bool {
        let mut metrics = self.metrics.borrow_mut();
        let seen = metrics.len().min(samples.len());
        metrics.extend(samples[seen..].iter().map(metrics::sample_metrics));
        let s = self.scenario;
        match next_step(&metrics, &s.budgets, &s.ignore, self.options, &self.plan) {
            Next::Stop(stop) => {
                *self.stop.borrow_mut() = Some(stop);
                true
            }
            Next::Continue { .. } => false,
        }
    }

    /// Why sampling stopped, if the rule stopped it (not a crash or Ctrl-C).
    fn into_report(self) -> Option<AutoSampling> {
        let stop = self.stop.into_inner()?;
        Some(AutoSampling::new(&self.plan, &stop))
    }
}

/// Why what grew is alive (see [`retention`]), and notes when it cannot say.
struct Why {
    /// The types the verdict asks about.
    targets: Vec<String>,
    retention: Vec<leakgate_heap::PathGrowth>,
    notes: Vec<String>,
}

fn explain(
    verdict: &Verdict,
    judged: &[SampleMetrics],
    graphs: &[(usize, HeapGraphSource)],
    ignore: &TypeFilter,
    alpha: f64,
) -> Why {
    let traced = traced::traced(verdict, judged, ignore, alpha);
    let mut why = Why {
        targets: traced.targets,
        retention: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(note) = retention::without_a_heap(verdict, judged) {
        why.notes.push(note);
    }
    match retention::path_growth(&traced.types, graphs, verdict.judged_from) {
        Ok(growth) => why.retention = growth,
        Err(note) => why.notes.push(error_text(&note)),
    }
    why
}

/// Compares with the approved snapshot when the scenario keeps one (a
/// `snapshot:` section, or an approved file beside it), or records it.
fn check_snapshot(
    scenario: &Scenario,
    layout: &OutputLayout,
    verdict: &Verdict,
    retention: &[leakgate_heap::PathGrowth],
    record: bool,
    messages: &mut Vec<String>,
) -> Result<Option<SnapshotComparison>, PipelineError> {
    let path = layout.snapshot();
    let enabled = scenario.snapshot.enabled.unwrap_or_else(|| path.exists());
    if !enabled && !record {
        return Ok(None);
    }
    let current =
        ApprovedSnapshot::from_verdict(&scenario.name, verdict).with_paths(verdict, retention);
    let failed = |source| PipelineError::ApprovedSnapshot {
        path: path.to_path_buf(),
        source,
    };
    if record {
        snapshot::refuse_link(path).map_err(failed)?;
        write_atomic(path, current.to_yaml().as_bytes()).map_err(|source| {
            PipelineError::WriteApprovedSnapshot {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let _ = std::fs::remove_file(layout.pending_snapshot());
        messages.push(format!("recorded the snapshot {}", path.display()));
        return Ok(Some(SnapshotComparison::Matches));
    }
    let comparison = snapshot::check(path, &current).map_err(failed)?;
    if !matches!(comparison, SnapshotComparison::Matches) {
        messages.push(format!(
            "the snapshot changed: review {} with `leakgate review`, or `leakgate accept {}`",
            layout.pending_snapshot().display(),
            path.display()
        ));
    }
    Ok(Some(comparison))
}

pub use leakgate_record::error_text;

/// The run's GitHub annotations, on the scenario file as the workflow names
/// it: relative to `GITHUB_WORKSPACE` when inside it.
pub fn github_annotations(report: &RunReport) -> Vec<String> {
    let file = std::path::Path::new(&report.info.scenario_file);
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let shown = std::env::var_os("GITHUB_WORKSPACE")
        .and_then(|w| {
            Some(
                absolute
                    .strip_prefix(std::path::absolute(w).ok()?)
                    .ok()?
                    .to_path_buf(),
            )
        })
        .unwrap_or(absolute);
    leakgate_gate::report::annotations::render(report, &shown.display().to_string())
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
