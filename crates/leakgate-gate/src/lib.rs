//! leakgate-gate: from samples to a verdict and reports.
//!
//! One direction of data, one concern per module:
//! [`metrics`] (a captured sample → the numbers budgets name) → [`series`]
//! (samples → series) → [`trend`] (statistics) → [`growth`] (does a series
//! grow, and why) → [`judge`](mod@judge) (budgets → [`judge::Verdict`]) →
//! [`snapshot`] (approved growth, pending `.snap.new` files) → [`report`]
//! (the typed [`report::RunReport`] and its JSON, JUnit, Markdown,
//! console, SVG and GitHub-annotation renderings). [`sequential`] answers,
//! from the same inputs as the judge, whether sampling can stop.
//! Untrusted names reach files only through [`names`] and outputs only
//! through [`escape`].
//!
//! ```
//! use leakgate_gate::judge::{judge, JudgeOptions, Status};
//! use leakgate_scenario::TypeFilter;
//! let v = judge(&[], &[], &TypeFilter::none(), &JudgeOptions::default());
//! assert_eq!(v.status, Status::Warn); // nothing to judge is not a pass
//! ```

pub mod escape;
pub mod family;
pub mod findings;
pub mod growth;
pub mod ignored;
pub mod judge;
pub mod metrics;
pub mod names;
pub mod reason;
pub mod report;
pub mod sequential;
pub mod series;
pub mod snapshot;
/// Builders of sample series for tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod traced;
pub mod trend;
pub mod units;

pub use judge::{Check, JudgeOptions, Status, Verdict, judge};
pub use report::RunReport;
pub use series::SampleMetrics;
pub use snapshot::{ApprovedSnapshot, SnapshotComparison};
