//! GC heap snapshots over EventPipe from the real LeakyService fixture:
//! counts against the service's own ground truth and against the ClrMD
//! inspector on a dump, and the session's lifecycle (stopped on success,
//! on cancellation and on the deadline).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leakgate_dotnet::gcheap::{GcHeapDump, compress_trace, managed_summary, read_nettrace};
use leakgate_dotnet::inspector::ManagedSummary;
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind, GcDumpError, GcDumpOptions};
use support::{FixtureService, inspector};

const RESOLVER: &str = "System.Reflection.Emit.DynamicResolver";
const TRACKED: &str = "TrackedResource";

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

/// Threads named ".NET EventPipe": one exists for the runtime's own use; each
/// streaming session adds its own while it runs (seen on .NET 10).
fn eventpipe_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == ".NET EventPipe")
        .count()
}

/// Waits (10 s at most) until the session threads are back to `baseline`.
fn assert_no_session_left(pid: u32, baseline: usize, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = eventpipe_threads(pid);
        if now == baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{after}: {now} EventPipe threads, {baseline} before: a session is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn summary_count(types: &[leakgate_dotnet::inspector::TypeStat], name: &str) -> u64 {
    types
        .iter()
        .filter(|t| t.name == name)
        .map(|t| t.count)
        .sum()
}

/// Every node's type has a name (none lost, none left over from a previous session).
fn assert_all_types_named(dump: &GcHeapDump) {
    let unnamed = dump
        .nodes
        .iter()
        .filter(|n| dump.type_of(n).is_none_or(|t| t.name.is_none()))
        .count();
    assert_eq!(
        unnamed,
        0,
        "{unnamed} of {} objects have no type name",
        dump.nodes.len()
    );
}

/// In stream order, does a GCBulkNode come before the first GCStart?
fn walk_precedes_gc_start(trace: &std::path::Path) -> bool {
    let file = std::io::BufReader::new(std::fs::File::open(trace).unwrap());
    let mut stream = leakgate_dotnet::nettrace::EventStream::new(file).unwrap();
    while let Some(event) = stream.next_event().unwrap() {
        match event.metadata.event_id {
            18 => return true,
            1 => return false,
            _ => {}
        }
    }
    false
}

#[test]
fn snapshot_counts_match_the_services_ground_truth_and_the_inspector() {
    let svc = FixtureService::start();
    for _ in 0..120 {
        svc.get("/leak/finalizable");
    }
    // Disposed (finalizer suppressed) and still kept: registered for
    // finalization until the GC finds them unreachable, so both count them.
    for _ in 0..40 {
        svc.get("/leak/finalizable?disposed=true");
    }
    for _ in 0..80 {
        svc.get("/leak/dynamic-method");
    }
    let stats = svc.stats();
    let tracked = stats["trackedResourcesKept"].as_u64().unwrap();
    let delegates = stats["delegatesKept"].as_u64().unwrap();
    assert_eq!((tracked, delegates), (160, 80));

    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let capture = client
        .capture_gc_heap(&GcDumpOptions::default(), &never())
        .expect("a snapshot");
    let dump = &capture.dump;
    eprintln!(
        "{} objects, {} references, {} roots, {} bytes of trace, {:?}",
        dump.nodes.len(),
        dump.edges.len(),
        dump.roots.len(),
        capture.trace_bytes,
        capture.timings
    );
    assert!(dump.is_complete(), "dropped {} events", dump.dropped_events);
    assert!(capture.stream_complete);
    assert_eq!(dump.process_id, svc.pid());
    assert_all_types_named(dump);
    assert!(!dump.generation_ranges.is_empty());
    // The GC's own accounting came with the snapshot, and its in-use regions
    // hold at least the used part of every range.
    let gc = dump
        .gc_committed
        .expect("a CommittedUsage event in the session");
    let used: u64 = dump.generation_ranges.iter().map(|r| r.used_length).sum();
    eprintln!("{gc:?}: total {}, ranges use {used}", gc.total());
    assert!(gc.in_use >= used, "in use {} < ranges' {used}", gc.in_use);
    assert!(gc.total() >= gc.in_use);
    // So did its count of what survived: every survivor was walked, and the
    // walk found more only in gen0, where the GC keeps pinned objects in place.
    let heap = dump.gc_heap.expect("a GCHeapStats event in the session");
    let walked: u64 = dump.nodes.iter().map(|n| n.size).sum();
    eprintln!("survived {}, walked {walked}: {heap:?}", heap.live());
    assert!(
        heap.live() <= walked + (64 << 10),
        "{heap:?}, walked {walked}"
    );
    assert!(
        walked - heap.live().min(walked) <= heap.generation_sizes[0] + (64 << 10),
        "{heap:?}, walked {walked}"
    );
    // Every reference and every strong root points at an object of the
    // snapshot or outside the GC heap ranges (frozen literals, say).
    let ours = managed_summary(dump, "10");

    // The service's ground truth: every TrackedResource it keeps, exactly.
    assert_eq!(summary_count(&ours.heap_types, TRACKED), tracked);
    assert_eq!(ours.finalizable_count(TRACKED), tracked);
    // A DynamicResolver per kept delegate, and the runtime's own: ASP.NET
    // compiles each endpoint's request delegate, and System.Text.Json emits
    // an accessor per property of /stats' answer (about 70 in all, fixed,
    // whatever the load).
    let resolvers = ours.finalizable_count(RESOLVER);
    assert!(
        (delegates..=delegates + 128).contains(&resolvers),
        "{resolvers} DynamicResolvers for {delegates} delegates"
    );
    assert_eq!(
        ours.generations.iter().map(|g| g.finalizable).sum::<u64>() + ours.ready_for_finalization,
        ours.finalizable_total
    );

    // The inspector on a dump taken right after agrees. A full GC first, so
    // that the dump, too, holds only live objects.
    let after_gc = client.induce_gc(Duration::from_secs(30)).expect("a GC");
    assert!(
        after_gc.committed.is_some_and(|c| c.in_use > 0),
        "{after_gc:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("after.core");
    client
        .write_dump(&core, DumpKind::WithHeap)
        .expect("a dump");
    let theirs: ManagedSummary = inspector().inspect(&core).expect("the inspector reads it");
    std::fs::remove_file(&core).unwrap();

    assert_eq!(summary_count(&theirs.heap_types, TRACKED), tracked);
    assert_eq!(
        theirs.finalizable_count(TRACKED),
        ours.finalizable_count(TRACKED)
    );
    let their_resolvers = theirs.finalizable_count(RESOLVER);
    assert!(
        their_resolvers.abs_diff(resolvers) <= 40,
        "DynamicResolvers: {resolvers} in the snapshot, {their_resolvers} in the dump"
    );
    // Type ids are method tables: the same numbers ClrMD reports.
    let mt = |s: &ManagedSummary| {
        s.heap_types
            .iter()
            .find(|t| t.name == TRACKED)
            .unwrap()
            .method_table
    };
    assert_eq!(mt(&ours), mt(&theirs));
    // Types named alike in both (generics rewritten as ClrMD prints them;
    // nested types cannot match: the runtime names them without their
    // declaring type) cover most objects, and the dump confirms their counts.
    // It may hold a little more: objects made after its GC (enabling the
    // session runs managed callbacks), and finalizers may have run.
    let (mut ours_matched, mut confirmed) = (0u64, 0u64);
    let mut worst = Vec::new();
    for t in &ours.heap_types {
        let their = summary_count(&theirs.heap_types, &t.name);
        if their > 0 {
            ours_matched += t.count;
            confirmed += t.count.min(their);
            worst.push((t.count.abs_diff(their), t.name.as_str(), t.count, their));
        }
    }
    worst.sort_unstable_by(|a, b| b.cmp(a));
    let objects = dump.nodes.len() as u64;
    eprintln!(
        "{ours_matched} of {objects} objects have a type named alike in the dump; it confirms {confirmed}; largest differences: {:?}",
        &worst[..worst.len().min(5)]
    );
    assert!(
        ours_matched * 4 >= objects * 3,
        "only {ours_matched} of {objects} objects matched by type name"
    );
    assert!(
        confirmed * 100 >= ours_matched * 95,
        "the dump confirms only {confirmed} of {ours_matched}: {:?}",
        &worst[..worst.len().min(10)]
    );
    // The snapshot's used GC memory is within the dump's committed GC memory.
    assert!(ours.gc_committed > 0 && ours.gc_committed <= theirs.gc_committed);
}

#[test]
fn captures_repeat_with_all_types_named_and_leave_no_session() {
    let svc = FixtureService::start();
    for _ in 0..30 {
        svc.get("/leak/finalizable");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let baseline = eventpipe_threads(svc.pid());
    for round in 0..3 {
        let capture = client
            .capture_gc_heap(&GcDumpOptions::default(), &never())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Without the runtime's per-session type table being reset, a second
        // session would get no BulkType events for types already logged.
        assert_all_types_named(&capture.dump);
        assert_eq!(
            managed_summary(&capture.dump, "").finalizable_count(TRACKED),
            30
        );
        assert_no_session_left(svc.pid(), baseline, &format!("capture {round}"));
    }
    assert_eq!(svc.get("/healthz"), "ok");
}

#[test]
fn a_cancelled_capture_stops_its_session() {
    let svc = FixtureService::start();
    for _ in 0..50 {
        svc.get("/leak/dynamic-method");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let baseline = eventpipe_threads(svc.pid());
    let dir = tempfile::tempdir().unwrap();

    // Cancelled before asking: nothing starts.
    let result = client.capture_gc_heap(&GcDumpOptions::default(), &AtomicBool::new(true));
    assert!(matches!(result, Err(GcDumpError::Cancelled)), "{result:?}");

    // Cancelled while the runtime runs the GC (the flag is polled first before
    // connecting, then while waiting for the reply).
    let polls = AtomicUsize::new(0);
    let after_request = || polls.fetch_add(1, Ordering::SeqCst) >= 1;
    let result = client.capture_gc_heap(&GcDumpOptions::default(), &after_request);
    assert!(matches!(result, Err(GcDumpError::Cancelled)), "{result:?}");
    assert_no_session_left(svc.pid(), baseline, "cancel while waiting for the reply");

    // Cancelled mid-stream: once 64 KiB of the trace have arrived (its copy
    // shows how much), long before the snapshot's last event.
    let copy = dir.path().join("cancelled.nettrace");
    let options = GcDumpOptions {
        trace_copy: Some(copy.clone()),
        ..GcDumpOptions::default()
    };
    let mid_stream = || std::fs::metadata(&copy).is_ok_and(|m| m.len() > 64 << 10);
    let result = client.capture_gc_heap(&options, &mid_stream);
    assert!(matches!(result, Err(GcDumpError::Cancelled)), "{result:?}");
    assert!(!copy.exists(), "the partial trace copy is removed");
    assert_no_session_left(svc.pid(), baseline, "cancel mid-stream");

    // The service is fine and the next capture is whole.
    let capture = client
        .capture_gc_heap(&GcDumpOptions::default(), &never())
        .unwrap();
    assert!(capture.dump.is_complete());
    assert_all_types_named(&capture.dump);
    assert_eq!(svc.get("/healthz"), "ok");
}

#[test]
fn a_passed_deadline_stops_the_capture_and_its_session() {
    let svc = FixtureService::start();
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let baseline = eventpipe_threads(svc.pid());
    let options = GcDumpOptions {
        timeout: Duration::from_millis(1),
        ..GcDumpOptions::default()
    };
    let result = client.capture_gc_heap(&options, &never());
    assert!(
        matches!(result, Err(GcDumpError::TimedOut { .. })),
        "{result:?}"
    );
    let message = result.unwrap_err().to_string();
    assert!(message.contains("retry with a longer timeout"), "{message}");
    assert_no_session_left(svc.pid(), baseline, "the deadline");
    let capture = client
        .capture_gc_heap(&GcDumpOptions::default(), &never())
        .unwrap();
    assert_all_types_named(&capture.dump);
}

#[test]
fn the_trace_copy_is_private_and_reads_back_to_the_same_snapshot() {
    let svc = FixtureService::start();
    for _ in 0..10 {
        svc.get("/leak/finalizable");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kept.nettrace");
    let options = GcDumpOptions {
        trace_copy: Some(copy.clone()),
        ..GcDumpOptions::default()
    };
    let capture = client.capture_gc_heap(&options, &never()).unwrap();
    assert_eq!(capture.trace_copy.as_deref(), Some(copy.as_path()));
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), capture.trace_bytes);

    let reread = read_nettrace(&copy).unwrap();
    assert_eq!(reread.nodes, capture.dump.nodes);
    assert_eq!(reread.edges, capture.dump.edges);
    assert_eq!(reread.roots, capture.dump.roots);
    assert_eq!(reread.dropped_events, capture.dump.dropped_events);

    // An existing file is never overwritten.
    let again = client.capture_gc_heap(&options, &never());
    assert!(
        matches!(again, Err(GcDumpError::TraceCopy { .. })),
        "{again:?}"
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), meta.len());
}

#[test]
fn a_large_heap_is_complete_and_exact() {
    // Big enough (2 million objects) that the runtime interleaves threads in
    // the stream: with server GC the walk's first objects arrive before the
    // GC's start (seen from 1 million links on; a builder that waited for the
    // GCStart in stream order lost the first 120-140 batches here).
    let svc = FixtureService::start();
    let mut grown = 0u64;
    for _ in 0..10 {
        grown = svc
            .get("/grow-chain?n=100000&bytes=16")
            .trim()
            .parse()
            .unwrap();
    }
    assert_eq!(grown, 1_000_000);
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = GcDumpOptions {
        trace_copy: Some(dir.path().join("large.nettrace")),
        ..GcDumpOptions::default()
    };
    let capture = client.capture_gc_heap(&options, &never()).unwrap();
    eprintln!(
        "the walk's first object is {} the GCStart in the stream",
        if walk_precedes_gc_start(&dir.path().join("large.nettrace")) {
            "before"
        } else {
            "after"
        }
    );
    let dump = &capture.dump;
    eprintln!(
        "{} objects, {} bytes of trace, {:?}",
        dump.nodes.len(),
        capture.trace_bytes,
        capture.timings
    );
    assert_eq!((dump.dropped_events, dump.missing_batches), (0, 0));
    assert!(capture.stream_complete);
    // Kept as a run keeps it, this trace of a very regular heap (equal links)
    // compresses far less than read_nettrace's limit of 32-fold, and reads back.
    let gz = compress_trace(&dir.path().join("large.nettrace")).unwrap();
    let gz_len = std::fs::metadata(&gz).unwrap().len();
    eprintln!(
        "kept as .nettrace.gz: {gz_len} bytes, {:.1}-fold compressed",
        capture.trace_bytes as f64 / gz_len as f64
    );
    assert_eq!(read_nettrace(&gz).unwrap().nodes, dump.nodes);
    let summary = managed_summary(dump, "");
    assert_eq!(summary_count(&summary.heap_types, "Retained"), grown);
    assert!(summary_count(&summary.heap_types, "System.Byte[]") >= grown);
    // Each link references its payload and the previous link.
    let retained = dump
        .types
        .iter()
        .position(|t| t.name.as_deref() == Some("Retained"))
        .unwrap() as u32;
    let links: Vec<usize> = dump
        .nodes_with_edges()
        .filter(|(n, _)| n.type_index == retained)
        .map(|(_, edges)| edges.len())
        .collect();
    assert_eq!(links.iter().filter(|&&e| e == 2).count() as u64, grown - 1);
    assert_eq!(
        links.iter().filter(|&&e| e == 1).count(),
        1,
        "the first link"
    );
}
