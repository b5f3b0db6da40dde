//! Loading real scenario files and malformed ones.

use std::path::{Path, PathBuf};

use leakgate_scenario::{DumpMode, ScenarioError, load, parse};

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
    for name in ["dynamic-method-leak", "native-leak", "healthy"] {
        let loaded = load(root().join(format!("fixtures/scenarios/{name}.yaml"))).unwrap();
        assert_eq!(loaded.name, name);
        assert!(loaded.scenario.budgets.len() >= 2, "{name} has budgets");
        assert_eq!(loaded.budget_lines.len(), loaded.scenario.budgets.len());
        assert!(
            loaded.budget_lines.iter().all(|&l| l > 20),
            "budget lines point into the budgets section: {:?}",
            loaded.budget_lines
        );
        assert_eq!(loaded.scenario.sampling.dump, DumpMode::Withheap);
    }
}

#[test]
fn defaults_are_filled_in() {
    let loaded = parse(Path::new("dir/minimal.yaml"), VALID).unwrap();
    let s = &loaded.scenario;
    assert_eq!(loaded.name, "minimal");
    assert_eq!(s.load.concurrency, 4);
    assert_eq!(s.load.requests[0].method, "GET");
    assert_eq!(s.load.requests[0].weight, 1);
    assert!(s.sampling.gc_before_sample);
    assert!(!s.sampling.keep_dumps);
    assert_eq!(s.service.ready.timeout.get().as_secs(), 60);
    assert_eq!(loaded.snapshot_path(), Path::new("dir/minimal.snap"));
}

#[test]
fn a_build_string_is_split_like_a_shell() {
    let text = VALID.replace(
        "  command: dotnet",
        "  build: dotnet build -c 'Release Mode'\n  command: dotnet",
    );
    let loaded = parse(Path::new("x.yaml"), &text).unwrap();
    let build = loaded.scenario.service.build.unwrap();
    assert_eq!(build.words, ["dotnet", "build", "-c", "Release Mode"]);
    // For `shell: true` the line runs as written, quotes and operators intact.
    assert_eq!(build.shell_line(), "dotnet build -c 'Release Mode'");
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
    let err = parse_err(&VALID.replace("count: 4", "count: 1"));
    assert_eq!(err.location(), Some((10, 3)), "{err}");
    assert!(err.to_string().contains("at least 2"), "{err}");

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

    // Absurd durations are an error, not an overflow.
    let err = parse_err(&VALID.replace("every: 5s", "every: 100000000000y"));
    assert!(err.to_string().contains("longer than a year"), "{err}");
}

#[test]
fn errors_point_into_the_right_section() {
    // `command:` also appears under `service:`; the error is about `load.command`.
    let text = VALID.replace(
        "  requests: [{ path: /leak }]",
        "  requests: [{ path: /leak }]\n  command: wrk",
    );
    let err = parse_err(&text);
    assert_eq!(err.location(), Some((8, 3)), "{err}");

    // A flow-style request with a bad path is located on its own line.
    let err = parse_err(&VALID.replace("[{ path: /leak }]", "[{ path: leak }]"));
    assert_eq!(err.location(), Some((7, 16)), "{err}");

    let err = parse_err(&VALID.replace("[{ path: /leak }]", "[{ path: /leak, weight: 0 }]"));
    assert!(err.to_string().contains("every weight is 0"), "{err}");

    let err = parse_err(&VALID.replace(
        "http: \"http://127.0.0.1:{port}/healthz\"",
        "http: \"127.0.0.1:{port}\"",
    ));
    assert_eq!(err.location().map(|l| l.0), Some(5), "{err}");
    assert!(err.to_string().contains("http:// URL"), "{err}");

    let err = parse_err(&format!("name: ../escape\n{VALID}"));
    assert_eq!(err.location(), Some((1, 1)), "{err}");
}
