//! `budgets:` and `ignore:` — limits that can fail, units that fit their
//! metric, globs compiled once.

use super::{Checked, Problem};
use crate::budget::{Budget, Metric};
use crate::locate::Locations;
use crate::model::{BudgetRule, PathFilter, Sampling, TypeFilter};

pub(super) fn check(
    budgets: &[Budget],
    sampling: &Sampling,
    locations: &Locations,
) -> Checked<Vec<BudgetRule>> {
    let managed = sampling.dump.captures_heap();
    budgets
        .iter()
        .enumerate()
        .map(|(i, budget)| {
            let index = i.to_string();
            let at = |message: String| {
                Problem::at(&["budgets", &index], format!("budgets[{i}]: {message}"))
            };
            let metric = budget.metric;
            if (metric.is_per_type() || metric == Metric::GcObjects) && !managed {
                return Err(at(format!(
                    "`{metric}` is measured from the managed heap, which `dump: {}` does not capture; leave `dump` out (a heap snapshot) or use `dump: withheap`",
                    sampling.dump.name()
                )));
            }
            // The induced GC counts these itself: its survivors and its commit.
            let counted_by_the_gc = matches!(
                metric,
                Metric::GcLive | Metric::CommittedGc | Metric::CommittedNative
            );
            if counted_by_the_gc && !managed && !sampling.gc_before_sample {
                return Err(at(format!(
                    "`{metric}` is counted by the GC induced before each sample (.NET 8 or later), or read from the managed heap; with `dump: {}` keep `gc_before_sample: true` (the default)",
                    sampling.dump.name()
                )));
            }
            let (line, column) = locations.find(&["budgets", &index]);
            BudgetRule::new(budget.clone(), line, column).map_err(|e| at(e.to_string()))
        })
        .collect()
}

pub(super) fn check_ignore_paths(patterns: &[String]) -> Checked<PathFilter> {
    PathFilter::new(patterns).map_err(|(i, message)| {
        Problem::at(
            &["ignore_paths", &i.to_string()],
            format!("ignore_paths: {message}"),
        )
    })
}

pub(super) fn check_ignore(patterns: &[String]) -> Checked<TypeFilter> {
    TypeFilter::new(patterns).map_err(|(i, message)| {
        Problem::at(&["ignore", &i.to_string()], format!("ignore: {message}"))
    })
}
