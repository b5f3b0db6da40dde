//! The index of one `leakgate run` over several scenarios (`--runs-json`):
//! each scenario's outcome and where its reports are, so a CI step (the
//! GitHub Action) can publish them without knowing leakgate's layout.
//! `leakgate merge --runs-json` writes the same index, of one entry: the
//! merged report ([`RunIndex::merged`]).
//!
//! A shard that holds none of the scenarios (`--shard 4/4` of three) runs
//! nothing and passes: its index has no runs, and it is also written as
//! [`FILE_NAME`] in the leg's output directory, where `leakgate merge` finds
//! it and reports the empty shard.

use std::path::Path;

use leakgate_gate::report::RunReport;
use leakgate_record::OutputFiles;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Outcome;
use crate::merge::Shard;

/// The run index's name in an output directory: where an empty shard
/// leaves it (and the GitHub Action puts every run's), so that `leakgate
/// merge` sees a leg that ran nothing.
pub const FILE_NAME: &str = "runs.json";

/// Every scenario of one invocation, and the worst outcome.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RunIndex {
    pub outcome: Outcome,
    /// [`Outcome::exit_code`] of the worst outcome: the process's exit code.
    pub exit_code: u8,
    pub runs: Vec<RunEntry>,
    /// `--shard I/N`, when the run was one share of a CI matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub shard: Option<Shard>,
}

/// One scenario of the invocation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RunEntry {
    /// The scenario file, as given.
    pub scenario_file: String,
    /// The scenario's name, once it loaded.
    pub scenario: Option<String>,
    pub outcome: Outcome,
    pub exit_code: u8,
    /// Why there is no report (the scenario did not load, the output
    /// directory was refused, ...).
    pub error: Option<String>,
    /// Where its reports are, when it has them.
    pub files: Option<OutputFiles>,
}

impl RunEntry {
    /// A scenario that ran: its report says the rest.
    pub fn of(scenario_file: &Path, report: &RunReport) -> RunEntry {
        RunEntry {
            scenario_file: scenario_file.display().to_string(),
            scenario: Some(report.scenario().to_string()),
            outcome: report.outcome,
            exit_code: report.exit_code,
            error: None,
            files: report.info.files.clone(),
        }
    }

    /// A scenario that could not start (it did not load, its output
    /// directory was refused, ...).
    pub fn failed(scenario_file: &Path, error: String) -> RunEntry {
        RunEntry {
            scenario_file: scenario_file.display().to_string(),
            scenario: None,
            outcome: Outcome::Error,
            exit_code: Outcome::Error.exit_code(),
            error: Some(error),
            files: None,
        }
    }
}

impl RunIndex {
    /// The index of `runs`, made as `shard` (if any). No runs is an error
    /// (nothing was measured), except in a shard that held no scenario: it
    /// did all it was given, so it passes, and merge reports it.
    pub fn new(runs: Vec<RunEntry>, shard: Option<Shard>) -> RunIndex {
        let nothing = match shard {
            Some(_) => Outcome::Pass,
            None => Outcome::Error,
        };
        let outcome = runs.iter().map(|r| r.outcome).max().unwrap_or(nothing);
        RunIndex {
            outcome,
            exit_code: outcome.exit_code(),
            runs,
            shard,
        }
    }

    /// The index of `leakgate merge`: one entry, the merged report (its
    /// `scenario_file` is empty: the runs it holds name theirs), whose
    /// outcome is the worst of the runs.
    pub fn merged(outcome: Outcome, files: OutputFiles) -> RunIndex {
        RunIndex {
            outcome,
            exit_code: outcome.exit_code(),
            runs: vec![RunEntry {
                scenario_file: String::new(),
                scenario: None,
                outcome,
                exit_code: outcome.exit_code(),
                error: None,
                files: Some(files),
            }],
            shard: None,
        }
    }

    /// A shard that held none of the scenarios given.
    pub fn is_empty_shard(&self) -> bool {
        self.runs.is_empty() && self.shard.is_some()
    }
}
