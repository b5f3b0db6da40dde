//! The load and the sampling loop: warm-up, then a sample whenever one is due
//! (by time or by requests), each taken with the load paused, until the plan
//! is done, the service dies, the load fails, `load.duration` runs out or
//! Ctrl-C.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::Inspector;
use leakgate_dotnet::ipc::DiagnosticsClient;
use leakgate_heap::{HeapGraph, SeenRoot};
use leakgate_scenario::{BuiltinLoad, Count, Interval, LoadDriver as LoadSpec, Scenario};

use super::{Event, HeapGraphSource, Phase, RunFailure, RunOptions, RunRecord, launch, persist};
use crate::capture::{self, CapturedSample};
use crate::load::{LoadGenerator, LoadPlan, LoadSummary};
use crate::probe;
use crate::process::Child;
use crate::target::SampledProcess;

/// Without `load.duration`, the longest wait for `every_requests` requests.
const MAX_REQUEST_WAIT: Duration = Duration::from_secs(600);
/// The load's health is judged early only on this many requests or more.
const EARLY_HEALTH_REQUESTS: u64 = 50;
/// The whole stats probe, the service's answer included.
const STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// The induced GC, whatever the heap.
const GC_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct State<'a> {
    scenario: &'a Scenario,
    options: &'a RunOptions<'a>,
    port: u16,
    samples: Vec<CapturedSample>,
    heap_graphs: Vec<(usize, HeapGraphSource)>,
    load: LoadSummary,
    sampled: Option<SampledProcess>,
    /// The runtime's version, for heap snapshot summaries.
    runtime_version: String,
    fallback_inspector: OnceLock<Option<Inspector>>,
    /// Type names by method table as the run's dumps gave them, for the heap
    /// snapshots of the same process (see [`State::rename_earlier_samples`]).
    dump_names: RefCell<HashMap<u64, String>>,
}

/// The load while it runs: the built-in client or an external tool.
enum Load {
    Builtin(LoadGenerator, BuiltinLoad),
    External(Box<Child>),
}

impl Load {
    fn requests(&self) -> u64 {
        match self {
            Load::Builtin(d, _) => d.requests_sent(),
            Load::External(_) => 0,
        }
    }

    /// A failing external tool, or a built-in load failing above its limit,
    /// ends the run: without load the samples say nothing.
    fn check(&self, final_check: bool) -> Result<(), RunFailure> {
        match self {
            Load::External(c) => match c.exited() {
                Some(exit) if !exit.success => Err(RunFailure::Load {
                    message: format!(
                        "the load command {}; last lines of its output:\n{}",
                        exit.description,
                        c.log_tail(10)
                    ),
                }),
                _ => Ok(()),
            },
            Load::Builtin(d, spec) => {
                let summary = d.summary_so_far();
                let enough = final_check || summary.requests >= EARLY_HEALTH_REQUESTS;
                health(&summary, spec, enough)
            }
        }
    }

    fn pause(&self) {
        if let Load::Builtin(d, _) = self {
            d.pause();
        }
    }

    fn resume(&self) {
        if let Load::Builtin(d, _) = self {
            d.resume();
        }
    }

    fn stop(self) -> LoadSummary {
        match self {
            Load::Builtin(d, _) => d.stop(),
            Load::External(mut c) => {
                c.stop();
                LoadSummary::default()
            }
        }
    }
}

/// Whether the built-in load's failures stay within `load.max_error_rate`
/// (judged when `enough` requests were seen). No request at all is a failure.
/// Sample `index` could not be captured or analysed.
fn sample_failed(index: usize) -> impl Fn(capture::CaptureError) -> RunFailure + Copy {
    move |e| RunFailure::Sample {
        index,
        message: leakgate_record::error_text(&e),
    }
}

fn health(summary: &LoadSummary, spec: &BuiltinLoad, enough: bool) -> Result<(), RunFailure> {
    let unhealthy = summary.error_rate() > spec.max_error_rate || summary.requests == 0;
    if enough && unhealthy {
        return Err(RunFailure::LoadUnhealthy {
            requests: summary.requests,
            errors: summary.errors,
            failures: if summary.requests == 0 {
                "no request completed".into()
            } else {
                summary.failures_text()
            },
            max_pct: spec.max_error_rate * 100.0,
        });
    }
    Ok(())
}

/// A sample's heap graph as `take_sample` leaves it: built in memory, or, for
/// the file the inspector wrote from a names dump, the snapshot's handles.
struct SampleGraph {
    built: Option<HeapGraph>,
    seen_roots: Vec<SeenRoot>,
}

impl<'a> State<'a> {
    pub(super) fn new(scenario: &'a Scenario, options: &'a RunOptions<'a>) -> State<'a> {
        State {
            scenario,
            options,
            port: 0,
            samples: Vec::new(),
            heap_graphs: Vec::new(),
            load: LoadSummary::default(),
            sampled: None,
            runtime_version: String::new(),
            fallback_inspector: OnceLock::new(),
            dump_names: RefCell::default(),
        }
    }

    pub(super) fn into_outcome(self, failure: Option<RunFailure>) -> RunRecord {
        RunRecord {
            samples: self.samples,
            heap_graphs: self.heap_graphs,
            load: self.load,
            sampled: self.sampled,
            failure,
            port: self.port,
        }
    }

    fn cancel(&self) -> &AtomicBool {
        &self.options.cancel
    }

    fn check_cancel(&self) -> Result<(), RunFailure> {
        if self.cancel().load(Ordering::SeqCst) {
            Err(RunFailure::Interrupted)
        } else {
            Ok(())
        }
    }

    pub(super) fn execute(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), RunFailure> {
        let s = self.scenario;
        let layout = self.options.layout;
        self.port = probe::free_port().map_err(|e| RunFailure::Launch {
            message: format!("no free loopback port: {e}"),
        })?;
        if let Some(build) = s
            .service
            .build
            .as_ref()
            .filter(|_| !self.options.skip_build)
        {
            on_event(Event::Phase(Phase::Build));
            launch::build(build, &s.service.cwd, layout, self.cancel())?;
        }
        self.check_cancel()?;

        on_event(Event::Phase(Phase::Launch));
        let mut service = launch::start_service(s, self.port, layout)?;
        on_event(Event::Phase(Phase::Ready));
        launch::wait_ready(s, &service, self.port, self.cancel())?;
        let choice = launch::choose_target(s, &service, self.port)?;
        let client = choice
            .runtime
            .map(|c| c.with_cancel(self.options.cancel.clone()));
        let pid = choice.process.pid;
        self.sampled = Some(choice.process);
        if s.sampling.dump == leakgate_scenario::DumpMode::Gcdump {
            self.runtime_version = client
                .as_ref()
                .and_then(|c| c.process_info().ok())
                .and_then(|p| p.clr_version)
                .unwrap_or_default();
        }

        let load = self.start_load()?;
        let result = self.sample_loop(&load, &service, client.as_ref(), pid, on_event);
        let final_health = result.as_ref().ok().map(|()| load.check(true));
        on_event(Event::Phase(Phase::Stopping));
        self.load = load.stop();
        // A crash during sampling is reported as such, not as the error it caused.
        let crashed = service.exited().map(|exit| RunFailure::ServiceExited {
            exit: exit.description,
            phase: "sampling".into(),
            log_tail: service.log_tail(20),
        });
        service.stop();
        match (result, crashed) {
            (Err(RunFailure::Interrupted), _) => Err(RunFailure::Interrupted),
            (Err(_), Some(crash)) => Err(crash),
            (Err(e), None) => Err(e),
            (Ok(()), _) => final_health.unwrap_or(Ok(())),
        }
    }

    fn start_load(&self) -> Result<Load, RunFailure> {
        let l = &self.scenario.load;
        match &l.driver {
            LoadSpec::Command(command) => {
                let argv = command.argv(self.port);
                launch::spawn_tool(
                    self.options.layout,
                    "load",
                    &argv,
                    &self.scenario.service.cwd,
                )
                .map(|c| Load::External(Box::new(c)))
                .map_err(|e| RunFailure::Load {
                    message: format!("{}: {e}", command.display()),
                })
            }
            LoadSpec::Builtin(spec) => {
                let plan = LoadPlan {
                    requests: spec
                        .requests
                        .iter()
                        .map(|r| leakgate_scenario::RequestSpec {
                            path: leakgate_scenario::fill_port(&r.path, self.port),
                            ..r.clone()
                        })
                        .collect(),
                    concurrency: spec.concurrency,
                    rate: spec.rate,
                    expect_status: spec.expect_status.clone(),
                    ..LoadPlan::new("127.0.0.1", self.port)
                };
                LoadGenerator::start_with(plan, Arc::clone(&self.options.cancel))
                    .map(|d| Load::Builtin(d, spec.clone()))
                    .map_err(|e| RunFailure::Load {
                        message: leakgate_record::error_text(&e),
                    })
            }
        }
    }

    fn sample_loop(
        &mut self,
        load: &Load,
        service: &Child,
        client: Option<&DiagnosticsClient>,
        pid: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), RunFailure> {
        let scenario = self.scenario;
        let sampling = &scenario.sampling;
        let most = sampling.count.max();
        let auto = matches!(sampling.count, Count::Auto { .. });
        let started = Instant::now();
        let warmup = scenario.load.warmup;
        // load.duration bounds the whole load phase.
        let end = scenario.load.duration.map(|d| started + d);

        on_event(Event::Phase(Phase::Warmup));
        self.wait_until(started + warmup, end, load, service, on_event)?;
        on_event(Event::Phase(Phase::Sampling));
        persist::create_sample_dirs(
            self.options.layout,
            sampling.dump != leakgate_scenario::DumpMode::None,
        )?;
        let baseline_requests = load.requests();

        for index in 0..most {
            if index > 0 {
                match sampling.interval {
                    Interval::EveryRequests(n) => {
                        let wanted =
                            baseline_requests.saturating_add(n.saturating_mul(index as u64));
                        let stall = end.unwrap_or(Instant::now() + MAX_REQUEST_WAIT);
                        self.wait_requests(index, wanted, stall, load, service, on_event)?
                    }
                    Interval::Every(every) => {
                        let due = started + warmup + every * index as u32;
                        self.wait_until(due, end, load, service, on_event)?
                    }
                }
            }
            self.check_service(service, "sampling")?;
            load.check(false)?;
            // Retention paths compare the first judged sample with the last;
            // with `count: auto` any later sample may turn out to be the last.
            let later = if auto {
                index > sampling.warmup_samples
            } else {
                index + 1 == most
            };
            let graph = (index == sampling.warmup_samples || later)
                .then(|| self.options.layout.heap_graph(index))
                .filter(|_| sampling.dump.captures_heap());
            let named = self.dump_names.get_mut().len();
            // With names dumps, a later sample of `count: auto` takes its dump
            // only if it ends the run, decided before the load resumes.
            let decide = self.options.decide.filter(|_| auto);
            let earlier = &self.samples;
            let ends_run = |sample: &CapturedSample| {
                let mut all = earlier.clone();
                all.push(sample.clone());
                decide.is_some_and(|decide| decide(&all))
            };
            let paused_decision = (auto
                && index > sampling.warmup_samples
                && index + 1 < most
                && graph.is_some()
                && sampling.names_dump())
            .then_some(&ends_run as &dyn Fn(&CapturedSample) -> bool);
            let (sample, built, stop) = self.take_sample(
                index,
                started,
                load,
                client,
                pid,
                graph.as_deref(),
                paused_decision,
            )?;
            self.samples.push(sample);
            if self.dump_names.get_mut().len() > named {
                self.rename_earlier_samples()?;
            }
            let source = match (built.built, graph) {
                (Some(graph), _) => Some(HeapGraphSource::Built(Box::new(graph))),
                (None, Some(path)) if path.exists() => Some(HeapGraphSource::File {
                    path,
                    seen_roots: built.seen_roots,
                }),
                _ => None,
            };
            if let Some(source) = source {
                self.keep_heap_graph(index, source);
            }
            on_event(Event::Sample {
                index: index + 1,
                of: most,
            });
            let stop = stop.unwrap_or_else(|| {
                auto && self
                    .options
                    .decide
                    .is_some_and(|decide| decide(&self.samples))
            });
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// A heap snapshot names a nested type without its declaring type
    /// (`TaskNode`), where a dump names it in full
    /// (`System.Threading.SemaphoreSlim+TaskNode`), as budgets, snapshots and
    /// retention paths do. When a dump of this process (a `paths_from: dump`
    /// names dump, or a snapshot's fallback) names types by method table, the
    /// samples taken before it are renamed too, so that one type is one series.
    fn rename_earlier_samples(&mut self) -> Result<(), RunFailure> {
        let names = self.dump_names.get_mut();
        for sample in &mut self.samples {
            if sample
                .managed
                .as_mut()
                .is_some_and(|m| m.rename_types(names))
            {
                persist::write_sample_json(self.options.layout, sample)?;
            }
        }
        Ok(())
    }

    /// Keeps the graph of the first judged sample and of the latest one:
    /// a newer graph replaces the previous later one (its file deleted).
    fn keep_heap_graph(&mut self, index: usize, source: HeapGraphSource) {
        let first_judged = self.scenario.sampling.warmup_samples;
        if index > first_judged {
            self.heap_graphs.retain(|(i, old)| {
                let stale = *i > first_judged;
                if let (true, HeapGraphSource::File { path: file, .. }) = (stale, old) {
                    let _ = std::fs::remove_file(file);
                }
                !stale
            });
        }
        self.heap_graphs.push((index, source));
    }

    /// One sample, with the load paused; also its heap graph when built in
    /// memory (a heap snapshot's; the inspector writes a dump's to `heap_graph`).
    ///
    /// With `ends_run` (`count: auto` and names dumps), whether this sample
    /// ends the run is decided before the load resumes, and only then does it
    /// take its names dump and graph: a later sample's paths matter only if
    /// it is the last. The decision is returned.
    #[allow(clippy::too_many_arguments)]
    fn take_sample(
        &self,
        index: usize,
        started: Instant,
        load: &Load,
        client: Option<&DiagnosticsClient>,
        pid: u32,
        heap_graph: Option<&std::path::Path>,
        ends_run: Option<&dyn Fn(&CapturedSample) -> bool>,
    ) -> Result<(CapturedSample, SampleGraph, Option<bool>), RunFailure> {
        let sampling = &self.scenario.sampling;
        let layout = self.options.layout;
        let fail = sample_failed(index);
        let dump_path = layout.dump(index);
        let trace_path = layout.trace(index);
        // `paths_from: dump`: the samples whose paths are compared take a dump
        // beside their snapshot (where a dump would be; a snapshot has none).
        let names_dump = (heap_graph.is_some() && sampling.names_dump() && ends_run.is_none())
            .then_some(dump_path.as_path());
        let paused = Instant::now();
        load.pause();
        self.check_cancel()?;
        let requests = load.requests();
        let elapsed_secs = started.elapsed().as_secs_f64();
        let mut notes = Vec::new();
        let app_stats = sampling.stats_url.as_ref().and_then(|target| {
            probe::fetch_json(
                target,
                self.port,
                self.scenario.service.allow_remote_probes,
                STATS_TIMEOUT,
                self.cancel(),
            )
            .map_err(|e| notes.push(format!("stats_url: {}", leakgate_record::error_text(&e))))
            .ok()
        });
        let plan = capture::Plan {
            gc_first: sampling.gc_before_sample,
            gc_timeout: GC_TIMEOUT,
            mode: sampling.dump,
            dump_path: &dump_path,
            trace_path: Some(trace_path.as_path()).filter(|_| sampling.keep_dumps),
            names_dump,
        };
        let raw = capture::take(client, pid, &plan, self.cancel());
        let decided = match (raw, ends_run) {
            (Ok(raw), Some(ends_run)) => self.decide_paused(
                raw,
                index,
                elapsed_secs,
                requests,
                &app_stats,
                client,
                ends_run,
            ),
            (raw, _) => raw.map(|raw| (raw, None, None)).map_err(fail),
        };
        load.resume();
        let load_paused_ms = paused.elapsed().as_secs_f64() * 1000.0;
        let (mut raw, analysed, stop) = decided.inspect_err(|_| {
            let _ = std::fs::remove_file(&dump_path);
        })?;
        raw.timings.load_paused_ms = load_paused_ms;
        notes.append(&mut raw.notes);
        // A core dump outside withheap/full mode is a heap snapshot's fallback,
        // or its names dump.
        let inspector = match (
            raw.dump.is_some() || raw.names_dump.is_some(),
            self.options.inspector,
        ) {
            (true, None) => self.fallback_inspector(),
            (_, inspector) => inspector,
        };
        let analysed = match analysed {
            // Decided while paused: the graph only for the last sample, from its names dump.
            Some(mut analysed) => {
                if let (Some(file), Some(snapshot), true) =
                    (heap_graph, &raw.heap_snapshot, stop == Some(true))
                {
                    let t = Instant::now();
                    let graph = capture::snapshot_graph(
                        snapshot,
                        raw.names_dump.as_deref(),
                        inspector,
                        file,
                    );
                    analysed.millis += t.elapsed().as_secs_f64() * 1000.0;
                    graph.map(|graph| {
                        analysed.graph = graph.built;
                        analysed.dump_names = graph.dump_names;
                        analysed.seen_roots = graph.seen_roots;
                        analysed
                    })
                } else {
                    Ok(analysed)
                }
            }
            None => capture::analyse_sample(&raw, inspector, &self.runtime_version, heap_graph),
        };
        let keep = sampling.keep_dumps && (raw.dump.is_some() || raw.names_dump.is_some());
        if !keep {
            let _ = std::fs::remove_file(&dump_path);
        }
        let mut analysed = analysed.map_err(fail)?;
        // Only heap snapshots are renamed: a run of dumps names every type as dumps do.
        if sampling.dump == leakgate_scenario::DumpMode::Gcdump {
            let mut dump_names = self.dump_names.borrow_mut();
            dump_names.extend(std::mem::take(&mut analysed.dump_names));
            if let Some(managed) = analysed.managed.as_mut() {
                managed.rename_types(&dump_names);
            }
        }
        let mut timings = raw.timings;
        timings.analysis_ms = analysed.millis;
        if sampling.dump == leakgate_scenario::DumpMode::None {
            notes.push(
                "no dump taken (sampling.dump: none): managed metrics are absent".to_string(),
            );
        }
        // A kept trace is compressed (about sevenfold), after the service resumed.
        let trace =
            match raw.trace {
                Some(trace) => Some(leakgate_dotnet::gcheap::compress_trace(&trace).map_err(
                    |e| RunFailure::Output {
                        path: trace.display().to_string(),
                        message: e.to_string(),
                    },
                )?),
                None => None,
            };
        let sample = CapturedSample {
            index,
            elapsed_secs,
            requests,
            memory: analysed.memory,
            managed: analysed.managed,
            gc_committed: raw.gc_committed,
            gc_heap: raw.gc_heap,
            app_stats,
            timings,
            // A snapshot's kept trace first: a names dump beside it is only for paths.
            dump: trace.or(keep.then_some(dump_path)),
            notes,
        };
        persist::write_sample(layout, &sample, &raw.maps, &raw.smaps)?;
        let graph = SampleGraph {
            built: analysed.graph,
            seen_roots: analysed.seen_roots,
        };
        Ok((sample, graph, stop))
    }

    /// With the load still paused: analyses the sample (no graph), asks
    /// `ends_run` whether it is the last, and if so takes its names dump.
    #[allow(clippy::too_many_arguments)]
    fn decide_paused(
        &self,
        mut raw: capture::Raw,
        index: usize,
        elapsed_secs: f64,
        requests: u64,
        app_stats: &Option<serde_json::Value>,
        client: Option<&DiagnosticsClient>,
        ends_run: &dyn Fn(&CapturedSample) -> bool,
    ) -> Result<(capture::Raw, Option<capture::SampleAnalysis>, Option<bool>), RunFailure> {
        // A snapshot that fell back to a dump is analysed (graph included)
        // and decided as any other sample, after the load resumes.
        if raw.heap_snapshot.is_none() {
            return Ok((raw, None, None));
        }
        let fail = sample_failed(index);
        let mut analysed =
            capture::analyse_sample(&raw, None, &self.runtime_version, None).map_err(fail)?;
        if let Some(managed) = analysed.managed.as_mut() {
            managed.rename_types(&self.dump_names.borrow());
        }
        let provisional = CapturedSample {
            index,
            elapsed_secs,
            requests,
            memory: analysed.memory.clone(),
            managed: analysed.managed.clone(),
            gc_committed: raw.gc_committed,
            gc_heap: raw.gc_heap,
            app_stats: app_stats.clone(),
            timings: raw.timings.clone(),
            dump: None,
            notes: Vec::new(),
        };
        let stop = ends_run(&provisional);
        if stop {
            let path = self.options.layout.dump(index);
            capture::write_names_dump(client, &path).map_err(fail)?;
            raw.names_dump = Some(path);
        }
        Ok((raw, Some(analysed), Some(stop)))
    }

    /// The inspector for a heap snapshot that fell back to a dump: built
    /// once, when first needed (a `gcdump` run needs no SDK otherwise).
    fn fallback_inspector(&self) -> Option<&Inspector> {
        self.fallback_inspector
            .get_or_init(|| {
                Inspector::ensure_built(None)
                    .ok()
                    .map(|i| i.with_cancel(Arc::clone(&self.options.cancel)))
            })
            .as_ref()
    }

    fn check_service(&self, service: &Child, phase: &str) -> Result<(), RunFailure> {
        if let Some(exit) = service.exited() {
            return Err(RunFailure::ServiceExited {
                exit: exit.description,
                phase: phase.into(),
                log_tail: service.log_tail(20),
            });
        }
        self.check_cancel()
    }

    /// Waits until `when` with the load running; past `end` (load.duration) is a failure.
    fn wait_until(
        &self,
        when: Instant,
        end: Option<Instant>,
        load: &Load,
        service: &Child,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), RunFailure> {
        loop {
            self.check_service(service, "load")?;
            load.check(false)?;
            report_load(load, on_event);
            let now = Instant::now();
            if now >= when {
                return Ok(());
            }
            if end.is_some_and(|e| now >= e) {
                return Err(RunFailure::DurationExceeded {
                    taken: self.samples.len(),
                    planned: self.scenario.sampling.count.max(),
                    duration_secs: self
                        .scenario
                        .load
                        .duration
                        .unwrap_or_default()
                        .as_secs_f64(),
                });
            }
            std::thread::sleep((when - now).min(Duration::from_millis(100)));
        }
    }

    fn wait_requests(
        &self,
        index: usize,
        wanted: u64,
        deadline: Instant,
        load: &Load,
        service: &Child,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), RunFailure> {
        let waiting = Instant::now();
        loop {
            self.check_service(service, "load")?;
            load.check(false)?;
            report_load(load, on_event);
            let seen = load.requests();
            if seen >= wanted {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(RunFailure::LoadStalled {
                    index,
                    wanted,
                    seen,
                    waited_secs: waiting.elapsed().as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn report_load(load: &Load, on_event: &mut dyn FnMut(Event)) {
    if let Load::Builtin(d, _) = load {
        let s = d.summary_so_far();
        on_event(Event::Load {
            requests: s.requests,
            errors: s.errors,
        });
    }
}
