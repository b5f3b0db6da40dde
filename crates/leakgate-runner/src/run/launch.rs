//! Build, launch, wait until ready, and find the process to sample.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use leakgate_scenario::{Command, Scenario, StopSignal};

use super::RunFailure;
use crate::layout::OutputLayout;
use crate::probe::{self, ReadyError};
use crate::process::Child;
use crate::target::{self, Choice};

/// A helper process (the build, an external load tool), logging to `<label>.log`.
pub(super) fn spawn_tool(
    layout: &OutputLayout,
    label: &str,
    argv: &[String],
    cwd: &Path,
) -> std::io::Result<Child> {
    let log = layout.log(label);
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

/// Runs the build to its end, or stops it on Ctrl-C.
pub(super) fn build(
    build: &Command,
    cwd: &Path,
    layout: &OutputLayout,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<(), RunFailure> {
    let argv = build.argv(0);
    let shown = build.display();
    let mut child = spawn_tool(layout, "build", &argv, cwd).map_err(|e| RunFailure::Build {
        status: format!("could not start `{shown}`"),
        log_tail: e.to_string(),
    })?;
    loop {
        if let Some(exit) = child.exited() {
            if exit.success {
                return Ok(());
            }
            return Err(RunFailure::Build {
                status: format!("`{shown}` {}", exit.description),
                log_tail: child.log_tail(20),
            });
        }
        if cancel.load(Ordering::SeqCst) {
            child.stop();
            return Err(RunFailure::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the service with `{port}` filled in and `PORT` in its environment.
pub(super) fn start_service(
    scenario: &Scenario,
    port: u16,
    layout: &OutputLayout,
) -> Result<Child, RunFailure> {
    let service = &scenario.service;
    let argv = service.launch.argv(port);
    let env: Vec<(String, String)> = service
        .env
        .iter()
        .map(|(k, v)| (k.clone(), leakgate_scenario::fill_port(v, port)))
        .chain([("PORT".to_string(), port.to_string())])
        .collect();
    let log = layout.log("service");
    let _ = std::fs::remove_file(&log);
    Child::spawn(
        "service",
        &argv,
        &service.cwd,
        &env,
        Some(&log),
        service.stop_signal,
        service.grace,
    )
    .map_err(|e| RunFailure::Launch {
        message: format!("{}: {e}", service.launch.display()),
    })
}

/// Waits, within `ready.timeout` in all, until the service answers its probe.
pub(super) fn wait_ready(
    scenario: &Scenario,
    service: &Child,
    port: u16,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<(), RunFailure> {
    let ready = &scenario.service.ready;
    let mut alive = || match service.exited() {
        Some(exit) => Err(exit.description),
        None => Ok(()),
    };
    probe::wait_ready(
        &ready.probe,
        port,
        scenario.service.allow_remote_probes,
        ready.timeout,
        cancel,
        &mut alive,
    )
    .map_err(|e| match e {
        ReadyError::Interrupted => RunFailure::Interrupted,
        ReadyError::Exited(exit) => RunFailure::ServiceExited {
            exit,
            phase: "startup".into(),
            log_tail: service.log_tail(20),
        },
        ReadyError::TimedOut { last } => RunFailure::NotReady {
            timeout_secs: ready.timeout.as_secs_f64(),
            last_error: last.map_or_else(
                || "no attempt yet".to_string(),
                |e| leakgate_record::error_text(&e),
            ),
        },
        ReadyError::Unreachable(e) => RunFailure::Launch {
            message: leakgate_record::error_text(&e),
        },
    })
}

/// The process to sample, by evidence (see [`target`]).
pub(super) fn choose_target(
    scenario: &Scenario,
    service: &Child,
    port: u16,
) -> Result<Choice, RunFailure> {
    // The probed port tells which process serves, when the probe is local.
    let endpoint = scenario.service.ready.probe.endpoint();
    let local = endpoint.host.eq_ignore_ascii_case("localhost")
        || endpoint
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let probed_port = local.then(|| endpoint.port.resolve(port));
    target::choose(
        service.pid(),
        probed_port,
        scenario.sampling.needs_runtime(),
    )
    .map_err(|e| RunFailure::NoDiagnostics {
        message: e.to_string(),
    })
}
