//! leakgate-gate: from samples to a verdict and reports.
//!
//! One direction of data, one concern per module:
//! [`series`] (samples → series) → [`trend`] (statistics) → [`judge`](mod@judge)
//! (budgets → [`judge::Verdict`]) → [`snapshot`] (approved growth, pending
//! `.snap.new` files) → [`report`] (the typed [`report::RunReport`] and its
//! JSON, JUnit, Markdown, console and SVG renderings).
//!
//! ```
//! use leakgate_gate::judge::{judge, JudgeOptions, Status};
//! let v = judge(&[], &[], &[], &JudgeOptions::default());
//! assert_eq!(v.status, Status::Warn); // nothing to judge is not a pass
//! ```

pub mod judge;
pub mod report;
pub mod series;
pub mod snapshot;
pub mod testing;
pub mod trend;
pub mod units;

pub use judge::{Check, JudgeOptions, Status, Verdict, judge};
pub use report::RunReport;
pub use series::SampleMetrics;
pub use snapshot::{Snapshot, SnapshotOutcome};
