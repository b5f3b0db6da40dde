//! How a run ended, and the exit code that says it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a run ended, for people and for the exit code: the one policy.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Measured, and within every budget.
    Pass,
    /// Measured, within the budgets, with something to review.
    Warn,
    /// Measured, and a budget failed or new finalizer growth appeared.
    Fail,
    /// Not measured: the run could not be done (bad scenario, service
    /// crashed or never ready, failing load, dump failed, Ctrl-C).
    Error,
}

impl Outcome {
    /// 0 pass (warnings included), 1 the gate failed, 2 could not run.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass | Outcome::Warn => 0,
            Outcome::Fail => 1,
            Outcome::Error => 2,
        }
    }

    /// The verdict line's first word.
    pub fn headline(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Warn => "PASS (with warnings)",
            Outcome::Fail => "FAIL",
            Outcome::Error => "COULD NOT RUN",
        }
    }
}
