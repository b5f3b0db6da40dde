//! `leakgate merge` over legs that may lie: outcomes from each leg's own
//! evidence, every file counted once, no leg vanishing, and an output
//! directory that never eats an input. Real directory trees in a tempdir.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use leakgate_gate::report::{Outcome, RunReport, to_json};
use leakgate_pipeline::index::{self, RunIndex};
use leakgate_pipeline::merge::{MAX_DEPTH, MergeError, Shard, merge};
use support::run;

const MIB: f64 = 1048576.0;

fn write_leg(dir: &Path, report: &RunReport) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("report.json");
    std::fs::write(&path, to_json(report)).unwrap();
    path
}

fn names(runs: &[RunReport]) -> Vec<&str> {
    runs.iter().map(|r| r.scenario()).collect()
}

#[test]
fn the_fixtures_pass_and_fail_as_meant() {
    assert_eq!(run("a", 0.0).outcome, Outcome::Pass);
    assert_eq!(run("a", 4.0 * MIB).outcome, Outcome::Fail);
}

#[test]
fn a_leg_that_claims_better_than_its_evidence_counts_as_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    // "pass", but exit code 2 and a failure: could not run.
    let mut lying = run("lying", 0.0);
    lying.exit_code = 2;
    lying.failure = Some("the service crashed".into());
    let lying_file = write_leg(&legs.join("1"), &lying);
    // "pass" with exit code 0, but a failing check: a fail.
    let mut hidden = run("hidden", 4.0 * MIB);
    hidden.outcome = Outcome::Pass;
    hidden.exit_code = 0;
    write_leg(&legs.join("2"), &hidden);
    write_leg(&legs.join("3"), &run("honest", 0.0));

    let merged = merge(std::slice::from_ref(&legs), &dir.path().join("out")).unwrap();
    let outcomes: Vec<(&str, Outcome, u8)> = merged
        .report
        .runs
        .iter()
        .map(|r| (r.scenario(), r.outcome, r.exit_code))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("lying", Outcome::Error, 2),
            ("hidden", Outcome::Fail, 1),
            ("honest", Outcome::Pass, 0)
        ]
    );
    assert_eq!(
        (merged.report.outcome, merged.report.exit_code),
        (Outcome::Error, 2)
    );
    assert_eq!(merged.warnings.len(), 2, "{:?}", merged.warnings);
    let lie = &merged.warnings[0];
    assert!(lie.contains(&lying_file.display().to_string()), "{lie}");
    assert!(
        lie.contains("exit code 2") && lie.contains("a failure"),
        "{lie}"
    );
    assert!(
        merged.warnings[1].contains("a check that says fail"),
        "{merged:?}"
    );
    // The merged files agree: the note is in the summary, the outcome in the JSON.
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(summary.contains("counted as error"), "{summary}");
    let json = std::fs::read_to_string(dir.path().join("out/report.json")).unwrap();
    assert!(json.contains("\"outcome\": \"error\""));
}

#[test]
fn a_leg_with_neither_verdict_nor_failure_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut empty = run("empty", 0.0);
    empty.verdict = None;
    write_leg(&dir.path().join("legs/1"), &empty);
    let merged = merge(&[dir.path().join("legs")], &dir.path().join("out")).unwrap();
    assert_eq!(merged.report.outcome, Outcome::Error);
    assert!(merged.warnings[0].contains("neither a verdict nor a failure"));
}

#[test]
fn overlapping_directories_and_links_count_each_report_once() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("a"), &run("a", 4.0 * MIB));
    write_leg(&legs.join("b"), &run("b", 0.0));
    // A link to a sibling leg, and one back to the top (a cycle).
    symlink(legs.join("a"), legs.join("b/again")).unwrap();
    symlink(&legs, legs.join("b/top")).unwrap();
    let link = dir.path().join("legs-link");
    symlink(&legs, &link).unwrap();
    let args = [
        legs.clone(),
        legs.join("a"),
        link,
        legs.join("a/report.json"),
    ];
    // The last argument is a file, not a directory: refused, named.
    let err = merge(&args, &dir.path().join("out")).unwrap_err();
    assert!(
        leakgate_pipeline::error_text(&err).contains("a/report.json"),
        "{err}"
    );

    let merged = merge(&args[..3], &dir.path().join("out")).unwrap();
    assert_eq!(names(&merged.report.runs), ["a", "b"]);
    assert_eq!(merged.report.outcome, Outcome::Fail);
}

#[test]
fn a_report_deeper_than_the_search_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("ok"), &run("ok", 0.0));
    let mut deep = legs.clone();
    for i in 0..=MAX_DEPTH {
        deep.push(format!("d{i}"));
    }
    let deep = write_leg(&deep, &run("deep-fail", 4.0 * MIB));
    let out = dir.path().join("out");
    let err = merge(std::slice::from_ref(&legs), &out).unwrap_err();
    assert!(matches!(err, MergeError::TooDeep(..)), "{err}");
    assert!(
        leakgate_pipeline::error_text(&err).contains(&deep.display().to_string()),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    // One level up is still searched.
    std::fs::rename(deep.parent().unwrap(), legs.join("d0/d1/d2/d3/d4/x")).unwrap();
    let merged = merge(std::slice::from_ref(&legs), &out).unwrap();
    assert_eq!(names(&merged.report.runs), ["deep-fail", "ok"]);
}

#[test]
fn out_equal_to_an_input_is_refused_and_the_leg_keeps_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let leg = dir.path().join("leg");
    // A leg as `leakgate run` leaves it: marker, charts, samples.
    let layout = leakgate_runner::layout::OutputLayout::new(leg.clone(), Path::new("x.snap"));
    layout.prepare().unwrap();
    write_leg(&leg, &run("a", 0.0));
    std::fs::create_dir_all(layout.charts()).unwrap();
    std::fs::write(layout.chart("c.svg"), "<svg/>").unwrap();
    std::fs::create_dir_all(layout.samples()).unwrap();
    std::fs::write(layout.sample_json(1), "{}").unwrap();
    let err = merge(std::slice::from_ref(&leg), &leg).unwrap_err();
    assert!(matches!(err, MergeError::OutIsInput(_)), "{err}");
    // Also through another spelling of the same directory.
    let err = merge(std::slice::from_ref(&leg), &leg.join("charts/..")).unwrap_err();
    assert!(matches!(err, MergeError::OutIsInput(_)), "{err}");
    assert!(layout.chart("c.svg").exists() && layout.sample_json(1).exists());
    assert!(layout.report_json().exists());
}

/// Every file under `dir`, with a hash of its contents (links as their targets).
fn tree(dir: &Path) -> Vec<(PathBuf, String)> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".into()
            } else {
                let mut hasher = DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut hasher);
                format!("{:x}", hasher.finish())
            };
            files.push((path, what));
        }
    }
    files.sort();
    files
}

#[test]
fn an_out_inside_an_input_is_refused_before_anything_is_read_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("1"), &run("a", 0.0));
    write_leg(&legs.join("2"), &run("b", 4.0 * MIB));
    let refused = |out: &Path, before: &[(PathBuf, String)]| {
        let err = merge(std::slice::from_ref(&legs), out).unwrap_err();
        assert!(
            matches!(&err, MergeError::OutInsideInput { input, .. } if *input == legs),
            "{out:?}: {err}"
        );
        let text = leakgate_pipeline::error_text(&err);
        for named in [out, &legs] {
            assert!(text.contains(&named.display().to_string()), "{text}");
        }
        assert!(text.contains("choose an --out outside"), "{text}");
        assert_eq!(tree(dir.path()), before, "nothing written for {out:?}");
    };
    // Not there yet, one level down or more, or spelled another way.
    let before = tree(dir.path());
    for out in [
        legs.join("merged"),
        legs.join("new/deeper"),
        dir.path().join("other/../legs/merged"),
        legs.join("1/charts/../merged"),
    ] {
        refused(&out, &before);
    }
    // A relative --out (up from the working directory, down into the
    // tempdir): real paths are compared.
    let cwd = std::env::current_dir().unwrap();
    let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
    let relative = up.join(legs.join("merged-here").strip_prefix("/").unwrap());
    assert!(relative.is_relative());
    refused(&relative, &before);

    // A merge an older leakgate wrote inside: refused, and kept as it is.
    let old = legs.join("merged");
    let layout = leakgate_runner::layout::OutputLayout::new(old.clone(), Path::new(""));
    layout.prepare().unwrap();
    std::fs::write(layout.report_json(), "{}").unwrap();
    std::fs::write(layout.summary_md(), "## old").unwrap();
    refused(&old, &tree(dir.path()));

    // Outside the inputs: merged (the old merge inside is a leg it names).
    let merged = merge(std::slice::from_ref(&legs), &dir.path().join("out")).unwrap();
    assert_eq!(names(&merged.report.runs).len(), 3);
    assert!(
        merged.warnings[0].contains("merged/report.json"),
        "{:?}",
        merged.warnings
    );
}

#[test]
fn an_out_reached_through_a_link_in_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("1"), &run("a", 0.0));
    let out = dir.path().join("out");
    merge(std::slice::from_ref(&legs), &out).unwrap();
    let link = legs.join("1/previous");
    symlink(&out, &link).unwrap();
    let before = tree(dir.path());
    let err = merge(std::slice::from_ref(&legs), &out).unwrap_err();
    assert!(
        matches!(&err, MergeError::OutLinkedFromInput { link: l, .. } if *l == link),
        "{err}"
    );
    assert!(
        leakgate_pipeline::error_text(&err).contains("previous"),
        "{err}"
    );
    assert_eq!(tree(dir.path()), before, "nothing written");
}

fn write_index(dir: &Path, index: &RunIndex) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(index::FILE_NAME);
    std::fs::write(&path, serde_json::to_string_pretty(index).unwrap()).unwrap();
    path
}

fn empty_shard(shard: &str) -> RunIndex {
    RunIndex::new(vec![], Some(shard.parse::<Shard>().unwrap()))
}

#[test]
fn an_empty_shard_is_reported_in_every_merged_file() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("1"), &run("a", 0.0));
    write_leg(&legs.join("2"), &run("b", 0.0));
    let index = empty_shard("3/3");
    assert_eq!((index.outcome, index.exit_code), (Outcome::Pass, 0));
    let file = write_index(&legs.join("3"), &index);
    // The index a leg with runs leaves beside them adds nothing: its runs are legs.
    let listed = RunIndex::new(
        vec![leakgate_pipeline::index::RunEntry::failed(
            Path::new("a.yaml"),
            "whatever it says".into(),
        )],
        Some("1/3".parse().unwrap()),
    );
    write_index(&legs.join("1"), &listed);

    let out = dir.path().join("out");
    let merged = merge(std::slice::from_ref(&legs), &out).unwrap();
    assert_eq!(names(&merged.report.runs), ["a", "b"]);
    assert_eq!(
        (merged.report.outcome, merged.report.exit_code),
        (Outcome::Pass, 0),
        "an empty shard is no failure"
    );
    assert_eq!(merged.warnings.len(), 1, "{:?}", merged.warnings);
    let warning = &merged.warnings[0];
    assert!(warning.contains("shard 3/3 ran no scenarios"), "{warning}");
    assert!(warning.contains(&file.display().to_string()), "{warning}");
    assert_eq!(merged.report.notes.len(), 1);
    assert!(merged.report.notes[0].contains("shard 3/3 ran no scenarios"));

    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    let written: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        written["notes"][0]
            .as_str()
            .unwrap()
            .contains("shard 3/3 ran no scenarios"),
        "{json}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let note = summary
        .find("shard 3/3 ran no scenarios")
        .unwrap_or_else(|| panic!("{summary}"));
    let (table_end, first_run) = (
        summary.find("| b |").unwrap(),
        summary.find("### leakgate: a").unwrap(),
    );
    assert!(table_end < note && note < first_run, "{summary}");
    assert!(summary.starts_with("## leakgate: 2 scenarios"), "{summary}");
}

#[test]
fn only_empty_shards_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_index(&legs.join("2"), &empty_shard("2/3"));
    write_index(&legs.join("3"), &empty_shard("3/3"));
    let out = dir.path().join("out");
    let err = merge(std::slice::from_ref(&legs), &out).unwrap_err();
    assert!(matches!(err, MergeError::OnlyEmptyShards(_)), "{err}");
    let text = leakgate_pipeline::error_text(&err);
    assert!(text.contains("no scenario ran in any leg"), "{text}");
    assert!(
        text.contains("shard 2/3 ran no scenarios") && text.contains("shard 3/3 ran no scenarios"),
        "{text}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_run_index_that_cannot_be_read_or_ran_nothing_unsharded_is_an_error_leg() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("1"), &run("a", 0.0));
    std::fs::create_dir_all(legs.join("2")).unwrap();
    std::fs::write(legs.join("2").join(index::FILE_NAME), "{\"runs\": [").unwrap();
    // What `run` wrote for an empty shard before: no runs, no shard, exit 2.
    write_index(&legs.join("3"), &RunIndex::new(vec![], None));
    std::fs::create_dir_all(legs.join("4")).unwrap();
    std::fs::write(
        legs.join("4").join(index::FILE_NAME),
        "{\"outcome\": \"pass\", \"exit_code\": 0, \"runs\": [], \"shard\": \"4/3\"}",
    )
    .unwrap();
    let merged = merge(std::slice::from_ref(&legs), &dir.path().join("out")).unwrap();
    let r = &merged.report;
    assert_eq!((r.outcome, r.exit_code), (Outcome::Error, 2));
    assert_eq!(r.runs.len(), 4, "{:?}", names(&r.runs));
    let failures: Vec<&str> = r.runs.iter().filter_map(|r| r.failure.as_deref()).collect();
    assert!(
        failures[0].contains("not a leakgate run index"),
        "{failures:?}"
    );
    assert!(failures[1].contains("no shard"), "{failures:?}");
    assert!(
        failures[2].contains("not a leakgate run index"),
        "an impossible shard: {failures:?}"
    );
    assert!(r.notes.is_empty());
}

#[test]
fn a_leg_that_cannot_be_read_is_a_leg_that_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("good"), &run("good", 0.0));
    std::fs::create_dir_all(legs.join("garbled")).unwrap();
    std::fs::write(legs.join("garbled/report.json"), "{\"outcome\": \"pass\"").unwrap();
    std::fs::create_dir_all(legs.join("zero")).unwrap();
    symlink("/dev/zero", legs.join("zero/report.json")).unwrap();
    std::fs::create_dir_all(legs.join("dangling")).unwrap();
    symlink(legs.join("nowhere"), legs.join("dangling/report.json")).unwrap();
    let merged = merge(std::slice::from_ref(&legs), &dir.path().join("out")).unwrap();
    let r = &merged.report;
    assert_eq!(r.runs.len(), 4);
    assert_eq!((r.outcome, r.exit_code), (Outcome::Error, 2));
    for (run, what) in r.runs.iter().zip(["dangling", "garbled", "good", "zero"]) {
        assert!(run.scenario().contains(what), "{}", run.scenario());
    }
    let failures: Vec<&str> = r.runs.iter().filter_map(|r| r.failure.as_deref()).collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures[0].contains("No such file"), "{}", failures[0]);
    assert!(
        failures[1].contains("not a leakgate run report"),
        "{}",
        failures[1]
    );
    assert!(
        failures[2].contains("not a regular file"),
        "{}",
        failures[2]
    );
    assert_eq!(merged.warnings.len(), 3);
}

#[test]
fn an_output_directory_with_a_linked_marker_or_charts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("1"), &run("a", 0.0));
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("keep.svg"), "mine").unwrap();
    std::fs::write(elsewhere.join(".leakgate-out"), "mine").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    symlink(elsewhere.join(".leakgate-out"), out.join(".leakgate-out")).unwrap();
    let err = merge(std::slice::from_ref(&legs), &out).unwrap_err();
    assert!(
        leakgate_pipeline::error_text(&err).contains("symbolic link"),
        "{err}"
    );
    std::fs::remove_file(out.join(".leakgate-out")).unwrap();
    std::fs::write(out.join(".leakgate-out"), "").unwrap();
    symlink(&elsewhere, out.join("charts")).unwrap();
    let err = merge(std::slice::from_ref(&legs), &out).unwrap_err();
    assert!(
        leakgate_pipeline::error_text(&err).contains("charts"),
        "{err}"
    );
    for f in ["keep.svg", ".leakgate-out"] {
        assert_eq!(std::fs::read_to_string(elsewhere.join(f)).unwrap(), "mine");
    }
    assert!(!out.join("report.json").exists());
}

#[test]
fn the_merge_index_is_a_run_index_that_points_at_the_merged_files() {
    let dir = tempfile::tempdir().unwrap();
    let legs = dir.path().join("legs");
    write_leg(&legs.join("a"), &run("a", 0.0));
    write_leg(&legs.join("b"), &run("b", 4.0 * MIB));
    let out = dir.path().join("out");
    let merged = merge(std::slice::from_ref(&legs), &out).unwrap();
    let index = RunIndex::merged(merged.report.outcome, merged.files.clone());
    assert_eq!(
        (index.outcome, index.exit_code),
        (merged.report.outcome, merged.report.exit_code)
    );
    let [entry] = index.runs.as_slice() else {
        panic!("one entry: {index:?}")
    };
    let files = entry.files.as_ref().unwrap();
    for name in [&files.report_json, &files.junit_xml, &files.summary_md] {
        assert!(Path::new(&files.out_dir).join(name).is_file(), "{name}");
    }
    assert!(files.dumps.is_empty() && files.report_html.is_empty());
    // As `run --runs-json` writes it: read back the same.
    let json = serde_json::to_string(&index).unwrap();
    assert_eq!(serde_json::from_str::<RunIndex>(&json).unwrap(), index);
}
