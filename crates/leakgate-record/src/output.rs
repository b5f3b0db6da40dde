//! Where a run's files are, as published in `report.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The layout as published in `report.json`: paths relative to the output
/// directory, except the snapshots, which live beside the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputFiles {
    /// The output directory, as given.
    pub out_dir: String,
    pub report_json: String,
    pub junit_xml: String,
    pub summary_md: String,
    /// The page to open first: verdict, charts, checks, what was measured.
    #[serde(default)]
    pub report_html: String,
    pub charts: String,
    pub samples: String,
    pub dumps: String,
    pub service_log: String,
    /// The approved snapshot, and where a changed one is written for review.
    pub snapshot: String,
    pub pending_snapshot: String,
}
