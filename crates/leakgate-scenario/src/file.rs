//! The scenario file as written: the YAML shape, its defaults and its JSON
//! Schema. Unknown keys are errors everywhere (`deny_unknown_fields`): a
//! misspelt key silently ignored would make a gate that checks nothing.
//!
//! Nothing here is checked beyond what serde does; [`crate::check`] turns a
//! [`ScenarioFile`] into the typed [`crate::Scenario`] the rest of leakgate uses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::budget::{Budget, Materiality};

/// One leak-gate scenario: what to run, how to load it, when to sample, what to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "leakgate scenario")]
pub struct ScenarioFile {
    /// The scenario's name in reports; defaults to the file name without
    /// `.yaml`. It names files: letters, digits, `.`, `-` and `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How to build, start, probe and stop the service.
    pub service: Service,
    /// The traffic driven at the service while it is sampled.
    pub load: Load,
    /// When and how samples (dumps and memory maps) are taken.
    pub sampling: Sampling,
    /// The limits the gate judges.
    #[serde(default)]
    pub budgets: Vec<Budget>,
    /// Type-name globs that are never judged (e.g. "System.Net.Sockets.*").
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Retention paths that are not leaks: a leak signature as reports print it
    /// (12 hex digits), or a glob over the path as reports print it on one line
    /// (e.g. "static Vendor.Pool.s_shared → *"). A type that grows only through
    /// them passes, and they never fail the snapshot. leakgate's own list of
    /// known runtime and framework retention applies as well.
    #[serde(default)]
    pub ignore_paths: Vec<String>,
    /// Growth slower than these rates is not a leak (defaults: 64KiB/1k
    /// for sizes, 8/1k for counts); a budget's `materiality` overrides them.
    #[serde(default)]
    pub materiality: Materiality,
    /// Where the approved snapshot lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A build step run once before launch, in `cwd`: an argv list, or a string split like a shell would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Argv>,
    /// The program to start (or, with `shell: true`, a shell command line).
    pub command: String,
    /// Arguments; `{port}` is replaced by a free loopback port leakgate picked.
    #[serde(default)]
    pub args: Vec<String>,
    /// Run `command` (and `build`) through `sh -c`.
    #[serde(default)]
    pub shell: bool,
    /// Working directory, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables; values may use `{port}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How leakgate knows the service is up.
    pub ready: Ready,
    /// How the service is stopped at the end.
    #[serde(default)]
    pub shutdown: Shutdown,
    /// Let `ready` and `sampling.stats_url` probe hosts other than loopback
    /// (default: loopback only; the built-in load always is).
    #[serde(default)]
    pub allow_remote_probes: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// A URL that answers 2xx when the service is ready, e.g. "http://127.0.0.1:{port}/healthz".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// A TCP port (or "{port}") that accepts connections when the service is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// How long to wait for readiness.
    #[serde(default = "default_ready_timeout")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// The signal sent first.
    #[serde(default)]
    pub signal: StopSignal,
    /// How long to wait after it before SIGKILL.
    #[serde(default = "default_grace")]
    pub grace: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            signal: StopSignal::default(),
            grace: default_grace(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum StopSignal {
    #[default]
    #[serde(rename = "SIGTERM")]
    Term,
    #[serde(rename = "SIGINT")]
    Int,
    #[serde(rename = "SIGKILL")]
    Kill,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Requests for the built-in HTTP/1.1 keep-alive client, chosen by weight.
    #[serde(default)]
    pub requests: Vec<Request>,
    /// Or an external load tool, run for the whole sampling period; `{port}` is filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Argv>,
    /// Parallel connections of the built-in client.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Total requests per second across connections; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Load before the first sample (the first sample is the baseline).
    #[serde(default = "zero")]
    pub warmup: Duration,
    /// Upper bound on the whole load phase; samples are spread over it when `sampling.every` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// The largest share of failed requests (refused, timed out, or a status of
    /// 400 or more not listed in `expect_status`) with which the run still
    /// measures the service; above it the run could not measure (exit 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<Percent>,
    /// Statuses of 400 or more that are expected answers, not errors (e.g. [404]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query, starting with '/'.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Relative share of this request in the mix.
    #[serde(default = "one")]
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Time between samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// Or requests between samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_requests: Option<u64>,
    /// Number of samples, the baseline included; or `auto`: sample until
    /// every budget is decided, from `min_count` to `max_count` samples.
    pub count: SampleCount,
    /// With `count: auto`: samples before the first decision (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<usize>,
    /// With `count: auto`: samples at most (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<usize>,
    /// The dump taken at each sample.
    #[serde(default)]
    pub dump: DumpMode,
    /// Induce a full blocking GC before each sample, so the heap holds only live objects.
    #[serde(default = "yes")]
    pub gc_before_sample: bool,
    /// Keep the dumps in the output directory (they may hold secrets).
    #[serde(default)]
    pub keep_dumps: bool,
    /// With `dump: gcdump`, where the retention paths come from: a `withheap`
    /// dump taken with the snapshot of each sample whose paths are compared
    /// (default: field names and methods, as with `dump: withheap`; those
    /// samples pause the service for the dump too, and need the .NET SDK), or
    /// the heap snapshots (types only, no field names or stack methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PathsFrom")]
    pub paths_from: Option<PathsFrom>,
    /// Samples at the start left out of judging (one-time warm-up growth); default 1.
    #[serde(default = "one_usize")]
    pub warmup_samples: usize,
    /// A URL (with `{port}`) whose JSON answer is recorded with each sample while
    /// the load is paused: the service's own counters, to read beside the gate's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_url: Option<String>,
}

/// Where `dump: gcdump`'s retention paths come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PathsFrom {
    /// The heap snapshots themselves.
    Snapshot,
    /// A `withheap` dump beside the snapshot, at the samples compared (the default).
    Dump,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DumpMode {
    /// A core dump with the heap and stacks, read by the ClrMD inspector
    /// (needs the .NET SDK to build it once).
    Withheap,
    /// A core dump of all memory.
    Full,
    /// A core dump of threads and modules only: no managed heap analysis.
    Mini,
    /// A GC heap snapshot over EventPipe, as dotnet-gcdump takes it (objects,
    /// types, references, roots), parsed by leakgate itself; the default.
    /// With `paths_from: dump` (the default) the samples whose paths are
    /// compared also take a `withheap` dump, for field and method names.
    #[default]
    Gcdump,
    /// No dump: memory maps only.
    None,
}

impl DumpMode {
    /// The scenario-file spelling.
    pub fn name(self) -> &'static str {
        match self {
            DumpMode::Withheap => "withheap",
            DumpMode::Full => "full",
            DumpMode::Mini => "mini",
            DumpMode::Gcdump => "gcdump",
            DumpMode::None => "none",
        }
    }

    /// Whether a sample reads the managed heap (per-type metrics).
    pub fn captures_heap(self) -> bool {
        matches!(self, DumpMode::Withheap | DumpMode::Full | DumpMode::Gcdump)
    }

    /// Whether the heap is read from a core dump by the ClrMD inspector.
    pub fn needs_inspector(self) -> bool {
        matches!(self, DumpMode::Withheap | DumpMode::Full)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// The approved snapshot file, relative to the scenario; default `<name>.snap` beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Compare against the snapshot (default true when a snapshot section exists).
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A command: a YAML list of arguments, or a string split like a POSIX shell
/// would (and run exactly as written with `shell: true`).
// A string keeps its original text in `line`, so `shell: true` runs what was
// written (`make && make install`), quotes and operators intact.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "ArgvSchema")]
pub struct Argv {
    pub words: Vec<String>,
    pub line: Option<String>,
}

impl Argv {
    /// The command line for `sh -c`: the original string, or the words quoted.
    pub fn shell_line(&self) -> String {
        self.line.clone().unwrap_or_else(|| {
            shlex::try_join(self.words.iter().map(String::as_str))
                .unwrap_or_else(|_| self.words.join(" "))
        })
    }
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ArgvSchema {
    Line(String),
    List(Vec<String>),
}

impl Serialize for Argv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.line {
            Some(line) => line.serialize(s),
            None => self.words.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Argv;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a command: a string like \"dotnet build -c Release\" or a list of arguments",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Argv, E> {
                let words = shlex::split(v)
                    .ok_or_else(|| E::custom(format!("unbalanced quotes in command {v:?}")))?;
                if words.is_empty() {
                    return Err(E::custom("expected a command, got an empty string"));
                }
                Ok(Argv {
                    words,
                    line: Some(v.to_string()),
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut words = Vec::new();
                while let Some(w) = seq.next_element::<String>()? {
                    words.push(w);
                }
                if words.is_empty() {
                    return Err(serde::de::Error::custom(
                        "expected a command, got an empty list",
                    ));
                }
                Ok(Argv { words, line: None })
            }
        }
        d.deserialize_any(V)
    }
}

/// `count: 9` or `count: auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleCount {
    Fixed(usize),
    Auto,
}

impl JsonSchema for SampleCount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SampleCount".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of samples, or \"auto\" to stop as soon as every budget is decided",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "const": "auto" }
            ]
        })
    }
}

impl Serialize for SampleCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SampleCount::Fixed(n) => s.serialize_u64(*n as u64),
            SampleCount::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for SampleCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SampleCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of samples, or `auto`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SampleCount, E> {
                if v.trim() == "auto" {
                    Ok(SampleCount::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected a number of samples or `auto`, got {v:?}"
                    )))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SampleCount, E> {
                Ok(SampleCount::Fixed(usize::try_from(v).unwrap_or(usize::MAX)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SampleCount, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "expected a number of samples or `auto`, got {v}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A percentage written with its sign: "1%", "0.5%".
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A percentage such as \"1%\" or \"0.5%\"",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%\\s*$"
        })
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}%", self.0))
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage like \"1%\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Percent, E> {
                v.trim()
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite())
                    .map(Percent)
                    .ok_or_else(|| {
                        E::custom(format!("expected a percentage like \"1%\", got {v:?}"))
                    })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "expected a percentage with its sign, like \"{v}%\", got the bare number {v}"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_u64(v.unsigned_abs())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Percent, E> {
                Err(E::custom(format!(
                    "expected a percentage with its sign, like \"{v}%\", got the bare number {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written the human way: "500ms", "30s", "2m".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::duration_schema(generator)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"30s\", \"500ms\" or \"2m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                humantime::parse_duration(v.trim())
                    .map(Duration)
                    .map_err(|e| {
                        E::custom(format!(
                            "expected a duration like \"30s\", \"500ms\" or \"2m\", got {v:?} ({e})"
                        ))
                    })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected a duration with a unit, like \"{v}s\", got the bare number {v}"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected a duration with a unit, like \"{v}s\", got the bare number {v}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected a duration with a unit, like \"{v}s\", got the bare number {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_grace() -> Duration {
    Duration::from_secs(5)
}
fn default_concurrency() -> usize {
    4
}
fn default_method() -> String {
    "GET".into()
}
fn zero() -> Duration {
    Duration::default()
}
fn one() -> u32 {
    1
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}
