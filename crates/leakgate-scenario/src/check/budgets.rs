//! `budgets:` and `ignore:` — limits that can fail, units that fit their
//! metric, globs compiled once.

use super::{Checked, Problem};
use crate::budget::Budget;
use crate::locate::Locations;
use crate::model::{BudgetRule, Sampling, TypeFilter};

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
            if budget.metric.is_per_type() && !managed {
                return Err(at(format!(
                    "`{}` is measured from the managed heap, which `dump: {}` does not capture; use `dump: withheap`",
                    budget.metric,
                    sampling.dump.name()
                )));
            }
            let (line, column) = locations.find(&["budgets", &index]);
            BudgetRule::new(budget.clone(), line, column).map_err(at)
        })
        .collect()
}

pub(super) fn check_ignore(patterns: &[String]) -> Checked<TypeFilter> {
    TypeFilter::new(patterns).map_err(|(i, message)| {
        Problem::at(&["ignore", &i.to_string()], format!("ignore: {message}"))
    })
}
