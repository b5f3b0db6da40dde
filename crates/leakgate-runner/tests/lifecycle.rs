//! The runner's process lifecycle, on small real processes (no .NET needed):
//! a service that is sampled by its memory maps only, an external load tool,
//! a service that dies at start, one that never becomes ready, a failing
//! build. Whatever happens, nothing it started survives.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use leakgate_runner::layout::OutputLayout;
use leakgate_runner::{RunFailure, RunOptions, RunRecord, run};

/// A tiny HTTP service: python's http.server on `{port}`.
const SERVICE: &str = r#"
service:
  command: python3
  args: [-m, http.server, "{port}", --bind, 127.0.0.1]
  ready: { http: "http://127.0.0.1:{port}/", timeout: 20s }
  shutdown: { signal: SIGTERM, grace: 2s }
"#;

/// Memory maps only: no dump, no induced GC, so no .NET runtime is needed.
const SAMPLING: &str = r#"
sampling:
  every: 400ms
  count: 3
  dump: none
  gc_before_sample: false
"#;

fn run_yaml(dir: &Path, yaml: &str) -> RunRecord {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    let scenario = leakgate_scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let layout = OutputLayout::new(dir.join("out"), &scenario.snapshot.path);
    layout.prepare().unwrap();
    let options = RunOptions {
        layout: &layout,
        inspector: None,
        cancel: Arc::new(AtomicBool::new(false)),
        skip_build: false,
        decide: None,
    };
    run(&scenario, &options, &mut |_| {})
}

/// Process ids whose command line contains `needle`, other than ourselves.
fn processes_with(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn a_service_is_sampled_by_its_maps_with_built_in_load() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  concurrency: 2\n  rate: 50\n  requests: [{{ path: / }}]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.samples.len(), 3);
    assert!(outcome.load.requests > 10, "{:?}", outcome.load);
    assert_eq!(outcome.load.errors, 0);
    for s in &outcome.samples {
        assert!(s.memory.committed_total > 0);
        assert!(s.managed.is_none());
        assert!(
            dir.path()
                .join(format!("out/samples/sample-{:02}.json", s.index))
                .exists()
        );
    }
    assert!(outcome.samples[2].requests > outcome.samples[0].requests);
    assert!(
        processes_with(&format!("http.server {}", outcome.port)).is_empty(),
        "the service is stopped"
    );
}

#[test]
fn an_external_load_tool_runs_and_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("leakgate-load-{}", std::process::id());
    let yaml = format!(
        "{SERVICE}load:\n  command: [bash, -c, \"exec -a {marker} sleep 300\"]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.samples.len(), 3);
    assert!(
        processes_with(&marker).is_empty(),
        "the load tool is stopped"
    );
}

#[test]
fn a_service_that_dies_at_start_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "service:\n  command: sh\n  args: [-c, \"echo starting; echo bad config >&2; exit 3\"]\n  ready: {{ tcp: \"{{port}}\", timeout: 20s }}\nload:\n  requests: [{{ path: / }}]\n{SAMPLING}"
    );
    let started = Instant::now();
    let outcome = run_yaml(dir.path(), &yaml);
    match outcome.failure {
        Some(RunFailure::ServiceExited {
            exit,
            phase,
            log_tail,
        }) => {
            assert_eq!(exit, "exited with code 3");
            assert_eq!(phase, "startup");
            assert!(log_tail.contains("bad config"), "{log_tail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no waiting for the full ready timeout"
    );
    assert!(outcome.samples.is_empty());
}

#[test]
fn a_service_that_never_becomes_ready_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("leakgate-never-ready-{}", std::process::id());
    let yaml = format!(
        "service:\n  command: bash\n  args: [-c, \"exec -a {marker} sleep 300\"]\n  ready: {{ tcp: \"{{port}}\", timeout: 1s }}\nload:\n  requests: [{{ path: / }}]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    assert!(
        matches!(outcome.failure, Some(RunFailure::NotReady { .. })),
        "{:?}",
        outcome.failure
    );
    assert!(processes_with(&marker).is_empty(), "the service is stopped");
}

#[test]
fn a_failing_build_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}load:\n  requests: [{{ path: / }}]\n{SAMPLING}",
        SERVICE.replace(
            "  command: python3",
            "  build: sh -c 'echo compile error CS1002 >&2; exit 1'\n  command: python3"
        )
    );
    let outcome = run_yaml(dir.path(), &yaml);
    match outcome.failure {
        Some(RunFailure::Build { log_tail, .. }) => {
            assert!(log_tail.contains("CS1002"), "{log_tail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_service_that_is_not_dotnet_cannot_be_dumped() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  requests: [{{ path: / }}]\n{}",
        SAMPLING.replace("  dump: none\n", "")
    );
    let outcome = run_yaml(dir.path(), &yaml);
    match outcome.failure {
        Some(RunFailure::NoDiagnostics { message }) => {
            assert!(message.contains("dump: none"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failing_load_tool_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  command: [sh, -c, \"echo no such target >&2; exit 4\"]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    match outcome.failure {
        Some(RunFailure::Load { message }) => assert!(
            message.contains("exited with code 4") && message.contains("no such target"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_shell_command_line_is_run_and_its_whole_group_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // The server's command line carries the marker (the directory it serves).
    let marker = dir
        .path()
        .join(format!("leakgate-shell-{}", std::process::id()));
    std::fs::create_dir(&marker).unwrap();
    let marker = marker.display().to_string();
    // A wrapper shell that starts the real server as a child, like a launcher script.
    let service = format!(
        "service:\n  shell: true\n  command: \"bash -c 'python3 -m http.server {{port}} --bind 127.0.0.1 --directory {marker}' ; true\"\n  ready: {{ http: \"http://127.0.0.1:{{port}}/\", timeout: 20s }}\n"
    );
    let yaml = format!("{service}load:\n  requests: [{{ path: / }}]\n  rate: 20\n{SAMPLING}");
    let outcome = run_yaml(dir.path(), &yaml);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.samples.len(), 3);
    // The samples are of the server, not of the wrapper shell: python maps its interpreter.
    let maps = std::fs::read_to_string(dir.path().join("out/samples/sample-00.maps")).unwrap();
    assert!(maps.contains("python"), "sampled the server\n{maps}");
    assert!(
        processes_with(&format!("--directory {marker}")).is_empty(),
        "the server behind the shell is stopped"
    );
}

#[test]
fn too_few_requests_for_every_requests_stall_within_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  rate: 5\n  duration: 2s\n  requests: [{{ path: / }}]\nsampling:\n  every_requests: 1000\n  count: 3\n  dump: none\n  gc_before_sample: false\n"
    );
    let started = Instant::now();
    let outcome = run_yaml(dir.path(), &yaml);
    match outcome.failure {
        Some(RunFailure::LoadStalled {
            index,
            wanted,
            seen,
            ..
        }) => {
            assert_eq!(index, 1);
            assert!(seen < wanted, "{seen} < {wanted}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(outcome.samples.len(), 1, "the baseline sample is kept");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_shell_build_line_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}load:\n  requests: [{{ path: / }}]\n{SAMPLING}",
        SERVICE.replace(
            "  command: python3",
            "  shell: true\n  build: \"test 'a b' = 'a b' && echo built-ok\"\n  command: python3"
        )
    );
    let outcome = run_yaml(dir.path(), &yaml);
    assert_eq!(outcome.failure, None);
    let log = std::fs::read_to_string(dir.path().join("out/build.log")).unwrap();
    assert!(log.contains("built-ok"), "{log}");
}

/// A server behind a wrapper that is not its only parent: the sampled process
/// is the one listening on the probed port, and the outcome says so.
#[test]
fn the_process_listening_on_the_port_is_the_one_measured() {
    for wrapper in [
        "python3 -m http.server {port} --bind 127.0.0.1 --directory {dir} 2>&1 | cat",
        "sleep 1000 & python3 -m http.server {port} --bind 127.0.0.1 --directory {dir}",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().display().to_string();
        let line = wrapper.replace("{dir}", &marker);
        let yaml = format!(
            "service:\n  shell: true\n  command: \"{line}\"\n  ready: {{ http: \"http://127.0.0.1:{{port}}/\", timeout: 20s }}\nload:\n  requests: [{{ path: / }}]\n  rate: 20\n{SAMPLING}"
        );
        let outcome = run_yaml(dir.path(), &yaml);
        assert_eq!(outcome.failure, None, "{line}");
        let sampled = outcome.sampled.expect("the sampled process is recorded");
        assert!(
            sampled.command_line.contains("http.server"),
            "{line}: sampled {sampled:?}"
        );
        assert!(
            sampled
                .reason
                .contains(&format!("listens on port {}", outcome.port)),
            "{sampled:?}"
        );
        let maps = std::fs::read_to_string(dir.path().join("out/samples/sample-00.maps")).unwrap();
        assert!(maps.contains("python"), "{line}: sampled the server");
        assert!(processes_with(&format!("--directory {marker}")).is_empty());
    }
}

/// A load that fails is no measurement: every request answering 404 stops
/// the run (exit 2 in the CLI), with the failures counted by kind.
#[test]
fn a_failing_load_cannot_pass() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  concurrency: 2\n  requests: [{{ path: /no-such-page }}]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    match &outcome.failure {
        Some(RunFailure::LoadUnhealthy {
            requests,
            errors,
            failures,
            ..
        }) => {
            assert_eq!(requests, errors);
            assert!(failures.starts_with("status 404 ×"), "{failures}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outcome.load.failures.get("status 404"),
        Some(&outcome.load.errors)
    );

    // The same answers, expected: the run measures.
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{SERVICE}load:\n  concurrency: 2\n  expect_status: [404]\n  requests: [{{ path: /no-such-page }}]\n{SAMPLING}"
    );
    let outcome = run_yaml(dir.path(), &yaml);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.load.errors, 0);
}
