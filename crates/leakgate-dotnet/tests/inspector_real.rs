//! The inspector against real dumps of the LeakyService fixture, and against dumps it must
//! refuse: a process without a CLR, a truncated core, a machine without the SDK.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use leakgate_dotnet::inspector::{Inspector, InspectorError, ManagedSummary};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};
use support::{Dump, FixtureService, inspector};

const RESOLVER: &str = "System.Reflection.Emit.DynamicResolver";

/// Dumps over the diagnostics IPC (as leakgate does); falls back to the runtime's createdump.
fn dump_of(pid: u32, name: &str) -> Dump {
    let dump = Dump::path_for(name);
    let ipc =
        DiagnosticsClient::for_pid(pid).and_then(|c| c.write_dump(&dump.0, DumpKind::WithHeap));
    if let Err(e) = ipc {
        eprintln!("IPC dump failed ({e}); using createdump");
        let status = Command::new(createdump())
            .arg("-f")
            .arg(&dump.0)
            .args(["--withheap", &pid.to_string()])
            .status()
            .expect("createdump runs");
        assert!(status.success(), "createdump failed");
    }
    dump
}

fn createdump() -> PathBuf {
    let root = Path::new("/usr/share/dotnet/shared/Microsoft.NETCore.App");
    let version = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    version.join("createdump")
}

fn delegates_kept(svc: &FixtureService) -> u64 {
    svc.stats()["delegatesKept"].as_u64().unwrap()
}

#[test]
fn finalizable_dynamic_resolvers_track_the_leak() {
    let svc = FixtureService::start();
    for _ in 0..150 {
        svc.get("/leak/dynamic-method");
    }
    let kept = delegates_kept(&svc);
    let first_dump = dump_of(svc.pid(), "resolver-a");
    let first = inspector()
        .inspect(&first_dump.0)
        .expect("inspects the first dump");
    drop(first_dump);

    let resolvers = first.finalizable_count(RESOLVER);
    // The runtime and ASP.NET emit dynamic methods of their own (seen: +6 to
    // +25), System.Text.Json one per property of /stats' answer (~45 since the
    // slow-leak counters): a fixed few dozen.
    assert!(
        (kept..=kept + 128).contains(&resolvers),
        "{resolvers} DynamicResolvers for {kept} kept delegates"
    );
    assert_eq!(first.finalizable_count("LeakyService.NeverCreated"), 0);
    assert!(
        first
            .finalizable_types
            .iter()
            .all(|t| !t.name.contains("NeverCreated"))
    );
    check_invariants(&first);

    for _ in 0..100 {
        svc.get("/leak/dynamic-method");
    }
    let second_dump = dump_of(svc.pid(), "resolver-b");
    let second = inspector()
        .inspect(&second_dump.0)
        .expect("inspects the second dump");
    drop(second_dump);
    let grown = second.finalizable_count(RESOLVER) - resolvers;
    eprintln!("{kept} delegates kept: {resolvers} DynamicResolvers; 100 more requests: +{grown}");
    assert!(
        (95..=110).contains(&grown),
        "DynamicResolvers grew by {grown} after 100 requests"
    );
    assert_eq!(delegates_kept(&svc), kept + 100);
}

/// What holds for any summary of a live heap.
fn check_invariants(s: &ManagedSummary) {
    assert_eq!(s.schema_version, 1);
    assert!(
        s.runtime_version.starts_with(char::is_numeric),
        "{}",
        s.runtime_version
    );
    let by_type: u64 = s.finalizable_types.iter().map(|t| t.count).sum();
    assert_eq!(by_type, s.finalizable_total);
    let by_generation: u64 = s.generations.iter().map(|g| g.finalizable).sum();
    assert_eq!(
        by_generation + s.ready_for_finalization,
        s.finalizable_total
    );
    assert!(s.heap_types.iter().any(|t| t.name == "System.String"));
    assert!(!s.segments.is_empty());
    let committed: u64 = s.segments.iter().map(|g| g.committed.len()).sum();
    assert_eq!(committed, s.gc_committed);
    let ranges = s.gc_committed_ranges();
    assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0));
}

#[test]
fn a_process_without_a_clr_is_no_clr() {
    let mut sleeper = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep starts");
    let prefix = Dump::path_for("no-clr");
    let status = Command::new("gcore")
        .arg("-o")
        .arg(&prefix.0)
        .arg(sleeper.id().to_string())
        .output()
        .expect("gcore runs");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    // gcore appends ".<pid>".
    let dump = Dump(PathBuf::from(format!(
        "{}.{}",
        prefix.0.display(),
        sleeper.id()
    )));
    assert!(
        status.status.success(),
        "gcore failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    match inspector().inspect(&dump.0) {
        Err(InspectorError::NoClr { dump: d }) => assert_eq!(d, dump.0),
        other => panic!("expected NoClr, got {other:?}"),
    }
}

#[test]
fn a_truncated_dump_is_unreadable() {
    let svc = FixtureService::start();
    let whole = dump_of(svc.pid(), "whole");
    drop(svc);
    let cut = Dump::path_for("truncated");
    std::fs::copy(&whole.0, &cut.0).unwrap();
    drop(whole);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&cut.0)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len / 2).unwrap();
    drop(file);
    match inspector().inspect(&cut.0) {
        Err(InspectorError::DumpUnreadable { message, .. }) => {
            assert!(message.contains("truncated"), "{message}")
        }
        other => panic!("expected DumpUnreadable, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_unreadable() {
    let missing = Path::new("/nonexistent/leakgate/dump.core");
    assert!(matches!(
        inspector().inspect(missing),
        Err(InspectorError::DumpUnreadable { .. })
    ));
}

#[test]
fn a_missing_sdk_says_install_it() {
    let cache = tempfile::tempdir().unwrap();
    let err = Inspector::ensure_built_with(Path::new("/nonexistent/dotnet"), Some(cache.path()))
        .expect_err("no SDK, no build");
    assert!(matches!(err, InspectorError::SdkMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("install the .NET SDK"), "{err}");
}

#[test]
fn an_explicit_missing_dac_is_dac_not_found() {
    let svc = FixtureService::start();
    let dump = dump_of(svc.pid(), "dac");
    drop(svc);
    let inspector = inspector()
        .clone()
        .with_dac("/nonexistent/libmscordaccore.so");
    match inspector.inspect(&dump.0) {
        Err(InspectorError::DacNotFound { looked_for, .. }) => {
            assert_eq!(
                looked_for,
                vec![PathBuf::from("/nonexistent/libmscordaccore.so")]
            )
        }
        other => panic!("expected DacNotFound, got {other:?}"),
    }
}

#[test]
fn concurrent_builders_share_one_cache_entry() {
    let cache = tempfile::tempdir().unwrap();
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let root = cache.path().to_path_buf();
            std::thread::spawn(move || Inspector::ensure_built(Some(&root)))
        })
        .collect();
    let dlls: Vec<PathBuf> = builders
        .into_iter()
        .map(|b| b.join().unwrap().expect("builds").dll().to_path_buf())
        .collect();
    assert_eq!(dlls[0], dlls[1]);
    assert!(dlls[0].is_file());
    let entries: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec![format!(
            "inspector-{}",
            leakgate_dotnet::inspector::source_hash()
        )]
    );

    // A finished entry is reused: no rebuild, even with no SDK at hand.
    let reused = Inspector::ensure_built_with(Path::new("/nonexistent/dotnet"), Some(cache.path()))
        .expect("reuses the cached build");
    assert_eq!(reused.dll(), dlls[0]);
}
