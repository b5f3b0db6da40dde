//! leakgate-runner: the process side of a run. It builds and launches the
//! service, waits until it is ready, drives load at it and takes samples
//! (induced GC, dump, memory maps, analysis), then stops everything it started.
//!
//! Data flows one way: a [`leakgate_scenario::LoadedScenario`] in, a
//! [`run::RunOutcome`] (the samples so far, load statistics, the failure if
//! any) out. Judging the samples is the gate's business, not the runner's.

pub mod capture;
pub mod load;
pub mod process;
pub mod ready;
pub mod run;

pub use run::{Event, Phase, RunFailure, RunOptions, RunOutcome, run};
