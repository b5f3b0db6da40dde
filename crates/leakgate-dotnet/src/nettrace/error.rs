//! What can be wrong with a nettrace stream, always with the byte offset.

use std::io;

use thiserror::Error;

/// A nettrace stream could not be read. Every variant names the byte offset
/// (from the start of the stream) where the problem was found.
#[derive(Debug, Error)]
pub enum NettraceError {
    #[error("reading the trace failed at byte offset {offset}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("the trace ends early at byte offset {offset}: {what} is cut off")]
    Truncated { offset: u64, what: &'static str },
    #[error("malformed trace at byte offset {offset}: {problem}")]
    Malformed { offset: u64, problem: String },
    #[error("unsupported trace at byte offset {offset}: {problem}")]
    Unsupported { offset: u64, problem: String },
}

impl NettraceError {
    /// Where in the stream the problem was found.
    pub fn offset(&self) -> u64 {
        match self {
            NettraceError::Io { offset, .. }
            | NettraceError::Truncated { offset, .. }
            | NettraceError::Malformed { offset, .. }
            | NettraceError::Unsupported { offset, .. } => *offset,
        }
    }

    pub(crate) fn malformed(offset: u64, problem: impl Into<String>) -> Self {
        NettraceError::Malformed {
            offset,
            problem: problem.into(),
        }
    }

    pub(crate) fn unsupported(offset: u64, problem: impl Into<String>) -> Self {
        NettraceError::Unsupported {
            offset,
            problem: problem.into(),
        }
    }
}
