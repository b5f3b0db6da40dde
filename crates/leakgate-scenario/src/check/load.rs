//! `load:` — the built-in client's requests, or an external command; pacing,
//! warm-up, the upper bound on the load phase and what counts as healthy load.

use std::time::Duration;

use super::service::within;
use super::{Checked, DEFAULT_MAX_ERROR_RATE, MAX_CONCURRENCY, MAX_PLAN, Problem, RATE_RANGE};
use crate::file;
use crate::model::{BuiltinLoad, Command, Load, LoadDriver, RequestSpec};

const MAX_REQUEST_KINDS: usize = 1000;

pub(super) fn check(l: &file::Load) -> Checked<Load> {
    let driver = match (&l.command, l.requests.is_empty()) {
        (None, true) => {
            return Err(Problem::at(
                &["load", "requests"],
                "load: expected `requests` (the built-in HTTP client) or `command` (an external load tool)",
            ));
        }
        (Some(_), false) => {
            return Err(Problem::at(
                &["load", "command"],
                "load: give either `requests` or `command`, not both",
            ));
        }
        (Some(command), true) => {
            for (key, set) in [
                ("rate", l.rate.is_some()),
                ("max_error_rate", l.max_error_rate.is_some()),
                ("expect_status", !l.expect_status.is_empty()),
            ] {
                if set {
                    return Err(Problem::at(
                        &["load", key],
                        format!(
                            "load.{key} applies to the built-in client's `requests`, not to an external `load.command`"
                        ),
                    ));
                }
            }
            LoadDriver::Command(Command::Argv(command.words.clone()))
        }
        (None, false) => LoadDriver::Builtin(builtin(l)?),
    };
    within(
        l.warmup.get(),
        Duration::ZERO,
        MAX_PLAN,
        &["load", "warmup"],
        "load.warmup",
    )?;
    if let Some(duration) = l.duration {
        let d = duration.get();
        if d <= l.warmup.get() {
            return Err(Problem::at(
                &["load", "duration"],
                "load.duration: must be longer than load.warmup, to leave time for the samples",
            ));
        }
        within(
            d,
            Duration::ZERO,
            MAX_PLAN,
            &["load", "duration"],
            "load.duration",
        )?;
    }
    Ok(Load {
        driver,
        warmup: l.warmup.get(),
        duration: l.duration.map(|d| d.get()),
    })
}

fn builtin(l: &file::Load) -> Checked<BuiltinLoad> {
    if !(1..=MAX_CONCURRENCY).contains(&l.concurrency) {
        return Err(Problem::at(
            &["load", "concurrency"],
            format!(
                "load.concurrency: expected 1 to {MAX_CONCURRENCY} connections, got {}",
                l.concurrency
            ),
        ));
    }
    if let Some(rate) = l.rate
        && !(rate.is_finite() && rate >= RATE_RANGE.0 && rate <= RATE_RANGE.1)
    {
        return Err(Problem::at(
            &["load", "rate"],
            format!(
                "load.rate: expected {} to {} requests per second, got {rate}",
                RATE_RANGE.0, RATE_RANGE.1
            ),
        ));
    }
    if l.requests.len() > MAX_REQUEST_KINDS {
        return Err(Problem::at(
            &["load", "requests"],
            format!("load.requests: at most {MAX_REQUEST_KINDS} kinds of request"),
        ));
    }
    let mut requests = Vec::with_capacity(l.requests.len());
    for (i, r) in l.requests.iter().enumerate() {
        let index = i.to_string();
        let fail = |key: &str, message: String| {
            Err(Problem::at(
                &["load", "requests", &index, key],
                format!("load.requests[{i}]: {message}"),
            ))
        };
        if !is_token(&r.method) {
            return fail(
                "method",
                format!("method {:?} is not an HTTP method", r.method),
            );
        }
        if !r.path.starts_with('/') {
            return fail("path", format!("path {:?} must start with '/'", r.path));
        }
        if r.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return fail(
                "path",
                format!(
                    "path {:?} holds spaces or control characters; percent-encode them",
                    r.path
                ),
            );
        }
        for (name, value) in &r.headers {
            if !is_token(name) {
                return fail(
                    "headers",
                    format!("header name {name:?} is not an HTTP token"),
                );
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return fail(
                    "headers",
                    format!("header {name:?} has a line break or NUL in its value"),
                );
            }
        }
        requests.push(RequestSpec {
            method: r.method.clone(),
            path: r.path.clone(),
            body: r.body.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            weight: r.weight,
        });
    }
    if requests.iter().all(|r| r.weight == 0) {
        return Err(Problem::at(
            &["load", "requests"],
            "load.requests: every weight is 0; give at least one request a weight above 0",
        ));
    }
    let max_error_rate = match l.max_error_rate {
        None => DEFAULT_MAX_ERROR_RATE,
        Some(p) if (0.0..=100.0).contains(&p.0) => p.0 / 100.0,
        Some(p) => {
            return Err(Problem::at(
                &["load", "max_error_rate"],
                format!("load.max_error_rate: expected 0% to 100%, got {}%", p.0),
            ));
        }
    };
    for (i, &status) in l.expect_status.iter().enumerate() {
        if !(400..=599).contains(&status) {
            return Err(Problem::at(
                &["load", "expect_status", &i.to_string()],
                format!(
                    "load.expect_status: {status} is not an error status (400 to 599); only those need listing"
                ),
            ));
        }
    }
    Ok(BuiltinLoad {
        requests,
        concurrency: l.concurrency,
        rate: l.rate,
        max_error_rate,
        expect_status: l.expect_status.clone(),
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
