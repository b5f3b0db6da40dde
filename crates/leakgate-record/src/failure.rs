//! Why a run could not measure the service.

use serde::{Deserialize, Serialize};

/// Why a run could not measure the service. The samples taken before it are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunFailure {
    #[error("the build failed ({status}): {log_tail}")]
    Build { status: String, log_tail: String },
    #[error("could not start the service: {message}")]
    Launch { message: String },
    #[error("the service {exit} during the {phase} phase; last lines of its log:\n{log_tail}")]
    ServiceExited {
        exit: String,
        phase: String,
        log_tail: String,
    },
    #[error("the service was not ready after {timeout_secs}s ({last_error})")]
    NotReady {
        timeout_secs: f64,
        last_error: String,
    },
    #[error("the service is not a .NET process leakgate can talk to: {message}")]
    NoDiagnostics { message: String },
    #[error("sample {index}: {message}")]
    Sample { index: usize, message: String },
    #[error("the load generator could not start: {message}")]
    Load { message: String },
    #[error(
        "the load failed: {errors} of {requests} requests failed ({failures}), more than the {max_pct}% load.max_error_rate allows; \
         the service was not measured under load"
    )]
    LoadUnhealthy {
        requests: u64,
        errors: u64,
        failures: String,
        max_pct: f64,
    },
    #[error(
        "not enough requests: waited {waited_secs:.1}s for {wanted} requests before sample {index}, saw {seen}"
    )]
    LoadStalled {
        index: usize,
        wanted: u64,
        seen: u64,
        waited_secs: f64,
    },
    #[error(
        "load.duration ({duration_secs}s) ran out after {taken} of {planned} samples: samples took longer than planned; \
         raise load.duration or take fewer samples"
    )]
    DurationExceeded {
        taken: usize,
        planned: usize,
        duration_secs: f64,
    },
    #[error("cannot write {path}: {message}")]
    Output { path: String, message: String },
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

/// An error and each cause it does not already say (an I/O error's text
/// appears once, not once per layer that wraps it): what a failure's
/// `message` holds, and what the command line prints.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the dump failed")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write /tmp/x: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("disk full");
        assert_eq!(
            error_text(&Outer(Middle(io))),
            "the dump failed: cannot write /tmp/x: disk full"
        );
    }
}
