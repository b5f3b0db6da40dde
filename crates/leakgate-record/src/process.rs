//! Which process a run sampled, and why that one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The process a run sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SampledProcess {
    pub pid: u32,
    /// Its command line, arguments joined by spaces.
    pub command_line: String,
    /// Why this process: the evidence that chose it.
    pub reason: String,
    /// Set when the evidence did not point at one process alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
}
