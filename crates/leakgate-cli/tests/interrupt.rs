//! Ctrl-C in every phase that waits: for readiness, under load, for a dump
//! the runtime never finishes, for an inspection that never ends. Each time
//! leakgate exits within 3 s with "could not run" (2), leaves nothing
//! running, and still writes its report.
//!
//! The runtime that never answers is a small Python stand-in
//! (`support/fake_runtime.py`) that opens a diagnostics socket the way .NET
//! does; the hanging inspection is the real inspector behind a `dotnet`
//! wrapper (`LEAKGATE_DOTNET`) that sleeps instead of running it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Writes `scenario.yaml` into `dir`.
fn scenario_file(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A service answering HTTP whose runtime misbehaves (see the module docs).
fn fake_runtime(mode: &str, mark: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_runtime.py");
    format!(
        "service:\n  command: python3\n  args: [\"{}\", {mode}]\n  env: {{ FAKE_MARK: \"{}\" }}\n  ready: {{ http: \"http://127.0.0.1:{{port}}/\", timeout: 30s }}\n  shutdown: {{ signal: SIGTERM, grace: 2s }}\nload:\n  rate: 20\n  requests: [{{ path: / }}]\nsampling:\n  every: 1s\n  count: 3\n  dump: withheap\n  gc_before_sample: false\n",
        script.display(),
        mark.display()
    )
}

/// Interrupts leakgate once `ready` says so; checks the promises.
fn interrupt_when(mut leakgate: Leakgate, out: &Path, ready: impl FnMut() -> bool) {
    wait_for(Duration::from_secs(120), ready);
    let pid = leakgate.id();
    let started_by_it = descendants(pid);
    let sent = Instant::now();
    // SAFETY: kill(2) on the leakgate process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let run = finish(&mut leakgate);
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "exit {took:?} after Ctrl-C\n{}",
        run.output
    );
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(run.output.contains("interrupted"), "{}", run.output);
    for p in started_by_it {
        assert!(!alive(p), "pid {p} ({}) survived Ctrl-C", cmdline(p));
    }
    let report = read_report(out);
    assert_eq!(report["outcome"], "error");
    assert!(
        report["failure"].as_str().unwrap().contains("interrupted"),
        "{report}"
    );
}

#[test]
fn while_waiting_for_ready() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = scenario_file(
        dir.path(),
        "service:\n  command: sleep\n  args: [\"3600\"]\n  ready: { tcp: \"{port}\", timeout: 60s }\nload:\n  requests: [{ path: / }]\nsampling:\n  every: 1s\n  count: 3\n  dump: none\n  gc_before_sample: false\n",
    );
    let leakgate = leakgate_spawn(&path, &out, &[]);
    let since = Instant::now();
    let log = out.join("service.log");
    interrupt_when(leakgate, &out, || {
        log.exists() && since.elapsed() > Duration::from_millis(1500)
    });
}

#[test]
fn under_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = scenario_file(
        dir.path(),
        "service:\n  command: python3\n  args: [-m, http.server, \"{port}\", --bind, 127.0.0.1]\n  ready: { http: \"http://127.0.0.1:{port}/\", timeout: 20s }\nload:\n  warmup: 60s\n  concurrency: 8\n  requests: [{ path: / }]\nsampling:\n  every: 1s\n  count: 3\n  dump: none\n  gc_before_sample: false\n",
    );
    let leakgate = leakgate_spawn(&path, &out, &[]);
    let pid = leakgate.id();
    // Under load once the load generator's threads exist.
    interrupt_when(leakgate, &out, || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks.flatten().any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("leakgate-load"))
                })
            })
            .unwrap_or(false)
    });
}

#[test]
fn while_a_dump_is_not_answered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mark = dir.path().join("dump-requested");
    let path = scenario_file(dir.path(), &fake_runtime("hang-dump", &mark));
    let leakgate = leakgate_spawn(&path, &out, &["--no-build"]);
    interrupt_when(leakgate, &out, || mark.exists());
}

#[test]
fn while_the_inspection_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mark = dir.path().join("inspector-started");
    // The real dotnet for everything but running the inspector, which "hangs".
    let wrapper = dir.path().join("dotnet");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$1\" in *LeakgateInspector.dll) touch \"{}\"; exec sleep 3600;; esac\nexec dotnet \"$@\"\n",
            mark.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = scenario_file(
        dir.path(),
        &fake_runtime("write-dump", &dir.path().join("dump-requested")),
    );
    let leakgate = leakgate_spawn_with(
        &path,
        &out,
        &[],
        &[("LEAKGATE_DOTNET", wrapper.to_str().unwrap())],
    );
    interrupt_when(leakgate, &out, || mark.exists());
}
