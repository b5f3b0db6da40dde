//! The project's own GET endpoints that take no parameters, read from its
//! C# source as route literals only (nothing is compiled or run): minimal
//! APIs (`MapGet`, through `MapGroup` prefixes), controllers (attribute
//! routes, and conventional routes when the app maps them), Razor Pages,
//! and `launchSettings.json`'s `launchUrl`; also a health endpoint, and
//! whether the app fixes its own URLs (then `--urls` would not apply).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::project::is_skipped;

/// Source files larger than this are generated or vendored: not read.
const MAX_SOURCE_BYTES: u64 = 1 << 20;
/// At most this many source files are read.
const MAX_SOURCES: usize = 5_000;

/// Where a route literal was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The route, always starting with `/`.
    pub path: String,
    /// The file, relative to the project's directory, and its line.
    pub file: PathBuf,
    pub line: usize,
}

/// What the source says about the app's endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Parameterless GET routes, in the order found, without duplicates.
    pub gets: Vec<Found>,
    /// A health endpoint (`MapHealthChecks`, or a GET route named like one).
    pub health: Option<Found>,
    /// The app sets its own URLs (`UseUrls`, `app.Urls.Add`, `Listen…`),
    /// which `--urls` may not override.
    pub fixed_urls: Option<Found>,
    /// `launchSettings.json`'s `launchUrl`, when it is a plain route.
    pub launch_url: Option<Found>,
}

macro_rules! regex {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("a valid regex"));
    };
}

regex!(
    GROUP,
    r#"\b(\w+)\s*=\s*(\w+)\s*\.\s*MapGroup\(\s*@?"([^"]*)"\s*\)"#
);
regex!(MAP_GET, r#"\b(\w+)\s*\.\s*MapGet\(\s*@?"([^"]*)""#);
regex!(HEALTH, r#"\.\s*MapHealthChecks\(\s*@?"([^"]*)""#);
regex!(
    FIXED_URLS,
    r#"\.\s*UseUrls\(|\.\s*Urls\s*\.\s*Add\(|\.\s*Run\(\s*@?"https?:|\.\s*Listen(?:Localhost|AnyIP)?\("#
);
regex!(
    CONVENTIONAL,
    r"\b(?:MapControllerRoute|MapDefaultControllerRoute|MapAreaControllerRoute|UseMvcWithDefaultRoute)\s*\("
);
regex!(DEFAULTS, r"\{controller=(\w+)\}\s*/\s*\{action=(\w+)\}");
regex!(RAZOR_PAGES, r"\bMapRazorPages\s*\(");
regex!(CLASS, r"\bclass\s+(\w+?)Controller\b");
regex!(
    ROUTE_ATTR,
    r#"\[\s*(?:[\w.]+\.)?Route(?:Attribute)?\(\s*(?:template:\s*)?@?"([^"]*)""#
);
regex!(
    METHOD,
    r"((?:\[[^\]]*\]\s*)*)public\s+(?:async\s+|virtual\s+|override\s+|new\s+)*[\w<>\[\],.?\s]+?\s+(\w+)\s*\(\s*\)"
);
regex!(
    VERB,
    r#"\bHttp(Get|Post|Put|Delete|Patch|Head|Options)(?:Attribute)?\b(?:\(\s*(?:template:\s*)?@?"([^"]*)")?"#
);

/// Reads the C# sources under `dir` (the project's directory).
pub fn discover(dir: &Path) -> Endpoints {
    let mut sources = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_skipped(e));
    for entry in walk.filter_map(Result::ok) {
        let path = entry.path();
        let cs = path.extension().is_some_and(|e| e == "cs");
        let small = entry.metadata().is_ok_and(|m| m.len() <= MAX_SOURCE_BYTES);
        if entry.file_type().is_file()
            && cs
            && small
            && let Ok(text) = std::fs::read_to_string(path)
        {
            let relative = path.strip_prefix(dir).unwrap_or(path).to_path_buf();
            sources.push((relative, strip_comments(&text)));
        }
        if sources.len() >= MAX_SOURCES {
            break;
        }
    }
    let mut found = Endpoints::default();
    let conventional = sources.iter().find_map(|(_, s)| {
        CONVENTIONAL.is_match(s).then(|| {
            DEFAULTS
                .captures(s)
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .unwrap_or(("Home".into(), "Index".into()))
        })
    });
    let mut gets = Vec::new();
    for (file, text) in &sources {
        let at = |offset: usize, path: String| Found {
            path,
            file: file.clone(),
            line: text[..offset].matches('\n').count() + 1,
        };
        minimal_api(text, &mut |offset, route| gets.push(at(offset, route)));
        controllers(text, conventional.as_ref(), &mut |offset, route| {
            gets.push(at(offset, route))
        });
        if let Some(c) = HEALTH.captures(text) {
            let m = c.get(1).expect("group 1");
            found
                .health
                .get_or_insert(at(m.start(), rooted(m.as_str())));
        }
        if let Some(m) = FIXED_URLS.find(text) {
            found.fixed_urls.get_or_insert(at(m.start(), String::new()));
        }
    }
    if sources.iter().any(|(_, s)| RAZOR_PAGES.is_match(s)) {
        gets.extend(razor_pages(dir));
    }
    for route in gets {
        if !is_plain(&route.path) || found.gets.iter().any(|g| g.path == route.path) {
            continue;
        }
        if looks_like_health(&route.path) {
            found.health.get_or_insert(route);
        } else if !is_tooling(&route.path) {
            found.gets.push(route);
        }
    }
    found.launch_url = launch_url(dir);
    found
}

/// `MapGet("/x")` on the app or on a `MapGroup("/prefix")` variable.
fn minimal_api(text: &str, out: &mut dyn FnMut(usize, String)) {
    let mut prefixes: HashMap<&str, String> = HashMap::new();
    for c in GROUP.captures_iter(text) {
        let parent = prefixes.get(&c[2]).cloned().unwrap_or_default();
        let name = c.get(1).expect("group 1").as_str();
        prefixes.insert(name, join(&parent, &c[3]));
    }
    for c in MAP_GET.captures_iter(text) {
        let prefix = prefixes.get(&c[1]).map(String::as_str).unwrap_or("");
        let m = c.get(2).expect("group 2");
        out(m.start(), join(prefix, m.as_str()));
    }
}

/// GET actions without parameters of every `…Controller` class.
fn controllers(
    text: &str,
    conventional: Option<&(String, String)>,
    out: &mut dyn FnMut(usize, String),
) {
    let classes: Vec<_> = CLASS.captures_iter(text).collect();
    for (i, class) in classes.iter().enumerate() {
        let whole = class.get(0).expect("match");
        let controller = &class[1];
        // The class's own attributes: between the previous declaration and `class`.
        let before = &text[..whole.start()];
        let head_start = before.rfind([';', '{', '}']).map_or(0, |p| p + 1);
        let class_route = ROUTE_ATTR
            .captures(&before[head_start..])
            .map(|c| c[1].to_string());
        let body_end = classes
            .get(i + 1)
            .map_or(text.len(), |c| c.get(0).expect("match").start());
        let body = &text[whole.end()..body_end];
        for method in METHOD.captures_iter(body) {
            let attributes = method.get(1).map_or("", |m| m.as_str());
            let action = &method[2];
            if action == controller || attributes.contains("NonAction") {
                continue;
            }
            let verbs: Vec<_> = VERB.captures_iter(attributes).collect();
            let get = verbs.iter().find(|v| &v[1] == "Get");
            if !verbs.is_empty() && get.is_none() {
                continue;
            }
            let method_route = get
                .and_then(|v| v.get(2))
                .map(|m| m.as_str().to_string())
                .or_else(|| ROUTE_ATTR.captures(attributes).map(|c| c[1].to_string()));
            let route = match (&class_route, method_route) {
                (_, Some(m)) if m.starts_with('/') || m.starts_with("~/") => {
                    Some(m.trim_start_matches('~').to_string())
                }
                (Some(c), m) if get.is_some() || m.is_some() => {
                    Some(join(c, m.as_deref().unwrap_or("")))
                }
                (None, Some(m)) => Some(m),
                (None, None) => conventional.and_then(|(home, index)| {
                    (action != "Error").then(|| {
                        match (controller == home.as_str(), action == index.as_str()) {
                            (true, true) => "/".to_string(),
                            (false, true) => format!("/{controller}"),
                            _ => format!("/{controller}/{action}"),
                        }
                    })
                }),
                _ => None,
            };
            if let Some(route) = route {
                let route = route
                    .replace("[controller]", controller)
                    .replace("[action]", action);
                let offset = whole.end() + method.get(2).expect("group 2").start();
                out(offset, rooted(&route));
            }
        }
    }
}

/// Razor Pages without route parameters (`Pages/Index.cshtml` is `/`).
fn razor_pages(dir: &Path) -> Vec<Found> {
    let pages = dir.join("Pages");
    let mut found = Vec::new();
    let walk = walkdir::WalkDir::new(&pages)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_skipped(e));
    for entry in walk.filter_map(Result::ok) {
        let path = entry.path();
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let Some(stem) = stem.filter(|s| !s.starts_with('_') && s != "Error") else {
            continue;
        };
        if path.extension().is_none_or(|e| e != "cshtml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Some(directive) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .and_then(|l| l.strip_prefix("@page"))
        else {
            continue;
        };
        let relative = path.strip_prefix(&pages).unwrap_or(path);
        let folder = relative
            .parent()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let page = if stem == "Index" { "" } else { stem.as_str() };
        let route = match directive.trim().trim_matches('"') {
            t if t.starts_with('/') => t.to_string(),
            "" => join(&folder, page),
            t => join(&join(&folder, page), t),
        };
        found.push(Found {
            path: rooted(&route),
            file: path.strip_prefix(dir).unwrap_or(path).to_path_buf(),
            line: 1,
        });
    }
    found
}

/// The first profile's `launchUrl` in `Properties/launchSettings.json`,
/// when it is a plain route (not a Swagger or OpenAPI page: those are
/// mapped only in Development).
fn launch_url(dir: &Path) -> Option<Found> {
    let file = Path::new("Properties").join("launchSettings.json");
    let text = std::fs::read_to_string(dir.join(&file)).ok()?;
    let json: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    let url = json["profiles"]
        .as_object()?
        .values()
        .find_map(|p| p["launchUrl"].as_str())?;
    let route = rooted(url);
    (is_plain(&route) && !is_tooling(&route) && !url.contains("://")).then_some(Found {
        path: route,
        file,
        line: 1,
    })
}

/// A route with no parameters, query or fragment.
fn is_plain(route: &str) -> bool {
    !route.contains(['{', '}', '*', '?', '#', '"', ' '])
}

fn looks_like_health(route: &str) -> bool {
    let last = route.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        last.as_str(),
        "health" | "healthz" | "healthcheck" | "ready" | "readyz" | "alive" | "livez" | "ping"
    )
}

/// Pages for developers, not the service's work.
fn is_tooling(route: &str) -> bool {
    let lower = route.to_ascii_lowercase();
    ["/swagger", "/openapi", "/scalar", "/metrics", "/_"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// `/prefix` + `/x` → `/prefix/x`.
fn join(prefix: &str, route: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let route = route.trim_start_matches('/');
    match (prefix.is_empty(), route.is_empty()) {
        (_, true) => rooted(prefix),
        (true, false) => rooted(route),
        (false, false) => format!("{}/{route}", rooted(prefix)),
    }
}

fn rooted(route: &str) -> String {
    if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    }
}

/// The source with its comments blanked out (newlines kept, so offsets
/// and line numbers stay), string and character literals left alone: a
/// route in a comment is not a route.
pub(crate) fn strip_comments(text: &str) -> String {
    #[derive(PartialEq)]
    enum State {
        Code,
        Line,
        Block,
        Str { verbatim: bool },
        Char,
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match state {
            State::Code => match (c, next) {
                ('/', Some('/')) => state = State::Line,
                ('/', Some('*')) => {
                    chars.next();
                    out.push_str("  ");
                    state = State::Block;
                    continue;
                }
                ('@', Some('"')) => {
                    out.push(c);
                    out.push(chars.next().expect("peeked"));
                    state = State::Str { verbatim: true };
                    continue;
                }
                ('"', _) => state = State::Str { verbatim: false },
                ('\'', _) => state = State::Char,
                _ => {}
            },
            State::Line if c == '\n' => state = State::Code,
            State::Block if c == '*' && next == Some('/') => {
                chars.next();
                out.push_str("  ");
                state = State::Code;
                continue;
            }
            State::Str { verbatim: false } | State::Char if c == '\\' => {
                out.push(c);
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
                continue;
            }
            State::Str { verbatim: true } if c == '"' && next == Some('"') => {
                out.push(c);
                out.push(chars.next().expect("peeked"));
                continue;
            }
            State::Str { .. } if c == '"' || c == '\n' => state = State::Code,
            State::Char if c == '\'' || c == '\n' => state = State::Code,
            _ => {}
        }
        let blank = matches!(state, State::Line | State::Block) && c != '\n';
        out.push(if blank { ' ' } else { c });
    }
    out
}
