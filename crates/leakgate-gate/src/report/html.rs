//! `report.html`: one self-contained page a developer opens straight from
//! the artifact — the verdict, what failed and why, a chart per notable
//! check, the checks table (sortable, filterable), the growing types, the
//! snapshot diff, and what was measured (process, load, sample timings).
//!
//! The page is [`Page`], a view of the [`RunReport`] with every number
//! already formatted, laid out by a minijinja template (`html/report.html`)
//! with its CSS and JS inlined. Every value the template prints goes through
//! [`crate::escape::html`] (the environment's formatter); only our own SVG
//! charts, CSS and JS are inserted as they are. A Content-Security-Policy
//! allows no network at all and runs only the script whose hash it names.
//! The markup is well-formed XML too, which the tests use to check that no
//! name can add an element or an attribute.
//!
//! ```
//! use leakgate_gate::report::{RunInfo, RunReport, html};
//! use leakgate_gate::judge::{judge, JudgeOptions};
//! use leakgate_scenario::TypeFilter;
//! let v = judge(&[], &[], &TypeFilter::none(), &JudgeOptions::default());
//! let page = html::render(&RunReport::judged(RunInfo::new("<checkout>"), vec![], v, None)).unwrap();
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! assert!(page.contains("&lt;checkout&gt;") && !page.contains("<checkout>"));
//! ```

mod view;

use base64::Engine as _;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use sha2::{Digest, Sha256};

use super::RunReport;
use crate::escape;

pub use view::Page;

const TEMPLATE: &str = include_str!("html/report.html");
const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// A template that does not fit its data: a bug in leakgate, reported as a
/// note beside the verdict rather than a lost run.
#[derive(Debug, thiserror::Error)]
#[error("report.html could not be rendered: {0}")]
pub struct HtmlError(#[from] minijinja::Error);

/// The page of one run.
pub fn render(report: &RunReport) -> Result<String, HtmlError> {
    let page = Page::of(report);
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Block tags on their own lines leave no blank lines behind.
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_formatter(|out, _state, value| {
        // Ours (charts, CSS, JS) are marked safe; everything else is text.
        if value.is_safe() {
            out.write_str(value.as_str().unwrap_or_default())?;
        } else if value.is_none() || value.is_undefined() {
        } else if let Some(s) = value.as_str() {
            out.write_str(&escape::html(s))?;
        } else {
            out.write_str(&escape::html(&value.to_string()))?;
        }
        Ok(())
    });
    env.add_filter("breakable", breakable);
    env.add_template("report.html", TEMPLATE)?;
    let (style, script) = (cdata_css(STYLE), cdata_js(SCRIPT));
    let context = minijinja::context! {
        page => Value::from(Serde(&page)),
        style => Value::from_safe_string(style.clone()),
        script => Value::from_safe_string(script.clone()),
        csp => content_security_policy(&style, &script),
        charts => page.charts.iter().map(|c| Value::from_safe_string(c.svg.clone())).collect::<Vec<_>>(),
    };
    Ok(env.get_template("report.html")?.render(context)?)
}

/// A type name escaped, with a line-break opportunity after each `.`, `+`
/// and `,`, so a long name wraps at its namespaces instead of anywhere.
fn breakable(name: &str) -> Value {
    let escaped = escape::html(name);
    let mut out = String::with_capacity(escaped.len() + escaped.len() / 8);
    for c in escaped.chars() {
        out.push(c);
        // Never inside an entity: `&lt;` and friends hold none of these.
        if matches!(c, '.' | '+' | ',') {
            out.push_str("<wbr/>");
        }
    }
    Value::from_safe_string(out)
}

/// CSS inside a CDATA section hidden in comments: raw text to an HTML
/// parser, character data to an XML one.
fn cdata_css(css: &str) -> String {
    format!("/*<![CDATA[*/\n{css}/*]]>*/")
}

fn cdata_js(js: &str) -> String {
    format!("//<![CDATA[\n{js}//]]>\n")
}

/// No fetches of any kind; only our style and script, by hash.
fn content_security_policy(style: &str, script: &str) -> String {
    let hash = |text: &str| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    };
    format!(
        "default-src 'none'; img-src data:; style-src 'sha256-{}'; script-src 'sha256-{}'",
        hash(style),
        hash(script)
    )
}
