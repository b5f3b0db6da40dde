//! The scenario as the rest of leakgate sees it: checked, resolved and typed.
//! Each choice the file allows is an enum here (how to sample, how to
//! probe, which load), every number is within its bounds, globs are compiled
//! and relative paths are resolved, so no later stage re-derives or
//! re-checks anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};

use leakgate_heap::LeakSignature;

use crate::budget::{Budget, BudgetError, Materiality};
pub use crate::file::{DumpMode, PathsFrom, StopSignal};

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name:` or the file name without `.yaml`; a valid file name (see
    /// [`crate::check::check_name`]).
    pub name: String,
    /// The scenario file, as given.
    pub file: PathBuf,
    pub service: Service,
    pub load: Load,
    pub sampling: Sampling,
    pub budgets: Vec<BudgetRule>,
    /// Type names never judged.
    pub ignore: TypeFilter,
    /// Retention paths that are not leaks: the scenario's `ignore_paths:` and
    /// [`KNOWN_RETENTION`].
    pub ignore_paths: PathFilter,
    /// The rates of growth that matter, unless a budget says otherwise.
    pub materiality: Materiality,
    /// Where the approved snapshot lives, and whether the scenario asked for
    /// comparisons (`snapshot:` present and not `enabled: false`).
    pub snapshot: SnapshotSetting,
}

impl Scenario {
    /// The 1-based line of each budget in the scenario file, by index.
    pub fn budget_lines(&self) -> Vec<u64> {
        self.budgets.iter().map(|b| b.line).collect()
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    /// Run once before launch, in `cwd`.
    pub build: Option<Command>,
    pub launch: Command,
    /// Resolved against the scenario's directory.
    pub cwd: PathBuf,
    /// Added to the service's environment; values may hold `{port}`.
    pub env: BTreeMap<String, String>,
    pub ready: Ready,
    pub stop_signal: StopSignal,
    pub grace: Duration,
    /// Probes may go to hosts other than loopback.
    pub allow_remote_probes: bool,
}

/// A program to run: words (no shell), or a line for `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Argv(Vec<String>),
    Shell(String),
}

impl Command {
    /// The argv to execute, with `{port}` filled in.
    pub fn argv(&self, port: u16) -> Vec<String> {
        match self {
            Command::Argv(words) => words.iter().map(|w| fill_port(w, port)).collect(),
            Command::Shell(line) => vec!["sh".into(), "-c".into(), fill_port(line, port)],
        }
    }

    /// How the command reads in messages.
    pub fn display(&self) -> String {
        match self {
            Command::Argv(words) => shlex::try_join(words.iter().map(String::as_str))
                .unwrap_or_else(|_| words.join(" ")),
            Command::Shell(line) => line.clone(),
        }
    }
}

/// `{port}` replaced by the service's port.
pub fn fill_port(text: &str, port: u16) -> String {
    text.replace("{port}", &port.to_string())
}

#[derive(Debug, Clone)]
pub struct Ready {
    pub probe: Probe,
    /// The whole wait for readiness, every attempt included.
    pub timeout: Duration,
}

/// How leakgate knows the service is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A URL answering 2xx.
    Http(HttpTarget),
    /// A port accepting connections.
    Tcp(Endpoint),
}

impl Probe {
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Probe::Http(t) => &t.endpoint,
            Probe::Tcp(e) => e,
        }
    }
}

/// A host and a port, the port possibly the service's own `{port}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A name or an address (IPv6 without brackets).
    pub host: String,
    pub port: Port,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// `{port}`: the free loopback port leakgate picks per run.
    Service,
    Fixed(u16),
}

impl Port {
    pub fn resolve(self, service_port: u16) -> u16 {
        match self {
            Port::Service => service_port,
            Port::Fixed(p) => p,
        }
    }
}

/// A plain-HTTP URL: `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub endpoint: Endpoint,
    /// Origin form, starting with `/`, query included; may hold `{port}`.
    pub path: String,
}

impl HttpTarget {
    /// The URL with `{port}` filled in, for messages.
    pub fn url(&self, service_port: u16) -> String {
        let host = if self.endpoint.host.contains(':') {
            format!("[{}]", self.endpoint.host)
        } else {
            self.endpoint.host.clone()
        };
        format!(
            "http://{host}:{}{}",
            self.endpoint.port.resolve(service_port),
            fill_port(&self.path, service_port)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Load {
    pub driver: LoadDriver,
    /// Load before the first sample.
    pub warmup: Duration,
    /// The longest the load phase may last, warm-up included.
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum LoadDriver {
    /// The built-in HTTP/1.1 keep-alive client.
    Builtin(BuiltinLoad),
    /// An external load tool, run until the last sample.
    Command(Command),
}

#[derive(Debug, Clone)]
pub struct BuiltinLoad {
    pub requests: Vec<RequestSpec>,
    /// 1 to [`crate::check::MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// Requests per second over all connections; `None`: as fast as the service answers.
    pub rate: Option<f64>,
    /// The largest share of failed requests, 0.0 to 1.0.
    pub max_error_rate: f64,
    /// Statuses of 400 or more that are not errors.
    pub expect_status: Vec<u16>,
}

/// One kind of request in the built-in client's mix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestSpec {
    pub method: String,
    /// Origin form, starting with `/`, query included; may hold `{port}`.
    pub path: String,
    /// Sent with a `Content-Length`; `POST`/`PUT`/`PATCH` without a body send `Content-Length: 0`.
    pub body: Option<String>,
    /// Extra headers. `Host`, `User-Agent` and `Content-Length` are added
    /// unless given here.
    pub headers: Vec<(String, String)>,
    /// Relative share of the mix; 0 disables the spec.
    pub weight: u32,
}

impl RequestSpec {
    /// A `GET` of `path` with weight 1.
    pub fn get(path: impl Into<String>) -> RequestSpec {
        RequestSpec::new("GET", path)
    }

    /// `method` on `path`, no body, weight 1.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            path: path.into(),
            body: None,
            headers: Vec::new(),
            weight: 1,
        }
    }

    pub fn with_weight(mut self, weight: u32) -> RequestSpec {
        self.weight = weight;
        self
    }

    pub fn with_body(mut self, body: impl Into<String>) -> RequestSpec {
        self.body = Some(body.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> RequestSpec {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Sampling {
    pub interval: Interval,
    /// How many samples, the baseline included.
    pub count: Count,
    /// Samples at the start left out of judging; at most `count - 2`
    /// (`max - 2` with `auto`).
    pub warmup_samples: usize,
    pub dump: DumpMode,
    /// With `dump: gcdump`: whether the samples whose paths are compared also
    /// take a `withheap` dump, for the paths' field names and stack methods;
    /// `None` when the scenario does not say (see [`Sampling::paths_source`]).
    pub paths_from: Option<PathsFrom>,
    pub gc_before_sample: bool,
    pub keep_dumps: bool,
    pub stats_url: Option<HttpTarget>,
}

impl Sampling {
    /// Whether a sample needs to talk to the service's runtime.
    pub fn needs_runtime(&self) -> bool {
        self.gc_before_sample || self.dump != DumpMode::None
    }

    /// Where a heap snapshot's retention paths come from: a dump beside the
    /// samples compared unless the scenario says otherwise, so that paths
    /// name fields and stack methods whichever way the heap is read.
    pub fn paths_source(&self) -> PathsFrom {
        match (self.dump, self.paths_from) {
            (DumpMode::Gcdump, chosen) => chosen.unwrap_or(PathsFrom::Dump),
            _ => PathsFrom::Snapshot,
        }
    }

    /// Whether the samples whose paths are compared take a `withheap` dump
    /// beside their heap snapshot.
    pub fn names_dump(&self) -> bool {
        self.paths_source() == PathsFrom::Dump
    }
}

/// How many samples a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many: 2 to [`crate::check::MAX_SAMPLES`].
    Fixed(usize),
    /// `count: auto`: after `min` samples, stop once every budget is
    /// decided (the gate's sequential rule), at `max` samples at most.
    Auto { min: usize, max: usize },
}

impl Count {
    /// The most samples the run may take (and the plan's timing assumes).
    pub fn max(self) -> usize {
        match self {
            Count::Fixed(n) => n,
            Count::Auto { max, .. } => max,
        }
    }
}

/// When the next sample is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Every this long after the warm-up (given, or spread over `load.duration`).
    Every(Duration),
    /// Every this many requests of the built-in client.
    EveryRequests(u64),
}

/// One budget, with its compiled type glob and its place in the file.
#[derive(Debug, Clone)]
pub struct BudgetRule {
    pub budget: Budget,
    /// The budget's `types` glob (per-type metrics; `*` when not given).
    pub types: GlobMatcher,
    /// 1-based line and column of the budget's entry.
    pub line: u64,
    pub column: u64,
}

impl BudgetRule {
    /// A checked budget with its `types` glob compiled, placed at `line`:`column`.
    pub fn new(budget: Budget, line: u64, column: u64) -> Result<BudgetRule, BudgetError> {
        budget.validate()?;
        let types = Glob::new(budget.types_pattern())
            .map_err(|error| BudgetError::Glob {
                pattern: budget.types_pattern().to_string(),
                error,
            })?
            .compile_matcher();
        Ok(BudgetRule {
            budget,
            types,
            line,
            column,
        })
    }

    /// Whether a type name is one this budget judges.
    pub fn covers(&self, type_name: &str) -> bool {
        self.types.is_match(type_name)
    }
}

/// The `ignore:` globs, compiled.
#[derive(Debug, Clone, Default)]
pub struct TypeFilter {
    set: GlobSet,
    patterns: Vec<String>,
}

impl TypeFilter {
    /// The globs compiled; the error names the first bad one and its index.
    pub fn new(patterns: &[String]) -> Result<TypeFilter, (usize, String)> {
        let mut set = GlobSetBuilder::new();
        for (i, pattern) in patterns.iter().enumerate() {
            let glob = Glob::new(pattern)
                .map_err(|e| (i, format!("{pattern:?} is not a valid glob: {e}")))?;
            set.add(glob);
        }
        let set = set.build().map_err(|e| (0, e.to_string()))?;
        Ok(TypeFilter {
            set,
            patterns: patterns.to_vec(),
        })
    }

    /// No pattern at all.
    pub fn none() -> TypeFilter {
        TypeFilter::default()
    }

    pub fn matches(&self, type_name: &str) -> bool {
        self.set.is_match(type_name)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Retention that grows under load without being a leak, in every .NET service: the
/// glob over a path's one-line form, and why it is not a leak. Always applied.
pub const KNOWN_RETENTION: &[(&str, &str)] = &[
    (
        "*System.Buffers.SharedArrayPool<*",
        "ArrayPool.Shared keeps a few arrays of each size per core and thread for reuse",
    ),
    (
        "*PinnedBlockMemoryPool*",
        "Kestrel's buffer pool grows to the peak of concurrent I/O and trims when idle",
    ),
    (
        "static System.Text.RegularExpressions.RegexCache.*",
        "the Regex cache keeps the last 15 patterns used",
    ),
];

/// Which retention paths are not leaks: leak signatures (12 hex digits) and globs over a
/// path's one-line form, the scenario's and [`KNOWN_RETENTION`].
#[derive(Debug, Clone)]
pub struct PathFilter {
    signatures: Vec<LeakSignature>,
    globs: GlobSet,
    /// Each glob's pattern and, for a known one, why it is no leak (by index in `globs`).
    patterns: Vec<(String, Option<&'static str>)>,
}

/// Why a path is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredBy {
    /// The `ignore_paths:` entry or known pattern that matched.
    pub pattern: String,
    /// Why it is no leak, for a known pattern.
    pub known: Option<&'static str>,
}

impl PathFilter {
    /// The scenario's entries compiled, with [`KNOWN_RETENTION`]; the error names the
    /// first bad entry and its index.
    pub fn new(entries: &[String]) -> Result<PathFilter, (usize, String)> {
        let mut set = GlobSetBuilder::new();
        let mut signatures = Vec::new();
        let mut patterns = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if let Some(signature) = LeakSignature::parse(entry) {
                signatures.push(signature);
                continue;
            }
            let glob = Glob::new(entry).map_err(|e| {
                (
                    i,
                    format!("{entry:?} is not a leak signature nor a valid glob: {e}"),
                )
            })?;
            set.add(glob);
            patterns.push((entry.clone(), None));
        }
        for (pattern, why) in KNOWN_RETENTION {
            set.add(Glob::new(pattern).expect("the known patterns are valid globs"));
            patterns.push((pattern.to_string(), Some(*why)));
        }
        let globs = set.build().map_err(|e| (0, e.to_string()))?;
        Ok(PathFilter {
            signatures,
            globs,
            patterns,
        })
    }

    /// Why the path with this signature (if known) and one-line form is ignored, if it is.
    pub fn ignores(&self, signature: Option<&LeakSignature>, path: &str) -> Option<IgnoredBy> {
        if let Some(s) = signature.filter(|s| self.signatures.contains(s)) {
            return Some(IgnoredBy {
                pattern: s.to_string(),
                known: None,
            });
        }
        let i = *self.globs.matches(path).first()?;
        let (pattern, known) = &self.patterns[i];
        Some(IgnoredBy {
            pattern: pattern.clone(),
            known: *known,
        })
    }
}

impl Default for PathFilter {
    /// [`KNOWN_RETENTION`] alone.
    fn default() -> PathFilter {
        PathFilter::new(&[]).expect("the known patterns are valid globs")
    }
}

/// `NAME.snap.new` for `NAME.snap` (and itself for a `.snap.new`): where a
/// changed snapshot waits for review, as with `cargo insta`.
pub fn pending_snapshot_path(snapshot: &std::path::Path) -> PathBuf {
    if snapshot.to_string_lossy().ends_with(".snap.new") {
        return snapshot.to_path_buf();
    }
    let mut s = snapshot.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

#[derive(Debug, Clone)]
pub struct SnapshotSetting {
    /// `snapshot.path` resolved, else `<name>.snap` beside the scenario.
    pub path: PathBuf,
    /// `Some(true)`: a `snapshot:` section asks for comparisons; `Some(false)`:
    /// it opts out; `None`: no section (compared only when an approved file exists).
    pub enabled: Option<bool>,
}
