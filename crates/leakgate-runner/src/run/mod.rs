//! The run: build → launch → ready → load (warm-up) → samples → stop.
//!
//! Whatever happens, [`run`] returns the samples taken so far, and every
//! child it started is stopped before it returns (the [`Child`] guards see to
//! that on every path, panics and early returns included). Every wait has a
//! deadline and ends within a poll interval of Ctrl-C (the cancel flag).
//!
//! [`launch`] starts the service and finds the process to sample,
//! [`sampling`] runs the load and the sampling loop, [`persist`] writes each
//! sample's files.
//!
//! [`Child`]: crate::process::Child

mod launch;
mod persist;
mod sampling;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leakgate_dotnet::inspector::Inspector;
use leakgate_scenario::Scenario;
use serde::{Deserialize, Serialize};

use crate::capture::CapturedSample;
use crate::layout::OutputLayout;
use crate::load::LoadSummary;
use crate::target::SampledProcess;

/// What the runner reports while it works (for a progress bar).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Phase(Phase),
    /// Load progress: completed requests and errors so far.
    Load {
        requests: u64,
        errors: u64,
    },
    /// A sample was taken and analysed.
    Sample {
        index: usize,
        of: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Build,
    Launch,
    Ready,
    Warmup,
    Sampling,
    Stopping,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Build => "building",
            Phase::Launch => "launching",
            Phase::Ready => "waiting for ready",
            Phase::Warmup => "warming up",
            Phase::Sampling => "sampling",
            Phase::Stopping => "stopping",
        }
    }
}

pub use leakgate_record::RunFailure;

/// What a run measured: always the samples so far, plus the failure if any.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub samples: Vec<CapturedSample>,
    /// Heap graphs for retention paths (the first judged sample and the
    /// last), by sample index; the caller deletes the files when done.
    pub heap_graphs: Vec<(usize, HeapGraphSource)>,
    pub load: LoadSummary,
    /// The process the samples measured, once it was chosen.
    pub sampled: Option<SampledProcess>,
    pub failure: Option<RunFailure>,
    /// The service's port (`{port}`).
    pub port: u16,
}

/// Where a sample's heap graph is.
#[derive(Debug, Clone)]
pub enum HeapGraphSource {
    /// Written by the inspector from a core dump (a file beside the dump),
    /// with the GC handles a heap snapshot taken just before listed, for
    /// it to adopt where its reader missed them (none beside a plain dump).
    File {
        path: PathBuf,
        seen_roots: Vec<leakgate_heap::SeenRoot>,
    },
    /// Built from a heap snapshot, in memory.
    Built(Box<leakgate_heap::HeapGraph>),
}

/// Asked with the samples so far: `true` stops sampling.
pub type StopRule<'a> = dyn Fn(&[CapturedSample]) -> bool + 'a;

/// Settings that come from the command line rather than the scenario.
pub struct RunOptions<'a> {
    pub layout: &'a OutputLayout,
    pub inspector: Option<&'a Inspector>,
    /// Set from a Ctrl-C handler; the run winds down when it turns true.
    pub cancel: Arc<AtomicBool>,
    /// Skip the scenario's build step.
    pub skip_build: bool,
    /// With `sampling.count: auto`, asked after each sample with the samples
    /// so far: `true` stops sampling (the gate's sequential decision).
    pub decide: Option<&'a StopRule<'a>>,
}

/// Runs the scenario into `options.layout` (which the caller prepared).
/// `on_event` is called from this thread only.
pub fn run(
    scenario: &Scenario,
    options: &RunOptions,
    on_event: &mut dyn FnMut(Event),
) -> RunRecord {
    let mut state = sampling::State::new(scenario, options);
    // Once Ctrl-C was pressed, whatever broke next (a dump cut short, say) is
    // the interruption's doing: report the interruption.
    let failure = state.execute(on_event).err().map(|f| {
        if options.cancel.load(Ordering::SeqCst) {
            RunFailure::Interrupted
        } else {
            f
        }
    });
    state.into_outcome(failure)
}
