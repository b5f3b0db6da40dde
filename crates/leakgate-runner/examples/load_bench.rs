//! Throughput and latency of the built-in load generator against an
//! in-process keep-alive server (thread per connection, tiny 200 responses).
//! The server shares the CPU with the client, so read the numbers as a floor.
//!
//! ```text
//! cargo run --release -p leakgate-runner --example load_bench -- [SECS] [CONCURRENCY...]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use leakgate_runner::load::{LoadGenerator, LoadPlan, RequestSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = args
        .first()
        .map_or(2.0, |s| s.parse().expect("SECS is a number"));
    let levels: Vec<usize> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| s.parse().expect("CONCURRENCY is a number"))
            .collect()
    } else {
        vec![1, 4, 16]
    };
    let port = serve();
    println!(
        "{:>11} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "concurrency", "req/s", "errors", "p50 ms", "p99 ms", "max ms"
    );
    for concurrency in levels {
        let load = LoadGenerator::start(LoadPlan {
            requests: vec![
                RequestSpec::get("/api/items").with_weight(3),
                RequestSpec::get("/health"),
            ],
            concurrency,
            ..LoadPlan::new("127.0.0.1", port)
        })
        .expect("loopback plan starts");
        thread::sleep(Duration::from_secs_f64(secs));
        let s = load.stop();
        println!(
            "{concurrency:>11} {:>10.0} {:>8} {:>9.3} {:>9.3} {:>9.3}",
            s.requests as f64 / s.elapsed_secs,
            s.errors,
            s.p50_ms,
            s.p99_ms,
            s.max_ms
        );
    }
}

/// A minimal HTTP/1.1 keep-alive server on an ephemeral port.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                stream.set_nodelay(true).ok();
                let mut out = stream.try_clone().expect("clone stream");
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    // Request line and headers; GETs only, so no body to read.
                    let mut blank = false;
                    while !blank {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        blank = line == "\r\n";
                    }
                    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
                    if out.write_all(resp).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}
