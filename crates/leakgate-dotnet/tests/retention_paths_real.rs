//! Retention paths from real dumps of the LeakyService fixture: each leak is named by the
//! root that holds it, and the path that grew between two dumps is the leak's.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use std::sync::atomic::AtomicBool;

use leakgate_dotnet::gcheap::{GcHeapDump, handle_roots};
use leakgate_dotnet::inspector::{InspectorError, read_heap_graph};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind, GcDumpOptions};
use leakgate_heap::{
    HeapGraph, PathGroup, PathGrowth, PathOptions, Root, ShortestPaths, TypePaths,
};
use support::{Dump, FixtureService, inspector};

const RESOLVER: &str = "System.Reflection.Emit.DynamicResolver";
const STATIC_ENTRY: &str = "StaticHeldEntry";
const HANDLE_SESSION: &str = "HandleHeldSession";
const GENERIC_ENTRY: &str = "GenericHeldEntry";
const THREAD_ENTRY: &str = "ThreadHeldEntry";
const STRING: &str = "System.String";
const KEPT_LIST: &str = "System.Collections.Generic.List<System.Func<System.Int32, System.Int32>>";

/// As leakgate samples: an induced full GC (so the heap holds live objects), then a dump.
fn sample(service: &FixtureService, name: &str, kind: DumpKind) -> Dump {
    let dump = Dump::path_for(&format!("paths-{name}"));
    let client = DiagnosticsClient::for_pid(service.pid()).expect("diagnostics socket");
    client
        .induce_gc(Duration::from_secs(30))
        .expect("induced GC");
    client.write_dump(&dump.0, kind).expect("dump written");
    dump
}

fn hit(service: &FixtureService, path: &str, times: u64) {
    for _ in 0..times {
        service.get(path);
    }
}

fn stat(service: &FixtureService, name: &str) -> u64 {
    service.stats()[name].as_u64().expect("a count in /stats")
}

/// As a run traces them: up to 1,000 instances a type, so the fixture's ~100
/// DynamicResolvers (the kept ones and ASP.NET's own) are all traced.
fn paths_of(dump: &Dump, types: &[&str]) -> Vec<TypePaths> {
    inspector()
        .retention_paths(&dump.0, types, &PathOptions { sample: 1000 })
        .expect("retention paths")
}

fn show(paths: &TypePaths) {
    eprintln!(
        "{}: {} instances ({} unreachable), {} sampled",
        paths.type_name, paths.instances, paths.unreachable, paths.sampled
    );
    for group in &paths.groups {
        eprintln!("  {} × {}", group.estimated, group.path);
    }
}

fn step_types(group: &PathGroup) -> Vec<&str> {
    group
        .path
        .steps
        .iter()
        .map(|s| s.type_name.as_str())
        .collect()
}

/// The group of DynamicResolvers whose path goes through the fixture's kept delegate list.
fn through_kept_list(paths: &TypePaths) -> Option<&PathGroup> {
    paths
        .groups
        .iter()
        .find(|g| g.path.steps.iter().any(|s| s.type_name == KEPT_LIST))
}

#[test]
fn each_leak_is_named_by_the_root_that_holds_it() {
    let service = FixtureService::start();
    hit(&service, "/leak/static", 60);
    hit(&service, "/leak/handle", 40);
    hit(&service, "/leak/generic-static", 50);
    hit(&service, "/leak/thread-static", 40);
    hit(&service, "/leak/intern", 300);
    hit(&service, "/leak/dynamic-method", 30);
    hit(&service, "/work/steady", 20);
    assert_eq!(stat(&service, "staticEntriesKept"), 60);
    assert_eq!(stat(&service, "handleSessionsKept"), 40);
    assert_eq!(stat(&service, "genericEntriesKept"), 50);
    let kept = stat(&service, "delegatesKept");
    // As the default mode samples: a heap snapshot (its GC is the sample's), then a dump.
    let client = DiagnosticsClient::for_pid(service.pid()).expect("diagnostics socket");
    let snapshot = client
        .capture_gc_heap(&GcDumpOptions::default(), &AtomicBool::new(false))
        .expect("heap snapshot")
        .dump;
    let dump = Dump::path_for("paths-roots");
    client
        .write_dump(&dump.0, DumpKind::WithHeap)
        .expect("dump written");
    let paths = paths_of(
        &dump,
        &[
            STATIC_ENTRY,
            HANDLE_SESSION,
            RESOLVER,
            GENERIC_ENTRY,
            THREAD_ENTRY,
        ],
    );
    paths.iter().for_each(show);
    let [statics, handles, resolvers, generic, per_thread] = &paths[..] else {
        panic!("one result per type asked")
    };

    // The static-field leak: every entry through one path, starting at the field itself.
    assert_eq!((statics.instances, statics.unreachable), (60, 0));
    assert_eq!(statics.groups.len(), 1);
    assert_eq!(statics.groups[0].estimated, 60);
    assert_eq!(
        statics.groups[0].path.to_string(),
        "static LeakRegistry.Entries → System.Collections.Generic.List<StaticHeldEntry>._items \
         → StaticHeldEntry[] → StaticHeldEntry"
    );

    // A static of a closed generic type, which no module lists (dotnet/diagnostics#5732):
    // named by its instantiation, not "handle → Object[]" (the runtime's static storage).
    assert_eq!((generic.instances, generic.unreachable), (50, 0));
    assert_eq!(generic.groups.len(), 1);
    assert_eq!(
        generic.groups[0].path.to_string(),
        "static PerTypeCache<GenericHeldEntry>.Items \
         → System.Collections.Generic.List<GenericHeldEntry>._items → GenericHeldEntry[] \
         → GenericHeldEntry"
    );

    // A [ThreadStatic] list per thread that served the requests: named by its field, one
    // group whichever threads hold them (the thread is not part of the reason).
    assert_eq!(stat(&service, "threadEntriesKept"), 40);
    assert_eq!((per_thread.instances, per_thread.unreachable), (40, 0));
    assert_eq!(per_thread.groups.len(), 1, "{:?}", per_thread.groups);
    assert_eq!(
        per_thread.groups[0].path.signature().to_string(),
        "thread static PerThreadLog.Entries \
         → System.Collections.Generic.List<ThreadHeldEntry>._items → ThreadHeldEntry[] \
         → ThreadHeldEntry"
    );

    // The handle leak: a strong GCHandle holds the list; no field or local does. On .NET 10
    // the runtime's debugging layer (DAC) does not always list every GC handle (its walk of
    // the handle tables is incomplete: dotnet/runtime#124872), for ClrMD and SOS alike; then
    // the list is the outermost holder, under "no root found". Either way the chain is named.
    assert_eq!(handles.instances, 40);
    assert_eq!(handles.groups.len(), 1);
    let handle_group = &handles.groups[0];
    assert_eq!(handle_group.estimated, 40);
    let chain = "System.Collections.Generic.List<HandleHeldSession>._items → HandleHeldSession[] \
                 → HandleHeldSession";
    match handle_group.path.root {
        Root::StrongHandle => {
            assert_eq!(handles.unreachable, 0);
            assert_eq!(
                handle_group.path.to_string(),
                format!("strong handle → {chain}")
            );
        }
        Root::NotFound => {
            eprintln!("the DAC did not list the strong handle this time");
            assert_eq!(handles.unreachable, 40);
            assert_eq!(
                handle_group.path.to_string(),
                format!("no root found → {chain}")
            );
        }
        ref other => panic!("the handle leak rooted at {other}"),
    }

    // The seed's leak: the resolvers of the kept delegates are held through the kept list
    // (Main's frame holds it: top-level statements keep their locals on the stack), each
    // delegate through its DynamicMethod.
    let group = through_kept_list(resolvers).expect("a path through the kept delegate list");
    assert_eq!(
        group.estimated, kept,
        "all of them sampled: the count is exact"
    );
    let types = step_types(group);
    let from_list = types.iter().position(|t| *t == KEPT_LIST).unwrap();
    assert_eq!(
        &types[from_list..],
        [
            KEPT_LIST,
            "System.Func<System.Int32, System.Int32>[]",
            "System.Func<System.Int32, System.Int32>",
            "System.Reflection.Emit.DynamicMethod",
            RESOLVER,
        ]
    );
    assert!(
        group.path.to_string().ends_with(
            "System.Func<System.Int32, System.Int32>._methodBase \
             → System.Reflection.Emit.DynamicMethod._resolver → System.Reflection.Emit.DynamicResolver"
        ),
        "{}",
        group.path
    );
    assert!(
        matches!(&group.path.root, Root::Stack { method: Some(m), .. } if m.starts_with("Program.<Main>$"))
            || group
                .path
                .steps
                .iter()
                .any(|s| s.field.as_deref() == Some("keptDelegates")),
        "{}",
        group.path
    );

    cross_check_with_sos(&dump, handle_group);
    graph_mode_keeps_the_summary_contract(&dump);
    a_handle_the_dump_missed_is_adopted_from_the_snapshot(&dump, &snapshot, handles);
}

/// 300 strings interned by requests (and the code's literals): kept by the runtime in the
/// buckets of its pinned handle table, named as such even when the DAC does not list a
/// bucket's handle (they would read "no root found → Object[] → String"). Every string is
/// traced: a sample spread over the heap misses strings made in a burst.
fn interned_strings_are_held_by_the_runtime(graph: &HeapGraph) {
    let all = PathOptions { sample: usize::MAX };
    let strings = ShortestPaths::compute(graph).type_paths(STRING, &all);
    let interned = strings
        .groups
        .iter()
        .find(|g| g.path.root == Root::runtime("interned string", None))
        .unwrap_or_else(|| panic!("the interned strings' group: {:#?}", strings.groups));
    eprintln!("{} × {}", interned.estimated, interned.path);
    assert!(interned.estimated >= 300, "{interned:?}");
    assert_eq!(
        interned.path.to_string(),
        "runtime: interned string → System.String"
    );
    let in_a_bucket = |g: &&PathGroup| {
        let types: Vec<&str> = g.path.steps.iter().map(|s| s.type_name.as_str()).collect();
        types == ["System.Object[]", STRING]
    };
    let left: Vec<String> = strings
        .groups
        .iter()
        .filter(in_a_bucket)
        .map(|g| format!("{} × {}", g.estimated, g.path))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "no string is left to the buckets"
    );
}

/// The snapshot's walk lists every GC handle; the dump's reader may miss the one that holds
/// the sessions' list (above). The dump's graph adopts the snapshot's handles for objects it
/// has no root for, so the sessions read "strong handle" either way, as the default mode
/// reports them.
fn a_handle_the_dump_missed_is_adopted_from_the_snapshot(
    dump: &Dump,
    snapshot: &GcHeapDump,
    without: &TypePaths,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heap.graph");
    let summary = inspector()
        .inspect_with_heap_graph(&dump.0, &file)
        .expect("summary and graph");
    let mut graph = read_heap_graph(&file).expect("graph");
    let names = summary
        .type_names()
        .map(|(mt, name)| (mt, name.to_string()))
        .collect();
    interned_strings_are_held_by_the_runtime(&graph);
    let seen = handle_roots(snapshot, &names);
    // The snapshot's handles whose object the dump holds, of the same type, with no root.
    let missed = |graph: &HeapGraph| -> Vec<String> {
        let paths = ShortestPaths::compute(graph);
        seen.iter()
            .filter(|r| {
                graph.find(r.address).is_some_and(|o| {
                    graph.type_name(graph.type_of(o)) == r.type_name && !paths.is_reachable(o)
                })
            })
            .map(|r| format!("{} → {}", r.root, r.type_name))
            .collect()
    };
    let before = missed(&graph);
    let adopted = graph.adopt_roots(&seen);
    eprintln!(
        "of the snapshot's {} strong handles the dump's reader missed {}: {before:?}; \
         {adopted} adopted (without them {} of {} sessions had no root)",
        seen.len(),
        before.len(),
        without.unreachable,
        without.instances
    );
    assert_eq!(adopted, before.len());
    assert_eq!(missed(&graph), Vec::<String>::new());
    let paths = ShortestPaths::compute(&graph).type_paths(HANDLE_SESSION, &PathOptions::default());
    assert_eq!((paths.instances, paths.unreachable), (40, 0));
    assert_eq!(paths.groups.len(), 1);
    assert_eq!(paths.groups[0].path.root, Root::StrongHandle);
}

/// With `--heap-graph` the inspector prints the very summary it prints without it, and a
/// graph file it cannot write is an error naming that file.
fn graph_mode_keeps_the_summary_contract(dump: &Dump) {
    let graph_dir = tempfile::tempdir().unwrap();
    let graph_file = graph_dir.path().join("heap.graph");
    let with_graph = inspector()
        .inspect_with_heap_graph(&dump.0, &graph_file)
        .expect("summary and graph");
    let plain = inspector().inspect(&dump.0).expect("summary");
    assert_eq!(with_graph, plain);
    let graph = leakgate_dotnet::inspector::read_heap_graph(&graph_file).expect("graph reads");
    let objects: u64 = plain
        .heap_types
        .iter()
        .filter(|t| t.name != "Free")
        .map(|t| t.count)
        .sum();
    assert_eq!(graph.object_count() as u64, objects);
    assert_eq!(graph.stats().duplicate_objects, 0);

    let unwritable = PathBuf::from("/nonexistent/leakgate/heap.graph");
    match inspector().inspect_with_heap_graph(&dump.0, &unwritable) {
        Err(InspectorError::HeapGraph(e)) => {
            assert_eq!(e.file, unwritable);
            assert!(
                leakgate_record::error_text(&e).contains("cannot write the heap graph"),
                "{e}"
            );
        }
        other => panic!("expected a heap-graph error, got {other:?}"),
    }
}

/// `dotnet-dump analyze … gcroot` as an oracle, when installed: the same chain of types from
/// the same kind of root, or no root either. (SOS often finds no root at all for the static
/// leak on .NET 10: its handle walk misses the statics' storage array; the inspector reads
/// static fields directly.)
fn cross_check_with_sos(dump: &Dump, group: &PathGroup) {
    let tool = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".dotnet/tools/dotnet-dump"))
        .filter(|p| p.is_file());
    let Some(tool) = tool else {
        eprintln!("dotnet-dump is not installed: no SOS cross-check");
        return;
    };
    let output = Command::new(tool)
        .arg("analyze")
        .arg(&dump.0)
        .args([
            "-c",
            &format!("gcroot {:x}", group.example_address),
            "-c",
            "exit",
        ])
        .output()
        .expect("dotnet-dump runs");
    let text = String::from_utf8_lossy(&output.stdout);
    eprintln!("{text}");
    // Lines like "      -> 7f7b689411d0     System.Collections.Generic.List<HandleHeldSession>"
    let chain: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("-> "))
        .filter_map(|rest| rest.split_once(char::is_whitespace))
        .map(|(_, ty)| ty.trim())
        .collect();
    if group.path.root == Root::NotFound {
        assert!(
            text.contains("Found 0 unique roots"),
            "SOS sees a root we missed: {text}"
        );
        return;
    }
    assert!(text.contains("(strong handle)"), "{text}");
    assert_eq!(chain, step_types(group), "SOS: {text}");
}

#[test]
fn the_path_that_grew_between_two_dumps_is_the_leaks() {
    let service = FixtureService::start();
    hit(&service, "/leak/static", 20);
    hit(&service, "/leak/dynamic-method", 20);
    hit(&service, "/leak/handle", 10);
    hit(&service, "/cache/fill?n=200", 5);
    // /stats' first answer makes System.Text.Json emit an accessor (a
    // DynamicResolver) per property: before the first dump, not between.
    assert_eq!(stat(&service, "staticEntriesKept"), 20);
    let types = [STATIC_ENTRY, RESOLVER, HANDLE_SESSION];
    let first = paths_of(&sample(&service, "first", DumpKind::WithHeap), &types);

    hit(&service, "/leak/static", 300);
    hit(&service, "/leak/dynamic-method", 150);
    hit(&service, "/leak/handle", 50);
    hit(&service, "/cache/fill?n=200", 5);
    assert_eq!(stat(&service, "staticEntriesKept"), 320);
    let last = paths_of(&sample(&service, "last", DumpKind::WithHeap), &types);
    last.iter().for_each(show);

    // 320 entries on one path: the sample of 100 scales to exactly 320.
    let statics = PathGrowth::between(&first[0], &last[0]);
    eprintln!("{statics}");
    assert_eq!(statics.growth, 300);
    let top = statics.top().expect("a group grew");
    assert_eq!(top.growth, 300);
    assert_eq!(top.path.root, Root::static_field("LeakRegistry", "Entries"));
    assert_eq!(statics.groups.len(), 1, "{statics}");

    // 150 more kept delegates; the runtime may emit a few dynamic methods of its own
    // (System.Text.Json's accessors for the /stats fields, one per field it first reads).
    let resolvers = PathGrowth::between(&first[1], &last[1]);
    eprintln!("{resolvers}");
    assert!((150..=190).contains(&resolvers.growth), "{resolvers}");
    let top = resolvers.top().expect("a group grew");
    assert!(
        top.path.steps.iter().any(|s| s.type_name == KEPT_LIST),
        "the top group goes through the kept list: {top}"
    );
    // 170 instances, 100 sampled: each sampled resolver stands for 1.7.
    assert!((140..=160).contains(&top.growth), "{top}");
    let line = resolvers.to_string();
    assert!(
        line.starts_with(&format!(
            "{RESOLVER}: +{} of +{} through ",
            top.growth, resolvers.growth
        )),
        "{line}"
    );

    // The DAC may not list the GC handle holding the sessions (see above): the list is then
    // the outermost holder, under "no root found".
    let sessions = PathGrowth::between(&first[2], &last[2]);
    eprintln!("{sessions}");
    assert_eq!(sessions.growth, 50);
    let top = sessions.top().expect("a group grew");
    assert!(
        matches!(top.path.root, Root::StrongHandle | Root::NotFound),
        "{top}"
    );
    assert!(
        top.path.to_string().ends_with(
            "System.Collections.Generic.List<HandleHeldSession>._items → HandleHeldSession[] \
             → HandleHeldSession"
        ),
        "{top}"
    );
}
