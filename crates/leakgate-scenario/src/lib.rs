//! leakgate-scenario: the scenario file (service, load, sampling, budgets,
//! snapshot) as typed, validated Rust, loaded from YAML with located errors.
//!
//! ```no_run
//! let loaded = leakgate_scenario::load("fixtures/scenarios/healthy.yaml").unwrap();
//! println!("{} samples every {:?}", loaded.scenario.sampling.count, loaded.scenario.sampling.every);
//! ```

pub mod budget;
mod model;

pub use model::*;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A scenario as loaded from disk, with what the loader learnt about the file.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    /// The scenario file, as given.
    pub path: PathBuf,
    /// The scenario's name: `name:` or the file stem.
    pub name: String,
    /// The line (1-based) where each budget starts, for annotations.
    pub budget_lines: Vec<u64>,
}

impl LoadedScenario {
    /// The directory relative paths in the scenario are resolved against.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Resolves a path written in the scenario against the scenario's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir().join(path)
        }
    }

    /// Where the approved snapshot lives: `snapshot.path`, else `<name>.snap` beside the scenario.
    pub fn snapshot_path(&self) -> PathBuf {
        match self
            .scenario
            .snapshot
            .as_ref()
            .and_then(|s| s.path.as_ref())
        {
            Some(p) => self.resolve(p),
            None => self.dir().join(format!("{}.snap", self.name)),
        }
    }
}

/// Why a scenario could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
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

/// Reads, parses and validates a scenario file.
pub fn load(path: impl AsRef<Path>) -> Result<LoadedScenario, ScenarioError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` is used for messages and relative paths.
pub fn parse(path: &Path, text: &str) -> Result<LoadedScenario, ScenarioError> {
    let scenario: Scenario =
        serde_saphyr::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
    let budget_lines = budget_lines(text);
    let name = scenario.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    let loaded = LoadedScenario {
        scenario,
        path: path.to_path_buf(),
        name,
        budget_lines,
    };
    validate(&loaded, text)?;
    Ok(loaded)
}

/// The JSON Schema of the scenario format (checked in as `schemas/scenario.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).expect("a schema serialises")
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

/// Where each `budgets:` entry begins, read in a second, lenient pass.
fn budget_lines(text: &str) -> Vec<u64> {
    #[derive(Deserialize)]
    struct Budgets {
        #[serde(default)]
        budgets: Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
    }
    serde_saphyr::from_str::<Budgets>(text)
        .map(|b| b.budgets.iter().map(|s| s.referenced.line()).collect())
        .unwrap_or_default()
}

/// Checks that serde cannot express; errors point at the offending key.
fn validate(loaded: &LoadedScenario, text: &str) -> Result<(), ScenarioError> {
    let s = &loaded.scenario;
    let fail = |key: &str, message: String| {
        let (line, column) = find_key(text, key);
        Err(ScenarioError::Invalid {
            file: loaded.path.clone(),
            line,
            column,
            message,
        })
    };
    if s.sampling.count < 2 {
        return fail(
            "count",
            format!(
                "sampling.count: expected at least 2 samples to measure growth, got {}",
                s.sampling.count
            ),
        );
    }
    if s.sampling.every.is_some() && s.sampling.every_requests.is_some() {
        return fail(
            "every_requests",
            "sampling: give either `every` (a duration) or `every_requests` (a count), not both"
                .into(),
        );
    }
    if s.sampling.every.is_none()
        && s.sampling.every_requests.is_none()
        && s.load.duration.is_none()
    {
        return fail(
            "sampling",
            "sampling: expected `every` (e.g. 5s) or `every_requests` (e.g. 500), or a `load.duration` to spread the samples over".into(),
        );
    }
    if let (Some(every), Some(duration)) = (s.sampling.every, s.load.duration) {
        let needed = s.load.warmup.get() + every.get() * (s.sampling.count as u32 - 1);
        if needed > duration.get() {
            return fail(
                "duration",
                format!(
                    "load.duration: {count} samples every {every} after a {warmup} warm-up need {needed} of load, longer than {duration}",
                    count = s.sampling.count,
                    every = humantime::format_duration(every.get()),
                    warmup = humantime::format_duration(s.load.warmup.get()),
                    needed = humantime::format_duration(needed),
                    duration = humantime::format_duration(duration.get()),
                ),
            );
        }
    }
    if s.load.requests.is_empty() && s.load.command.is_none() {
        return fail(
            "load",
            "load: expected `requests` (the built-in HTTP client) or `command` (an external load tool)".into(),
        );
    }
    if !s.load.requests.is_empty() && s.load.command.is_some() {
        return fail(
            "command",
            "load: give either `requests` or `command`, not both".into(),
        );
    }
    if s.load.concurrency == 0 {
        return fail(
            "concurrency",
            "load.concurrency: expected at least 1".into(),
        );
    }
    if let Some(rate) = s.load.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        return fail(
            "rate",
            format!("load.rate: expected requests per second above 0, got {rate}"),
        );
    }
    for r in &s.load.requests {
        if !r.path.starts_with('/') {
            return fail(
                "path",
                format!("load.requests: path {:?} must start with '/'", r.path),
            );
        }
    }
    if s.service.ready.http.is_none() && s.service.ready.tcp.is_none() {
        return fail(
            "ready",
            "service.ready: expected `http` (a URL answering 2xx) or `tcp` (a port)".into(),
        );
    }
    for pattern in &s.ignore {
        if let Err(e) = globset::Glob::new(pattern) {
            return fail(
                "ignore",
                format!("ignore: {pattern:?} is not a valid glob: {e}"),
            );
        }
    }
    for (i, budget) in s.budgets.iter().enumerate() {
        if let Err(message) = budget.validate() {
            let line = loaded.budget_lines.get(i).copied().unwrap_or(1);
            return Err(ScenarioError::Invalid {
                file: loaded.path.clone(),
                line,
                column: 5,
                message: format!("budgets[{i}]: {message}"),
            });
        }
    }
    Ok(())
}

/// The first `key:` in the text, as (line, column), 1-based; (1, 1) if absent.
fn find_key(text: &str, key: &str) -> (u64, u64) {
    let needle = format!("{key}:");
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with(&needle) {
            let column = line.find(&needle).unwrap_or(0) + 1;
            return (i as u64 + 1, column as u64);
        }
    }
    (1, 1)
}

/// A JSON Schema helper for the human string forms (durations).
pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A duration such as \"500ms\", \"30s\", \"2m\" or \"1h\"",
        "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+(\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+)*\\s*$"
    })
}
