//! End to end: the real `leakgate` binary runs the fixture scenarios against the
//! real LeakyService (built with the local .NET SDK), takes real dumps through
//! the diagnostics IPC socket and reads them with the real ClrMD inspector.
//!
//! These runs take 30–60 s each; they hold `target/e2e.lock` so that no two
//! runs (nor `dotnet build`s of the fixture) overlap on a 2-core machine.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Runs a fixture scenario and checks its exit code; the attempt number labels failures.
fn run_expecting(name: &str, code: i32, attempt: usize) -> (tempfile::TempDir, Run) {
    let out = temp_out();
    let run = leakgate_run(&scenario(name), out.path(), &[]);
    assert_eq!(
        run.code, code,
        "attempt {attempt} of {name}: expected exit {code}\n{}",
        run.output
    );
    (out, run)
}

/// Starts a run of the healthy scenario and returns once its first sample is written.
fn spawn_until_first_sample(out: &std::path::Path) -> Leakgate {
    let child = leakgate_spawn(&scenario("healthy"), out, &[]);
    let first = out.join("samples/sample-00.json");
    wait_for(Duration::from_secs(120), || first.exists());
    child
}

#[test]
fn dynamic_method_leak_fails_and_names_dynamic_resolver() {
    let _lock = e2e_lock();
    // Twice: the verdict must not flip between runs of the same code.
    for attempt in 0..2 {
        let (out, run) = run_expecting("dynamic-method-leak", 1, attempt);
        let report = read_report(out.path());
        assert_eq!(report["outcome"], "fail", "attempt {attempt}");
        let failing = failing_checks(&report);
        assert!(
            failing
                .iter()
                .any(|c| c["type_name"] == "System.Reflection.Emit.DynamicResolver"),
            "attempt {attempt}: DynamicResolver is named as growing: {failing:#?}"
        );
        // Why: the delegates kept in the service's list (a local of Main, or its field).
        let (_, chain) = grown_path(&report, "System.Reflection.Emit.DynamicResolver");
        assert_one_group_per_leak("dynamic-method-leak", &report);
        assert!(
            chain.contains("List<System.Func<System.Int32, System.Int32>>")
                && chain.ends_with("DynamicMethod → System.Reflection.Emit.DynamicResolver"),
            "attempt {attempt}: {chain}"
        );
        // The count agrees with the service's own ground truth at the same moment
        // (the load is paused while a sample is taken). ASP.NET itself emits a
        // fixed number of dynamic methods (a request delegate per endpoint, DI,
        // and System.Text.Json an accessor per property of /stats: ~70 with the
        // slow-leak endpoints and their counters), hence the slack.
        for sample in read_samples(out.path()) {
            let kept = sample["app_stats"]["delegatesKept"]
                .as_u64()
                .expect("/stats recorded");
            let resolvers = finalizable_count(&sample, "System.Reflection.Emit.DynamicResolver");
            assert!(
                resolvers >= kept && resolvers <= kept + 128,
                "attempt {attempt}, sample {}: {resolvers} DynamicResolver objects for {kept} kept delegates",
                sample["index"]
            );
        }
        assert!(
            run.output
                .contains("System.Reflection.Emit.DynamicResolver"),
            "the console names the type"
        );
        assert!(out.path().join("junit.xml").exists() && out.path().join("summary.md").exists());
        assert!(
            dumps_left(out.path()).is_empty(),
            "dumps are deleted after analysis"
        );
        for sample in read_samples(out.path()) {
            assert!(
                sample["timings"]["dump_ms"].as_f64().unwrap() > 0.0,
                "a dump was taken"
            );
        }
    }
}

#[test]
fn native_leak_fails_on_committed_unknown_memory_only() {
    let _lock = e2e_lock();
    for attempt in 0..2 {
        let (out, _) = run_expecting("native-leak", 1, attempt);
        let report = read_report(out.path());
        let failing = failing_checks(&report);
        assert!(
            failing.iter().any(|c| c["metric"] == "committed.unknown"),
            "attempt {attempt}: committed unknown memory fails: {failing:#?}"
        );
        assert!(
            !failing.iter().any(|c| c["metric"] == "finalizable"),
            "attempt {attempt}: no finalizable type fails on a native leak: {failing:#?}"
        );
        // Ground truth: the growth the gate reports is the native memory the
        // service says it holds (over the same, judged samples), within 15%.
        let samples = read_samples(out.path());
        let check = failing
            .iter()
            .find(|c| c["metric"] == "committed.unknown")
            .unwrap();
        let judged = check["samples"].as_u64().unwrap() as usize;
        let first = &samples[samples.len() - judged];
        let held = |s: &serde_json::Value| s["app_stats"]["nativeBytesHeld"].as_f64().unwrap();
        let truth = held(samples.last().unwrap()) - held(first);
        let reported = check["growth"].as_f64().unwrap();
        assert!(
            truth > 16.0 * 1024.0 * 1024.0,
            "the fixture leaked {truth} bytes"
        );
        assert!(
            (reported - truth).abs() < 0.15 * truth,
            "attempt {attempt}: the gate saw {reported} bytes of growth, the service holds {truth} more"
        );
    }
}

/// Every sample carries the runtime's count of the GC's committed bytes, and
/// the report's `committed.gc` holds all of it (pages rounded apart).
fn assert_gc_committed_is_the_gc_heaps(report: &serde_json::Value, samples: &[serde_json::Value]) {
    assert_eq!(report["samples"].as_array().unwrap().len(), samples.len());
    for (sample, judged) in samples.iter().zip(report["samples"].as_array().unwrap()) {
        let gc = &sample["gc_committed"];
        assert_eq!(&judged["gc_committed"], gc, "the report keeps it");
        let in_use = gc["in_use"].as_u64().expect("gc_committed in every sample");
        let committed_gc = judged["values"]["committed.gc"].as_f64().unwrap();
        assert!(
            in_use > 0 && committed_gc + 256.0 * 1024.0 >= in_use as f64,
            "committed.gc {committed_gc} < the runtime's in-use {in_use}"
        );
    }
}

#[test]
fn healthy_service_passes() {
    let _lock = e2e_lock();
    for attempt in 0..2 {
        let (out, _) = run_expecting("healthy", 0, attempt);
        let report = read_report(out.path());
        assert_eq!(report["outcome"], "pass", "attempt {attempt}");
        assert!(failing_checks(&report).is_empty());
        // The cache really filled, during the run, and stayed bounded.
        let samples = read_samples(out.path());
        let entries = samples.last().unwrap()["app_stats"]["cacheEntries"]
            .as_u64()
            .unwrap();
        assert_eq!(entries, 4000, "the bounded cache is full");
        assert_gc_committed_is_the_gc_heaps(&report, &samples);
    }
}

#[test]
fn a_service_killed_mid_run_gives_exit_2_and_a_partial_report() {
    let _lock = e2e_lock();
    let out = temp_out();
    // Once the first sample is in, kill the service under leakgate's feet.
    let mut child = spawn_until_first_sample(out.path());
    let everything = descendants(child.id());
    let service: Vec<u32> = everything
        .iter()
        .copied()
        .filter(|&pid| cmdline(pid).contains("LeakyService.dll"))
        .collect();
    assert_eq!(service.len(), 1, "one service process among {everything:?}");
    // SAFETY: kill(2) on the service process this test found.
    unsafe { libc::kill(service[0] as i32, libc::SIGKILL) };
    let run = finish(&mut child);
    assert_eq!(
        run.code, 2,
        "a crashed service is 'could not run'\n{}",
        run.output
    );
    assert!(
        run.output.contains("killed by signal 9"),
        "the reason is given\n{}",
        run.output
    );
    let report = read_report(out.path());
    assert_eq!(report["exit_code"], 2);
    assert!(
        report["failure"].as_str().unwrap().contains("service"),
        "{}",
        report["failure"]
    );
    let samples = report["samples"].as_array().unwrap();
    assert!(
        !samples.is_empty(),
        "the samples taken before the crash are reported"
    );
    assert!(dumps_left(out.path()).is_empty(), "no dump is left behind");
    // Everything leakgate had started (the watchdog, an inspector) is gone too.
    for pid in everything {
        assert!(!alive(pid), "pid {pid} survived");
    }
}

#[test]
fn ctrl_c_stops_everything_and_writes_what_exists() {
    let _lock = e2e_lock();
    let out = temp_out();
    let mut child = spawn_until_first_sample(out.path());
    let leakgate_pid = child.id();
    let started = Instant::now();
    let children = descendants(leakgate_pid);
    unsafe { libc::kill(leakgate_pid as i32, libc::SIGINT) };
    let run = finish(&mut child);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "Ctrl-C is honoured promptly"
    );
    assert_eq!(
        run.code, 2,
        "an interrupted run could not be done\n{}",
        run.output
    );
    assert!(run.output.contains("interrupted"), "{}", run.output);
    let report = read_report(out.path());
    assert!(!report["samples"].as_array().unwrap().is_empty());
    for pid in children {
        assert!(!alive(pid), "pid {pid} survived Ctrl-C");
    }
}

#[test]
fn a_malformed_scenario_exits_2_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(scenario("healthy"))
        .unwrap()
        .replace("  count: 5", "  count: 5\n  every_request: 10");
    std::fs::write(&path, text).unwrap();
    let run = leakgate_run(&path, dir.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.output);
    let expected = format!("{}:", path.display());
    let line = run
        .output
        .lines()
        .find(|l| l.contains(&expected))
        .unwrap_or_else(|| panic!("{}", run.output));
    // "<file>:<line>:<column>: unknown field `every_request`, expected one of ..."
    let rest = &line[line.find(&expected).unwrap() + expected.len()..];
    let mut parts = rest.splitn(3, ':');
    let line_no: u64 = parts.next().unwrap().parse().unwrap();
    let column: u64 = parts.next().unwrap().parse().unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        source.lines().nth(line_no as usize - 1).unwrap().trim(),
        "every_request: 10"
    );
    assert_eq!(column, 3);
    assert!(rest.contains("every_request"), "{line}");
}

#[test]
fn a_type_name_of_hundreds_of_characters_fails_with_a_full_report() {
    let _lock = e2e_lock();
    let (out, run) = run_expecting("long-type-name", 1, 0);
    let report = read_report(out.path());
    let failing = failing_checks(&report);
    let long = failing
        .iter()
        .filter_map(|c| c["type_name"].as_str())
        .find(|t| t.starts_with("FinalizableHolder<"))
        .unwrap_or_else(|| panic!("the long type fails: {failing:#?}"));
    assert!(long.len() >= 300, "{} characters: {long}", long.len());
    // Every report is there, and the chart the summary links exists.
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("### Checks"), "{summary}");
    assert!(summary.contains("FinalizableHolder&lt;"), "{summary}");
    let chart = summary
        .split("](charts/")
        .skip(1)
        .map(|rest| &rest[..rest.find(')').unwrap()])
        .find(|name| name.starts_with("finalizable-FinalizableHolder"))
        .expect("the long type's chart is linked");
    assert!(chart.len() <= 104, "{chart}");
    assert!(out.path().join("charts").join(chart).is_file(), "{chart}");
    assert!(out.path().join("junit.xml").is_file());
    // The console shortens it, whole reports keep it.
    assert!(run.output.contains("FinalizableHolder<"), "{}", run.output);
}

/// The path that grew, in the report: the top group's root and chain.
fn grown_path(report: &serde_json::Value, type_name: &str) -> (String, String) {
    let growth = report["retention"]
        .as_array()
        .expect("retention paths in the report")
        .iter()
        .find(|g| g["type_name"] == type_name)
        .unwrap_or_else(|| panic!("no retention for {type_name}: {report}"));
    let top = &growth["groups"][0];
    assert!(
        top["growth"].as_i64().unwrap() >= growth["growth"].as_i64().unwrap() * 9 / 10,
        "the top group carries nine tenths of the growth: {growth}"
    );
    let signature = top["signature"].as_str().unwrap_or_default();
    assert!(
        signature.len() == 12 && signature.bytes().all(|b| b.is_ascii_hexdigit()),
        "a leak signature: {top}"
    );
    let path = &top["path"];
    let chain: Vec<String> = path["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type_name"].as_str().unwrap().to_string())
        .collect();
    (path["root"].to_string(), chain.join(" → "))
}

/// A list the root holds directly is its entries' holder (on the path's first
/// step) and retains what the service says it kept at the last sample: each
/// entry with its payload (`entry_bytes`, 2 objects), plus the list and its
/// array (8 bytes a slot), within 10%, and grown since the first. Where a list
/// sits in a thread static on each thread, the lists count together.
fn the_list_retains_the_entries_the_service_kept(
    report: &serde_json::Value,
    samples: &[serde_json::Value],
    (entry, stat): (&str, &str),
    entry_bytes: f64,
) {
    let growth = report["retention"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type_name"] == entry)
        .unwrap();
    let holder = &growth["groups"][0]["holder"];
    assert_eq!(
        holder["type_name"],
        format!("System.Collections.Generic.List<{entry}>"),
        "{growth:#}"
    );
    assert_eq!(holder["step"], 0, "the root holds it: {growth:#}");
    let lists = holder["holders"].as_f64().unwrap_or(1.0);
    let kept = samples.last().unwrap()["app_stats"][stat].as_f64().unwrap();
    let expected = kept * (entry_bytes + 8.0);
    let retained = holder["retained_last"].as_f64().unwrap();
    let objects = holder["objects_last"].as_f64().unwrap();
    eprintln!(
        "holder of {entry}: {lists} lists retain {retained} bytes, {objects} objects; \
         the service kept {kept} entries (about {expected} bytes)"
    );
    assert!(
        (retained - expected).abs() < 0.1 * expected,
        "{retained} bytes retained, {kept} entries kept: {growth:#}"
    );
    assert!(
        (objects - (2.0 * kept + 2.0 * lists)).abs() < 0.1 * kept,
        "{objects} objects retained, {kept} entries kept: {growth:#}"
    );
    assert!(
        holder["retained_first"].as_f64().unwrap() < retained,
        "{growth:#}"
    );
}

#[test]
fn each_leak_is_named_by_the_root_that_holds_it() {
    let _lock = e2e_lock();
    let out = temp_out();
    let run = leakgate_run(
        &scenario("retained-by-roots"),
        out.path(),
        &["--keep-dumps"],
    );
    assert_eq!(run.code, 1, "{}", run.output);
    let report = read_report(out.path());
    assert_one_group_per_leak("retained-by-roots", &report);
    let samples = read_samples(out.path());
    let (root, chain) = grown_path(&report, "StaticHeldEntry");
    assert!(
        root.contains("LeakRegistry") && root.contains("Entries"),
        "a static field: {root}"
    );
    assert!(chain.contains("List<StaticHeldEntry>"), "{chain}");
    let (root, chain) = grown_path(&report, "GenericHeldEntry");
    assert!(
        root.contains("PerTypeCache<GenericHeldEntry>") && root.contains("Items"),
        "a static of a closed generic type: {root}"
    );
    assert!(chain.contains("List<GenericHeldEntry>"), "{chain}");
    // A [ThreadStatic] list on each thread that served a request: one reason, whichever thread.
    let (root, chain) = grown_path(&report, "ThreadHeldEntry");
    let root: serde_json::Value = serde_json::from_str(&root).unwrap();
    assert_eq!(root["kind"], "thread_static", "{root}");
    assert_eq!(root["declaring_type"], "PerThreadLog", "{root}");
    assert_eq!(root["field"], "Entries", "{root}");
    assert!(chain.contains("List<ThreadHeldEntry>"), "{chain}");
    // An entry of 24 bytes with a 64-byte payload (88); a list on each thread.
    let entry = ("ThreadHeldEntry", "threadEntriesKept");
    the_list_retains_the_entries_the_service_kept(&report, &samples, entry, 24.0 + 88.0);
    // An entry of 32 bytes with a 128-byte payload (152).
    let entry = ("StaticHeldEntry", "staticEntriesKept");
    the_list_retains_the_entries_the_service_kept(&report, &samples, entry, 32.0 + 152.0);
    // The runtime's DAC does not always list every GC handle (dotnet/runtime#124872):
    // then the chain still shows, from "no root found".
    let (root, chain) = grown_path(&report, "HandleHeldSession");
    assert!(
        root.contains("strong_handle") || root.contains("not_found"),
        "a handle: {root}"
    );
    assert!(chain.contains("List<HandleHeldSession>"), "{chain}");
    // A thread started per request and never stopped: its Thread is held by the runtime's
    // thread store (not "strong handle"), and the threads are named by pattern and counted.
    let (root, chain) = grown_path(&report, "System.Threading.Thread");
    let root: serde_json::Value = serde_json::from_str(&root).unwrap();
    assert_eq!(root["kind"], "runtime", "{root}");
    assert_eq!(root["what"], "running thread", "{root}");
    let started = samples.last().unwrap()["app_stats"]["slow"]["pollerThreads"]
        .as_u64()
        .unwrap();
    // The named pollers first (most names), counted; the unnamed ones by the
    // method they run; then the service's own threads.
    let name = root["name"].as_str().unwrap_or_default();
    let counted: u64 = name
        .split(", ")
        .next()
        .and_then(|n| n.strip_prefix("Poller-* ("))
        .and_then(|n| n.strip_suffix(" threads)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("named by pattern: {root}"));
    assert!(
        (started.div_ceil(2)..=started.div_ceil(2) + 2).contains(&counted),
        "{counted} threads named, {started} started"
    );
    assert!(name.contains("StuckPollers.Poll()"), "{root}");
    assert_eq!(chain, "System.Threading.Thread", "{chain}");
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("### Why it is alive"), "{summary}");
    assert!(
        summary.contains("runtime: running thread Poller-*"),
        "{summary}"
    );
    assert!(summary.contains("static LeakRegistry.Entries"), "{summary}");
    assert!(run.output.contains("why StaticHeldEntry"), "{}", run.output);

    // The same question of dumps taken elsewhere: `analyze --managed --paths`, like !gcroot.
    let dumps = out.path().join("dumps");
    let analyze = std::process::Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(["analyze", "--managed", "--paths", "StaticHeldEntry"])
        .arg(dumps.join("sample-01.dump"))
        .arg(dumps.join("sample-04.dump"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&analyze.stdout);
    assert_eq!(analyze.status.code(), Some(0), "{text}");
    assert!(text.contains("Why StaticHeldEntry is alive"), "{text}");
    let grown = text
        .lines()
        // (`~+` when estimated from the instances traced)
        .find(|l| l.starts_with("StaticHeldEntry: +") || l.starts_with("StaticHeldEntry: ~+"))
        .unwrap_or_else(|| panic!("the path that grew: {text}"));
    assert!(
        grown.contains("through static LeakRegistry.Entries"),
        "{grown}"
    );
}

/// `dump: gcdump` (an EventPipe heap snapshot, no core dump) judges the
/// fixtures as the dumps do; its counts match the service's ground truth,
/// and a kept snapshot reads back with `analyze`.
#[test]
fn heap_snapshots_give_the_verdicts_of_dumps() {
    let _lock = e2e_lock();
    for (name, code) in [
        ("dynamic-method-leak", 1),
        ("native-leak", 1),
        ("healthy", 0),
    ] {
        let out = temp_out();
        // The leak's paths from a dump beside the two snapshots compared.
        let keep: &[&str] = if name == "dynamic-method-leak" {
            &["--dump", "gcdump", "--keep-dumps", "--paths-from", "dump"]
        } else {
            &["--dump", "gcdump"]
        };
        let run = leakgate_run(&scenario(name), out.path(), keep);
        assert_eq!(run.code, code, "{name} with gcdump\n{}", run.output);
        let samples = read_samples(out.path());
        assert_gc_committed_is_the_gc_heaps(&read_report(out.path()), &samples);
        for sample in samples {
            assert!(sample["timings"]["dump_ms"].as_f64().unwrap() > 0.0);
            assert!(sample["managed"].is_object(), "{name}: managed data");
            if name == "dynamic-method-leak" {
                // A snapshot names nested types without their declaring type
                // (`Entry<K, V>[]`, dozens of distinct types all `<>c`); with
                // a dump beside it, every sample — those before the first
                // dump included — names them as dumps do.
                let names: Vec<&str> = sample["managed"]["heap_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["name"].as_str().unwrap())
                    .collect();
                let short: Vec<&&str> = names
                    .iter()
                    .filter(|n| n.starts_with("Entry<") || **n == "<>c")
                    .collect();
                assert!(short.is_empty(), "sample {}: {short:?}", sample["index"]);
                assert!(
                    names.iter().any(|n| n.ends_with(">+Entry[]")),
                    "sample {}: no nested type named in full",
                    sample["index"]
                );
                let kept = sample["app_stats"]["delegatesKept"].as_u64().unwrap();
                let resolvers =
                    finalizable_count(&sample, "System.Reflection.Emit.DynamicResolver");
                // A snapshot counts every live object of a finalizable type,
                // those waiting on the finalizer thread included (requests
                // still in flight and the runtime's own resolvers): how many
                // depends on how busy the machine is, so the bound is loose —
                // a count that missed the kept ones or doubled them still fails.
                assert!(
                    resolvers >= kept && resolvers <= kept + kept / 4 + 128,
                    "{resolvers} DynamicResolver objects for {kept} kept delegates"
                );
            }
        }
        let left = dumps_left(out.path());
        if name != "dynamic-method-leak" {
            assert!(left.is_empty(), "{name}: nothing on disk: {left:?}");
            continue;
        }
        // The kept traces, compressed; a core dump (and its graph) only for
        // the two samples whose paths are compared.
        let mut names: Vec<String> = left
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".nettrace.gz"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "sample-01.dump",
                "sample-01.graph",
                "sample-04.dump",
                "sample-04.graph"
            ],
            "{left:?}"
        );
        // Those paths read as a dump's do: fields, and the stack root's method.
        let report = read_report(out.path());
        assert_one_group_per_leak("dynamic-method-leak with gcdump", &report);
        let (root, _) = grown_path(&report, "System.Reflection.Emit.DynamicResolver");
        let top = report["retention"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|g| g["type_name"] == "System.Reflection.Emit.DynamicResolver")
            })
            .map(|g| g["groups"][0]["path"].to_string())
            .unwrap_or_default();
        assert!(root.contains("Program.<Main>$"), "{root}");
        assert!(top.contains("\"_resolver\""), "field names: {top}");
        let trace = out.path().join("dumps/sample-04.nettrace.gz");
        let analyze = std::process::Command::new(env!("CARGO_BIN_EXE_leakgate"))
            .arg("analyze")
            .arg(&trace)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&analyze.stdout);
        assert_eq!(analyze.status.code(), Some(0), "{text}");
        assert!(
            text.contains("System.Reflection.Emit.DynamicResolver"),
            "{text}"
        );
        // The GC's own count of what it had committed travels with the trace.
        assert!(
            text.contains("GC committed") && text.contains("at the snapshot's GC"),
            "{text}"
        );
    }
}

/// Leaks through code the service does not own, in one run: generated
/// assemblies that the runtime's loader keeps (no GC root reaches them) are
/// reported as held by the runtime, with their names by pattern; a
/// third-party-style library's internal static cache is the holder of the
/// blobs, and what it retains grows as the bytes the service says it cached
/// (4 KiB a key, the keys, nodes and headers within 10%).
#[test]
fn library_and_loader_leaks_name_the_runtime_and_the_library_cache() {
    let _lock = e2e_lock();
    let out = temp_out();
    let run = leakgate_run(&scenario("library-and-loader-leaks"), out.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    let report = read_report(out.path());
    assert_one_group_per_leak("library-and-loader-leaks", &report);
    let samples = read_samples(out.path());

    // Without the runtime's roots, RuntimeAssembly reads "strong handle →
    // Object[] →" (the loader's handle table) and RuntimeType (on the frozen
    // heap, referenced from its method table) "no root found".
    for type_name in ["System.Reflection.RuntimeAssembly", "System.RuntimeType"] {
        let growth = report["retention"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["type_name"] == type_name)
            .unwrap_or_else(|| panic!("{type_name} traced: {report}"));
        let top = &growth["groups"][0];
        let root = &top["path"]["root"];
        assert_eq!(root["kind"], "runtime", "{growth:#}");
        assert_eq!(
            root["what"], "non-collectible dynamic assembly",
            "{growth:#}"
        );
        let generated = samples.last().unwrap()["app_stats"]["generatedAssemblies"]
            .as_u64()
            .unwrap();
        assert_eq!(
            root["name"],
            format!("Contoso.Proxies.Generated* ({generated} assemblies)"),
            "one group names them all: {growth:#}"
        );
        assert_eq!(
            growth["groups"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["path"]["root"]["what"] == root["what"])
                .count(),
            1,
            "{growth:#}"
        );
    }
    assert!(
        run.output.contains(
            "through runtime: non-collectible dynamic assembly Contoso.Proxies.Generated* ("
        ),
        "{}",
        run.output
    );
    // One leak, one finding: the loader holds the assemblies and their types.
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().any(|f| {
            let members = f["members"].to_string();
            f["holder"]["root"]["kind"] == "runtime"
                && members.contains("\"System.Reflection.RuntimeAssembly\"")
                && members.contains("\"System.RuntimeType\"")
        }),
        "{findings:#?}"
    );
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("runtime: non-collectible dynamic assembly Contoso.Proxies.Generated* ("),
        "{summary}"
    );

    // The library's cache holds the blobs; its retained bytes grew as the
    // service's count of cached bytes did, between the same two samples.
    let growth = report["retention"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type_name"] == "System.Byte[]")
        .unwrap_or_else(|| panic!("Byte[] traced: {report}"));
    let group = growth["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["path"]["root"]["kind"] == "static_field")
        .unwrap_or_else(|| panic!("a static holds the blobs: {growth:#}"));
    let root = &group["path"]["root"];
    assert_eq!(
        root["declaring_type"], "Vendor.Signing.Internal.SigningCache",
        "{growth:#}"
    );
    assert_eq!(root["field"], "signedAssemblyCache", "{growth:#}");
    assert_eq!(group, &growth["groups"][0], "it grew most: {growth:#}");
    let holder = &group["holder"];
    assert_eq!(
        holder["type_name"],
        "System.Collections.Concurrent.ConcurrentDictionary<System.String, System.Byte[]>",
        "{growth:#}"
    );
    let first = report["verdict"]["judged_from"].as_u64().unwrap() as usize;
    let cached = |i: usize| {
        samples[i]["app_stats"]["vendorCacheBytes"]
            .as_f64()
            .unwrap()
    };
    let counted = cached(samples.len() - 1) - cached(first);
    let retained =
        holder["retained_last"].as_f64().unwrap() - holder["retained_first"].as_f64().unwrap();
    eprintln!(
        "vendor cache: retains +{retained} bytes; the service cached +{counted} bytes \
         (samples {first} to {})",
        samples.len() - 1
    );
    assert!(
        counted > 256.0 * 1024.0,
        "the load drove the cache: {counted}"
    );
    assert!(
        (retained - counted).abs() < 0.1 * counted,
        "+{retained} bytes retained, +{counted} bytes cached: {growth:#}"
    );
}
