//! From the file as written ([`ScenarioFile`]) to the typed [`Scenario`]:
//! every number bounded (checked arithmetic, no wrap-around), every choice an
//! enum, every glob compiled. One module per section; each returns the first
//! [`Problem`] it finds, named by the path of the offending value so the
//! error points at it.

mod budgets;
mod load;
mod sampling;
mod service;

use std::path::Path;
use std::time::Duration;

use crate::file::ScenarioFile;
use crate::locate::Locations;
use crate::model::{Scenario, SnapshotSetting};

/// Most samples a scenario may take.
pub const MAX_SAMPLES: usize = 10_000;
/// Shortest time between two samples: a sample takes at least this long.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Most connections of the built-in load client (one thread each).
pub const MAX_CONCURRENCY: usize = 1024;
/// Slowest and fastest `load.rate`, in requests per second.
pub const RATE_RANGE: (f64, f64) = (0.001, 1_000_000.0);
/// Longest plan (warm-up plus samples) and longest single wait.
pub const MAX_PLAN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest `name`, in bytes: it names directories and files.
pub const MAX_NAME: usize = 100;
/// Default `load.max_error_rate`: 1%.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;

/// What is wrong, and where: the path of the value in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub at: Vec<String>,
    pub message: String,
}

impl Problem {
    pub fn at(path: &[&str], message: impl Into<String>) -> Problem {
        Problem {
            at: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }
}

pub type Checked<T> = Result<T, Problem>;

/// Checks the whole file; `path` is the scenario file (for the default name
/// and relative paths), `locations` where each value is written.
pub fn check(file: ScenarioFile, path: &Path, locations: &Locations) -> Checked<Scenario> {
    let name = match &file.name {
        Some(name) => check_name(name).map_err(|m| Problem::at(&["name"], format!("name: {m}")))?,
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            check_name(&stem).map_err(|m| {
                Problem::at(
                    &[],
                    format!(
                        "the scenario has no `name:` and its file name {stem:?} cannot name reports: {m}; add `name:`"
                    ),
                )
            })?
        }
    };
    let dir = scenario_dir(path);
    let service = service::check(&file.service, &dir)?;
    let load = load::check(&file.load)?;
    let sampling = sampling::check(&file.sampling, &load, file.service.allow_remote_probes)?;
    let budgets = budgets::check(&file.budgets, &sampling, locations)?;
    let ignore = budgets::check_ignore(&file.ignore)?;
    let ignore_paths = budgets::check_ignore_paths(&file.ignore_paths)?;
    file.materiality
        .validate()
        .map_err(|m| Problem::at(&["materiality", "count"], m.to_string()))?;
    let snapshot = SnapshotSetting {
        path: match file.snapshot.as_ref().and_then(|s| s.path.as_ref()) {
            Some(p) => resolve(&dir, p),
            None => dir.join(format!("{name}.snap")),
        },
        enabled: file.snapshot.as_ref().map(|s| s.enabled),
    };
    Ok(Scenario {
        name,
        file: path.to_path_buf(),
        service,
        load,
        sampling,
        budgets,
        ignore,
        ignore_paths,
        materiality: file.materiality,
        snapshot,
    })
}

/// A scenario name names the output directory and the snapshot file: 1 to
/// [`MAX_NAME`] bytes of letters, digits (any script), `.`, `-` and `_`, no
/// leading dot or dash. So no path separator, space, control character,
/// invisible formatting character (a bidi override could make a name read as
/// another in a review) or noncharacter gets in. The same rule holds for
/// names taken from the file name.
pub fn check_name(name: &str) -> Result<String, NameError> {
    let outside = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')));
    let problem = if name.is_empty() {
        Some(NameProblem::Empty)
    } else if name.len() > MAX_NAME {
        Some(NameProblem::TooLong(name.len()))
    } else if name.contains(['/', '\\']) {
        Some(NameProblem::PathSeparator)
    } else if let Some(c) = outside {
        Some(NameProblem::Holds(c))
    } else if name.starts_with(['.', '-']) {
        Some(NameProblem::LeadingDotOrDash)
    } else {
        None
    };
    match problem {
        None => Ok(name.to_string()),
        Some(problem) => Err(NameError {
            name: name.to_string(),
            problem,
        }),
    }
}

/// A scenario name that cannot name files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} names files (reports, the snapshot) and {problem}; use letters, digits, `.`, `-` and `_`"
)]
pub struct NameError {
    pub name: String,
    pub problem: NameProblem,
}

/// What is wrong with a scenario name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is {0} bytes long, more than {MAX_NAME}")]
    TooLong(usize),
    #[error("it holds a path separator")]
    PathSeparator,
    #[error("it holds {}", describe_char(*.0))]
    Holds(char),
    #[error("it starts with a dot or a dash")]
    LeadingDotOrDash,
}

/// A label shown in reports (a budget's `name`): any text on one line,
/// except characters that hide or reorder what a reader sees: controls,
/// invisible formatting (bidi overrides and isolates, zero-width
/// characters) and noncharacters.
pub fn check_label(label: &str) -> Result<(), LabelError> {
    match label
        .chars()
        .find(|&c| c.is_control() || invisible(c) || noncharacter(c))
    {
        None => Ok(()),
        Some(c) => Err(LabelError {
            label: label.to_string(),
            hidden: c,
        }),
    }
}

/// A label with a character that hides or reorders what a reader sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{label:?} holds {}; write it without", describe_char(*hidden))]
pub struct LabelError {
    pub label: String,
    pub hidden: char,
}

/// Invisible characters that change how text around them reads: bidi
/// controls (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069),
/// zero-width and joiner characters, the soft hyphen, word joiner and
/// invisible operators, the BOM, Mongolian vowel separator, tag characters.
pub fn invisible(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')
}

/// Unicode noncharacters: U+FDD0–U+FDEF and the last two code points of
/// every plane (U+FFFE, U+FFFF, U+1FFFE, ...).
pub fn noncharacter(c: char) -> bool {
    matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32) & 0xFFFE == 0xFFFE
}

/// `a control character (U+0007)`, `an invisible formatting character
/// (U+202E)`, `a noncharacter (U+FDD0)`, `' ' (U+0020)`: for messages.
fn describe_char(c: char) -> String {
    let code = format!("U+{:04X}", c as u32);
    if c.is_control() {
        format!("a control character ({code})")
    } else if invisible(c) {
        format!("an invisible formatting character ({code})")
    } else if noncharacter(c) {
        format!("a noncharacter ({code})")
    } else {
        format!("'{}' ({code})", c.escape_debug())
    }
}

/// The directory relative paths are resolved against: the scenario's own.
fn scenario_dir(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

fn resolve(dir: &Path, path: &Path) -> std::path::PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// `"1m 30s"` for messages.
fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
