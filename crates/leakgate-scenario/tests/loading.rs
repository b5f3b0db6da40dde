//! Loading real scenario files and malformed ones.

use std::path::{Path, PathBuf};

use std::time::Duration;

use leakgate_scenario::{
    Command, Count, DumpMode, Interval, LoadDriver, Port, Probe, ScenarioError, load, parse,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse_err(text: &str) -> ScenarioError {
    parse(Path::new("bad.yaml"), text).expect_err("the scenario is invalid")
}

const VALID: &str = r#"
service:
  command: dotnet
  args: [app.dll, --urls, "http://127.0.0.1:{port}"]
  ready: { http: "http://127.0.0.1:{port}/healthz" }
load:
  requests: [{ path: /leak }]
sampling:
  every: 5s
  count: 4
"#;

#[test]
fn the_fixture_scenarios_load() {
    for name in [
        "dynamic-method-leak",
        "native-leak",
        "healthy",
        "long-type-name",
        "buffer-leak",
        "buffer-leak-auto",
        "healthy-auto",
        "stable-heap",
        "slow-registration-leak",
        "slow-pending-leak",
        "slow-pending-leak-auto",
        "slow-collection-leak",
        "slow-native-leak",
        "slow-healthy",
        "library-and-loader-leaks",
    ] {
        let scenario = load(root().join(format!("fixtures/scenarios/{name}.yaml"))).unwrap();
        assert_eq!(scenario.name, name);
        assert!(scenario.budgets.len() >= 2, "{name} has budgets");
        let lines = scenario.budget_lines();
        assert!(
            lines.iter().all(|&l| l > 19),
            "budget lines point into the budgets section: {lines:?}"
        );
        // The `count: auto` fixtures run as a new scenario does: the default.
        let expected = if matches!(name, "buffer-leak-auto" | "healthy-auto") {
            DumpMode::Gcdump
        } else {
            DumpMode::Withheap
        };
        assert_eq!(scenario.sampling.dump, expected, "{name}");
    }
}

#[test]
fn materiality_has_defaults_and_can_be_set_per_scenario_and_budget() {
    use leakgate_scenario::budget::{Materiality, Unit};
    let s = parse(Path::new("x.yaml"), VALID).unwrap();
    assert_eq!(s.materiality, Materiality::default());
    assert_eq!(s.materiality.rate(Unit::Bytes).to_string(), "64KiB/1k");
    let text = format!("{VALID}materiality:\n  bytes: 256KiB/min\n");
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(s.materiality.rate(Unit::Bytes).to_string(), "256KiB/min");
    assert_eq!(s.materiality.rate(Unit::Count).to_string(), "8/1k");
    // A count rate with a size, located at its key.
    let text = format!("{VALID}materiality:\n  count: 8KiB/1k\n");
    let message = parse(Path::new("x.yaml"), &text).unwrap_err().to_string();
    assert!(
        message.contains("materiality.count") && message.contains("x.yaml:"),
        "{message}"
    );
    // A budget's own, checked against its metric's unit.
    let own = format!("{VALID}budgets:\n  - metric: heap.bytes\n    materiality: 16KiB/1k\n");
    let s = parse(Path::new("x.yaml"), &own).unwrap();
    assert_eq!(
        s.budgets[0].budget.materiality.map(|m| m.to_string()),
        Some("16KiB/1k".to_string())
    );
    let bad = format!("{VALID}budgets:\n  - metric: finalizable\n    materiality: 1MiB/1k\n");
    let message = parse(Path::new("x.yaml"), &bad).unwrap_err().to_string();
    assert!(
        message.contains("`materiality: 1MiB` is a size"),
        "{message}"
    );
}

#[test]
fn defaults_are_filled_in() {
    let s = parse(Path::new("dir/minimal.yaml"), VALID).unwrap();
    assert_eq!(s.name, "minimal");
    let LoadDriver::Builtin(load) = &s.load.driver else {
        panic!("built-in load")
    };
    assert_eq!(load.concurrency, 4);
    assert_eq!(load.requests[0].method, "GET");
    assert_eq!(load.requests[0].weight, 1);
    assert_eq!(load.max_error_rate, 0.01);
    assert!(s.sampling.gc_before_sample);
    assert!(!s.sampling.keep_dumps);
    assert_eq!(s.sampling.interval, Interval::Every(Duration::from_secs(5)));
    assert_eq!(s.service.ready.timeout.as_secs(), 60);
    let Probe::Http(target) = &s.service.ready.probe else {
        panic!("an http probe")
    };
    assert_eq!(target.endpoint.port, Port::Service);
    assert_eq!(s.service.cwd, Path::new("dir/."));
    assert_eq!(s.snapshot.path, Path::new("dir/minimal.snap"));
    assert_eq!(s.snapshot.enabled, None);
}

#[test]
fn a_build_string_is_split_like_a_shell() {
    let text = VALID.replace(
        "  command: dotnet",
        "  build: dotnet build -c 'Release Mode'\n  command: dotnet",
    );
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(
        s.service.build,
        Some(Command::Argv(vec![
            "dotnet".into(),
            "build".into(),
            "-c".into(),
            "Release Mode".into()
        ]))
    );
    // For `shell: true` the line runs as written, quotes and operators intact.
    let s = parse(
        Path::new("x.yaml"),
        &text.replace("  command: dotnet", "  command: dotnet\n  shell: true"),
    )
    .unwrap();
    assert_eq!(
        s.service.build,
        Some(Command::Shell("dotnet build -c 'Release Mode'".into()))
    );
}

#[test]
fn an_unknown_key_names_line_and_column() {
    let text = VALID.replace("  count: 4", "  count: 4\n  cuont: 5");
    let err = parse_err(&text);
    let (line, column) = err.location().expect("located");
    assert_eq!(line, 11, "{err}");
    assert_eq!(column, 3, "{err}");
    let message = err.to_string();
    assert!(message.starts_with("bad.yaml:11:3: "), "{message}");
    assert!(message.contains("cuont"), "{message}");
}

#[test]
fn a_bad_duration_says_what_was_expected() {
    let err = parse_err(&VALID.replace("every: 5s", "every: soon"));
    assert_eq!(err.location().map(|l| l.0), Some(9), "{err}");
    assert!(
        err.to_string().contains("expected a duration like \"30s\""),
        "{err}"
    );
    let err = parse_err(&VALID.replace("every: 5s", "every: 5"));
    assert!(err.to_string().contains("\"5s\""), "{err}");
}

#[test]
fn a_wrong_type_is_located() {
    let err = parse_err(&VALID.replace("count: 4", "count: many"));
    assert_eq!(err.location().map(|l| l.0), Some(10), "{err}");
}

#[test]
fn semantic_errors_point_at_the_key() {
    // Errors point at the offending value, as the YAML parser located it.
    let err = parse_err(&VALID.replace("count: 4", "count: 1"));
    assert_eq!(err.location(), Some((10, 10)), "{err}");
    assert!(err.to_string().contains("expected 2 to 10000"), "{err}");

    let err = parse_err(&VALID.replace("  every: 5s", "  every: 5s\n  every_requests: 100"));
    assert!(err.to_string().contains("not both"), "{err}");

    let err = parse_err(&VALID.replace("  requests:", "  duration: 10s\n  requests:"));
    assert!(
        err.to_string()
            .contains("need 15s of load, longer than 10s"),
        "{err}"
    );
    assert_eq!(err.location().map(|l| l.0), Some(7), "{err}");

    let err = parse_err(&VALID.replace("path: /leak", "path: leak"));
    assert!(err.to_string().contains("must start with '/'"), "{err}");
}

#[test]
fn an_invalid_budget_is_located_at_its_entry() {
    let text = format!("{VALID}budgets:\n  - metric: finalizable\n    max_growth: 64MiB\n");
    let err = parse_err(&text);
    assert_eq!(err.location().map(|l| l.0), Some(12), "{err}");
}

#[test]
fn malformed_yaml_and_missing_files_are_errors() {
    let err = parse_err("service: [unclosed\n");
    assert!(err.location().is_some(), "{err}");
    let err = parse_err("");
    assert!(err.to_string().contains("bad.yaml"), "{err}");
    // A FIFO is refused at once instead of blocking the read.
    let dir = std::env::temp_dir().join(format!("leakgate-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let status = std::process::Command::new("mkfifo")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let err = load(&dir).unwrap_err();
    std::fs::remove_file(&dir).unwrap();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = load("/nonexistent/scenario.yaml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/scenario.yaml: cannot read"),
        "{err}"
    );
}

#[test]
fn plans_that_cannot_measure_anything_are_rejected() {
    // Everything but one sample is warm-up: growth can never be measured.
    let err = parse_err(&VALID.replace("  count: 4", "  count: 4\n  warmup_samples: 3"));
    assert!(err.to_string().contains("at least 5"), "{err}");

    // every_requests counts the built-in client's requests only.
    let text = VALID
        .replace(
            "  requests: [{ path: /leak }]",
            "  command: wrk http://127.0.0.1:{port}/",
        )
        .replace("every: 5s", "every_requests: 100");
    let err = parse_err(&text);
    assert_eq!(err.location().map(|l| l.0), Some(9), "{err}");
    assert!(err.to_string().contains("external `load.command`"), "{err}");

    // A finalizable budget needs the managed heap, which `dump: none` does not capture.
    let text = format!(
        "{}  dump: none\nbudgets:\n  - metric: finalizable\n    max_growth: 10\n",
        VALID
    );
    let err = parse_err(&text);
    assert_eq!(err.location(), Some((13, 5)), "{err}");
    assert!(err.to_string().contains("dump: withheap"), "{err}");

    // gc.objects counts objects, which only a heap read can; gc.live is
    // counted by the induced GC, so `dump: none` needs it on.
    let text = format!(
        "{}  dump: none\nbudgets:\n  - metric: gc.objects\n    max_growth: 10\n",
        VALID
    );
    assert!(parse_err(&text).to_string().contains("dump: withheap"));
    let live = |gc: &str| {
        format!(
            "{VALID}  dump: none\n  gc_before_sample: {gc}\nbudgets:\n  - metric: gc.live\n    max_growth: 1MiB\n"
        )
    };
    let err = parse_err(&live("false"));
    assert!(err.to_string().contains("gc_before_sample: true"), "{err}");
    assert_eq!(err.location(), Some((14, 5)), "{err}");
    parse(Path::new("s.yaml"), &live("true")).expect("gc.live with dump: none");

    // Absurd durations are an error, not an overflow.
    let err = parse_err(&VALID.replace("every: 5s", "every: 100000000000y"));
    assert!(err.to_string().contains("take longer than 7days"), "{err}");
}

#[test]
fn errors_point_into_the_right_section() {
    // `command:` also appears under `service:`; the error is about `load.command`.
    let text = VALID.replace(
        "  requests: [{ path: /leak }]",
        "  requests: [{ path: /leak }]\n  command: wrk",
    );
    let err = parse_err(&text);
    assert_eq!(err.location(), Some((8, 12)), "{err}");

    // A flow-style request with a bad path is located on its own line.
    let err = parse_err(&VALID.replace("[{ path: /leak }]", "[{ path: leak }]"));
    assert_eq!(err.location(), Some((7, 22)), "{err}");

    let err = parse_err(&VALID.replace("[{ path: /leak }]", "[{ path: /leak, weight: 0 }]"));
    assert!(err.to_string().contains("every weight is 0"), "{err}");

    let err = parse_err(&VALID.replace(
        "http: \"http://127.0.0.1:{port}/healthz\"",
        "http: \"127.0.0.1:{port}\"",
    ));
    assert_eq!(err.location().map(|l| l.0), Some(5), "{err}");
    assert!(err.to_string().contains("http:// URL"), "{err}");

    let err = parse_err(&format!("name: ../escape\n{VALID}"));
    assert_eq!(err.location(), Some((1, 7)), "{err}");
}

/// Every number is bounded when the scenario loads: nothing wraps, nothing
/// runs unbounded, nothing fails only after the service was launched.
#[test]
fn numbers_that_cannot_measure_are_refused_where_written() {
    let cases: &[(&str, &str, &str, (u64, u64))] = &[
        // Wraps in release builds when added to 2.
        (
            "  count: 4",
            "  count: 4\n  warmup_samples: 18446744073709551615",
            "at least 18446744073709551615",
            (10, 10),
        ),
        ("every: 5s", "every: 0s", "at least 100ms", (9, 10)),
        (
            "count: 4",
            "count: 1000000000000",
            "expected 2 to 10000",
            (10, 10),
        ),
        (
            "  requests: [{ path: /leak }]",
            "  requests: [{ path: /leak }]\n  concurrency: 1000000000",
            "expected 1 to 1024 connections",
            (8, 16),
        ),
        (
            "  requests: [{ path: /leak }]",
            "  requests: [{ path: /leak }]\n  rate: 1e-300",
            "requests per second, got 0.000",
            (8, 9),
        ),
        (
            "  requests: [{ path: /leak }]",
            "  requests: [{ path: /leak }]\n  rate: .nan",
            "requests per second",
            (8, 9),
        ),
        (
            "  requests: [{ path: /leak }]",
            "  requests: [{ path: /leak }]\n  max_error_rate: 150%",
            "expected 0% to 100%",
            (8, 19),
        ),
        (
            "  requests: [{ path: /leak }]",
            "  requests: [{ path: /leak }]\n  expect_status: [200]",
            "not an error status",
            (8, 19),
        ),
        ("every: 5s", "every_requests: 0", "expected 1 to", (9, 19)),
        (
            "http: \"http://127.0.0.1:{port}/healthz\"",
            "http: \"http://10.1.2.3:{port}/healthz\"",
            "not a loopback address",
            (5, 18),
        ),
    ];
    for (from, to, says, at) in cases {
        let err = parse_err(&VALID.replace(from, to));
        assert!(err.to_string().contains(says), "{to}: {err}");
        assert_eq!(err.location(), Some(*at), "{to}: {err}");
    }
}

#[test]
fn samples_spread_over_a_duration_must_be_far_enough_apart() {
    // count × a tiny interval: 1,000 samples in 10 s is 10 ms apart.
    let text = VALID
        .replace("  every: 5s\n", "")
        .replace("count: 4", "count: 1000")
        .replace("  requests:", "  duration: 10s\n  requests:");
    let err = parse_err(&text);
    assert!(err.to_string().contains("less than 100ms"), "{err}");
    // A sensible spread is taken as the interval.
    let text = VALID
        .replace("  every: 5s\n", "")
        .replace("  requests:", "  warmup: 2s\n  duration: 14s\n  requests:");
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(s.sampling.interval, Interval::Every(Duration::from_secs(4)));
}

#[test]
fn names_from_file_names_follow_the_same_rules() {
    // `...yaml` has the stem `..`: it would write reports into the parent directory.
    let err = parse(Path::new("dir/...yaml"), VALID).unwrap_err();
    assert!(err.to_string().contains("add `name:`"), "{err}");
    let long = "x".repeat(101);
    let err = parse_err(&format!("name: {long}\n{VALID}"));
    assert!(err.to_string().contains("more than 100"), "{err}");
    let err = parse_err(&format!("name: \"a\\u0007b\"\n{VALID}"));
    assert!(err.to_string().contains("control character"), "{err}");
    assert_eq!(
        parse(Path::new("dir/checkout-api.yaml"), VALID)
            .unwrap()
            .name,
        "checkout-api"
    );
}

/// Finding 7 of issue 19: a name with a bidi override, a zero-width
/// character or a noncharacter reads as another name in a review; the
/// message named only letters, digits and `.-_` but let them in.
#[test]
fn names_hold_only_what_the_message_allows() {
    for (name, what) in [
        (
            "\\u202Echeckout",
            "an invisible formatting character (U+202E)",
        ),
        (
            "check\\u200Bout",
            "an invisible formatting character (U+200B)",
        ),
        (
            "checkout\\u2066",
            "an invisible formatting character (U+2066)",
        ),
        ("checkout\\uFDD0", "a noncharacter (U+FDD0)"),
        ("checkout\\uFFFE", "a noncharacter (U+FFFE)"),
        ("check out", "' ' (U+0020)"),
        ("a:b", "':' (U+003A)"),
    ] {
        let err = parse_err(&format!("name: \"{name}\"\n{VALID}"));
        let message = err.to_string();
        assert!(message.contains(what), "{name}: {message}");
        assert!(
            message.contains("use letters, digits, `.`, `-` and `_`"),
            "{message}"
        );
    }
    // The message shows the character escaped, never raw.
    let err = parse_err(&format!("name: \"a\\u202Eb\"\n{VALID}"));
    assert!(!err.to_string().contains('\u{202E}'), "{err}");
    // Letters and digits of any script are letters and digits.
    for name in ["名前-1", "Überprüfung_2", "api.v2"] {
        let s = parse(Path::new("x.yaml"), &format!("name: {name}\n{VALID}")).unwrap();
        assert_eq!(s.name, name);
    }
    // A file name is held to the same rule.
    let err = parse(Path::new("dir/a\u{200D}b.yaml"), VALID).unwrap_err();
    assert!(err.to_string().contains("U+200D"), "{err}");
}

#[test]
fn budget_names_hold_no_hidden_characters() {
    let with_name = |name: &str| {
        format!(
            "{VALID}budgets:\n  - metric: resident\n    max_growth: 1MiB\n    name: \"{name}\"\n"
        )
    };
    assert!(parse(Path::new("x.yaml"), &with_name("resident ]]> `x` <b>")).is_ok());
    for (name, what) in [
        ("grow\\u202Eth", "U+202E"),
        ("a\\u200Db", "U+200D"),
        ("a\\u0007b", "control character"),
        ("a\\uFFFFb", "noncharacter"),
    ] {
        let err = parse_err(&with_name(name));
        let message = err.to_string();
        assert!(
            message.contains("budgets[0]") && message.contains(what),
            "{name}: {message}"
        );
    }
}

#[test]
fn probes_may_leave_loopback_only_when_the_scenario_says_so() {
    let text = VALID
        .replace("127.0.0.1:{port}/healthz", "metrics.internal:9090/healthz")
        .replace(
            "  command: dotnet",
            "  command: dotnet\n  allow_remote_probes: true",
        );
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(s.service.ready.probe.endpoint().host, "metrics.internal");
    let err = parse_err(&format!(
        "{VALID}  stats_url: \"http://metrics.internal/stats\"\n"
    ));
    assert!(err.to_string().contains("sampling.stats_url"), "{err}");
}

#[test]
fn budgets_keep_their_place_and_a_compiled_glob() {
    let text = format!(
        "{VALID}budgets:\n  - metric: finalizable\n    types: \"System.Reflection.*\"\n    max_growth: 10\n"
    );
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!((s.budgets[0].line, s.budgets[0].column), (12, 5));
    assert!(s.budgets[0].covers("System.Reflection.Emit.DynamicResolver"));
    assert!(!s.budgets[0].covers("System.String"));
    let err = parse_err(&format!(
        "{VALID}budgets:\n  - metric: finalizable\n    types: \"Foo[\"\n    max: 1\n"
    ));
    assert!(err.to_string().contains("not a valid glob"), "{err}");
    assert_eq!(err.location(), Some((12, 5)), "{err}");
    let err = parse_err(&format!("{VALID}ignore: [\"ok\", \"bad[\"]\n"));
    assert!(err.to_string().contains("not a valid glob"), "{err}");
    assert_eq!(err.location(), Some((11, 16)), "{err}");
}

#[test]
fn ignore_paths_take_signatures_and_globs_with_the_known_list() {
    let text =
        format!("{VALID}ignore_paths:\n  - 3F9A2C1D7E4B\n  - \"static Vendor.Pool.* → *\"\n");
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    let approved = leakgate_heap::LeakSignature::parse("3f9a2c1d7e4b");
    let other = leakgate_heap::LeakSignature::parse("000000000000");
    let by = s
        .ignore_paths
        .ignores(approved.as_ref(), "static A.b → C")
        .unwrap();
    assert_eq!((by.pattern.as_str(), by.known), ("3f9a2c1d7e4b", None));
    let by = s
        .ignore_paths
        .ignores(other.as_ref(), "static Vendor.Pool.s_items → Item[] → Item")
        .unwrap();
    assert_eq!(by.pattern, "static Vendor.Pool.* → *");
    // leakgate's own list applies with the scenario's.
    let pooled = "static System.Buffers.ArrayPool<System.Byte>.s_shared \
                  → System.Buffers.SharedArrayPool<System.Byte> → System.Byte[]";
    assert!(
        s.ignore_paths
            .ignores(None, pooled)
            .unwrap()
            .known
            .is_some()
    );
    assert_eq!(
        s.ignore_paths.ignores(other.as_ref(), "static A.b → C"),
        None
    );
    let err = parse_err(&format!(
        "{VALID}ignore_paths: [\"static A.b → *\", \"bad[\"]\n"
    ));
    assert!(err.to_string().contains("nor a valid glob"), "{err}");
    assert_eq!(err.location(), Some((11, 34)), "{err}");
}

#[test]
fn count_auto_takes_its_bounds_or_the_defaults() {
    let s = parse(
        Path::new("a.yaml"),
        &VALID.replace("count: 4", "count: auto"),
    )
    .unwrap();
    assert_eq!(s.sampling.count, Count::Auto { min: 5, max: 20 });
    assert_eq!(s.sampling.count.max(), 20);
    let text = VALID.replace("count: 4", "count: auto\n  min_count: 6\n  max_count: 30");
    let s = parse(Path::new("a.yaml"), &text).unwrap();
    assert_eq!(s.sampling.count, Count::Auto { min: 6, max: 30 });
    // The plan's timing assumes the most samples: 30 every 5s need 145s.
    let err = parse_err(&text.replace("  requests:", "  duration: 100s\n  requests:"));
    assert!(err.to_string().contains("30 samples every 5s"), "{err}");
}

#[test]
fn count_auto_bounds_are_checked_where_written() {
    let err = parse_err(&VALID.replace("count: 4", "count: auto\n  min_count: 9\n  max_count: 8"));
    assert_eq!(err.location().map(|l| l.0), Some(11), "{err}");
    assert!(
        err.to_string()
            .contains("min_count (9) is more than max_count (8)"),
        "{err}"
    );

    let err = parse_err(&VALID.replace("count: 4", "count: 4\n  max_count: 8"));
    assert_eq!(err.location().map(|l| l.0), Some(11), "{err}");
    assert!(
        err.to_string().contains("applies to `count: auto`"),
        "{err}"
    );

    let err = parse_err(&VALID.replace("count: 4", "count: auto\n  max_count: 100000"));
    assert!(
        err.to_string()
            .contains("sampling.max_count: expected 2 to 10000"),
        "{err}"
    );

    let err = parse_err(&VALID.replace("count: 4", "count: sometimes"));
    assert_eq!(err.location().map(|l| l.0), Some(10), "{err}");
    assert!(
        err.to_string().contains("a number of samples or `auto`"),
        "{err}"
    );
}

#[test]
fn heap_snapshots_with_paths_from_a_dump_are_the_default() {
    use leakgate_scenario::{DumpMode, PathsFrom};
    let s = parse(Path::new("x.yaml"), VALID).unwrap();
    assert_eq!(s.sampling.dump, DumpMode::Gcdump);
    assert_eq!(s.sampling.paths_from, None);
    assert_eq!(s.sampling.paths_source(), PathsFrom::Dump);
    assert!(s.sampling.names_dump());
    let text = format!("{VALID}  paths_from: snapshot\n");
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(s.sampling.paths_source(), PathsFrom::Snapshot);
    assert!(!s.sampling.names_dump());
    // A dump's paths come from the dump itself.
    let text = format!("{VALID}  dump: withheap\n");
    let s = parse(Path::new("x.yaml"), &text).unwrap();
    assert!(!s.sampling.names_dump());
    let err = parse_err(&format!("{VALID}  dump: withheap\n  paths_from: dump\n"));
    assert!(
        err.to_string()
            .contains("paths_from: dump applies to dump: gcdump"),
        "{err}"
    );
    assert_eq!(err.location(), Some((12, 15)), "{err}");
}
