//! leakgate-scenario: the scenario file (service, load, sampling, budgets,
//! snapshot) as typed, validated Rust, loaded from YAML with located errors.
//!
//! The file as written ([`ScenarioFile`], with its JSON Schema) is checked
//! section by section ([`check`]) into the typed [`Scenario`]: every choice
//! an enum, every number bounded, globs compiled, paths resolved. Errors
//! name the file, line and column ([`locate`]) and what was expected.
//!
//! ```no_run
//! let scenario = leakgate_scenario::load("fixtures/scenarios/healthy.yaml").unwrap();
//! println!("at most {} samples, {:?}", scenario.sampling.count.max(), scenario.sampling.interval);
//! ```

pub mod budget;
pub mod check;
pub mod file;
pub mod files;
pub mod locate;
mod model;

pub use file::ScenarioFile;
pub use model::*;

use std::path::{Path, PathBuf};

use locate::Locations;

/// Why a scenario could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Unlocated { file: PathBuf, message: String },
}

impl ScenarioError {
    /// `(line, column)` when the error has a place in the file.
    pub fn location(&self) -> Option<(u64, u64)> {
        match self {
            ScenarioError::Invalid { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

/// Reads, parses and checks a scenario file.
/// Only a regular file is read: a FIFO would block leakgate before it could
/// even be interrupted.
pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
    let path = path.as_ref();
    let read = |error| ScenarioError::Read {
        file: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        return Err(ScenarioError::Unlocated {
            file: path.to_path_buf(),
            message: "not a regular file; give a scenario YAML file".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    parse(path, &text)
}

/// Parses and checks scenario text; `path` is used for messages and relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile =
        serde_saphyr::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
    let locations = Locations::read(text);
    check::check(file, path, &locations).map_err(|problem| {
        let at: Vec<&str> = problem.at.iter().map(String::as_str).collect();
        let (line, column) = locations.find(&at);
        ScenarioError::Invalid {
            file: path.to_path_buf(),
            line,
            column,
            message: problem.message,
        }
    })
}

/// The JSON Schema of the scenario format (checked in as `schemas/scenario.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioFile)).expect("a schema serialises")
}

fn yaml_error(path: &Path, text: &str, error: &serde_saphyr::Error) -> ScenarioError {
    let message = error.without_snippet().to_string();
    match error.location() {
        Some(loc) if loc.line() > 0 => ScenarioError::Invalid {
            file: path.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message: strip_location_suffix(&message),
        },
        _ => ScenarioError::Unlocated {
            file: path.to_path_buf(),
            message: if text.trim().is_empty() {
                "the file is empty; expected a mapping with `service`, `load` and `sampling`".into()
            } else {
                message
            },
        },
    }
}

/// serde-saphyr appends " at line L column C"; we print the place up front instead.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A JSON Schema helper for the human string forms (durations).
pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A duration such as \"500ms\", \"30s\", \"2m\" or \"1h\"",
        "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+(\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+)*\\s*$"
    })
}
