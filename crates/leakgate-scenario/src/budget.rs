//! Budgets: what may grow, and by how much, in a scenario run.
//!
//! This module is the typed form of the `budgets:` list of a scenario file.
//! It only parses and validates; deciding whether a run broke a budget is
//! `leakgate-gate`'s job.
//!
//! ```
//! use leakgate_scenario::budget::{Budget, Growth, Metric, Quantity, SlopeUnit, TrendMode};
//!
//! let yaml = r#"
//! - metric: committed.unknown
//!   max_growth: 32MiB
//! - metric: finalizable
//!   types: "System.Reflection.Emit.*"
//!   max_growth: 200
//!   max_slope: 50/1k
//! "#;
//! let budgets: Vec<Budget> = serde_saphyr::from_str(yaml).unwrap();
//! assert_eq!(budgets[0].metric, Metric::CommittedUnknown);
//! assert_eq!(budgets[0].max_growth, Some(Growth::Quantity(Quantity::Bytes(32 << 20))));
//! assert_eq!(budgets[1].max_slope.as_ref().unwrap().per, SlopeUnit::ThousandRequests);
//! assert_eq!(budgets[1].trend, TrendMode::Fail);
//! for b in &budgets {
//!     b.validate().unwrap();
//! }
//! ```
//!
//! String forms (`"64MiB"`, `"10%"`, `"10MiB/min"`) have `FromStr` and
//! `Display` impls that round-trip; a bare number is a count, or a number of
//! bytes when the metric measures bytes.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One entry of `budgets:`.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The measured quantity.
    pub metric: Metric,
    /// Glob over type names for per-type metrics (finalizable, heap.*).
    /// Each matching type is judged on its own. Default `"*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    /// Limit on last − first (after warmup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_growth: Option<Growth>,
    /// Limit on the Theil–Sen slope, per minute or per 1,000 requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slope: Option<Slope>,
    /// What a statistically significant upward trend does.
    #[serde(default)]
    pub trend: TrendMode,
    /// Absolute limit on the last value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Quantity>,
    /// Growth slower than this is not a leak, however steady: per 1,000
    /// requests (`"64KiB/1k"`, `"8/1k"`) or per minute (`"256KiB/min"`).
    /// Default: the scenario's `materiality`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materiality: Option<Slope>,
    /// For `max` and `max_growth` on committed memory that holds the GC heap
    /// (`committed.unknown`, `committed.gc`, `committed.total`): count the
    /// free regions the GC keeps committed too. Default false:
    /// the limit judges the memory the GC does not explain as its own
    /// sizing (live objects, bookkeeping, native memory), and the report
    /// shows the free regions beside it. Set it to budget the footprint
    /// itself (a container's memory limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_gc_free: bool,
    /// Label for reports: any text without control or invisible (bidi,
    /// zero-width) characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Budget {
    /// The glob the budget applies to (`"*"` when not given).
    pub fn types_pattern(&self) -> &str {
        self.types.as_deref().unwrap_or("*")
    }

    /// The name shown in reports: `name`, else `metric` plus the pattern.
    pub fn label(&self) -> String {
        match (&self.name, &self.types) {
            (Some(n), _) => n.clone(),
            (None, Some(t)) if self.metric.is_per_type() => format!("{} {}", self.metric, t),
            _ => self.metric.to_string(),
        }
    }

    /// Checks what serde cannot: a budget that can fail, units that fit the
    /// metric. The message names the field; the caller adds the file position
    /// (and compiles the `types` glob).
    pub fn validate(&self) -> Result<(), BudgetError> {
        if let Some(name) = &self.name {
            crate::check::check_label(name).map_err(BudgetError::Name)?;
        }
        let m = self.metric;
        if self.max.is_none()
            && self.max_growth.is_none()
            && self.max_slope.is_none()
            && self.trend == TrendMode::Off
        {
            return Err(BudgetError::CannotFail(m));
        }
        let check_unit = |field: &'static str, q: &Quantity| -> Result<(), BudgetError> {
            if m.unit() == Unit::Count && matches!(q, Quantity::Bytes(_)) {
                Err(BudgetError::SizeOnCount {
                    field,
                    quantity: *q,
                    metric: m,
                })
            } else {
                Ok(())
            }
        };
        if let Some(q) = &self.max {
            check_unit("max", q)?;
        }
        if let Some(g) = &self.max_growth {
            match g {
                Growth::Quantity(q) => check_unit("max_growth", q)?,
                Growth::Percent(p) if !(p.is_finite() && *p >= 0.0) => {
                    return Err(BudgetError::NegativePercent(*g));
                }
                Growth::Percent(_) => {}
            }
        }
        if let Some(s) = &self.max_slope {
            check_unit("max_slope", &s.amount)?;
        }
        if let Some(s) = &self.materiality {
            check_unit("materiality", &s.amount)?;
        }
        if self.include_gc_free && !m.counts_gc_free_regions() {
            return Err(BudgetError::GcFreeNotApplicable(m));
        }
        if self.types.is_some() && !m.is_per_type() {
            return Err(BudgetError::TypesOnScalar(m));
        }
        Ok(())
    }
}

/// What makes a budget unusable, beyond what serde checks. The message
/// names the field; the caller adds the file position.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BudgetError {
    #[error("`name`: {0}")]
    Name(crate::check::LabelError),
    #[error(
        "budget for `{0}` sets no limit and `trend: off`, so it can never fail; \
         add `max`, `max_growth` or `max_slope`, or remove `trend: off`"
    )]
    CannotFail(Metric),
    #[error(
        "`{field}: {quantity}` is a size, but `{metric}` counts objects; write a count like 200"
    )]
    SizeOnCount {
        field: &'static str,
        quantity: Quantity,
        metric: Metric,
    },
    #[error("`max_growth: {0}` must be a percentage of 0% or more")]
    NegativePercent(Growth),
    #[error(
        "`include_gc_free` applies to committed memory that holds the GC heap \
         (committed.unknown, committed.gc, committed.total), not to `{0}`; remove it"
    )]
    GcFreeNotApplicable(Metric),
    #[error(
        "`types` applies only to per-type metrics (finalizable, heap.count, \
         heap.bytes), not to `{0}`; remove it"
    )]
    TypesOnScalar(Metric),
    #[error("`types: {pattern:?}` is not a valid glob: {error}")]
    Glob {
        pattern: String,
        error: globset::Error,
    },
}

/// `materiality.count` names a size.
#[derive(Debug, Clone, thiserror::Error)]
#[error("materiality.count: `{0}` is a size; write a count like 8/1k")]
pub struct CountIsASize(pub Slope);

/// Whether a metric counts bytes or objects.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Bytes,
    Count,
}

/// A measured quantity. Serde names are what the scenario file says.
#[derive(
    Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum Metric {
    /// `<unknown>` in WinDbg terms: anonymous private memory, where the GC
    /// heap and most leaks live.
    #[serde(rename = "committed.unknown")]
    CommittedUnknown,
    /// All the GC has committed (from the heap read, or the induced GC's own count).
    #[serde(rename = "committed.gc")]
    CommittedGc,
    /// Unknown minus GC: native allocations outside the process heaps.
    #[serde(rename = "committed.native")]
    CommittedNative,
    #[serde(rename = "committed.heap")]
    CommittedHeap,
    #[serde(rename = "committed.image")]
    CommittedImage,
    #[serde(rename = "committed.stack")]
    CommittedStack,
    #[serde(rename = "committed.other")]
    CommittedOther,
    #[serde(rename = "committed.total")]
    CommittedTotal,
    /// Resident set size.
    #[serde(rename = "resident")]
    Resident,
    /// Bytes of live managed objects after the induced full GC (free space
    /// excluded): the managed heap without the GC's own sizing. Read from
    /// the heap, or without one the GC's own count of its survivors.
    #[serde(rename = "gc.live")]
    GcLive,
    /// Number of live managed objects after the induced full GC (needs the heap).
    #[serde(rename = "gc.objects")]
    GcObjects,
    /// Finalizable objects, per type.
    #[serde(rename = "finalizable")]
    Finalizable,
    /// Live objects on the GC heap, per type.
    #[serde(rename = "heap.count")]
    HeapCount,
    /// Bytes of live objects on the GC heap, per type.
    #[serde(rename = "heap.bytes")]
    HeapBytes,
}

impl Metric {
    /// Every metric, in declaration order.
    pub const ALL: [Metric; 14] = [
        Metric::CommittedUnknown,
        Metric::CommittedGc,
        Metric::CommittedNative,
        Metric::CommittedHeap,
        Metric::CommittedImage,
        Metric::CommittedStack,
        Metric::CommittedOther,
        Metric::CommittedTotal,
        Metric::Resident,
        Metric::GcLive,
        Metric::GcObjects,
        Metric::Finalizable,
        Metric::HeapCount,
        Metric::HeapBytes,
    ];

    /// The scenario-file name, e.g. `"committed.unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CommittedUnknown => "committed.unknown",
            Metric::CommittedGc => "committed.gc",
            Metric::CommittedNative => "committed.native",
            Metric::CommittedHeap => "committed.heap",
            Metric::CommittedImage => "committed.image",
            Metric::CommittedStack => "committed.stack",
            Metric::CommittedOther => "committed.other",
            Metric::CommittedTotal => "committed.total",
            Metric::Resident => "resident",
            Metric::GcLive => "gc.live",
            Metric::GcObjects => "gc.objects",
            Metric::Finalizable => "finalizable",
            Metric::HeapCount => "heap.count",
            Metric::HeapBytes => "heap.bytes",
        }
    }

    /// Memory that holds the GC heap: judged with the live heap.
    pub fn holds_gc_heap(self) -> bool {
        matches!(
            self,
            Metric::CommittedUnknown
                | Metric::CommittedGc
                | Metric::CommittedTotal
                | Metric::Resident
        )
    }

    /// Committed memory that holds the GC heap, and so counts the free
    /// regions the GC keeps committed: its limits leave them out unless
    /// `include_gc_free`. (Not `resident`: free regions need not be resident.)
    pub fn counts_gc_free_regions(self) -> bool {
        self.holds_gc_heap() && self != Metric::Resident
    }

    /// Per-type metrics are judged once per matching type.
    pub fn is_per_type(self) -> bool {
        matches!(
            self,
            Metric::Finalizable | Metric::HeapCount | Metric::HeapBytes
        )
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Finalizable | Metric::HeapCount | Metric::GcObjects => Unit::Count,
            _ => Unit::Bytes,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown metric {s:?}"))
    }
}

/// What a significant upward trend does to the verdict.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrendMode {
    #[default]
    Fail,
    Warn,
    Off,
}

/// A number of bytes or a plain count.
///
/// A bare number (`200`) is `Count`; on a byte metric the gate reads it as
/// bytes, so `max: 123456` on `resident` means 123456 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    Bytes(u64),
    Count(u64),
}

impl Quantity {
    /// The number, whatever the unit.
    pub fn value(self) -> u64 {
        match self {
            Quantity::Bytes(v) | Quantity::Count(v) => v,
        }
    }
}

/// A growth limit: an amount, or a percentage of the first value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    Quantity(Quantity),
    Percent(f64),
}

/// A limit on the rate of growth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slope {
    pub amount: Quantity,
    pub per: SlopeUnit,
}

/// `materiality:` — the rates of growth that matter, for the whole
/// scenario (a budget's own `materiality` overrides them). A series that
/// grows slower than this is not a leak, however significant its trend:
/// 64 KiB per 1,000 requests is 64 MB a day at a million requests a day.
///
/// ```
/// use leakgate_scenario::budget::{Materiality, Unit};
/// let m: Materiality = serde_saphyr::from_str("bytes: 16KiB/1k\n").unwrap();
/// assert_eq!(m.rate(Unit::Bytes).to_string(), "16KiB/1k");
/// assert_eq!(m.rate(Unit::Count).to_string(), "8/1k");
/// ```
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Materiality {
    /// For sizes (committed memory, `gc.live`, `heap.bytes`). Default `64KiB/1k`.
    #[serde(default = "Materiality::default_bytes")]
    pub bytes: Slope,
    /// For counts (`finalizable`, `heap.count`, `gc.objects`). Default `8/1k`.
    #[serde(default = "Materiality::default_count")]
    pub count: Slope,
}

impl Materiality {
    /// Used for a rate per 1,000 requests when the run counted no requests
    /// (an external load tool): 256 KiB per minute (360 MB a day)…
    pub const BYTES_PER_MINUTE: f64 = 256.0 * 1024.0;
    /// … and 16 objects per minute.
    pub const COUNT_PER_MINUTE: f64 = 16.0;

    fn default_bytes() -> Slope {
        Slope {
            amount: Quantity::Bytes(64 << 10),
            per: SlopeUnit::ThousandRequests,
        }
    }

    fn default_count() -> Slope {
        Slope {
            amount: Quantity::Count(8),
            per: SlopeUnit::ThousandRequests,
        }
    }

    /// The rate for a metric of `unit`.
    pub fn rate(&self, unit: Unit) -> Slope {
        match unit {
            Unit::Bytes => self.bytes,
            Unit::Count => self.count,
        }
    }

    /// The per-minute rate used when a per-request rate meets a run that
    /// counted no requests.
    pub fn per_minute_fallback(unit: Unit) -> f64 {
        match unit {
            Unit::Bytes => Self::BYTES_PER_MINUTE,
            Unit::Count => Self::COUNT_PER_MINUTE,
        }
    }

    /// What serde cannot check: a count rate has no size unit.
    pub fn validate(&self) -> Result<(), CountIsASize> {
        match self.count.amount {
            Quantity::Bytes(_) => Err(CountIsASize(self.count)),
            Quantity::Count(_) => Ok(()),
        }
    }
}

impl Default for Materiality {
    fn default() -> Self {
        Materiality {
            bytes: Materiality::default_bytes(),
            count: Materiality::default_count(),
        }
    }
}

/// The denominator of a slope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlopeUnit {
    /// Per minute of wall-clock time.
    Minute,
    /// Per 1,000 requests sent by the load generator.
    ThousandRequests,
}

// ---- parsing -------------------------------------------------------------

const QUANTITY_EXPECTED: &str = r#"a size like "64MiB" or a count like 200"#;
const GROWTH_EXPECTED: &str =
    r#"a size like "64MiB", a count like 200, or a percentage like "10%""#;
const SLOPE_EXPECTED: &str = r#"a rate like "10MiB/min", "30/min" or "50/1k" (per 1,000 requests)"#;

/// (suffix, multiplier); matched case-insensitively, so "kb" and "KB" are
/// both 1000 and "KiB"/"kib" both 1024.
const BYTE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let unit = unit.trim();
    if unit.is_empty() {
        return num.parse::<u64>().ok().map(Quantity::Count);
    }
    let mult = BYTE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))?
        .1;
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).map(Quantity::Bytes);
    }
    let x: f64 = num.parse().ok()?;
    let bytes = (x * mult as f64).round();
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(Quantity::Bytes(bytes as u64))
}

fn parse_percent(s: &str) -> Option<f64> {
    let n = s.trim().strip_suffix('%')?.trim();
    n.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0)
}

impl FromStr for Quantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_quantity(s).ok_or_else(|| format!("expected {QUANTITY_EXPECTED}, got {s:?}"))
    }
}

impl FromStr for Growth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = parse_percent(s) {
            return Ok(Growth::Percent(p));
        }
        parse_quantity(s)
            .map(Growth::Quantity)
            .ok_or_else(|| format!("expected {GROWTH_EXPECTED}, got {s:?}"))
    }
}

impl FromStr for SlopeUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "min" | "minute" | "m" => Ok(SlopeUnit::Minute),
            "1k" | "1000" | "1k requests" | "1k req" | "1000 requests" => {
                Ok(SlopeUnit::ThousandRequests)
            }
            _ => Err(format!(r#"expected "min" or "1k" after "/", got {s:?}"#)),
        }
    }
}

impl FromStr for Slope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected {SLOPE_EXPECTED}, got {s:?}");
        let (amount, per) = s.split_once('/').ok_or_else(err)?;
        let amount = parse_quantity(amount).ok_or_else(err)?;
        let per = per.parse::<SlopeUnit>().map_err(|_| err())?;
        Ok(Slope { amount, per })
    }
}

// ---- display (round-trips through FromStr) --------------------------------

/// Exact binary or decimal unit when one fits, else plain bytes.
fn fmt_bytes(b: u64) -> String {
    const ORDER: &[(&str, u64)] = &[
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("kB", 1_000),
    ];
    if b == 0 {
        return "0B".into();
    }
    for (u, m) in ORDER {
        if b.is_multiple_of(*m) {
            return format!("{}{u}", b / m);
        }
    }
    format!("{b}B")
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Bytes(b) => f.write_str(&fmt_bytes(*b)),
            Quantity::Count(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Growth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Growth::Quantity(q) => q.fmt(f),
            Growth::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl fmt::Display for SlopeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlopeUnit::Minute => "min",
            SlopeUnit::ThousandRequests => "1k",
        })
    }
}

impl fmt::Display for Slope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.amount, self.per)
    }
}

// ---- serde -----------------------------------------------------------------

/// Accepts a YAML number or string, parses strings with `FromStr`.
struct NumOrStr<T>(&'static str, std::marker::PhantomData<T>);

impl<T: FromStr<Err = String>> Visitor<'_> for NumOrStr<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom(format!("expected {}, got {v}", self.0)));
        }
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Err(E::custom(format!(
            "expected {}, got {v} (counts are whole numbers; sizes need a unit)",
            self.0
        )))
    }
}

macro_rules! serde_via_str {
    ($t:ty, $expected:expr, $name:literal, $schema:tt) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(NumOrStr::<$t>($expected, std::marker::PhantomData))
            }
        }
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}

// A whole number, or a number with a byte unit (a fraction needs a unit), as `parse_quantity` reads it.
const SIZE_RE: &str =
    r"^\s*(?:[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9]+)?\s*(?:[kKmMgGtT][iI]?[bB]|[bB]))\s*$";

serde_via_str!(Quantity, QUANTITY_EXPECTED, "Quantity", {
    "description": "A size like \"64MiB\", \"1.5GB\", \"512kB\" (kB/MB/GB = 1000^n, KiB/MiB/GiB = 1024^n), or a whole number (a count, or bytes on a byte metric).",
    "anyOf": [
        { "type": "integer", "minimum": 0 },
        { "type": "string", "pattern": SIZE_RE }
    ]
});
serde_via_str!(Growth, GROWTH_EXPECTED, "Growth", {
    "description": "Allowed growth from the first to the last sample: a size like \"32MiB\", a count like 200, or a percentage of the first value like \"10%\".",
    "anyOf": [
        { "type": "integer", "minimum": 0 },
        { "type": "string", "pattern": r"^\s*(?:(?:[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9]+)?\s*(?:[kKmMgGtT][iI]?[bB]|[bB]))|[0-9]+(?:\.[0-9]+)?\s*%)\s*$" }
    ]
});
serde_via_str!(Slope, SLOPE_EXPECTED, "Slope", {
    "description": "Allowed Theil–Sen slope: an amount per minute (\"10MiB/min\", \"30/min\") or per 1,000 requests (\"50/1k\").",
    "type": "string",
    "pattern": r"^\s*(?:[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9]+)?\s*(?:[kKmMgGtT][iI]?[bB]|[bB]))\s*/\s*(?:min|minute|1k|1000)\s*$"
});

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Quantity::Count(n) => s.serialize_u64(*n),
            Quantity::Bytes(_) => s.collect_str(self),
        }
    }
}

impl Serialize for Growth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Growth::Quantity(q) => q.serialize(s),
            Growth::Percent(_) => s.collect_str(self),
        }
    }
}

impl Serialize for Slope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<Quantity, String> {
        s.parse()
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(q("64MiB"), Ok(Quantity::Bytes(64 << 20)));
        assert_eq!(q("64 MiB"), Ok(Quantity::Bytes(64 << 20)));
        assert_eq!(q("1.5GB"), Ok(Quantity::Bytes(1_500_000_000)));
        assert_eq!(q("512kB"), Ok(Quantity::Bytes(512_000)));
        assert_eq!(q("512KiB"), Ok(Quantity::Bytes(512 * 1024)));
        assert_eq!(q("1.5 GiB"), Ok(Quantity::Bytes(3 << 29)));
        assert_eq!(q("100B"), Ok(Quantity::Bytes(100)));
        assert_eq!(q("123456"), Ok(Quantity::Count(123456)));
        assert_eq!(q("1_000"), Ok(Quantity::Count(1000)));
    }

    #[test]
    fn bad_sizes_say_what_was_expected() {
        assert_eq!(
            q("64 Mebibytes").unwrap_err(),
            r#"expected a size like "64MiB" or a count like 200, got "64 Mebibytes""#
        );
        assert!(q("1.5").is_err(), "fractional count");
        assert!(q("").is_err());
        assert!(q("MiB").is_err());
        assert!(q("-5MiB").is_err());
        assert!(q("99999999999TiB").is_err(), "overflow");
    }

    #[test]
    fn growth_parses_percent_quantity_and_explains_errors() {
        assert_eq!("10%".parse(), Ok(Growth::Percent(10.0)));
        assert_eq!("2.5 %".parse(), Ok(Growth::Percent(2.5)));
        assert_eq!("200".parse(), Ok(Growth::Quantity(Quantity::Count(200))));
        assert_eq!(
            "32MiB".parse(),
            Ok(Growth::Quantity(Quantity::Bytes(32 << 20)))
        );
        assert_eq!(
            "64 Mebibytes".parse::<Growth>().unwrap_err(),
            r#"expected a size like "64MiB", a count like 200, or a percentage like "10%", got "64 Mebibytes""#
        );
        assert!("-3%".parse::<Growth>().is_err());
    }

    #[test]
    fn slopes_parse_both_denominators() {
        assert_eq!(
            "50/1k".parse(),
            Ok(Slope {
                amount: Quantity::Count(50),
                per: SlopeUnit::ThousandRequests
            })
        );
        assert_eq!(
            "10MiB/min".parse(),
            Ok(Slope {
                amount: Quantity::Bytes(10 << 20),
                per: SlopeUnit::Minute
            })
        );
        assert_eq!(
            "30 / min".parse::<Slope>().map(|s| s.per),
            Ok(SlopeUnit::Minute)
        );
        assert_eq!(
            "10MiB/hour".parse::<Slope>().unwrap_err(),
            r#"expected a rate like "10MiB/min", "30/min" or "50/1k" (per 1,000 requests), got "10MiB/hour""#
        );
        assert!("10MiB".parse::<Slope>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["64MiB", "1500MB", "123B", "200", "0B"] {
            assert_eq!(q(s).unwrap().to_string(), s);
        }
        // 512000 bytes is exactly 500 KiB: a different spelling, same value.
        assert_eq!(q("512kB").unwrap().to_string(), "500KiB");
        for s in ["512kB", "1.5GB", "7 MiB", "1001B"] {
            let v = q(s).unwrap();
            assert_eq!(q(&v.to_string()), Ok(v));
        }
        for s in ["10%", "2.5%", "32MiB", "7"] {
            assert_eq!(s.parse::<Growth>().unwrap().to_string(), s);
        }
        for s in ["50/1k", "10MiB/min", "30/min"] {
            assert_eq!(s.parse::<Slope>().unwrap().to_string(), s);
        }
    }

    const FULL: &str = r#"
- metric: committed.unknown
  max_growth: 32MiB
- metric: finalizable
  types: "System.Reflection.Emit.*"
  max_growth: 200
  max_slope: 50/1k
  trend: fail
  max: 100000
  name: "no DynamicResolver growth"
- metric: resident
  max: 1.5GB
  max_growth: "10%"
  trend: warn
"#;

    #[test]
    fn yaml_loads_and_round_trips() {
        let budgets: Vec<Budget> = serde_saphyr::from_str(FULL).unwrap();
        assert_eq!(budgets.len(), 3);
        let f = &budgets[1];
        assert_eq!(f.metric, Metric::Finalizable);
        assert_eq!(f.types_pattern(), "System.Reflection.Emit.*");
        assert_eq!(f.max, Some(Quantity::Count(100000)));
        assert_eq!(f.label(), "no DynamicResolver growth");
        assert_eq!(budgets[0].types_pattern(), "*");
        assert_eq!(budgets[2].max_growth, Some(Growth::Percent(10.0)));
        assert_eq!(budgets[2].trend, TrendMode::Warn);
        for b in &budgets {
            b.validate().unwrap();
        }
        let yaml = serde_saphyr::to_string(&budgets).unwrap();
        let back: Vec<Budget> = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, budgets);
    }

    #[test]
    fn yaml_errors_carry_the_expectation() {
        let err = serde_saphyr::from_str::<Vec<Budget>>(
            "- metric: committed.gc\n  max_growth: 64 Mebibytes\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(r#"line 2 column 15: expected a size like "64MiB", a count like 200, or a percentage like "10%", got "64 Mebibytes""#),
            "{err}"
        );
        let err = serde_saphyr::from_str::<Vec<Budget>>("- metric: committed.bogus\n  max: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("committed.bogus"), "{err}");
        let err = serde_saphyr::from_str::<Vec<Budget>>("- metric: resident\n  maxx: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxx"), "{err}");
    }

    fn budget(yaml: &str) -> Budget {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn validate_rejects_budgets_that_cannot_fail() {
        let e = budget("metric: resident\ntrend: off\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("can never fail"), "{e}");
        // Trend on by default: a budget with no limits still judges trend.
        budget("metric: resident\n").validate().unwrap();
    }

    #[test]
    fn validate_rejects_sizes_on_count_metrics() {
        let e = budget("metric: finalizable\nmax_growth: 1MiB\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "`max_growth: 1MiB` is a size, but `finalizable` counts objects; write a count like 200"
        );
        assert!(
            budget("metric: heap.count\nmax_slope: 1KiB/min\n")
                .validate()
                .is_err()
        );
        assert!(budget("metric: heap.count\nmax: 2kB\n").validate().is_err());
        // A bare number on a byte metric is bytes.
        budget("metric: heap.bytes\nmax: 4096\n")
            .validate()
            .unwrap();
    }

    #[test]
    fn validate_checks_types() {
        let e = budget("metric: resident\ntypes: \"Foo*\"\nmax: 1GiB\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("per-type"), "{e}");
    }

    #[test]
    fn schema_describes_string_forms() {
        let s = schemars::schema_for!(Budget);
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"Growth\""), "{j}");
        assert!(j.contains("pattern"), "{j}");
        let re_ok = |s: &str| parse_quantity(s).is_some();
        assert!(re_ok("64 MiB") && re_ok("1.5GB"));
    }
}
