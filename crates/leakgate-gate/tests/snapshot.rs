//! The `.snap` / `.snap.new` protocol in a temp dir, and rounding that
//! keeps noise out of the file.

use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::snapshot::{
    self, ApprovedSnapshot, SnapshotComparison, accept, check, final_status, pending, reject,
};
use leakgate_gate::testing::{Samples, Shape, shape};
use leakgate_scenario::TypeFilter;

const MIB: f64 = 1048576.0;

/// A run where committed.unknown leaks `per_sample` bytes with ±noise, and
/// a DynamicResolver finalizer leak of `resolver` per sample (0 = none).
fn run(per_sample: f64, resolver: f64, seed: u64) -> ApprovedSnapshot {
    let unknown = shape(12, 64.0 * MIB, Shape::Linear { per_sample }, 0.01, seed);
    let resolver = shape(
        12,
        100.0,
        Shape::Linear {
            per_sample: resolver,
        },
        0.01,
        seed + 99,
    );
    let samples = Samples::new(12)
        .scalar("committed.unknown", &unknown)
        .finalizable_f("System.Reflection.Emit.DynamicResolver", &resolver)
        .finalizable_f("App.Cache+Entry", &[50.0; 12])
        .build();
    let v = judge(&samples, &[], &TypeFilter::none(), &JudgeOptions::default());
    ApprovedSnapshot::from_verdict("checkout", &v)
}

#[test]
fn what_grows_is_recorded_rounded_and_sorted() {
    let s = run(2.0 * MIB, 40.0, 1);
    insta::assert_snapshot!(s.to_yaml(), @r"
    # leakgate snapshot: what grows in this scenario, approved.
    # Review changes with `leakgate review`; rates are rounded to 1-2-5 steps.
    scenario: checkout
    memory:
    - name: committed.unknown
      rate: ~2 MiB/1k requests
    finalizable:
    - name: System.Reflection.Emit.DynamicResolver
      rate: ~50/1k requests
    ");
    assert_eq!(ApprovedSnapshot::from_yaml(&s.to_yaml()).unwrap(), s);
}

#[test]
fn noise_does_not_churn_the_file() {
    // Same leak, different noise, rates within ±15%: one file.
    let first = run(2.0 * MIB, 40.0, 1).to_yaml();
    for (seed, rate, res) in [
        (2, 1.8, 38.0),
        (3, 2.2, 44.0),
        (4, 2.0, 36.0),
        (5, 1.9, 46.0),
    ] {
        assert_eq!(run(rate * MIB, res, seed).to_yaml(), first, "seed {seed}");
    }
    // No leak at all, any noise: the empty state.
    for seed in 0..5 {
        assert_eq!(
            run(0.0, 0.0, seed),
            ApprovedSnapshot::empty("checkout"),
            "seed {seed}"
        );
    }
}

#[test]
fn pending_accept_reject_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("checkout.snap");
    let clean = run(0.0, 0.0, 1);
    let leaky = run(0.0, 40.0, 1);

    // First run: no approved snapshot → .snap.new written, warn.
    assert_eq!(check(&snap, &clean).unwrap(), SnapshotComparison::Missing);
    assert_eq!(
        final_status(&verdict(Status::Pass), &SnapshotComparison::Missing),
        Status::Warn
    );
    assert_eq!(
        pending(dir.path()).unwrap(),
        [snapshot::pending_path(&snap)]
    );
    assert_eq!(accept(&snap).unwrap(), snap);
    assert!(pending(dir.path()).unwrap().is_empty());
    assert_eq!(snapshot::load(&snap).unwrap(), Some(clean.clone()));

    // Same state again: matches, nothing pending.
    assert_eq!(check(&snap, &clean).unwrap(), SnapshotComparison::Matches);
    assert!(pending(dir.path()).unwrap().is_empty());

    // A finalizer leak appears: differs with new growth, fails.
    let outcome = check(&snap, &leaky).unwrap();
    let SnapshotComparison::Differs {
        diff, new_growth, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    let new_growth: Vec<String> = new_growth.iter().map(|k| k.to_string()).collect();
    assert_eq!(
        new_growth,
        ["finalizable System.Reflection.Emit.DynamicResolver"]
    );
    assert!(
        diff.contains("+- name: System.Reflection.Emit.DynamicResolver"),
        "{diff}"
    );
    assert_eq!(final_status(&verdict(Status::Pass), &outcome), Status::Fail);
    let new = snapshot::pending_path(&snap);
    assert_eq!(
        ApprovedSnapshot::from_yaml(&std::fs::read_to_string(&new).unwrap()).unwrap(),
        leaky
    );

    // Reject: the approved file stays, the pending one goes.
    reject(&snap).unwrap();
    assert!(!new.exists());
    assert_eq!(snapshot::load(&snap).unwrap(), Some(clean.clone()));
    assert!(reject(&snap).is_err(), "nothing left to reject");

    // Accept (by the .snap.new path): the leak becomes the approved state.
    check(&snap, &leaky).unwrap();
    accept(&new).unwrap();
    assert_eq!(check(&snap, &leaky).unwrap(), SnapshotComparison::Matches);

    // The leak is fixed: differs without new growth → warn, for review.
    let outcome = check(&snap, &clean).unwrap();
    assert!(
        matches!(&outcome, SnapshotComparison::Differs { new_growth, .. } if new_growth.is_empty())
    );
    assert_eq!(final_status(&verdict(Status::Pass), &outcome), Status::Warn);

    // A stale .snap.new is removed when the state matches again.
    assert!(new.exists());
    check(&snap, &leaky).unwrap();
    assert!(!new.exists());
}

#[test]
fn pending_finds_nested_files_and_bad_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    check(&nested.join("one.snap"), &ApprovedSnapshot::empty("one")).unwrap();
    check(
        &dir.path().join("two.snap"),
        &ApprovedSnapshot::empty("two"),
    )
    .unwrap();
    let names: Vec<String> = pending(dir.path())
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a/b/one.snap.new", "two.snap.new"]);

    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, "scenario: x\nunexpected: 1\n").unwrap();
    let e = check(&bad, &ApprovedSnapshot::empty("x"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.snap is not a valid leakgate snapshot"),
        "{e}"
    );
}

fn verdict(status: Status) -> leakgate_gate::Verdict {
    leakgate_gate::Verdict {
        status,
        checks: vec![],
        weak_evidence: false,
        judged_from: 0,
        growing: vec![],
        notes: vec![],
        unmeasured: false,
    }
}

/// A repository tree with a pending snapshot, and a directory outside it
/// whose `.snap.new` a linked directory would reach.
fn tree_with_links() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(repo.join("snaps")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(repo.join("snaps/a.snap.new"), "scenario: a\n").unwrap();
    std::fs::write(outside.join("theirs.snap.new"), "scenario: theirs\n").unwrap();
    symlink(&outside, repo.join("snaps/out")).unwrap();
    // A link back into the tree: followed, the tree again at every depth
    // until ELOOP (three such links: 3^40 paths, a hang).
    symlink(&repo, repo.join("again")).unwrap();
    (dir, repo, outside)
}

#[test]
fn the_search_does_not_follow_directory_links() {
    let (_dir, repo, outside) = tree_with_links();
    let started = std::time::Instant::now();
    let found = pending(&repo).unwrap();
    assert_eq!(found, [repo.join("snaps/a.snap.new")]);
    assert!(
        started.elapsed().as_secs() < 5,
        "no walk through self-links"
    );
    for p in &found {
        reject(p).unwrap();
    }
    assert!(
        outside.join("theirs.snap.new").exists(),
        "outside the tree: kept"
    );
}

#[test]
fn snapshot_reads_are_bounded_and_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    // `snapshot.path: /dev/zero`, and a pending snapshot linked to it.
    let err = snapshot::load(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(
        leakgate_record::error_text(&err).contains("/dev/zero"),
        "{err}"
    );
    assert!(
        leakgate_record::error_text(&err).contains("not a regular file"),
        "{err}"
    );
    let snap = dir.path().join("z.snap");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("z.snap.new")).unwrap();
    let err = snapshot::diff_pending(&snap).unwrap_err();
    assert!(
        leakgate_record::error_text(&err).contains("z.snap.new"),
        "{err}"
    );
    // A pending snapshot beyond the cap is refused, named.
    let big = dir.path().join("big.snap");
    let file = std::fs::File::create(dir.path().join("big.snap.new")).unwrap();
    file.set_len(snapshot::MAX_SNAPSHOT_BYTES + 1).unwrap();
    let err = snapshot::diff_pending(&big).unwrap_err();
    assert!(
        leakgate_record::error_text(&err).contains("big.snap.new"),
        "{err}"
    );
    assert!(
        leakgate_record::error_text(&err).contains("larger than 16 MiB"),
        "{err}"
    );
    // An approved snapshot that is a directory is an error, not an empty base.
    std::fs::create_dir(dir.path().join("d.snap")).unwrap();
    std::fs::write(dir.path().join("d.snap.new"), "scenario: d\n").unwrap();
    assert!(snapshot::diff_pending(&dir.path().join("d.snap")).is_err());
}

#[test]
fn a_link_at_a_snapshot_file_is_an_error_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = |name: &str| {
        let path = dir.path().join(name);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        path
    };
    let named = |e: snapshot::SnapshotError, name: &str| {
        let text = leakgate_record::error_text(&e);
        assert!(
            text.contains(name) && text.contains("symbolic link"),
            "{text}"
        );
    };
    // A pending snapshot that is a link: check, accept and reject refuse it.
    let new = link("s.snap.new");
    let snap = dir.path().join("s.snap");
    named(
        check(&snap, &ApprovedSnapshot::empty("s")).unwrap_err(),
        "s.snap.new",
    );
    named(snapshot::accept(&snap).unwrap_err(), "s.snap.new");
    named(snapshot::reject(&snap).unwrap_err(), "s.snap.new");
    assert!(new.is_symlink() && !snap.exists());
    // An approved snapshot that is a link is neither read nor replaced.
    let approved = link("t.snap");
    std::fs::write(dir.path().join("t.snap.new"), "scenario: t\n").unwrap();
    named(snapshot::load(&approved).unwrap_err(), "t.snap");
    named(snapshot::accept(&approved).unwrap_err(), "t.snap");
    assert!(approved.is_symlink());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
