//! The load generator against a real (in-test) HTTP server.

mod load_support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use leakgate_runner::load::{LoadError, LoadGenerator, LoadPlan, RequestSpec};
use load_support::{Behaviour, Server};

fn plan(server: &Server, requests: Vec<RequestSpec>) -> LoadPlan {
    LoadPlan {
        requests,
        ..LoadPlan::new("127.0.0.1", server.port)
    }
}

/// Runs until the workers exit by themselves at `max_requests`.
fn run_to_cap(plan: LoadPlan) -> leakgate_runner::load::LoadSummary {
    let cap = plan.max_requests.expect("a capped plan");
    let load = LoadGenerator::start(plan).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !load.finished() {
        assert!(
            Instant::now() < deadline,
            "only {} of {cap} requests done",
            load.requests_sent()
        );
        sleep(Duration::from_millis(5));
    }
    assert_eq!(load.requests_sent(), cap);
    load.stop()
}

#[test]
fn weighted_mix_is_exact_and_keep_alive_reuses_connections() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        concurrency: 4,
        max_requests: Some(400),
        ..plan(
            &server,
            vec![
                RequestSpec::get("/a").with_weight(3),
                RequestSpec::get("/b?x=1"),
            ],
        )
    });
    assert_eq!((server.hits("/a"), server.hits("/b")), (300, 100));
    assert_eq!(summary.requests, 400);
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.by_status.get(&200), Some(&400));
    let sent: Vec<(&str, u64)> = summary
        .per_request
        .iter()
        .map(|t| (t.path.as_str(), t.sent))
        .collect();
    assert_eq!(sent, [("/a", 300), ("/b?x=1", 100)]);
    assert!(
        server.accepted() <= 4,
        "{} connections for 400 requests",
        server.accepted()
    );
    assert!(
        summary.p50_ms > 0.0
            && summary.p50_ms <= summary.p99_ms
            && summary.p99_ms <= summary.max_ms
    );
}

#[test]
fn max_requests_is_exact_with_many_workers() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        concurrency: 8,
        max_requests: Some(37),
        ..plan(&server, vec![RequestSpec::get("/")])
    });
    assert_eq!(summary.requests, 37);
    // Give stragglers a moment: nothing more may arrive.
    sleep(Duration::from_millis(100));
    assert_eq!(server.total(), 37);
}

#[test]
fn chunked_bodies_keep_the_connection_in_sync() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        concurrency: 2,
        max_requests: Some(300),
        ..plan(
            &server,
            vec![
                RequestSpec::get("/chunked"),
                RequestSpec::get("/plain"),
                RequestSpec::get("/big-chunked"),
            ],
        )
    });
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(
        (
            server.hits("/chunked"),
            server.hits("/plain"),
            server.hits("/big-chunked")
        ),
        (100, 100, 100)
    );
    assert!(
        server.accepted() <= 2,
        "desync forced {} connections",
        server.accepted()
    );
}

#[test]
fn non_2xx_counts_as_error_and_is_tallied_by_status() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        concurrency: 2,
        max_requests: Some(100),
        ..plan(
            &server,
            vec![RequestSpec::get("/ok"), RequestSpec::get("/fail")],
        )
    });
    assert_eq!(summary.requests, 100);
    assert_eq!(summary.errors, 50);
    assert_eq!(summary.by_status.get(&200), Some(&50));
    assert_eq!(summary.by_status.get(&500), Some(&50));
    let fail = &summary.per_request[1];
    assert_eq!(
        (fail.path.as_str(), fail.sent, fail.errors),
        ("/fail", 50, 50)
    );
    assert_eq!(summary.per_request[0].errors, 0);
    assert!(server.accepted() <= 2, "a 500 must not cost the connection");
}

#[test]
fn connection_close_header_reconnects_without_errors() {
    let server = Server::with(Behaviour {
        close_after: Some(5),
        close_silently: false,
    });
    let summary = run_to_cap(LoadPlan {
        max_requests: Some(100),
        ..plan(
            &server,
            vec![RequestSpec::get("/"), RequestSpec::get("/chunked")],
        )
    });
    assert_eq!((summary.requests, summary.errors), (100, 0), "{summary:?}");
    assert_eq!(server.accepted(), 20);
}

#[test]
fn silently_closed_keep_alive_is_retried_once() {
    let server = Server::with(Behaviour {
        close_after: Some(5),
        close_silently: true,
    });
    let summary = run_to_cap(LoadPlan {
        max_requests: Some(100),
        ..plan(&server, vec![RequestSpec::get("/")])
    });
    assert_eq!((summary.requests, summary.errors), (100, 0), "{summary:?}");
    assert_eq!(server.total(), 100, "a retry must not send a request twice");
    assert_eq!(server.accepted(), 20);
}

#[test]
fn bodies_and_headers_are_sent() {
    let server = Server::start();
    let post = RequestSpec::new("POST", "/items")
        .with_body(r#"{"n":1}"#)
        .with_header("Content-Type", "application/json");
    let summary = run_to_cap(LoadPlan {
        max_requests: Some(10),
        ..plan(&server, vec![post, RequestSpec::new("PUT", "/empty")])
    });
    assert_eq!(summary.errors, 0);
    assert_eq!(server.body_bytes(), 5 * 7);
    assert_eq!((server.hits("/items"), server.hits("/empty")), (5, 5));
}

#[test]
fn rate_limit_paces_all_workers_together() {
    let server = Server::start();
    let load = LoadGenerator::start(LoadPlan {
        concurrency: 4,
        rate: Some(100.0),
        ..plan(&server, vec![RequestSpec::get("/")])
    })
    .unwrap();
    sleep(Duration::from_secs(1));
    let summary = load.stop();
    assert!(
        (80..=120).contains(&summary.requests),
        "{} requests at rate 100 for 1 s",
        summary.requests
    );
}

#[test]
fn pause_quiesces_traffic_and_resume_restarts_it() {
    let server = Server::start();
    let load = LoadGenerator::start(LoadPlan {
        concurrency: 3,
        ..plan(
            &server,
            vec![RequestSpec::get("/slow"), RequestSpec::get("/")],
        )
    })
    .unwrap();
    sleep(Duration::from_millis(200));
    // The sampler pauses from its own thread, through a handle.
    let handle = load.handle();
    std::thread::spawn(move || handle.pause()).join().unwrap();
    let (driver_count, server_count) = (load.requests_sent(), server.total());
    assert!(driver_count > 0);
    assert_eq!(
        driver_count, server_count,
        "pause() returned with a request in flight"
    );
    sleep(Duration::from_millis(300));
    assert_eq!(
        load.requests_sent(),
        driver_count,
        "driver sent while paused"
    );
    assert_eq!(
        server.total(),
        server_count,
        "server saw traffic while paused"
    );
    let paused = load.summary_so_far();
    assert!(paused.paused_secs >= 0.25, "{}", paused.paused_secs);
    load.resume();
    sleep(Duration::from_millis(200));
    let summary = load.stop();
    assert!(summary.requests > driver_count, "no traffic after resume");
    assert_eq!(summary.errors, 0);
}

#[test]
fn slow_responses_show_in_latency() {
    let server = Server::start();
    let load = LoadGenerator::start(LoadPlan {
        concurrency: 2,
        ..plan(&server, vec![RequestSpec::get("/slow")])
    })
    .unwrap();
    sleep(Duration::from_millis(400));
    let summary = load.stop();
    assert!(summary.requests >= 4, "{summary:?}");
    assert!(
        summary.p50_ms >= 45.0 && summary.p50_ms < 1000.0,
        "{summary:?}"
    );
}

#[test]
fn stop_returns_promptly_when_the_server_hangs() {
    let server = Server::start();
    let load = LoadGenerator::start(LoadPlan {
        concurrency: 3,
        ..plan(&server, vec![RequestSpec::get("/hang")])
    })
    .unwrap();
    sleep(Duration::from_millis(300));
    assert_eq!(
        server.hits("/hang"),
        3,
        "every worker should be stuck on a request"
    );
    let began = Instant::now();
    let summary = load.stop();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        began.elapsed()
    );
    assert_eq!(summary.requests, 0, "abandoned requests are not counted");
}

#[test]
fn localhost_is_allowed_and_other_hosts_are_refused() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        max_requests: Some(3),
        ..LoadPlan {
            host: "localhost".into(),
            ..plan(&server, vec![RequestSpec::get("/")])
        }
    });
    assert_eq!((summary.requests, summary.errors), (3, 0));

    for host in ["192.0.2.10", "example.com", "0.0.0.0", "::"] {
        let err = LoadGenerator::start(LoadPlan {
            host: host.into(),
            ..plan(&server, vec![RequestSpec::get("/")])
        })
        .err()
        .unwrap_or_else(|| panic!("{host} was accepted"));
        assert!(matches!(err, LoadError::NotLoopback(_)), "{host}: {err}");
        assert!(err.to_string().contains("loopback"));
    }
    assert_eq!(server.hits("/"), 3);
}

#[test]
fn bad_plans_are_refused_up_front() {
    let server = Server::start();
    let base = || plan(&server, vec![RequestSpec::get("/")]);
    let cases = [
        LoadPlan {
            concurrency: 0,
            ..base()
        },
        LoadPlan {
            rate: Some(0.0),
            ..base()
        },
        LoadPlan {
            rate: Some(f64::NAN),
            ..base()
        },
        LoadPlan {
            rate: Some(1e-300),
            ..base()
        },
        LoadPlan {
            rate: Some(-5.0),
            ..base()
        },
        LoadPlan {
            requests: vec![],
            ..base()
        },
        LoadPlan {
            requests: vec![RequestSpec::get("/").with_weight(0)],
            ..base()
        },
        LoadPlan {
            requests: vec![RequestSpec::get("no-slash")],
            ..base()
        },
        LoadPlan {
            requests: vec![RequestSpec::get("/").with_header("X", "a\r\nB: c")],
            ..base()
        },
    ];
    for case in cases {
        assert!(LoadGenerator::start(case.clone()).is_err(), "{case:?}");
    }
    sleep(Duration::from_millis(50));
    assert_eq!(server.total(), 0);
}

#[test]
fn bodiless_responses_do_not_stall_the_connection() {
    let server = Server::start();
    let summary = run_to_cap(LoadPlan {
        max_requests: Some(30),
        ..plan(
            &server,
            vec![
                RequestSpec::new("HEAD", "/"),
                RequestSpec::get("/nocontent"),
                RequestSpec::get("/"),
            ],
        )
    });
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.by_status.get(&204), Some(&10));
    assert_eq!(server.accepted(), 1);
    assert!(
        summary.max_ms < 1000.0,
        "a bodiless response was read as a body"
    );
}

#[test]
fn stop_while_paused_keeps_the_counts() {
    let server = Server::start();
    let load = LoadGenerator::start(LoadPlan {
        concurrency: 2,
        ..plan(&server, vec![RequestSpec::get("/")])
    })
    .unwrap();
    sleep(Duration::from_millis(100));
    load.pause();
    let sent = load.requests_sent();
    let began = Instant::now();
    let summary = load.stop();
    assert!(began.elapsed() < Duration::from_millis(500));
    assert_eq!(summary.requests, sent);
    assert_eq!(server.total(), sent);
}
