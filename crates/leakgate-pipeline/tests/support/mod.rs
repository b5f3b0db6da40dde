//! Reports for the merge tests and the merge benchmark.
#![allow(dead_code)]

use leakgate_gate::findings::Finding;
use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::report::{RunInfo, RunReport};
use leakgate_gate::testing::{Samples, budgets};
use leakgate_heap::{PathGroup, PathGrowth, PathStep, RetentionPath, Root, TypePaths};
use leakgate_scenario::TypeFilter;

const MIB: f64 = 1048576.0;

/// A measured run of `name`: `per_sample` bytes of growth a sample against
/// a 1 MiB `max_growth` (0: a pass, 4 MiB: a fail).
pub fn run(name: &str, per_sample: f64) -> RunReport {
    let values: Vec<f64> = (0..12)
        .map(|i| 100.0 * MIB + per_sample * i as f64)
        .collect();
    let samples = Samples::new(12)
        .scalar("committed.unknown", &values)
        .build();
    let options = JudgeOptions {
        warmup_samples: 0,
        ..JudgeOptions::default()
    };
    let rules = budgets("- metric: committed.unknown\n  max_growth: 1MiB\n");
    let verdict = judge(&samples, &rules, &TypeFilter::none(), &options);
    let mut info = RunInfo::new(name);
    info.started = "2026-01-01T00:00:00Z".into();
    info.finished = "2026-01-01T00:10:00Z".into();
    RunReport::judged(info, samples, verdict, None)
}

/// A failing run whose one check is copied `checks` times, each copy on
/// its own type, found as a leak of two types held by one path.
pub fn many_checks(checks: usize) -> RunReport {
    let mut report = run("many-checks", 4.0 * MIB);
    let verdict = report.verdict.as_mut().expect("a measured run");
    let one = verdict.checks[0].clone();
    assert_eq!(one.status, Status::Fail, "the template check fails");
    let name = |i: usize| format!("App.Leaks.Type{i:06}");
    let members = |i: usize| vec![format!("{}+A", name(i)), format!("{}+B", name(i))];
    verdict.checks = (0..checks)
        .map(|i| {
            let mut c = one.clone();
            c.type_name = Some(name(i));
            c.budget = format!("budget {}", i % 50);
            c.members = members(i);
            c
        })
        .collect();
    let holder = RetentionPath {
        root: Root::static_field("App.Program", "cache"),
        steps: vec![PathStep::new("App.Leaks.Holder", None)],
    };
    let paths = |i: usize, instances: u64| TypePaths {
        type_name: name(i),
        instances,
        unreachable: 0,
        sampled: instances,
        groups: vec![PathGroup {
            path: holder.clone(),
            sampled: instances,
            estimated: instances,
            example_address: 0x7f00_0000_1000,
            holder: None,
        }],
    };
    report.findings = (0..checks)
        .map(|i| Finding {
            holder: holder.clone(),
            members: members(i),
        })
        .collect();
    report.retention = (0..checks)
        .map(|i| PathGrowth::between(&paths(i, 10), &paths(i, 500)))
        .collect();
    report
}
