//! report.html in a real browser: headless Chromium opens the page a real
//! fixture run wrote (the DynamicMethod leak), and the test checks that it
//! renders the verdict and the leaking type, that sorting and filtering the
//! checks table work by mouse and keyboard, that the page logs no error and
//! fetches nothing, and takes a screenshot (its path is printed).
//!
//! Needs Chromium (`.ci/run` installs it and sets LEAKGATE_REQUIRE_BROWSER;
//! elsewhere the test says it skipped). The fixture run holds the e2e lock
//! (~30 s); the browser part takes a few seconds.
//! `LEAKGATE_KEEP_BROWSER_OUTPUT=1` keeps the run's directory to look at.

mod browser;
mod common;

use std::time::Instant;

use browser::Browser;
use common::*;
use serde_json::Value;

const LEAKING_TYPE: &str = "System.Reflection.Emit.DynamicResolver";

/// The Growth column of the checks table, top to bottom (visible rows only).
const GROWTH_ORDER: &str = "[...document.querySelectorAll('#checks-table tbody tr')]\
    .filter(r => !r.hidden).map(r => parseFloat(r.cells[6].dataset.v))";
const VISIBLE_STATUSES: &str = "[...document.querySelectorAll('#checks-table tbody tr')]\
    .filter(r => !r.hidden && r.offsetParent !== null).map(r => r.dataset.status)";

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_fixture_runs_report_html_works_in_a_browser() {
    let Some(chromium) =
        browser::chromium_or_skip("the_fixture_runs_report_html_works_in_a_browser")
    else {
        return;
    };
    let out = {
        let _lock = e2e_lock();
        let out = temp_out();
        let run = leakgate_run(&scenario("dynamic-method-leak"), out.path(), &[]);
        assert_eq!(run.code, 1, "the leak fails the gate\n{}", run.output);
        out
    };
    let started = Instant::now();
    let report = read_report(out.path());
    let page = out
        .path()
        .join(report["files"]["report_html"].as_str().unwrap());
    let size = std::fs::metadata(&page).expect("report.html written").len();
    println!("report.html: {size} bytes ({})", page.display());
    assert!(size < 1 << 20);

    let mut b = Browser::launch(&chromium);
    b.open(&page, 1280, 900);

    // It renders: the verdict, the leaking type, its chart; failures lead the table.
    let dom = b.dom();
    let first_row = b.eval("document.querySelector('#checks-table tbody tr').dataset.status");
    assert_eq!(first_row, "fail");
    assert!(
        dom.contains(r#"<span class="badge">FAIL</span>"#),
        "verdict"
    );
    assert!(dom.contains(LEAKING_TYPE), "the leaking type is named");
    let chart_title = b.eval("document.querySelector('#chart-1 svg title').textContent");
    assert!(
        chart_title.as_str().unwrap().ends_with("FAIL"),
        "{chart_title}"
    );
    let failing = failing_checks(&report).len();
    let total = report["verdict"]["checks"].as_array().unwrap().len();
    let count = b.eval("document.getElementById('checks-count').textContent");
    assert_eq!(
        count.as_str().unwrap(),
        format!("Showing {total} of {total} checks. Click a column heading to sort."),
        "the page's script ran"
    );

    // Sorting: a click on Growth sorts largest first, Enter on it reverses.
    let growth = "#checks-table th:nth-child(7) button";
    b.click(growth);
    let desc = numbers(&b.eval(GROWTH_ORDER));
    assert!(
        desc.windows(2).all(|w| w[0] >= w[1]),
        "descending: {desc:?}"
    );
    assert_eq!(
        b.eval("document.querySelector('#checks-table th:nth-child(7)').getAttribute('aria-sort')"),
        "descending"
    );
    b.press(growth, "Enter", 13);
    let asc = numbers(&b.eval(GROWTH_ORDER));
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "ascending: {asc:?}");
    assert_eq!(desc.len(), total);

    // Filtering: "failing" shows exactly the failing checks, "all" all again.
    b.click("input[name=show][value=fail]");
    let shown = strings(&b.eval(VISIBLE_STATUSES));
    assert_eq!(shown.len(), failing, "{shown:?}");
    assert!(shown.iter().all(|s| s == "fail"), "{shown:?}");
    b.click("input[name=show][value=all]");
    assert_eq!(strings(&b.eval(VISIBLE_STATUSES)).len(), total);

    let complaints = b.complaints();
    assert!(
        complaints.is_empty(),
        "the page complained or reached out: {complaints:#?}"
    );

    // The picture shows the page as it opens.
    b.open(&page, 1280, 900);
    let shot = out.path().join("report.png");
    b.screenshot(&shot, 1280, 2400);
    println!("screenshot: {}", shot.display());
    let complaints = b.complaints();
    assert!(complaints.is_empty(), "on reopening: {complaints:#?}");
    drop(b);
    println!(
        "browser checks took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("LEAKGATE_KEEP_BROWSER_OUTPUT").is_some() {
        println!("kept {}", out.keep().display());
    }
}

/// The check above can fail: a page that throws, logs an error and fetches
/// from the network is caught on each count.
#[test]
fn the_browser_check_sees_errors_and_requests() {
    let Some(chromium) = browser::chromium_or_skip("the_browser_check_sees_errors_and_requests")
    else {
        return;
    };
    let dir = temp_out();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><title>broken</title><img src=\"http://127.0.0.1:9/x.png\">\
         <script>console.error('boom'); throw new Error('bang');</script>",
    )
    .unwrap();
    let mut b = Browser::launch(&chromium);
    b.open(&page, 800, 600);
    let c = b.complaints();
    assert!(c.console.iter().any(|m| m.contains("boom")), "{c:#?}");
    assert!(c.exceptions.iter().any(|m| m.contains("bang")), "{c:#?}");
    assert!(
        c.requests.iter().any(|u| u.contains("127.0.0.1:9")),
        "{c:#?}"
    );
    assert!(!c.is_empty());
}
