use std::path::PathBuf;

/// Why managed analysis failed. Each variant says what the user can do next; the CLI maps
/// all of them to exit code 2 (the run could not be done).
#[derive(Debug, thiserror::Error)]
pub enum InspectorError {
    #[error(
        "the .NET SDK was not found (tried to run `{dotnet}`): install the .NET SDK 10 or newer \
         (https://dot.net), or point {env} at the dotnet executable",
        env = super::DOTNET_ENV
    )]
    SdkMissing { dotnet: PathBuf },

    #[error("building the managed inspector failed (in {dir}); dotnet build said:\n{log}")]
    BuildFailed { dir: PathBuf, log: String },

    #[error("the dump {dump} holds no .NET runtime: was it taken from a .NET process?")]
    NoClr { dump: PathBuf },

    #[error("cannot read the .NET runtime in {dump}: {message}")]
    DacNotFound {
        dump: PathBuf,
        message: String,
        looked_for: Vec<PathBuf>,
    },

    #[error("the dump {dump} cannot be read (truncated or corrupt?): {message}")]
    DumpUnreadable { dump: PathBuf, message: String },

    #[error("the managed inspector took longer than {secs} s on {dump} and was stopped")]
    TimedOut { dump: PathBuf, secs: u64 },

    #[error("the managed inspection of {dump} was interrupted")]
    Interrupted { dump: PathBuf },

    #[error("the managed inspector broke its JSON contract on {dump}: {message}")]
    BadOutput {
        dump: PathBuf,
        message: String,
        /// The JSON error, when the output did not match the contract's types.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// The error object itself does not match the contract (the JSON error
    /// sits mid-sentence, before the object it could not read).
    #[error(
        "the managed inspector broke its JSON contract on {dump}: malformed error object ({source}): {object}"
    )]
    BadErrorObject {
        dump: PathBuf,
        object: String,
        #[source]
        source: serde_json::Error,
    },

    /// The heap graph (`--heap-graph`) could not be written or read back.
    #[error("the heap graph of the dump is unusable: {0}")]
    HeapGraph(#[from] super::HeapGraphFileError),

    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

impl InspectorError {
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> InspectorError {
        let action = action.into();
        move |source| InspectorError::Io { action, source }
    }
}
