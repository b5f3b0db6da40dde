//! A PASS means "measured, and fine": the binary on small real services (no
//! .NET needed: `dump: none` samples the memory maps) where a measurement
//! could go wrong — a failing load, a wrapped service, a full disk, an output
//! directory that is not leakgate's, names it cannot use, a file name that
//! is not UTF-8.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// A scenario for python's http.server (or `command`), maps only.
fn scenario(dir: &Path, service: &str, requests: &str) -> PathBuf {
    let path = dir.join("svc.yaml");
    std::fs::write(
        &path,
        format!(
            "name: svc\nservice:\n{service}  ready: {{ http: \"http://127.0.0.1:{{port}}/\", timeout: 20s }}\nload:\n  rate: 50\n  requests: [{requests}]\nsampling:\n  every: 400ms\n  count: 3\n  dump: none\n  gc_before_sample: false\n"
        ),
    )
    .unwrap();
    path
}

const HTTP_SERVER: &str =
    "  command: python3\n  args: [-m, http.server, \"{port}\", --bind, 127.0.0.1]\n";

#[test]
fn a_failing_load_is_could_not_run_with_the_counts_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), HTTP_SERVER, "{ path: /no-such-page }");
    let out = dir.path().join("out");
    let run = leakgate_run(&path, &out, &[]);
    assert_eq!(
        run.code, 2,
        "every request failed: not a measurement\n{}",
        run.output
    );
    assert!(run.output.contains("COULD NOT RUN"), "{}", run.output);
    let report = read_report(&out);
    let failure = report["failure"].as_str().unwrap();
    assert!(failure.contains("status 404 ×"), "{failure}");
    assert!(report["load"]["failures"]["status 404"].as_u64().unwrap() > 0);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("status 404 ×"), "{summary}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<error") && junit.contains("status 404"),
        "{junit}"
    );
}

#[test]
fn the_measured_process_is_named_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().display().to_string();
    let service = format!(
        "  shell: true\n  command: \"sleep 1000 & python3 -m http.server {{port}} --bind 127.0.0.1 --directory {marker}\"\n"
    );
    let path = scenario(dir.path(), &service, "{ path: / }");
    let out = dir.path().join("out");
    let run = leakgate_run(&path, &out, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    let report = read_report(&out);
    let sampled = &report["sampled"];
    assert!(
        sampled["command_line"]
            .as_str()
            .unwrap()
            .contains("http.server"),
        "the server, not the shell or sleep: {sampled}"
    );
    assert!(
        sampled["reason"]
            .as_str()
            .unwrap()
            .contains("listens on port")
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Sampled process"), "{summary}");
    assert!(run.output.contains("sampled pid"), "{}", run.output);
    assert!(pids_with(&format!("--directory {marker}")).is_empty());
}

#[test]
fn a_directory_leakgate_did_not_create_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), HTTP_SERVER, "{ path: / }");
    // `--out .` in a Helm repository: its charts/ is not leakgate's.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("charts")).unwrap();
    std::fs::write(repo.join("charts/values.yaml"), "replicas: 3\n").unwrap();
    let run = leakgate_run(&path, &repo, &[]);
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(run.output.contains("did not create"), "{}", run.output);
    assert_eq!(
        std::fs::read_to_string(repo.join("charts/values.yaml")).unwrap(),
        "replicas: 3\n"
    );
    assert!(!repo.join("report.json").exists());

    // Its own directory is reused run after run, clearing only its files.
    let out = dir.path().join("out");
    assert_eq!(leakgate_run(&path, &out, &[]).code, 0);
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let run = leakgate_run(&path, &out, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(out.join(".leakgate-out").is_file());
}

#[test]
fn a_name_taken_from_the_file_name_follows_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), HTTP_SERVER, "{ path: / }");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("name: svc\n", "");
    // `...yaml` has the stem `..`: its reports would land in the parent directory.
    let dots = dir.path().join("...yaml");
    std::fs::write(&dots, text).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(["run", "...yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("add `name:`"), "{stderr}");
    assert!(!dir.path().join("report.json").exists());
}

#[test]
fn a_full_disk_is_could_not_run_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), HTTP_SERVER, "{ path: / }");
    let out = dir.path().join("out");
    // Files may not grow past 48 KiB (SIGXFSZ ignored: writes fail with EFBIG,
    // as on a full disk): the maps of a sample do not fit, the report does.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakgate"));
    cmd.arg("run").arg(&path).arg("--out").arg(&out);
    // SAFETY: signal and setrlimit are async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 48 * 1024,
                rlim_max: 48 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let run = cmd.stdin(Stdio::null()).output().unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.status.code(), Some(2), "{output}");
    let report = read_report(&out);
    let failure = report["failure"].as_str().unwrap();
    assert!(
        failure.contains("cannot write") && failure.contains("sample-00"),
        "{failure}"
    );
}

#[test]
fn a_mapped_file_whose_name_is_not_utf8_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    // The service maps a file named with a byte that is not UTF-8, then serves.
    let script = dir.path().join("svc.py");
    std::fs::write(
        &script,
        "import mmap, os, sys\n\
         p = os.path.join(os.fsencode(sys.argv[2]), b'mapped-\\xff.bin')\n\
         f = open(p, 'wb+'); f.write(b'x' * 8192); f.flush()\n\
         m = mmap.mmap(f.fileno(), 8192)\n\
         import http.server\n\
         http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()\n",
    )
    .unwrap();
    let service = format!(
        "  command: python3\n  args: [\"{}\", \"{{port}}\", \"{}\"]\n",
        script.display(),
        dir.path().display()
    );
    let path = scenario(dir.path(), &service, "{ path: / }");
    let out = dir.path().join("out");
    let run = leakgate_run(&path, &out, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    let maps = std::fs::read_to_string(out.join("samples/sample-00.maps")).unwrap();
    assert!(maps.contains("mapped-\u{fffd}.bin"), "read lossily");
}

#[test]
fn an_error_says_its_cause_once() {
    let run = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(["analyze", "/nonexistent/sample.dmp"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn paths_from_a_dump_without_heap_snapshots_is_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), HTTP_SERVER, "{ path: / }");
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(["run", "--paths-from", "dump", "--out"])
        .arg(&out)
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--paths-from dump applies to heap snapshots: add --dump gcdump"),
        "{stderr}"
    );
    assert!(!out.join("report.json").exists(), "nothing was run");
}
