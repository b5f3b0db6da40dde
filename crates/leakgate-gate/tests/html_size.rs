//! report.html stays small enough to open and to upload for a large run:
//! 1,500 per-type checks, most flat, some growing, a few failing.

use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::report::{RunInfo, RunReport, html};
use leakgate_gate::testing::{Samples, Shape, shape};
use leakgate_scenario::budget::Budget;
use leakgate_scenario::{BudgetRule, TypeFilter};

const CHECKS: usize = 1_500;
const MIB: f64 = 1048576.0;

/// A service with 1,500 finalizable types over 12 samples: 1,440 sit flat,
/// 57 grow a little, 3 leak; committed memory grows too.
fn large_run() -> RunReport {
    let n = 12;
    let mut samples = Samples::new(n).scalar(
        "committed.unknown",
        &shape(n, 80.0 * MIB, Shape::Linear { per_sample: MIB }, 0.02, 1),
    );
    for i in 0..CHECKS - 1 {
        // Realistic names: namespaces, generics, nested types.
        let name = format!(
            "Contoso.Orders.Infrastructure.Caching.ExpiringEntry`1[[System.String]]+Node{i:04}"
        );
        let (base, growth) = match i {
            0..3 => (100.0, Shape::Linear { per_sample: 400.0 }),
            3..60 => (100.0, Shape::Linear { per_sample: 1.0 }),
            _ => (10.0 + (i % 50) as f64, Shape::Flat),
        };
        samples = samples.finalizable_f(&name, &shape(n, base, growth, 0.0, i as u64));
    }
    let samples = samples.build();
    let budgets: Vec<Budget> = serde_saphyr::from_str(
        "- metric: finalizable\n  max_growth: 500\n  trend: warn\n- metric: committed.unknown\n  max_growth: 64MiB\n",
    )
    .unwrap();
    let budgets: Vec<BudgetRule> = budgets
        .into_iter()
        .map(|b| BudgetRule::new(b, 1, 1).unwrap())
        .collect();
    let verdict = judge(
        &samples,
        &budgets,
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    RunReport::judged(RunInfo::new("large"), samples, verdict, None)
}

#[test]
fn a_page_of_1500_checks_stays_under_1_mib() {
    let report = large_run();
    assert_eq!(report.checks().len(), CHECKS);
    assert_eq!(
        report
            .checks()
            .iter()
            .filter(|c| c.status == Status::Fail && c.type_name.is_some())
            .count(),
        3,
        "the three leaking types fail"
    );
    let page = html::render(&report).unwrap();
    let rows = page.matches("<tr data-status=").count();
    assert_eq!(rows, CHECKS, "every check has a row");
    println!(
        "report.html for {CHECKS} checks: {} bytes ({:.0} KiB), {} charts",
        page.len(),
        page.len() as f64 / 1024.0,
        page.matches("<figure").count()
    );
    assert!(page.len() < 1 << 20, "{} bytes", page.len());
}
