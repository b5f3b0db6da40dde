//! The built-in load generator: HTTP/1.1 keep-alive clients on plain threads.
//!
//! ```no_run
//! use leakgate_runner::load::{LoadGenerator, LoadPlan, RequestSpec};
//!
//! let plan = LoadPlan {
//!     requests: vec![
//!         RequestSpec::get("/api/orders").with_weight(3),
//!         RequestSpec::get("/health"),
//!     ],
//!     concurrency: 4,
//!     rate: Some(200.0),
//!     ..LoadPlan::new("127.0.0.1", 5000)
//! };
//! let load = LoadGenerator::start(plan)?;
//! std::thread::sleep(std::time::Duration::from_secs(2));
//! load.pause(); // in-flight requests finish, then the service is quiet
//! // ... take a dump here ...
//! load.resume();
//! let summary = load.stop();
//! println!("{} requests, {} errors, p99 {:.1} ms", summary.requests, summary.errors, summary.p99_ms);
//! # Ok::<(), leakgate_runner::load::LoadError>(())
//! ```
//!
//! Why it looks like this:
//! - **Loopback only.** leakgate measures a service it launched itself; a load
//!   generator that can be pointed anywhere is a liability, so other hosts are
//!   refused at [`LoadGenerator::start`].
//! - **Deterministic mix.** Specs are chosen by smooth weighted round-robin
//!   shared by all workers, so weights 3:1 give exactly 75 %/25 % every four
//!   requests and "per 1k requests" budgets compare like with like.
//! - **Global pacing.** With a `rate`, workers take send times from one shared
//!   schedule; a worker that fell behind does not burst to catch up.
//! - **Bounded, always.** Every socket operation polls a stop flag, so
//!   [`LoadGenerator::stop`] returns within a poll interval even when the server
//!   hangs; `max_requests` caps the number of requests *attempted* exactly.
//! - **Keep-alive, like a real client.** Each worker keeps one connection and
//!   reconnects when the server closes it (`Connection: close`, HTTP/1.0, or
//!   a silent close; a request that hits a silently closed idle connection
//!   before any response byte is retried once on a fresh one, not counted).
//! - **Errors are data.** Refused connections, resets, timeouts and error
//!   statuses are counted, not raised: a leaking service that starts failing
//!   is a finding. Workers back off after connection errors (10 ms doubling to
//!   500 ms) so a dead service does not cost a core.

mod mix;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::http::{self, Conn, Deadline, Prepared, WireError};
use mix::Mix;

/// How long one request may take (connect, send, full response) before it
/// counts as an error and its connection is dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

pub use leakgate_scenario::RequestSpec;

/// What to send, where, and how hard.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LoadPlan {
    /// `127.0.0.1`, `::1` (bracketed or not), any other loopback address, or `localhost`.
    pub host: String,
    pub port: u16,
    pub requests: Vec<RequestSpec>,
    /// Worker threads, each with its own keep-alive connection.
    pub concurrency: usize,
    /// Total requests per second across workers; `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Hard cap on requests attempted (errors included).
    pub max_requests: Option<u64>,
    /// Statuses of 400 or more that are answers, not errors (e.g. 404 on purpose).
    #[serde(default)]
    pub expect_status: Vec<u16>,
}

impl LoadPlan {
    /// One worker, unpaced, uncapped, no requests yet.
    pub fn new(host: impl Into<String>, port: u16) -> LoadPlan {
        LoadPlan {
            host: host.into(),
            port,
            requests: Vec::new(),
            concurrency: 1,
            rate: None,
            max_requests: None,
            expect_status: Vec::new(),
        }
    }
}

pub use leakgate_record::{LoadSummary, RequestTally};

/// Why load could not start. Failures during the run are counted in
/// [`LoadSummary`] instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "load target host `{0}` is not a loopback address; leakgate only drives load at the service it launched (use 127.0.0.1, ::1 or localhost)"
    )]
    NotLoopback(String),
    #[error("cannot resolve load target `{host}`")]
    Resolve {
        host: String,
        #[source]
        cause: http::ResolveCause,
    },
    #[error("load plan has no request with a non-zero weight; add at least one request")]
    NoRequests,
    #[error("load concurrency must be at least 1")]
    ZeroConcurrency,
    #[error("load rate must be a positive number of requests per second, got {0}")]
    BadRate(f64),
    #[error("request #{index} (`{method} {path}`) cannot be sent")]
    BadRequest {
        index: usize,
        method: String,
        path: String,
        #[source]
        reason: crate::RequestError,
    },
    #[error("cannot start a load worker thread")]
    Spawn(#[source] std::io::Error),
}

/// Running load. Dropping it without [`stop`](LoadGenerator::stop) also stops and joins the workers.
pub struct LoadGenerator {
    handle: LoadHandle,
    workers: Vec<JoinHandle<()>>,
}

/// Polling and pause control of a running [`LoadGenerator`], cheap to clone and
/// `Send`. Calls after the driver stopped see the final counts; pause() then
/// returns at once.
#[derive(Clone)]
pub struct LoadHandle {
    shared: Arc<Shared>,
}

impl LoadHandle {
    /// See [`LoadGenerator::requests_sent`].
    pub fn requests_sent(&self) -> u64 {
        self.shared.completed.load(Ordering::Acquire)
    }

    /// See [`LoadGenerator::snapshot`].
    pub fn summary_so_far(&self) -> LoadSummary {
        self.shared.summary()
    }

    /// See [`LoadGenerator::pause`].
    pub fn pause(&self) {
        let mut gate = self.shared.lock_gate();
        if !gate.paused {
            gate.paused = true;
            gate.paused_since = Some(Instant::now());
        }
        // A cancelled run does not wait for requests in flight: they are abandoned.
        while gate.active > 0 && !self.shared.stopping() {
            gate = self
                .shared
                .wake
                .wait_timeout(gate, http::POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// See [`LoadGenerator::resume`].
    pub fn resume(&self) {
        let mut gate = self.shared.lock_gate();
        if let Some(since) = gate.paused_since.take() {
            gate.paused_total += since.elapsed();
        }
        gate.paused = false;
        gate.next_send = Instant::now();
        self.shared.wake.notify_all();
    }

    /// See [`LoadGenerator::finished`].
    pub fn finished(&self) -> bool {
        self.shared.exited.load(Ordering::Acquire) == self.shared.concurrency
    }
}

impl LoadGenerator {
    /// Validates `plan` and spawns `plan.concurrency` worker threads.
    pub fn start(plan: LoadPlan) -> Result<LoadGenerator, LoadError> {
        LoadGenerator::start_with(plan, Arc::new(AtomicBool::new(false)))
    }

    /// Like [`start`](LoadGenerator::start); once `cancel` turns true (Ctrl-C)
    /// the workers abandon their requests within a poll interval and
    /// [`pause`](LoadGenerator::pause) returns at once.
    pub fn start_with(plan: LoadPlan, cancel: Arc<AtomicBool>) -> Result<LoadGenerator, LoadError> {
        let targets = resolve_loopback(&plan.host, plan.port)?;
        if plan.concurrency == 0 {
            return Err(LoadError::ZeroConcurrency);
        }
        let interval = match plan.rate {
            None => None,
            // Also refuses rates so small that the interval overflows a Duration.
            Some(rate) => match Duration::try_from_secs_f64(1.0 / rate) {
                Ok(interval) if rate.is_finite() && rate > 0.0 => Some(interval),
                _ => return Err(LoadError::BadRate(rate)),
            },
        };
        if plan.requests.iter().all(|r| r.weight == 0) {
            return Err(LoadError::NoRequests);
        }
        let host_header = if plan.host.eq_ignore_ascii_case("localhost") {
            format!("localhost:{}", plan.port)
        } else {
            targets[0].to_string() // brackets an IPv6 address
        };
        let prepared = plan
            .requests
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                http::render(spec, &host_header).map_err(|reason| LoadError::BadRequest {
                    index,
                    method: spec.method.clone(),
                    path: spec.path.clone(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let weights: Vec<u32> = plan.requests.iter().map(|r| r.weight).collect();
        let now = Instant::now();
        let shared = Arc::new(Shared {
            specs: plan
                .requests
                .iter()
                .map(|r| (r.method.clone(), r.path.clone()))
                .collect(),
            prepared,
            targets,
            stop: AtomicBool::new(false),
            cancel,
            expect_status: plan.expect_status.clone(),
            completed: AtomicU64::new(0),
            exited: AtomicUsize::new(0),
            concurrency: plan.concurrency,
            max_requests: plan.max_requests,
            gate: Mutex::new(Gate {
                paused: false,
                active: 0,
                claimed: 0,
                paused_since: None,
                paused_total: Duration::ZERO,
                next_send: now,
            }),
            wake: Condvar::new(),
            interval,
            mix: Mutex::new(Mix::new(&weights)),
            stats: (0..plan.concurrency)
                .map(|_| Mutex::new(Stats::new(plan.requests.len())))
                .collect(),
            started: now,
        });
        let mut driver = LoadGenerator {
            handle: LoadHandle {
                shared: Arc::clone(&shared),
            },
            workers: Vec::with_capacity(plan.concurrency),
        };
        for id in 0..plan.concurrency {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("leakgate-load-{id}"))
                .spawn(move || worker(&shared, id))
                .map_err(LoadError::Spawn)?; // `driver` drops here and stops the rest
            driver.workers.push(handle);
        }
        Ok(driver)
    }

    /// Completed requests so far (errors included). One atomic load.
    pub fn requests_sent(&self) -> u64 {
        self.handle.requests_sent()
    }

    /// Cumulative statistics so far.
    pub fn summary_so_far(&self) -> LoadSummary {
        self.handle.summary_so_far()
    }

    /// Stops issuing requests and returns once no request is in flight.
    /// In-flight requests finish first (bounded by [`REQUEST_TIMEOUT`]).
    pub fn pause(&self) {
        self.handle.pause();
    }

    /// Lets workers send again. The rate schedule restarts from now, so a
    /// pause is not followed by a burst.
    pub fn resume(&self) {
        self.handle.resume();
    }

    /// True once every worker has exited by itself: `max_requests` reached.
    pub fn finished(&self) -> bool {
        self.handle.finished()
    }

    /// A cloneable handle for another thread (the sampler) to poll, pause and
    /// resume while this driver keeps ownership of stop().
    pub fn handle(&self) -> LoadHandle {
        self.handle.clone()
    }

    /// Stops the workers, joins them and returns the final summary.
    /// Requests in flight are abandoned (not counted) within one socket poll
    /// interval (100 ms), even if the server hangs.
    pub fn stop(mut self) -> LoadSummary {
        self.halt();
        self.handle.summary_so_far()
    }

    fn halt(&mut self) {
        let shared = &self.handle.shared;
        {
            let _gate = shared.lock_gate();
            shared.stop.store(true, Ordering::Release);
            shared.wake.notify_all();
        }
        for handle in self.workers.drain(..) {
            // A panicking worker already lost its in-flight request; the others' counts stand.
            let _ = handle.join();
        }
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Everything the workers share.
struct Shared {
    /// (method, path) per spec, for the tallies.
    specs: Vec<(String, String)>,
    prepared: Vec<Prepared>,
    targets: Vec<SocketAddr>,
    stop: AtomicBool,
    /// The run's Ctrl-C flag.
    cancel: Arc<AtomicBool>,
    /// Statuses of 400 or more that are not errors.
    expect_status: Vec<u16>,
    completed: AtomicU64,
    /// Workers that have returned (cap reached, stopped, or panicked).
    exited: AtomicUsize,
    concurrency: usize,
    max_requests: Option<u64>,
    gate: Mutex<Gate>,
    /// Signals pause/resume/stop changes and "a request finished" to pause().
    wake: Condvar,
    /// Time between sends under a rate limit.
    interval: Option<Duration>,
    mix: Mutex<Mix>,
    /// One per worker, so recording never contends; merged by summary().
    stats: Vec<Mutex<Stats>>,
    started: Instant,
}

/// Pause, in-flight and pacing state, under one lock so pause() cannot miss a
/// request that is just starting.
struct Gate {
    paused: bool,
    /// Requests between claim and record.
    active: usize,
    /// Requests attempted so far, for `max_requests`.
    claimed: u64,
    paused_since: Option<Instant>,
    paused_total: Duration,
    /// Next free slot of the global rate schedule.
    next_send: Instant,
}

struct Stats {
    errors: u64,
    by_status: BTreeMap<u16, u64>,
    by_error: BTreeMap<String, u64>,
    sent: Vec<u64>,
    failed: Vec<u64>,
    /// Microseconds.
    latency: Histogram<u64>,
}

impl Stats {
    fn new(specs: usize) -> Stats {
        Stats {
            errors: 0,
            by_status: BTreeMap::new(),
            by_error: BTreeMap::new(),
            sent: vec![0; specs],
            failed: vec![0; specs],
            latency: new_histogram(),
        }
    }
}

/// Latencies in microseconds, 1 µs to 1 h, 3 significant figures. Fixed
/// bounds (not auto-resize) so `saturating_record` cannot clamp real values
/// and per-worker histograms always merge.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// A claimed, in-flight request. Dropping it (even by unwinding) tells
/// pause() the worker is idle again.
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut gate = self.0.lock_gate();
        gate.active -= 1;
        if gate.active == 0 {
            self.0.wake.notify_all();
        }
    }
}

/// Counts a worker out however it ends, for [`LoadGenerator::finished`].
struct Exited<'a>(&'a Shared);

impl Drop for Exited<'_> {
    fn drop(&mut self) {
        self.0.exited.fetch_add(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn lock_gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.cancel.load(Ordering::Acquire)
    }

    /// Sleeps until `when` unless stop is requested first; false = stopping.
    fn sleep_until(&self, when: Instant) -> bool {
        let mut gate = self.lock_gate();
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= when {
                return true;
            }
            gate = self
                .wake
                .wait_timeout(gate, when - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Takes the next slot of the rate schedule (no catch-up for slots missed).
    fn next_send_time(&self) -> Option<Instant> {
        let interval = self.interval?;
        let mut gate = self.lock_gate();
        let at = gate.next_send.max(Instant::now());
        gate.next_send = at + interval;
        Some(at)
    }

    /// Waits while paused, then claims one request against `max_requests`.
    /// `None` = the worker should exit (stopping, or the cap is reached).
    fn enter(&self) -> Option<InFlight<'_>> {
        let mut gate = self.lock_gate();
        loop {
            if self.stopping() {
                return None;
            }
            if !gate.paused {
                break;
            }
            gate = self.wake.wait(gate).unwrap_or_else(|e| e.into_inner());
        }
        if self.max_requests.is_some_and(|max| gate.claimed >= max) {
            return None;
        }
        gate.claimed += 1;
        gate.active += 1;
        Some(InFlight(self))
    }

    /// One request, with one silent retry when a kept-alive connection turns
    /// out to be closed by the server before any response byte arrived.
    fn exchange(
        &self,
        conn: &mut Option<Conn>,
        index: usize,
    ) -> Result<(u16, Duration), WireError> {
        let began = Instant::now();
        let deadline = Deadline {
            stop: &self.stop,
            cancel: Some(&self.cancel),
            until: began + REQUEST_TIMEOUT,
        };
        let request = &self.prepared[index];
        let mut retried = false;
        loop {
            let mut c = match conn.take() {
                Some(c) => c,
                None => Conn::connect(&self.targets, &deadline)?,
            };
            let (reused, bytes_before) = (c.served > 0, c.bytes_in);
            match c.exchange(request, &deadline) {
                Ok(resp) => {
                    if resp.keep_alive {
                        *conn = Some(c);
                    }
                    return Ok((resp.status, began.elapsed()));
                }
                Err(e)
                    if reused
                        && !retried
                        && c.bytes_in == bytes_before
                        && e.is_stale_connection() =>
                {
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn record(&self, worker: usize, index: usize, result: &Result<(u16, Duration), WireError>) {
        let mut stats = self.stats[worker].lock().unwrap_or_else(|e| e.into_inner());
        stats.sent[index] += 1;
        let failed = match result {
            Ok((status, latency)) => {
                *stats.by_status.entry(*status).or_default() += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                stats.latency.saturating_record(micros);
                is_error_status(*status, &self.expect_status)
            }
            Err(e) => {
                *stats.by_error.entry(e.label()).or_default() += 1;
                true
            }
        };
        if failed {
            stats.errors += 1;
            stats.failed[index] += 1;
        }
        // Inside the stats lock, so requests_sent() never runs ahead of snapshot().
        self.completed.fetch_add(1, Ordering::Release);
    }

    fn summary(&self) -> LoadSummary {
        let mut summary = LoadSummary {
            per_request: self
                .specs
                .iter()
                .map(|(method, path)| RequestTally {
                    method: method.clone(),
                    path: path.clone(),
                    ..RequestTally::default()
                })
                .collect(),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            ..LoadSummary::default()
        };
        let mut latency = new_histogram();
        for stats in &self.stats {
            let stats = stats.lock().unwrap_or_else(|e| e.into_inner());
            summary.errors += stats.errors;
            for (status, n) in &stats.by_status {
                *summary.by_status.entry(*status).or_default() += n;
            }
            for (label, n) in &stats.by_error {
                *summary.by_error.entry(label.clone()).or_default() += n;
            }
            for (tally, (sent, failed)) in summary
                .per_request
                .iter_mut()
                .zip(stats.sent.iter().zip(&stats.failed))
            {
                tally.sent += sent;
                tally.errors += failed;
            }
            latency
                .add(&stats.latency)
                .expect("histograms with equal bounds always merge");
        }
        summary.requests = summary.per_request.iter().map(|t| t.sent).sum();
        summary.failures = summary.by_error.clone();
        for (status, n) in &summary.by_status {
            if is_error_status(*status, &self.expect_status) {
                summary.failures.insert(format!("status {status}"), *n);
            }
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        if !latency.is_empty() {
            summary.p50_ms = ms(latency.value_at_quantile(0.50));
            summary.p99_ms = ms(latency.value_at_quantile(0.99));
            summary.max_ms = ms(latency.max());
        }
        let gate = self.lock_gate();
        let paused = gate.paused_total + gate.paused_since.map_or(Duration::ZERO, |s| s.elapsed());
        summary.paused_secs = paused.as_secs_f64();
        summary
    }
}

/// A status of 400 or more is an error unless the scenario expects it.
pub fn is_error_status(status: u16, expected: &[u16]) -> bool {
    status >= 400 && !expected.contains(&status)
}

fn worker(shared: &Shared, id: usize) {
    let _exited = Exited(shared);
    let mut conn = None;
    let mut backoff = Duration::ZERO;
    loop {
        if let Some(at) = shared.next_send_time()
            && !shared.sleep_until(at)
        {
            return;
        }
        let Some(in_flight) = shared.enter() else {
            return;
        };
        let index = shared
            .mix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_index();
        let result = shared.exchange(&mut conn, index);
        if !matches!(result, Err(WireError::Stopped)) {
            shared.record(id, index, &result);
        }
        drop(in_flight);
        match result {
            Err(WireError::Stopped) => return,
            // The service answered; whatever the status, it is alive.
            Ok(_) => backoff = Duration::ZERO,
            Err(_) => {
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                if !shared.sleep_until(Instant::now() + backoff) {
                    return;
                }
            }
        }
    }
}

/// The loopback addresses to connect to, or why `host` is not allowed.
fn resolve_loopback(host: &str, port: u16) -> Result<Vec<SocketAddr>, LoadError> {
    http::resolve(host, port, true, Duration::from_secs(5)).map_err(|e| match e {
        http::ResolveError::NotLoopback(host) => LoadError::NotLoopback(host),
        http::ResolveError::Failed { host, cause } => LoadError::Resolve { host, cause },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_and_handle_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<LoadGenerator>();
        send_sync::<LoadHandle>();
    }

    #[test]
    fn only_loopback_hosts_resolve() {
        assert!(resolve_loopback("127.0.0.1", 80).is_ok());
        assert!(resolve_loopback("[::1]", 80).is_ok());
        assert!(resolve_loopback("::1", 80).is_ok());
        assert!(resolve_loopback("LocalHost", 80).is_ok());
        for host in [
            "10.0.0.1",
            "example.com",
            "0.0.0.0",
            "localhost.evil.com",
            "",
        ] {
            assert!(
                matches!(resolve_loopback(host, 80), Err(LoadError::NotLoopback(_))),
                "{host}"
            );
        }
    }
}
