//! The run: build → launch → ready → load (warm-up) → samples → stop.
//!
//! Whatever happens, `run` returns the samples taken so far, and every child
//! it started is stopped before it returns (the `Child` guards see to that on
//! every path, including panics and early returns).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::Inspector;
use leakgate_dotnet::ipc::DiagnosticsClient;
use leakgate_scenario::{Argv, DumpMode, LoadedScenario, StopSignal};
use serde::{Deserialize, Serialize};

use crate::capture::{self, CapturedSample};
use crate::load::{LoadDriver, LoadPlan, LoadSummary, RequestSpec};
use crate::process::{self, Child};
use crate::ready::{self, Probe};

/// What the runner reports while it works (for a progress bar).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Phase(Phase),
    /// Load progress: completed requests and errors so far.
    Load {
        requests: u64,
        errors: u64,
    },
    /// A sample was taken and analysed.
    Sample {
        index: usize,
        of: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Build,
    Launch,
    Ready,
    Warmup,
    Sampling,
    Stopping,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Build => "building",
            Phase::Launch => "launching",
            Phase::Ready => "waiting for ready",
            Phase::Warmup => "warming up",
            Phase::Sampling => "sampling",
            Phase::Stopping => "stopping",
        }
    }
}

/// Why a run could not be completed. The samples taken before it are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunFailure {
    #[error("the build failed ({status}): {log_tail}")]
    Build { status: String, log_tail: String },
    #[error("could not start the service: {message}")]
    Launch { message: String },
    #[error("the service {exit} during the {phase} phase; last lines of its log:\n{log_tail}")]
    ServiceExited {
        exit: String,
        phase: String,
        log_tail: String,
    },
    #[error("the service was not ready after {timeout_secs}s ({last_error})")]
    NotReady {
        timeout_secs: f64,
        last_error: String,
    },
    #[error("the service is not a .NET process leakgate can talk to: {message}")]
    NoDiagnostics { message: String },
    #[error("sample {index}: {message}")]
    Sample { index: usize, message: String },
    #[error("the load generator could not start: {message}")]
    Load { message: String },
    #[error(
        "not enough requests: waited {waited_secs}s for {wanted} requests before sample {index}, saw {seen}"
    )]
    LoadStalled {
        index: usize,
        wanted: u64,
        seen: u64,
        waited_secs: f64,
    },
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

/// The outcome of a run: always the samples so far, plus the failure if any.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub samples: Vec<CapturedSample>,
    pub load: LoadSummary,
    pub failure: Option<RunFailure>,
    /// The service's port (`{port}`).
    pub port: u16,
    pub service_log: PathBuf,
}

/// Settings that come from the command line rather than the scenario.
pub struct RunOptions<'a> {
    pub out_dir: PathBuf,
    pub inspector: Option<&'a Inspector>,
    /// Set from a Ctrl-C handler; the run winds down when it turns true.
    pub cancel: Arc<AtomicBool>,
    /// Skip the scenario's build step.
    pub skip_build: bool,
}

/// Runs the scenario. `on_event` is called from this thread only.
pub fn run(
    loaded: &LoadedScenario,
    options: &RunOptions,
    on_event: &mut dyn FnMut(Event),
) -> RunOutcome {
    let mut state = State {
        loaded,
        options,
        port: 0,
        samples: Vec::new(),
        load: LoadSummary::default(),
        service_log: options.out_dir.join("service.log"),
    };
    // Once Ctrl-C was pressed, whatever broke next (a dump cut short, say) is
    // the interruption's doing: report the interruption.
    let failure = state.execute(on_event).err().map(|f| {
        if options.cancel.load(Ordering::SeqCst) {
            RunFailure::Interrupted
        } else {
            f
        }
    });
    RunOutcome {
        samples: state.samples,
        load: state.load,
        failure,
        port: state.port,
        service_log: state.service_log,
    }
}

struct State<'a> {
    loaded: &'a LoadedScenario,
    options: &'a RunOptions<'a>,
    port: u16,
    samples: Vec<CapturedSample>,
    load: LoadSummary,
    service_log: PathBuf,
}

/// The load while it runs: the built-in client or an external tool.
enum Load {
    Builtin(LoadDriver),
    External(Box<Child>),
}

impl Load {
    fn requests(&self) -> u64 {
        match self {
            Load::Builtin(d) => d.requests_sent(),
            Load::External(_) => 0,
        }
    }
    /// An external load tool that failed ends the run: without load the samples say nothing.
    fn check(&self) -> Result<(), RunFailure> {
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
            Load::Builtin(_) => Ok(()),
        }
    }
    fn pause(&self) {
        if let Load::Builtin(d) = self {
            d.pause();
        }
    }
    fn resume(&self) {
        if let Load::Builtin(d) = self {
            d.resume();
        }
    }
    fn stop(self) -> LoadSummary {
        match self {
            Load::Builtin(d) => d.stop(),
            Load::External(mut c) => {
                c.stop();
                LoadSummary::default()
            }
        }
    }
}

impl State<'_> {
    fn execute(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<(), RunFailure> {
        let s = &self.loaded.scenario;
        std::fs::create_dir_all(&self.options.out_dir).map_err(|e| RunFailure::Launch {
            message: format!("cannot create {}: {e}", self.options.out_dir.display()),
        })?;
        let cwd = self
            .loaded
            .resolve(s.service.cwd.as_deref().unwrap_or(Path::new(".")));
        self.port = ready::free_port().map_err(|e| RunFailure::Launch {
            message: e.to_string(),
        })?;
        let fill = |text: &str| text.replace("{port}", &self.port.to_string());

        if let Some(build) = s
            .service
            .build
            .as_ref()
            .filter(|_| !self.options.skip_build)
        {
            on_event(Event::Phase(Phase::Build));
            self.build(build, &cwd)?;
        }
        self.check_cancel()?;

        on_event(Event::Phase(Phase::Launch));
        let argv: Vec<String> = if s.service.shell {
            // `command` is a shell line as written; `args` are words, quoted onto it.
            let args =
                shlex::try_join(s.service.args.iter().map(String::as_str)).unwrap_or_default();
            let line = format!("{} {args}", s.service.command);
            vec!["sh".into(), "-c".into(), fill(line.trim_end())]
        } else {
            std::iter::once(s.service.command.clone())
                .chain(s.service.args.iter().map(|a| fill(a)))
                .collect()
        };
        let env: Vec<(String, String)> = s
            .service
            .env
            .iter()
            .map(|(k, v)| (k.clone(), fill(v)))
            .chain([("PORT".to_string(), self.port.to_string())])
            .collect();
        let _ = std::fs::remove_file(&self.service_log);
        let mut service = Child::spawn(
            "service",
            &argv,
            &cwd,
            &env,
            Some(&self.service_log),
            s.service.shutdown.signal,
            s.service.shutdown.grace.get(),
        )
        .map_err(|e| RunFailure::Launch {
            message: format!("{}: {e}", argv.join(" ")),
        })?;

        on_event(Event::Phase(Phase::Ready));
        self.wait_ready(&service, &fill)?;
        // The process to sample: the .NET process in the service's group. A
        // scenario that asks for neither dumps nor induced GCs can also sample
        // a service leakgate cannot talk to (memory maps only).
        let sampling = &s.sampling;
        let needs_runtime = sampling.gc_before_sample || sampling.dump != DumpMode::None;
        let (pid, client) = match process::find_dotnet_process(service.pid()) {
            Some(client) => (client.pid(), Some(client)),
            None if !needs_runtime => (process::main_process(service.pid()), None),
            None => {
                return Err(RunFailure::NoDiagnostics {
                    message: format!(
                        "no diagnostics socket for pid {} or its children in $TMPDIR or /tmp (is DOTNET_EnableDiagnostics=0 set?); \
                         a service that is not .NET can only be sampled with `dump: none` and `gc_before_sample: false`",
                        service.pid()
                    ),
                });
            }
        };

        let load = self.start_load(&fill, &cwd)?;
        let result = self.sample_loop(&load, &mut service, client.as_ref(), pid, on_event);
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
            (result, _) => result,
        }
    }

    /// A helper process (the build, an external load tool), logging to `<label>.log`.
    fn spawn_tool(&self, label: &str, argv: &[String], cwd: &Path) -> std::io::Result<Child> {
        let log = self.options.out_dir.join(format!("{label}.log"));
        let _ = std::fs::remove_file(&log);
        Child::spawn(
            label,
            argv,
            cwd,
            &[],
            Some(&log),
            StopSignal::Term,
            Duration::from_secs(2),
        )
    }

    /// Fresh `samples/` and `dumps/` (0700): nothing from an earlier run in the
    /// same directory may be mistaken for this run's, and old dumps go.
    fn prepare_output_dirs(&self) -> Result<(), RunFailure> {
        let out = &self.options.out_dir;
        let fail = |what: &Path, e: std::io::Error| RunFailure::Launch {
            message: format!("cannot prepare {}: {e}", what.display()),
        };
        for dir in [out.join("samples"), out.join("dumps")] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| fail(&dir, e))?;
            }
        }
        let dumps = out.join("dumps");
        create_private_dir(&dumps).map_err(|e| fail(&dumps, e))?;
        let samples = out.join("samples");
        std::fs::create_dir_all(&samples).map_err(|e| fail(&samples, e))
    }

    fn check_cancel(&self) -> Result<(), RunFailure> {
        if self.options.cancel.load(Ordering::SeqCst) {
            Err(RunFailure::Interrupted)
        } else {
            Ok(())
        }
    }

    fn build(&self, build: &Argv, cwd: &Path) -> Result<(), RunFailure> {
        let s = &self.loaded.scenario;
        let argv = if s.service.shell {
            vec!["sh".into(), "-c".into(), build.shell_line()]
        } else {
            build.words.clone()
        };
        let mut child = self
            .spawn_tool("build", &argv, cwd)
            .map_err(|e| RunFailure::Build {
                status: format!("could not start `{}`", argv.join(" ")),
                log_tail: e.to_string(),
            })?;
        loop {
            if let Some(exit) = child.exited() {
                if exit.success {
                    return Ok(());
                }
                return Err(RunFailure::Build {
                    status: format!("`{}` {}", argv.join(" "), exit.description),
                    log_tail: child.log_tail(20),
                });
            }
            if self.check_cancel().is_err() {
                child.stop();
                return Err(RunFailure::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&self, service: &Child, fill: &dyn Fn(&str) -> String) -> Result<(), RunFailure> {
        let ready = &self.loaded.scenario.service.ready;
        let probe = match (&ready.http, &ready.tcp) {
            (Some(url), _) => Probe::http(&fill(url)),
            (None, Some(tcp)) => Probe::tcp(&fill(tcp)),
            (None, None) => Err("no readiness probe".into()),
        }
        .map_err(|message| RunFailure::Launch { message })?;
        let started = Instant::now();
        let mut last_error = String::from("no attempt yet");
        while started.elapsed() < ready.timeout.get() {
            if let Some(exit) = service.exited() {
                return Err(RunFailure::ServiceExited {
                    exit: exit.description,
                    phase: "startup".into(),
                    log_tail: service.log_tail(20),
                });
            }
            self.check_cancel()?;
            match probe.check(Duration::from_secs(2)) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(RunFailure::NotReady {
            timeout_secs: ready.timeout.get().as_secs_f64(),
            last_error,
        })
    }

    fn start_load(&self, fill: &dyn Fn(&str) -> String, cwd: &Path) -> Result<Load, RunFailure> {
        let l = &self.loaded.scenario.load;
        if let Some(command) = &l.command {
            let argv: Vec<String> = command.words.iter().map(|a| fill(a)).collect();
            return self
                .spawn_tool("load", &argv, cwd)
                .map(|c| Load::External(Box::new(c)))
                .map_err(|e| RunFailure::Load {
                    message: format!("{}: {e}", argv.join(" ")),
                });
        }
        let plan = LoadPlan {
            host: "127.0.0.1".into(),
            port: self.port,
            requests: l
                .requests
                .iter()
                .map(|r| RequestSpec {
                    method: r.method.clone(),
                    path: fill(&r.path),
                    body: r.body.clone(),
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    weight: r.weight,
                })
                .collect(),
            concurrency: l.concurrency,
            rate: l.rate,
            max_requests: None,
        };
        LoadDriver::start(plan)
            .map(Load::Builtin)
            .map_err(|e| RunFailure::Load {
                message: e.to_string(),
            })
    }

    fn sample_loop(
        &mut self,
        load: &Load,
        service: &mut Child,
        client: Option<&DiagnosticsClient>,
        pid: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), RunFailure> {
        let scenario = &self.loaded.scenario;
        let sampling = &scenario.sampling;
        let count = sampling.count;
        let started = Instant::now();
        let warmup = scenario.load.warmup.get();
        let every = sampling.every.map(|d| d.get()).or_else(|| {
            scenario
                .load
                .duration
                .map(|d| d.get().saturating_sub(warmup) / (count.max(2) as u32 - 1))
        });
        // The bound on waiting for `every_requests`: the end of the load's duration,
        // else 10 minutes after the warm-up.
        let deadline = match scenario.load.duration {
            Some(d) => started + d.get(),
            None => started + warmup + Duration::from_secs(600),
        };

        on_event(Event::Phase(Phase::Warmup));
        self.wait_until(started + warmup, load, service, on_event)?;
        on_event(Event::Phase(Phase::Sampling));

        self.prepare_output_dirs()?;
        let baseline_requests = load.requests();

        for index in 0..count {
            if index > 0 {
                match (every, sampling.every_requests) {
                    (_, Some(n)) => {
                        let wanted = baseline_requests + n * index as u64;
                        self.wait_requests(index, wanted, deadline, load, service, on_event)?
                    }
                    (Some(every), None) => self.wait_until(
                        started + warmup + every * index as u32,
                        load,
                        service,
                        on_event,
                    )?,
                    (None, None) => {
                        unreachable!("the scenario validation requires a sampling interval")
                    }
                }
            }
            self.check_service(service, "sampling")?;
            let sample = self.take_sample(index, started, load, client, pid)?;
            self.samples.push(sample);
            on_event(Event::Sample {
                index: index + 1,
                of: count,
            });
        }
        Ok(())
    }

    fn take_sample(
        &self,
        index: usize,
        started: Instant,
        load: &Load,
        client: Option<&DiagnosticsClient>,
        pid: u32,
    ) -> Result<CapturedSample, RunFailure> {
        let sampling = &self.loaded.scenario.sampling;
        let fail = |e: capture::CaptureError| RunFailure::Sample {
            index,
            message: e.to_string(),
        };
        let dump_path = self
            .options
            .out_dir
            .join("dumps")
            .join(format!("sample-{index:02}.dump"));
        let paused = Instant::now();
        load.pause();
        let requests = load.requests();
        let elapsed_secs = started.elapsed().as_secs_f64();
        let mut notes = Vec::new();
        let app_stats = sampling.stats_url.as_ref().and_then(|url| {
            let url = url.replace("{port}", &self.port.to_string());
            let answer = ready::fetch(&url, Duration::from_secs(10)).and_then(|body| {
                serde_json::from_str(&body).map_err(|e| format!("{url}: not JSON: {e}"))
            });
            answer
                .map_err(|e| notes.push(format!("stats_url: {e}")))
                .ok()
        });
        let raw = capture::take(
            client,
            pid,
            sampling.gc_before_sample,
            sampling.dump,
            &dump_path,
        );
        load.resume();
        let load_paused_ms = paused.elapsed().as_secs_f64() * 1000.0;
        let mut raw = raw.map_err(|e| {
            let _ = std::fs::remove_file(&dump_path);
            fail(e)
        })?;
        raw.timings.load_paused_ms = load_paused_ms;
        let analysed = capture::analyse(&raw, self.options.inspector);
        let keep = sampling.keep_dumps && raw.dump.is_some();
        if !keep {
            let _ = std::fs::remove_file(&dump_path);
        }
        let (memory, managed, analysis_ms) = analysed.map_err(fail)?;
        let mut timings = raw.timings;
        timings.analysis_ms = analysis_ms;
        if raw.dump.is_none() {
            notes.push(
                "no dump taken (sampling.dump: none): managed metrics are absent".to_string(),
            );
        }
        let sample = CapturedSample {
            index,
            elapsed_secs,
            requests,
            memory,
            managed,
            app_stats,
            timings,
            dump: keep.then_some(dump_path),
            notes,
        };
        // The maps travel with the sample, so regions can be analysed again later.
        let samples_dir = self.options.out_dir.join("samples");
        let _ = std::fs::write(
            samples_dir.join(format!("sample-{index:02}.maps")),
            &raw.maps,
        );
        let _ = std::fs::write(
            samples_dir.join(format!("sample-{index:02}.smaps")),
            &raw.smaps,
        );
        let json = serde_json::to_string_pretty(&sample).expect("a sample serialises");
        let _ = std::fs::write(samples_dir.join(format!("sample-{index:02}.json")), json);
        Ok(sample)
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

    fn wait_until(
        &self,
        when: Instant,
        load: &Load,
        service: &Child,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), RunFailure> {
        loop {
            self.check_service(service, "load")?;
            load.check()?;
            report_load(load, on_event);
            let now = Instant::now();
            if now >= when {
                return Ok(());
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
            load.check()?;
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
    if let Load::Builtin(d) = load {
        let s = d.snapshot();
        on_event(Event::Load {
            requests: s.requests,
            errors: s.errors,
        });
    }
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}
