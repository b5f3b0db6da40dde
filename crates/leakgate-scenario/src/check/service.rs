//! `service:` — the commands, the readiness probe, the shutdown; and the
//! URL and endpoint forms the probes share with `sampling.stats_url`.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::{Checked, Problem, human, resolve};
use crate::file;
use crate::model::{Command, Endpoint, HttpTarget, Port, Probe, Ready, Service};

const MAX_READY_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_GRACE: Duration = Duration::from_secs(600);

pub(super) fn check(s: &file::Service, dir: &Path) -> Checked<Service> {
    if s.command.trim().is_empty() {
        return Err(Problem::at(
            &["service", "command"],
            "service.command: expected a program to run, got an empty string",
        ));
    }
    for key in s.env.keys() {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(Problem::at(
                &["service", "env", key],
                format!("service.env: {key:?} is not an environment variable name"),
            ));
        }
    }
    let launch = if s.shell {
        // `command` is a shell line as written; `args` are words, quoted onto it.
        let args = shlex::try_join(s.args.iter().map(String::as_str))
            .map_err(|e| Problem::at(&["service", "args"], format!("service.args: {e}")))?;
        Command::Shell(format!("{} {args}", s.command).trim_end().to_string())
    } else {
        Command::Argv(
            std::iter::once(s.command.clone())
                .chain(s.args.iter().cloned())
                .collect(),
        )
    };
    let build = s.build.as_ref().map(|b| {
        if s.shell {
            Command::Shell(b.shell_line())
        } else {
            Command::Argv(b.words.clone())
        }
    });
    let probe = match (&s.ready.http, &s.ready.tcp) {
        (None, None) => {
            return Err(Problem::at(
                &["service", "ready"],
                "service.ready: expected `http` (a URL answering 2xx) or `tcp` (a port)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Problem::at(
                &["service", "ready", "tcp"],
                "service.ready: give either `http` or `tcp`, not both",
            ));
        }
        (Some(url), None) => Probe::Http(http_target(
            url,
            &["service", "ready", "http"],
            s.allow_remote_probes,
        )?),
        (None, Some(spec)) => Probe::Tcp(tcp_endpoint(spec, s.allow_remote_probes)?),
    };
    let timeout = s.ready.timeout.get();
    within(
        timeout,
        Duration::from_millis(100),
        MAX_READY_TIMEOUT,
        &["service", "ready", "timeout"],
        "service.ready.timeout",
    )?;
    let grace = s.shutdown.grace.get();
    within(
        grace,
        Duration::ZERO,
        MAX_GRACE,
        &["service", "shutdown", "grace"],
        "service.shutdown.grace",
    )?;
    Ok(Service {
        build,
        launch,
        cwd: resolve(dir, s.cwd.as_deref().unwrap_or(Path::new("."))),
        env: s.env.clone(),
        ready: Ready { probe, timeout },
        stop_signal: s.shutdown.signal,
        grace,
        allow_remote_probes: s.allow_remote_probes,
    })
}

pub(super) fn within(
    d: Duration,
    min: Duration,
    max: Duration,
    at: &[&str],
    what: &str,
) -> Checked<()> {
    if d < min || d > max {
        return Err(Problem::at(
            at,
            format!(
                "{what}: expected {} to {}, got {}",
                human(min),
                human(max),
                human(d)
            ),
        ));
    }
    Ok(())
}

/// `http://host[:port]/path`, port a number or `{port}`.
pub(super) fn http_target(url: &str, at: &[&str], allow_remote: bool) -> Checked<HttpTarget> {
    let what = at.join(".");
    let bad = |why: &str| Problem::at(at, format!("{what}: {why}, got {url:?}"));
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        bad("expected an http:// URL such as \"http://127.0.0.1:{port}/healthz\"")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad(
            "the path holds spaces or control characters; percent-encode them",
        ));
    }
    let endpoint = endpoint(authority, Some(Port::Fixed(80)))
        .ok_or_else(|| bad("cannot read the host and port"))?;
    check_host(&endpoint, at, allow_remote)?;
    Ok(HttpTarget {
        endpoint,
        path: path.to_string(),
    })
}

/// `ready.tcp`: `{port}`, `8080`, `host:8080`, `host:{port}`, `[::1]:81`.
fn tcp_endpoint(spec: &str, allow_remote: bool) -> Checked<Endpoint> {
    let at = ["service", "ready", "tcp"];
    let spec = spec.trim();
    let endpoint = port(spec)
        .map(|port| Endpoint {
            host: "127.0.0.1".into(),
            port,
        })
        .or_else(|| endpoint(spec, None))
        .ok_or_else(|| {
            Problem::at(
                &at,
                format!(
                    "service.ready.tcp: expected a port, \"{{port}}\" or host:port, got {spec:?}"
                ),
            )
        })?;
    check_host(&endpoint, &at, allow_remote)?;
    Ok(endpoint)
}

fn port(text: &str) -> Option<Port> {
    match text {
        "{port}" => Some(Port::Service),
        n => n.parse::<u16>().ok().filter(|&p| p != 0).map(Port::Fixed),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `default` when the port is omitted.
fn endpoint(authority: &str, default: Option<Port>) -> Option<Endpoint> {
    let (host, port_text) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, p)) => (host, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    let port = match port_text {
        Some(p) => port(p)?,
        None => default?,
    };
    Some(Endpoint {
        host: host.to_string(),
        port,
    })
}

/// Probes go to loopback unless the scenario allows other hosts.
fn check_host(e: &Endpoint, at: &[&str], allow_remote: bool) -> Checked<()> {
    let loopback = match e.host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => e.host.eq_ignore_ascii_case("localhost"),
    };
    if loopback || allow_remote {
        return Ok(());
    }
    Err(Problem::at(
        at,
        format!(
            "{}: {} is not a loopback address; leakgate probes the service it launched, on 127.0.0.1, ::1 or localhost \
             (set `service.allow_remote_probes: true` to probe another host)",
            at.join("."),
            e.host
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> Checked<HttpTarget> {
        http_target(url, &["service", "ready", "http"], false)
    }

    #[test]
    fn urls_and_endpoints_parse_once() {
        let t = http("http://127.0.0.1:{port}/healthz").unwrap();
        assert_eq!(t.endpoint.port, Port::Service);
        assert_eq!(t.path, "/healthz");
        assert_eq!(t.url(5000), "http://127.0.0.1:5000/healthz");
        let t = http("http://localhost").unwrap();
        assert_eq!((t.endpoint.port, t.path.as_str()), (Port::Fixed(80), "/"));
        let t = http("http://[::1]:81/x?y=1").unwrap();
        assert_eq!(t.endpoint.host, "::1");
        assert_eq!(t.url(0), "http://[::1]:81/x?y=1");
        assert_eq!(tcp_endpoint("{port}", false).unwrap().port, Port::Service);
        assert_eq!(
            tcp_endpoint("localhost:8080", false).unwrap(),
            Endpoint {
                host: "localhost".into(),
                port: Port::Fixed(8080)
            }
        );
        for bad in [
            "https://x/",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://h/a b",
        ] {
            assert!(http(bad).is_err(), "{bad}");
        }
        assert!(tcp_endpoint("nope", false).is_err());
    }

    #[test]
    fn only_loopback_unless_allowed() {
        let e = http("http://10.0.0.5:80/").unwrap_err();
        assert!(
            e.message.contains("not a loopback address"),
            "{}",
            e.message
        );
        assert!(http("http://example.com/").is_err());
        assert!(http_target("http://example.com/", &["x"], true).is_ok());
        assert!(
            http("http://127.0.0.2:1/").is_ok(),
            "all of 127/8 is loopback"
        );
    }
}
