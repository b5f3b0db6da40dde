//! induce_gc against the real LeakyService fixture.

mod support;

use std::time::{Duration, Instant};

use leakgate_dotnet::ipc::DiagnosticsClient;

fn gen2(svc: &support::FixtureService) -> i64 {
    svc.stats()["gen2Collections"]
        .as_i64()
        .expect("gen2Collections")
}

#[test]
fn induced_gc_has_completed_when_it_returns_and_leaves_no_session() {
    let svc = support::FixtureService::start();
    for _ in 0..50 {
        svc.get("/leak/dynamic-method");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    // Five in a row: each must stop its session, or later ones would pile up.
    for round in 0..5 {
        let before = gen2(&svc);
        let started = Instant::now();
        client
            .induce_gc(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let took = started.elapsed();
        let after = gen2(&svc);
        eprintln!("round {round}: gen2 {before} -> {after} in {took:?}");
        assert!(
            after > before,
            "round {round}: gen2 count {before} -> {after}"
        );
    }
    // The service is still healthy and still answers diagnostics.
    assert_eq!(svc.get("/healthz"), "ok");
    assert!(client.process_info().is_ok());
}

#[test]
fn induced_gc_returns_the_gcs_committed_bytes_and_its_survivors() {
    let svc = support::FixtureService::start();
    for _ in 0..20 {
        svc.get("/leak/finalizable");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let mut live = Vec::new();
    for round in 0..3 {
        let account = client.induce_gc(Duration::from_secs(30)).unwrap();
        let gc = account
            .committed
            .unwrap_or_else(|| panic!("round {round}: .NET 10 logs CommittedUsage"));
        let heap = account
            .heap
            .unwrap_or_else(|| panic!("round {round}: .NET 10 logs GCHeapStats"));
        eprintln!("round {round}: {gc:?}, total {}; {heap:?}", gc.total());
        assert!(gc.in_use > 0, "{gc:?}");
        assert!(gc.total() >= gc.in_use);
        assert!(gc.bookkeeping > 0, "card tables at least: {gc:?}");
        // The survivors fit in the heap, which fits in what the GC committed.
        assert!(
            heap.live() > 0 && heap.live() <= heap.heap_size(),
            "{heap:?}"
        );
        assert!(heap.heap_size() <= gc.total(), "{heap:?} vs {gc:?}");
        assert!(heap.gc_handles > 0, "{heap:?}");
        live.push(heap.live());
    }
    // Nothing happens between the GCs: the live heap holds still.
    let (lo, hi) = (live.iter().min().unwrap(), live.iter().max().unwrap());
    assert!(hi - lo < 512 << 10, "{live:?}");
}

#[test]
fn induced_gc_during_load() {
    let svc = support::FixtureService::start();
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let port = svc.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    let _ = write!(
                        s,
                        "GET /work/steady HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.read_to_end(&mut Vec::new());
                    n += 1;
                }
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let before = gen2(&svc);
        client.induce_gc(Duration::from_secs(30)).unwrap();
        assert!(gen2(&svc) > before);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let requests = load.join().unwrap();
    assert!(requests > 0);
}
