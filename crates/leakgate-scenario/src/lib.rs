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
    /// (line, column) of each budget, for errors.
    pub budget_locations: Vec<(u64, u64)>,
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
    let budget_locations = budget_locations(text);
    let budget_lines = budget_locations.iter().map(|l| l.0).collect();
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
        budget_locations,
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
fn budget_locations(text: &str) -> Vec<(u64, u64)> {
    #[derive(Deserialize)]
    struct Budgets {
        #[serde(default)]
        budgets: Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
    }
    serde_saphyr::from_str::<Budgets>(text)
        .map(|b| {
            b.budgets
                .iter()
                .map(|s| (s.referenced.line(), s.referenced.column()))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that serde cannot express; errors point at the offending key.
fn validate(loaded: &LoadedScenario, text: &str) -> Result<(), ScenarioError> {
    let s = &loaded.scenario;
    let fail = |at: (&str, &str), message: String| {
        let (line, column) = find_key(text, at.0, at.1);
        Err(ScenarioError::Invalid {
            file: loaded.path.clone(),
            line,
            column,
            message,
        })
    };
    let sampling = &s.sampling;
    let load = &s.load;
    let judged_needed = sampling.warmup_samples + 2;
    if sampling.count < judged_needed {
        return fail(
            ("sampling", "count"),
            format!(
                "sampling.count: growth needs at least 2 judged samples after the {} warm-up sample(s), so at least {judged_needed}; got {}",
                sampling.warmup_samples, sampling.count
            ),
        );
    }
    if sampling.every.is_some() && sampling.every_requests.is_some() {
        return fail(
            ("sampling", "every_requests"),
            "sampling: give either `every` (a duration) or `every_requests` (a count), not both"
                .into(),
        );
    }
    if sampling.every_requests.is_some() && load.command.is_some() {
        return fail(
            ("sampling", "every_requests"),
            "sampling.every_requests counts the built-in client's requests; with an external `load.command` use `every`".into(),
        );
    }
    match (sampling.every, sampling.every_requests, load.duration) {
        (None, None, None) => {
            return fail(
                ("sampling", "every"),
                "sampling: expected `every` (e.g. 5s) or `every_requests` (e.g. 500), or a `load.duration` to spread the samples over".into(),
            );
        }
        (None, None, Some(duration)) if duration <= load.warmup => {
            return fail(
                ("load", "duration"),
                "load.duration: must be longer than load.warmup, to leave time for the samples"
                    .into(),
            );
        }
        _ => {}
    }
    if let Some(every) = sampling.every {
        let needed = u32::try_from(sampling.count - 1)
            .ok()
            .and_then(|n| every.get().checked_mul(n))
            .and_then(|d| d.checked_add(load.warmup.get()))
            .filter(|d| d.as_secs() < 366 * 24 * 3600);
        let Some(needed) = needed else {
            return fail(
                ("sampling", "every"),
                "sampling: `every` × `count` is longer than a year".into(),
            );
        };
        if let Some(duration) = load.duration.filter(|d| needed > d.get()) {
            return fail(
                ("load", "duration"),
                format!(
                    "load.duration: {count} samples every {every} after a {warmup} warm-up need {needed} of load, longer than {duration}",
                    count = sampling.count,
                    every = humantime::format_duration(every.get()),
                    warmup = humantime::format_duration(load.warmup.get()),
                    needed = humantime::format_duration(needed),
                    duration = humantime::format_duration(duration.get()),
                ),
            );
        }
    }
    if load.requests.is_empty() && load.command.is_none() {
        return fail(
            ("load", "requests"),
            "load: expected `requests` (the built-in HTTP client) or `command` (an external load tool)".into(),
        );
    }
    if !load.requests.is_empty() && load.command.is_some() {
        return fail(
            ("load", "command"),
            "load: give either `requests` or `command`, not both".into(),
        );
    }
    if load.concurrency == 0 {
        return fail(
            ("load", "concurrency"),
            "load.concurrency: expected at least 1".into(),
        );
    }
    if let Some(rate) = load.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        return fail(
            ("load", "rate"),
            format!("load.rate: expected requests per second above 0, got {rate}"),
        );
    }
    for r in &load.requests {
        if !r.path.starts_with('/') {
            return fail(
                ("load", "path"),
                format!("load.requests: path {:?} must start with '/'", r.path),
            );
        }
    }
    if !load.requests.is_empty() && load.requests.iter().all(|r| r.weight == 0) {
        return fail(
            ("load", "weight"),
            "load.requests: every weight is 0; give at least one request a weight above 0".into(),
        );
    }
    let ready = &s.service.ready;
    match (&ready.http, &ready.tcp) {
        (None, None) => {
            return fail(
                ("service", "ready"),
                "service.ready: expected `http` (a URL answering 2xx) or `tcp` (a port)".into(),
            );
        }
        (Some(url), _) if !url.starts_with("http://") => {
            return fail(
                ("service", "http"),
                format!("service.ready.http: expected an http:// URL, got {url:?}"),
            );
        }
        (None, Some(tcp)) if tcp.trim().is_empty() => {
            return fail(
                ("service", "tcp"),
                "service.ready.tcp: expected a port, \"{port}\" or host:port".into(),
            );
        }
        _ => {}
    }
    if let Some(url) = sampling
        .stats_url
        .as_ref()
        .filter(|u| !u.starts_with("http://"))
    {
        return fail(
            ("sampling", "stats_url"),
            format!("sampling.stats_url: expected an http:// URL, got {url:?}"),
        );
    }
    if let Some(name) = s
        .name
        .as_ref()
        .filter(|n| n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.'))
    {
        return fail(
            ("name", "name"),
            format!(
                "name: {name:?} names files (reports, the snapshot): no slashes, not empty, no leading dot"
            ),
        );
    }
    for pattern in &s.ignore {
        if let Err(e) = globset::Glob::new(pattern) {
            return fail(
                ("ignore", "ignore"),
                format!("ignore: {pattern:?} is not a valid glob: {e}"),
            );
        }
    }
    let managed = sampling.dump.captures_heap();
    for (i, budget) in s.budgets.iter().enumerate() {
        let problem = budget.validate().err().or_else(|| {
            (budget.metric.is_per_type() && !managed).then(|| {
                format!(
                    "`{}` is measured from the managed heap, which `dump: {}` does not capture; use `dump: withheap`",
                    budget.metric,
                    serde_json::to_value(sampling.dump).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                )
            })
        });
        if let Some(message) = problem {
            let (line, column) = loaded.budget_locations.get(i).copied().unwrap_or((1, 1));
            return Err(ScenarioError::Invalid {
                file: loaded.path.clone(),
                line,
                column,
                message: format!("budgets[{i}]: {message}"),
            });
        }
    }
    Ok(())
}

/// Where `section.key` is written, as (line, column), 1-based: the first
/// `key:` inside the top-level `section:` block (block or flow style), else
/// the section itself, else (1, 1). Only for errors serde cannot locate.
fn find_key(text: &str, section: &str, key: &str) -> (u64, u64) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.starts_with(&format!("{section}:")))
    else {
        return (1, 1);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.is_empty() && !l.starts_with([' ', '\t', '#']))
        .map_or(lines.len(), |i| start + 1 + i);
    let needle = format!("{key}:");
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        let found = line.match_indices(&needle).find(|(at, _)| {
            // A key starts a line's content, or follows `{`, `,` or `- `.
            line[..*at].trim_end().is_empty()
                || matches!(line[..*at].trim_end().chars().last(), Some('{' | ',' | '-'))
        });
        if let Some((at, _)) = found {
            return (i as u64 + 1, at as u64 + 1);
        }
    }
    (start as u64 + 1, 1)
}

/// A JSON Schema helper for the human string forms (durations).
pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A duration such as \"500ms\", \"30s\", \"2m\" or \"1h\"",
        "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+(\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+)*\\s*$"
    })
}
