//! leakgate-record: what a run *is*, as plain data (serde and JSON Schema, no
//! I/O, no processes). The producers fill it — `leakgate-runner` (samples,
//! load, the sampled process, files, failure) and `leakgate-dotnet` (the GC's
//! account, the managed summary) — and `leakgate-gate` judges and reports it
//! without linking either. `samples/*.json` are [`CapturedSample`]s; the
//! report's run section is made of these types.
//!
//! ```
//! use leakgate_record::{GcCommitted, Outcome};
//!
//! let gc = GcCommitted { in_use: 12 << 20, in_free: 1 << 20, ..Default::default() };
//! assert_eq!(gc.total(), 13 << 20);
//! assert_eq!(Outcome::Fail.exit_code(), 1);
//! ```
//!
//! Modules: [`sample`] (one sample and its timings), [`load`], [`process`],
//! [`output`] (where the files are), [`gc`], [`managed`], [`failure`] and
//! [`outcome`] (how a run ended, its exit code).

pub mod failure;
pub mod gc;
pub mod load;
pub mod managed;
pub mod outcome;
pub mod output;
pub mod process;
pub mod sample;

pub use failure::{RunFailure, error_text};
pub use gc::{GcAccount, GcCommitted, GcHeapStats};
pub use load::{LoadSummary, RequestTally};
pub use managed::{AddressRange, FREE_SPACE, GcSegment, GenerationCount, ManagedSummary, TypeStat};
pub use outcome::Outcome;
pub use output::OutputFiles;
pub use process::SampledProcess;
pub use sample::{CapturedSample, SampleTimings};
