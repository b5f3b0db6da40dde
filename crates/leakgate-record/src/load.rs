//! What the built-in load generator saw over a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per-spec counts, in the order of [`LoadPlan::requests`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
pub struct RequestTally {
    pub method: String,
    pub path: String,
    /// Completed attempts, errors included.
    pub sent: u64,
    pub errors: u64,
}

/// Cumulative load statistics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
pub struct LoadSummary {
    /// Completed attempts: responses of any status plus connection/IO failures.
    pub requests: u64,
    /// Responses with an error status (400 or more, unless expected) plus
    /// connection/IO failures and timeouts.
    pub errors: u64,
    /// Responses per status code. (Read back through `status_keys`: JSON
    /// keys are strings, and the report flattens this struct.)
    #[serde(deserialize_with = "status_keys")]
    pub by_status: BTreeMap<u16, u64>,
    pub per_request: Vec<RequestTally>,
    /// Latency of requests that got a response (any status), connect included.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Wall time since start, pauses included.
    pub elapsed_secs: f64,
    /// Time spent paused, so `requests / (elapsed_secs - paused_secs)` is the load rate.
    #[serde(default)]
    pub paused_secs: f64,
    /// Failures without a status, by cause ("connection refused", "timed out", ...).
    #[serde(default)]
    pub by_error: BTreeMap<String, u64>,
    /// Every failure by kind: the causes above and `status N` for error statuses.
    #[serde(default)]
    pub failures: BTreeMap<String, u64>,
}

/// A status map read from JSON, whose keys are strings.
fn status_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u64>, D::Error> {
    let by_text = BTreeMap::<String, u64>::deserialize(d)?;
    by_text
        .into_iter()
        .map(|(k, v)| {
            k.parse()
                .map(|status| (status, v))
                .map_err(|_| serde::de::Error::custom(format!("{k:?} is not a status code")))
        })
        .collect()
}

impl LoadSummary {
    /// Failed requests over completed ones; 0 without requests.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// `status 500 ×104, connection refused ×3`, most frequent first.
    pub fn failures_text(&self) -> String {
        let mut kinds: Vec<(&String, &u64)> = self.failures.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        kinds
            .iter()
            .map(|(kind, n)| format!("{kind} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
