//! A dead service: every attempt fails, and the workers back off instead of
//! spinning. Alone in its test binary so the process CPU time is ours.

use std::net::TcpListener;
use std::thread::sleep;
use std::time::Duration;

use leakgate_runner::load::{LoadGenerator, LoadPlan, RequestSpec};

/// User + system CPU time of this process, from /proc (Linux clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_comm
        .split(' ')
        .skip(11) // fields 14 and 15 (utime, stime) counted from after `comm`
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

#[test]
fn dead_port_counts_errors_without_a_busy_loop() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // listener dropped: nothing listens there now
    let cpu_before = cpu_time();
    let load = LoadGenerator::start(LoadPlan {
        requests: vec![RequestSpec::get("/")],
        concurrency: 4,
        ..LoadPlan::new("127.0.0.1", port)
    })
    .unwrap();
    sleep(Duration::from_secs(1));
    let summary = load.stop();
    let cpu = cpu_time() - cpu_before;

    assert!(summary.errors > 0);
    assert_eq!(summary.requests, summary.errors);
    assert_eq!(
        summary.by_error.get("connection refused"),
        Some(&summary.errors),
        "{summary:?}"
    );
    assert!(summary.by_status.is_empty());
    // Backoff 10 ms doubling to 500 ms: ~7 attempts per worker per second.
    assert!(
        summary.errors <= 60,
        "{} attempts in 1 s: backoff not working",
        summary.errors
    );
    assert!(
        cpu < Duration::from_millis(300),
        "used {cpu:?} CPU in 1 s against a dead port"
    );
}
