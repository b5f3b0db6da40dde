//! leakgate-runner: the process side of a run. It builds and launches the
//! service, waits until it is ready, drives load at it and takes samples
//! (induced GC, dump, memory maps, analysis), then stops everything it started.
//!
//! Data flows one way: a [`leakgate_scenario::Scenario`] and an
//! [`layout::OutputLayout`] in, a [`run::RunRecord`] (the samples so far,
//! load statistics, the process sampled, the failure if any) out. Judging the
//! samples is the gate's business, not the runner's.
//!
//! Rooms: [`run`] (the sequence: launch, sampling loop, persistence),
//! [`process`] (child process groups), [`target`] (which process to sample),
//! [`probe`] and the HTTP client they share with [`load`], [`capture`] and
//! [`analysis`] (one sample), [`layout`] (every output path).

pub mod analysis;
pub mod capture;
mod http;
pub mod layout;
pub mod load;
pub mod probe;
pub mod process;
pub mod run;
pub mod target;

pub use http::{RequestError, WireError};
pub use run::{Event, HeapGraphSource, Phase, RunFailure, RunOptions, RunRecord, StopRule, run};
