//! The inspector's JSON contract: what the C# side prints, a [`ManagedSummary`] (a record
//! type, from `leakgate-record`) or an [`ErrorBody`]. Readers tolerate added fields (a newer
//! inspector may say more) but every field listed is required, so a renamed or dropped field
//! fails loudly as `BadOutput`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use leakgate_record::managed::{
    AddressRange, FREE_SPACE, GcSegment, GenerationCount, ManagedSummary, TypeStat,
};

/// The contract version the inspector writes as `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// The failure object the inspector prints instead of a summary (with a non-zero exit).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct ErrorBody {
    /// "no_clr", "dac_not_found", "dump_unreadable" or "usage".
    pub kind: String,
    pub message: String,
    /// The DAC files searched for, with kind "dac_not_found".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub looked_for: Vec<String>,
}

/// Everything the inspector may print on stdout: one of these, as one JSON document.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum InspectorOutput {
    Summary(ManagedSummary),
    Error { error: ErrorBody },
}

/// The checked-in `schemas/inspector.schema.json`, generated from [`InspectorOutput`].
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(InspectorOutput);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}
