//! The tools that read leakgate's reports the way CI does, for tests of what
//! a reader would see: `xmllint` (Debian `libxml2-utils`) validates
//! `junit.xml` against the Jenkins xUnit schema (`tests/data/junit-10.xsd`),
//! `cmark-gfm` (GitHub's own Markdown renderer) turns `summary.md` into the
//! HTML of a job summary. `.ci/run` installs both and sets
//! `LEAKGATE_REQUIRE_XMLLINT` and `LEAKGATE_REQUIRE_CMARK`: there a missing
//! tool fails the test instead of skipping it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `name` on PATH, or why the test cannot run: a failure when `require` is
/// set (CI promises the tool), else `None` after saying loudly it was skipped.
fn tool_or_skip(name: &str, package: &str, require: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os(require).is_none(),
            "{test}: no `{name}` on PATH (install the `{package}` package); {require} is set"
        );
        eprintln!(
            "SKIPPED {test}: no `{name}` on PATH (install `{package}`; .ci/run does, and sets {require})"
        );
    }
    found
}

pub fn xmllint_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip("xmllint", "libxml2-utils", "LEAKGATE_REQUIRE_XMLLINT", test)
}

pub fn cmark_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip("cmark-gfm", "cmark-gfm", "LEAKGATE_REQUIRE_CMARK", test)
}

/// The Jenkins xUnit plugin's `junit-10.xsd` (a copy, MIT License).
pub fn junit_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd")
}

/// Whether `file` is well-formed and valid against [`junit_schema`]; the
/// error is xmllint's own words.
pub fn validate_junit(xmllint: &Path, file: &Path) -> Result<(), String> {
    let out = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(junit_schema())
        .arg(file)
        .output()
        .expect("xmllint runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The value of an XPath expression over `file` (`count(//testcase)`,
/// `string(//system-out)`), as xmllint prints it.
pub fn xpath(xmllint: &Path, file: &Path, expr: &str) -> String {
    let out = Command::new(xmllint)
        .arg("--xpath")
        .arg(expr)
        .arg(file)
        .output()
        .expect("xmllint runs");
    assert!(
        out.status.success(),
        "xmllint --xpath {expr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// `markdown` as GitHub renders it: cmark-gfm with GitHub's extensions, and
/// raw HTML let through (`--unsafe`) so that any HTML the text would carry
/// shows in the result.
pub fn render_markdown(cmark: &Path, markdown: &str) -> String {
    let mut child = Command::new(cmark)
        .args(["-e", "table", "-e", "autolink", "-e", "strikethrough"])
        .args(["-e", "tagfilter", "-e", "tasklist", "--unsafe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cmark-gfm runs");
    // Written from a thread: a large summary fills the pipe both ways.
    let mut stdin = child.stdin.take().unwrap();
    let text = markdown.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("cmark-gfm runs");
    writer.join().unwrap().expect("cmark-gfm reads its input");
    assert!(out.status.success(), "cmark-gfm failed");
    String::from_utf8(out.stdout).expect("cmark-gfm writes UTF-8")
}

/// The elements leakgate's summaries are made of: GFM's blocks for our own
/// headings, paragraphs, lists, tables and code blocks, and the few we write
/// as HTML (`<code>` around a name, `<sub>` under a chart).
const OURS: [&str; 17] = [
    "h2", "h3", "h4", "p", "ul", "li", "strong", "table", "thead", "tbody", "tr", "th", "td",
    "pre", "code", "sub", "a",
];

/// Our section headings (the title of a run is `leakgate: <name> — …`).
const SECTIONS: [&str; 6] = [
    "Checks",
    "Why it is alive",
    "How the failing checks grew",
    "Snapshot",
    "Top growing finalizable types",
    "Notes",
];

/// What in rendered `html` came from data rather than from leakgate: any
/// element but ours, a link other than `[chart](charts/<safe name>.svg)`,
/// a heading other than a title or one of our sections. Empty when none.
pub fn data_markup(html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices('<') {
        let rest = &lower[i + 1..];
        let closing = rest.starts_with('/');
        let rest = rest.trim_start_matches('/');
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() {
            continue; // `<!---->`: the comment that splits an autolink
        }
        if !OURS.contains(&name.as_str()) {
            problems.push(format!("a <{name}> element: {}", excerpt(html, i)));
        } else if name == "a" && !closing && !chart_link(&html[i..]) {
            problems.push(format!("a link: {}", excerpt(html, i)));
        }
    }
    for level in 1..=6 {
        let open = format!("<h{level}>");
        let close = format!("</h{level}>");
        for (i, _) in html.match_indices(&open) {
            let text = &html[i + open.len()..];
            let text = &text[..text.find(&close).unwrap_or(text.len())];
            if !(text.starts_with("leakgate: ") || SECTIONS.contains(&text)) {
                problems.push(format!("a heading: {}", excerpt(html, i)));
            }
        }
    }
    problems
}

/// `<a href="charts/NAME.svg">chart</a>`, NAME of file-name-safe characters.
fn chart_link(at: &str) -> bool {
    let Some(rest) = at.strip_prefix("<a href=\"charts/") else {
        return false;
    };
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        .unwrap_or(rest.len());
    rest[..name_len].ends_with(".svg") && rest[name_len..].starts_with("\">chart</a>")
}

/// The HTML around byte `i`, for messages.
fn excerpt(html: &str, i: usize) -> String {
    let start = html.floor_char_boundary(i.saturating_sub(80));
    let end = html.ceil_char_boundary((i + 120).min(html.len()));
    format!("…{}…", &html[start..end])
}

/// The titles (`leakgate: …` headings) in rendered `html`.
pub fn titles(html: &str) -> usize {
    (1..=6)
        .map(|level| html.matches(&format!("<h{level}>leakgate: ")).count())
        .sum()
}
