//! `sampling:` — when samples are due, how many, what each captures; and the
//! plan as a whole (warm-up plus samples) against `load.duration`.

use super::service::http_target;
use super::{Checked, MAX_PLAN, MAX_SAMPLES, MIN_INTERVAL, Problem, human};
use crate::file::{self, DumpMode, PathsFrom, SampleCount};
use crate::model::{Count, Interval, Load, LoadDriver, Sampling};

const MAX_EVERY_REQUESTS: u64 = 1_000_000_000;
// `Duration * u32` takes the number of gaps between samples.
const _: () = assert!(MAX_SAMPLES <= u32::MAX as usize);

pub(super) fn check(s: &file::Sampling, load: &Load, allow_remote: bool) -> Checked<Sampling> {
    let count = count(s)?;
    // count ≤ MAX_SAMPLES, so none of this can overflow.
    let most = count.max();
    if s.warmup_samples >= most || most - s.warmup_samples < 2 {
        let needed = s.warmup_samples.saturating_add(2);
        let field = if matches!(count, Count::Auto { .. }) {
            "max_count"
        } else {
            "count"
        };
        return Err(Problem::at(
            &["sampling", field],
            format!(
                "sampling.{field}: growth needs at least 2 judged samples after the {} warm-up sample(s), so at least {needed}; got {most}",
                s.warmup_samples
            ),
        ));
    }
    let interval = interval(s, most, load)?;
    if s.paths_from == Some(PathsFrom::Dump) && s.dump != DumpMode::Gcdump {
        return Err(Problem::at(
            &["sampling", "paths_from"],
            format!(
                "sampling.paths_from: dump applies to dump: gcdump (a {} sample's paths come from its own dump)",
                s.dump.name()
            ),
        ));
    }
    let stats_url = s
        .stats_url
        .as_deref()
        .map(|url| http_target(url, &["sampling", "stats_url"], allow_remote))
        .transpose()?;
    Ok(Sampling {
        interval,
        count,
        warmup_samples: s.warmup_samples,
        dump: s.dump,
        paths_from: s.paths_from,
        gc_before_sample: s.gc_before_sample,
        keep_dumps: s.keep_dumps,
        stats_url,
    })
}

/// `count: N`, or `count: auto` with its bounds.
fn count(s: &file::Sampling) -> Checked<Count> {
    let in_range = |field: &str, n: usize| {
        if (2..=MAX_SAMPLES).contains(&n) {
            Ok(n)
        } else {
            Err(Problem::at(
                &["sampling", field],
                format!("sampling.{field}: expected 2 to {MAX_SAMPLES} samples, got {n}"),
            ))
        }
    };
    match s.count {
        SampleCount::Fixed(n) => {
            if let Some(field) = [("min_count", s.min_count), ("max_count", s.max_count)]
                .iter()
                .find_map(|(field, v)| v.map(|_| *field))
            {
                return Err(Problem::at(
                    &["sampling", field],
                    format!(
                        "sampling.{field} applies to `count: auto`; with `count: {n}` remove it"
                    ),
                ));
            }
            Ok(Count::Fixed(in_range("count", n)?))
        }
        SampleCount::Auto => {
            let min = in_range("min_count", s.min_count.unwrap_or(AUTO_MIN))?;
            let max = in_range("max_count", s.max_count.unwrap_or(AUTO_MAX.max(min)))?;
            if min > max {
                return Err(Problem::at(
                    &["sampling", "min_count"],
                    format!("sampling.min_count ({min}) is more than max_count ({max})"),
                ));
            }
            Ok(Count::Auto { min, max })
        }
    }
}

/// `count: auto` defaults: the first decision after 5 samples, 20 at most.
const AUTO_MIN: usize = 5;
const AUTO_MAX: usize = 20;

fn interval(s: &file::Sampling, count: usize, load: &Load) -> Checked<Interval> {
    let gaps = count as u32 - 1; // count ≤ MAX_SAMPLES
    match (s.every, s.every_requests, load.duration) {
        (Some(_), Some(_), _) => Err(Problem::at(
            &["sampling", "every_requests"],
            "sampling: give either `every` (a duration) or `every_requests` (a count), not both",
        )),
        (None, None, None) => Err(Problem::at(
            &["sampling", "every"],
            "sampling: expected `every` (e.g. 5s) or `every_requests` (e.g. 500), or a `load.duration` to spread the samples over",
        )),
        (None, Some(n), _) => {
            if matches!(load.driver, LoadDriver::Command(_)) {
                return Err(Problem::at(
                    &["sampling", "every_requests"],
                    "sampling.every_requests counts the built-in client's requests; with an external `load.command` use `every`",
                ));
            }
            if !(1..=MAX_EVERY_REQUESTS).contains(&n) {
                return Err(Problem::at(
                    &["sampling", "every_requests"],
                    format!("sampling.every_requests: expected 1 to {MAX_EVERY_REQUESTS}, got {n}"),
                ));
            }
            Ok(Interval::EveryRequests(n))
        }
        (Some(every), None, _) => {
            let every = every.get();
            if every < MIN_INTERVAL {
                return Err(Problem::at(
                    &["sampling", "every"],
                    format!(
                        "sampling.every: a sample takes time; expected at least {}, got {}",
                        human(MIN_INTERVAL),
                        human(every)
                    ),
                ));
            }
            let needed = every
                .checked_mul(gaps)
                .and_then(|d| d.checked_add(load.warmup))
                .filter(|d| *d <= MAX_PLAN)
                .ok_or_else(|| {
                    Problem::at(
                        &["sampling", "every"],
                        format!(
                            "sampling: {count} samples every {} take longer than {}",
                            human(every),
                            human(MAX_PLAN)
                        ),
                    )
                })?;
            if let Some(duration) = load.duration.filter(|d| needed > *d) {
                return Err(Problem::at(
                    &["load", "duration"],
                    format!(
                        "load.duration: {count} samples every {} after a {} warm-up need {} of load, longer than {}",
                        human(every),
                        human(load.warmup),
                        human(needed),
                        human(duration)
                    ),
                ));
            }
            Ok(Interval::Every(every))
        }
        (None, None, Some(duration)) => {
            // Spread over the load's duration after the warm-up.
            let every = duration.saturating_sub(load.warmup) / gaps;
            if every < MIN_INTERVAL {
                return Err(Problem::at(
                    &["sampling", "count"],
                    format!(
                        "sampling.count: {count} samples over the {} after the warm-up are {} apart, less than {}; take fewer samples or a longer load.duration",
                        human(duration.saturating_sub(load.warmup)),
                        human(every),
                        human(MIN_INTERVAL)
                    ),
                ));
            }
            Ok(Interval::Every(every))
        }
    }
}
