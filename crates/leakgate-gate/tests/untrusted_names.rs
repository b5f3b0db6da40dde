//! Type and scenario names are untrusted: any Unicode, control characters,
//! up to thousands of characters. Whatever they hold, every output stays
//! well-formed: the JUnit XML and the SVG parse, the Markdown table keeps its
//! rows and cells, the console holds no escape sequence or workflow command,
//! each annotation stays one workflow command, chart file names stay short
//! and distinct, report.html has the same elements and attributes as with a
//! plain name (no tag, attribute or script can be added), and each Mermaid
//! block keeps its lines and its strings closed.

use leakgate_gate::judge::{JudgeOptions, judge};
use leakgate_gate::report::{
    RunInfo, RunReport, annotations, chart_file_name, charts, console, html, junit, markdown,
};
use leakgate_gate::testing::Samples;
use leakgate_heap::{GroupHolder, PathGroup, PathGrowth, PathStep, RetentionPath, Root, TypePaths};
use leakgate_scenario::budget::Budget;
use leakgate_scenario::{BudgetRule, TypeFilter};
use proptest::prelude::*;

/// A report where `name` is a growing finalizable type (failing its budget),
/// the budget's label and the scenario's name.
fn report(name: &str, other: &str) -> RunReport {
    let growing: Vec<Option<u64>> = (0..6).map(|i| Some(10 + 100 * i)).collect();
    let samples = Samples::new(6)
        .finalizable(name, &growing)
        .finalizable(other, &growing)
        .build();
    let budget: Budget = serde_saphyr::from_str("metric: finalizable\nmax_growth: 10\n").unwrap();
    let mut rule = BudgetRule::new(budget, 7, 3).unwrap();
    // Set after the check: a scenario file cannot hold every such label
    // (no controls, no bidi overrides), but a merged leg's report can.
    rule.budget.name = Some(name.to_string());
    let budgets = [rule];
    let verdict = judge(
        &samples,
        &budgets,
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    let mut info = RunInfo::new(name);
    info.budget_lines = vec![7];
    let mut report = RunReport::judged(info, samples, verdict, None);
    // Why it is alive, with the name as the type, the root, a field and the holder.
    let path = RetentionPath {
        root: Root::static_field(name, name),
        steps: vec![PathStep::new(name, None), PathStep::new(name, Some(name))],
    };
    let paths = |n| TypePaths {
        type_name: name.to_string(),
        instances: n,
        unreachable: 0,
        sampled: n,
        groups: vec![PathGroup {
            path: path.clone(),
            sampled: n,
            estimated: n,
            example_address: 0x10,
            holder: Some(GroupHolder {
                type_name: name.to_string(),
                address: 0x20,
                retained_bytes: 1024 * n,
                retained_objects: n + 2,
                dominates: n,
                step: Some(1),
                holders: 1,
            }),
        }],
    };
    report.retention = vec![PathGrowth::between(&paths(10), &paths(510))];
    report
}

/// Cells of a Markdown table row: `|` not escaped by a backslash.
fn cells(row: &str) -> usize {
    let bytes = row.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
        .count()
        .saturating_sub(1)
}

/// Every element with its attribute names, in document order: what a name
/// could change if it escaped its text or attribute value.
fn html_structure(page: &str) -> Vec<String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(page, options)
        .unwrap_or_else(|e| panic!("report.html is well-formed: {e}"));
    doc.descendants()
        // <wbr/> is ours: a break opportunity after each `.` of a type name.
        .filter(|n| n.is_element() && !n.has_tag_name("wbr"))
        .map(|n| {
            let attributes: Vec<&str> = n.attributes().map(|a| a.name()).collect();
            format!("{}[{}]", n.tag_name().name(), attributes.join(","))
        })
        .collect()
}

/// The Mermaid blocks of a summary: each line as the renderer writes it, every
/// quoted string closed on its line, nothing that could end the fence.
fn check_mermaid(md: &str) -> usize {
    let mut blocks = 0;
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        if line != "```mermaid" {
            continue;
        }
        blocks += 1;
        // Our front matter (the palette), then the chart.
        let front: Vec<&str> = lines
            .by_ref()
            .take_while(|l| *l != "xychart-beta")
            .collect();
        assert_eq!(
            front,
            [
                "---",
                "config:",
                "  themeVariables:",
                "    xyChart:",
                "      plotColorPalette: \"#0072B2, #000000\"",
                "---"
            ]
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        assert!(body.len() >= 4, "title, axes and a line:\n{body:#?}");
        for l in &body {
            let known = [
                "    title \"",
                "    x-axis \"",
                "    y-axis \"",
                "    line [",
            ];
            assert!(known.iter().any(|k| l.starts_with(k)), "{l:?}");
            assert_eq!(l.matches('"').count() % 2, 0, "strings closed: {l:?}");
            assert!(!l.contains('`'), "{l:?}");
        }
        let title = body[0].strip_prefix("    title \"").unwrap();
        assert_eq!(title.matches('"').count(), 1, "one string: {title:?}");
    }
    blocks
}

fn check_outputs(name: &str) {
    let other = format!("{name}·2");
    let r = report(name, &other);
    let rows = r.checks().len();
    assert_eq!(rows, 2);

    let xml = junit::render(&r);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(
        cases, rows,
        "a test case per check, none of the name's:\n{xml}"
    );
    for (file, svg) in charts(&r) {
        roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
        assert!(file.len() <= 104, "{file}");
        assert!(
            file.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{file}"
        );
    }
    assert_ne!(
        chart_file_name(&r.checks()[0]),
        chart_file_name(&r.checks()[1]),
        "two names, two charts"
    );

    let md = markdown::render(&r);
    let table: Vec<&str> = md
        .lines()
        .skip_while(|l| *l != "### Checks")
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(
        table.len(),
        2 + rows,
        "header, separator, a row per check:\n{md}"
    );
    for row in &table {
        assert_eq!(cells(row), 10, "{row}");
    }
    assert!(
        md.lines().filter(|l| l.starts_with("## ")).count() == 1,
        "nothing starts a new section:\n{md}"
    );
    let sections: Vec<&str> = md.lines().filter(|l| l.starts_with("### ")).collect();
    assert_eq!(
        sections,
        [
            "### Checks",
            "### Why it is alive",
            "### How the failing checks grew",
            "### Top growing finalizable types",
            "### Notes"
        ],
        "no name starts a section of its own:\n{md}"
    );
    assert!(code_blocks_closed(&md), "code blocks are closed:\n{md}");
    assert_eq!(check_mermaid(&md), 2, "a chart per failing check:\n{md}");

    let page = html::render(&r).expect("report.html renders");
    let plain = html::render(&report("T", "T·2")).unwrap();
    assert_eq!(
        html_structure(&page),
        html_structure(&plain),
        "a name changed the page's elements or attributes"
    );

    for line in console::render(&r) {
        let t = &line.text;
        assert!(
            !t.chars().any(|c| c.is_control()),
            "a control character reached the console: {t:?}"
        );
        let start = t.trim_start();
        assert!(!start.starts_with("::") && !start.starts_with("##["), "{t}");
    }
    let verdict = console::verdict_line(&r, "out");
    assert!(!verdict.chars().any(|c| c.is_control()), "{verdict:?}");

    for a in annotations::render(&r, name) {
        assert!(!a.contains(['\n', '\r']), "one line: {a:?}");
        let rest = a.strip_prefix("::error ").expect("an error annotation");
        let (props, _message) = rest.split_once("::").expect("properties, then the message");
        let keys: Vec<&str> = props
            .split(',')
            .map(|p| p.split_once('=').expect("key=value").0)
            .collect();
        assert_eq!(keys, ["file", "line", "title"], "{a}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_name_keeps_every_output_well_formed(name in "\\PC{1,40}|[\\x00-\\x1f\\x7f|`<>&:%,\n\r\\\\\u{1b}\u{85}\u{2028}\u{feff}]{1,40}|.{0,2000}") {
        check_outputs(&name);
    }
}

#[test]
fn the_hard_cases() {
    for name in [
        "",
        "List<String>[]",
        "a|b`c`<d>&e",
        "::error file=x::owned",
        "##[error]legacy",
        "line\n# Injected heading\n| x | y |",
        "\u{1b}[31mred\u{1b}[0m\u{1b}]0;title\u{7}",
        "\u{0}\u{1}\u{b}\u{c}\u{ffff}\u{fffe}",
        "%0A%25",
        // Issue 19: the end of a CDATA section, a fence closed once escapes
        // are stripped, links and images in cells and headings.
        "]]></failure></testcase><testcase name=\"fake\"/><![CDATA[",
        "``\u{1b}[m`\n<img src=x>",
        "[l](https://e.x) ![i](https://e.x/i.png) www.e.x a@b.co",
        &"Nested<".repeat(300),
    ] {
        check_outputs(name);
    }
}

/// Whether every fenced code block of `md` is closed, as CommonMark reads fences: a block
/// opened by N backticks ends only at a line of N or more backticks and nothing else, so a
/// shorter run inside it (a name with a newline and three backticks) is content.
fn code_blocks_closed(md: &str) -> bool {
    let mut open: Option<usize> = None;
    for line in md.lines() {
        let run = line.len() - line.trim_start_matches('`').len();
        match open {
            None if run >= 3 => open = Some(run),
            Some(n) if run >= n && line.trim_end().len() == run => open = None,
            _ => {}
        }
    }
    open.is_none()
}
