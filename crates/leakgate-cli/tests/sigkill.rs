//! Even a SIGKILLed leakgate (no chance to clean up) leaves no service behind:
//! the watchdog ends the service's whole process group, grandchildren included.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_killed_leakgate_leaves_no_service_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The server's own command line carries the marker (a directory to serve):
    // `exec -a` would not survive interpreter shims such as pyenv's.
    let marker = dir
        .path()
        .join(format!("leakgate-sigkill-{}", std::process::id()));
    std::fs::create_dir(&marker).unwrap();
    let marker = marker.display().to_string();
    // A wrapper shell with the real server as its child: the server is a
    // grandchild of leakgate, which PDEATHSIG alone would not reach.
    let scenario = dir.path().join("grandchild.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"service:
  shell: true
  command: "bash -c 'python3 -m http.server {{port}} --bind 127.0.0.1 --directory {marker}' ; true"
  ready: {{ http: "http://127.0.0.1:{{port}}/", timeout: 20s }}
load:
  rate: 20
  requests: [{{ path: / }}]
sampling:
  every: 1s
  count: 60
  dump: none
  gc_before_sample: false
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut leakgate = leakgate_spawn(&scenario, &out, &[]);
    let first = out.join("samples/sample-00.json");
    wait_for(Duration::from_secs(60), || first.exists());
    // The server itself, not the wrapper shells whose command lines quote it.
    let server: Vec<u32> = pids_with(&marker)
        .into_iter()
        .filter(|pid| !cmdline(*pid).starts_with("sh") && !cmdline(*pid).starts_with("bash"))
        .collect();
    assert_eq!(server.len(), 1, "the server runs: {server:?}");

    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(leakgate.id() as i32, libc::SIGKILL) };
    let _ = finish(&mut leakgate);
    wait_for(Duration::from_secs(10), || !alive(server[0]));
    assert!(pids_with(&marker).is_empty());
}
