//! Headless Chromium driven over the DevTools protocol, for tests of
//! report.html in a real browser: load a file, run script in the page,
//! click and type like a user, take a screenshot, and collect everything
//! the page complained about (exceptions, console errors and warnings,
//! browser log errors such as CSP violations) and every request it made.
#![allow(dead_code)]

mod websocket;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use websocket::WebSocket;

/// The browser to use: `$LEAKGATE_CHROMIUM`, else the first of the usual
/// names on PATH. `None` when there is none.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LEAKGATE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The browser, or why the test cannot run: a failure where the CI
/// promises one (`LEAKGATE_REQUIRE_BROWSER`, set by `.ci/run`), else `None`
/// after saying loudly that the test was skipped.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("LEAKGATE_REQUIRE_BROWSER").is_none(),
            "{test}: no Chromium (install the `chromium` package or set LEAKGATE_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED {test}: no Chromium on PATH (install `chromium`; .ci/run does, and sets LEAKGATE_REQUIRE_BROWSER)"
        );
    }
    found
}

/// What the page did that a clean page does not.
#[derive(Debug, Default)]
pub struct Complaints {
    pub exceptions: Vec<String>,
    pub console: Vec<String>,
    pub log: Vec<String>,
    /// URLs requested other than the page itself and `data:` URLs.
    pub requests: Vec<String>,
}

impl Complaints {
    pub fn is_empty(&self) -> bool {
        self.exceptions.is_empty()
            && self.console.is_empty()
            && self.log.is_empty()
            && self.requests.is_empty()
    }
}

/// A headless Chromium with one page, ended (its whole process group) on drop.
pub struct Browser {
    child: Child,
    profile: tempfile::TempDir,
    socket: WebSocket,
    next_id: u64,
    /// Events received while waiting for replies, in order.
    events: Vec<Value>,
    page_url: String,
}

const WAIT: Duration = Duration::from_secs(30);

impl Browser {
    pub fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("leakgate-chromium-")
            .tempdir()
            .unwrap();
        // The flags this machine needs (see the machine notes): no sandbox as
        // root, no GPU, and nothing that reaches for the network.
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .expect("Chromium starts");
        let port = devtools_port(profile.path(), WAIT);
        let targets: Value = serde_json::from_str(&http_get(port, "/json/list")).unwrap();
        let ws = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("a page target: {targets}"))
            .to_string();
        let socket = WebSocket::connect(&ws, WAIT).expect("DevTools WebSocket");
        let mut browser = Browser {
            child,
            profile,
            socket,
            next_id: 0,
            events: Vec::new(),
            page_url: String::new(),
        };
        for domain in ["Runtime", "Log", "Page", "Network"] {
            browser.call(&format!("{domain}.enable"), json!({}));
        }
        browser
    }

    /// Sends a command and returns its result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket.send(&message.to_string()).unwrap();
        loop {
            let text = self
                .socket
                .receive()
                .unwrap_or_else(|e| panic!("waiting for {method}: {e}"));
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                if let Some(error) = reply.get("error") {
                    panic!("{method} failed: {error}");
                }
                return reply["result"].clone();
            }
            if reply.get("method").is_some() {
                self.events.push(reply);
            }
        }
    }

    /// Waits for an event by name, keeping the others.
    pub fn wait_for_event(&mut self, method: &str) -> Value {
        let start = Instant::now();
        if let Some(e) = self.events.iter().find(|e| e["method"] == method) {
            return e.clone();
        }
        while start.elapsed() < WAIT {
            let text = self
                .socket
                .receive()
                .unwrap_or_else(|e| panic!("waiting for {method}: {e}"));
            let event: Value = serde_json::from_str(&text).unwrap();
            let found = event["method"] == method;
            self.events.push(event.clone());
            if found {
                return event;
            }
        }
        panic!("no {method} within {WAIT:?}");
    }

    /// Opens `file` at a desktop size and waits for its load event.
    pub fn open(&mut self, file: &Path, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        self.page_url = format!("file://{}", file.display());
        self.events.clear();
        self.call("Page.navigate", json!({ "url": self.page_url }));
        self.wait_for_event("Page.loadEventFired");
    }

    /// Runs `expression` in the page and returns its value (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = result.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        result["result"]["value"].clone()
    }

    /// A real mouse click at the centre of the first element matching `selector`.
    pub fn click(&mut self, selector: &str) {
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Focuses `selector` and presses a key on it, as a keyboard user would.
    pub fn press(&mut self, selector: &str, key: &str, code: u32) {
        self.eval(&format!("document.querySelector({selector:?}).focus()"));
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": code, "text": "\r" }),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code }),
        );
    }

    /// The whole document as the browser holds it now (a DOM dump).
    pub fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A PNG of the page from the top, at most `max_height` pixels tall.
    pub fn screenshot(&mut self, path: &Path, width: u32, max_height: u32) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(900.0)
            .min(max_height as f64) as u32;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        self.eval("window.scrollTo(0, 0)");
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            shot["data"].as_str().unwrap(),
        )
        .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Everything the page complained about since it was opened. Reads what
    /// is still in flight first (a round trip flushes earlier events).
    pub fn complaints(&mut self) -> Complaints {
        self.eval("0");
        let mut c = Complaints::default();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => c.exceptions.push(p["exceptionDetails"].to_string()),
                "Runtime.consoleAPICalled"
                    if ["error", "warning", "assert"]
                        .contains(&p["type"].as_str().unwrap_or("")) =>
                {
                    c.console.push(p["args"].to_string())
                }
                "Log.entryAdded"
                    if ["error", "warning"]
                        .contains(&p["entry"]["level"].as_str().unwrap_or("")) =>
                {
                    c.log.push(p["entry"]["text"].to_string())
                }
                "Network.requestWillBeSent" => {
                    let url = p["request"]["url"].as_str().unwrap_or("");
                    if url != self.page_url && !url.starts_with("data:") {
                        c.requests.push(url.to_string());
                    }
                }
                _ => {}
            }
        }
        c
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .socket
            .send(r#"{"id":999999,"method":"Browser.close"}"#);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its helpers (zygote, renderer) share the group we gave it.
        // SAFETY: kill(2) on the process group of the child this test started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = &self.profile;
    }
}

/// The port Chromium chose, from `DevToolsActivePort` in its profile.
fn devtools_port(profile: &Path, limit: Duration) -> u16 {
    let file = profile.join("DevToolsActivePort");
    let start = Instant::now();
    loop {
        if let Some(port) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
        {
            return port;
        }
        assert!(
            start.elapsed() < limit,
            "Chromium wrote no DevToolsActivePort"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain HTTP/1.1 GET on loopback; the body (read by its Content-Length,
/// whether or not the server closes the connection).
fn http_get(port: u16, path: &str) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        &stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}
