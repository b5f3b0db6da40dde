//! The scenario `leakgate init` writes: commented YAML that runs unedited.
//! Every string is written as a JSON string (valid YAML, whatever it
//! holds); what was not found is a comment that says what to fill in.

use std::fmt::Write as _;

use crate::project::Project;
use crate::routes::{Endpoints, Found};

/// At most this many routes are loaded; the rest are listed as comments.
const MAX_ROUTES: usize = 8;

/// The scenario's name: the project's, in the letters a scenario name allows.
pub fn name_of(project: &Project) -> String {
    let name: String = project
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(['.', '-']).to_string();
    if name.is_empty() {
        "service".to_string()
    } else {
        name
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn at(found: &Found) -> String {
    format!("{}:{}", found.file.display(), found.line)
}

/// The scenario's text for `project` with what its source says.
pub fn render(project: &Project, endpoints: &Endpoints) -> String {
    let name = name_of(project);
    let file_name = project
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(
        w,
        "# leakgate scenario for {file_name}, written by `leakgate init`: it builds the\n\
         # service, starts it on a free loopback port, loads its GET endpoints, samples\n\
         # its memory after a full GC, and fails when something keeps growing.\n\
         # Run it from the project's directory:  leakgate run leakgate/{name}.yaml\n\
         # Then make the load look like your traffic (paths, weights, rate)."
    );
    let _ = writeln!(w, "name: {}", quoted(&name));
    let _ = writeln!(w, "service:");
    let _ = writeln!(w, "  build: dotnet build -c Release");
    let _ = writeln!(w, "  command: dotnet");
    let urls = quoted("http://127.0.0.1:{port}");
    match project.release_dll() {
        Some(dll) => {
            let _ = writeln!(
                w,
                "  # What the build writes: the framework and assembly name of {file_name}."
            );
            let _ = writeln!(w, "  args: [{}, --urls, {urls}]", quoted(&dll));
        }
        None => {
            let why = project
                .unpredictable_output
                .as_deref()
                .unwrap_or("its output path is not known");
            let _ = writeln!(
                w,
                "  # The built dll's path could not be predicted ({why}), so the service\n  \
                 # starts through `dotnet run`. To start it directly, name the dll:\n  \
                 # args: [path/to/App.dll, --urls, {urls}]"
            );
            let _ = writeln!(
                w,
                "  args: [run, -c, Release, --no-build, --no-launch-profile, --project, {}, --, --urls, {urls}]",
                quoted(&file_name)
            );
        }
    }
    let _ = writeln!(
        w,
        "  cwd: \"..\"                          # the project's directory"
    );
    let _ = writeln!(w, "  env: {{ ASPNETCORE_ENVIRONMENT: Production }}");
    if let Some(fixed) = &endpoints.fixed_urls {
        let _ = writeln!(
            w,
            "  # {} sets the app's own URLs (UseUrls, Urls.Add or Listen): make it honour\n  \
             # --urls (or ASPNETCORE_URLS), or the readiness probe below cannot reach it.",
            at(fixed)
        );
    }
    let _ = writeln!(w, "  ready:");
    match &endpoints.health {
        Some(health) => {
            let _ = writeln!(
                w,
                "    http: {}   # {}",
                quoted(&format!("http://127.0.0.1:{{port}}{}", health.path)),
                at(health)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "    # No health endpoint found: ready once the port accepts connections. With\n    \
                 # app.MapHealthChecks(\"/healthz\") use: http: \"http://127.0.0.1:{{port}}/healthz\""
            );
            let _ = writeln!(w, "    tcp: \"{{port}}\"");
        }
    }
    let _ = writeln!(w, "    timeout: 60s");
    let _ = writeln!(w, "load:");
    let _ = writeln!(w, "  concurrency: 4");
    let _ = writeln!(
        w,
        "  rate: 100                           # requests per second, all connections together"
    );
    let _ = writeln!(
        w,
        "  warmup: 5s                          # load before the first sample: caches fill, the JIT warms up"
    );
    let routes: Vec<&Found> = if endpoints.gets.is_empty() {
        endpoints.launch_url.iter().collect()
    } else {
        endpoints.gets.iter().collect()
    };
    if routes.is_empty() {
        let _ = writeln!(
            w,
            "  # No parameterless GET endpoint found in the source: loading `/`, where a 404\n  \
             # is an answer. List the requests your service serves and remove expect_status:\n  \
             # - {{ method: POST, path: /orders, body: '{{\"sku\": 1}}', weight: 2 }}"
        );
        let _ = writeln!(w, "  expect_status: [404]");
        let _ = writeln!(w, "  requests:");
        let _ = writeln!(w, "    - {{ path: \"/\", weight: 1 }}");
    } else {
        let _ = writeln!(
            w,
            "  requests:                           # the parameterless GET endpoints in the source"
        );
        for route in routes.iter().take(MAX_ROUTES) {
            let _ = writeln!(
                w,
                "    - {{ path: {}, weight: 1 }}   # {}",
                quoted(&route.path),
                at(route)
            );
        }
        for route in routes.iter().skip(MAX_ROUTES) {
            let _ = writeln!(
                w,
                "    # - {{ path: {}, weight: 1 }}   # {}",
                quoted(&route.path),
                at(route)
            );
        }
    }
    let _ = writeln!(w, "sampling:");
    let _ = writeln!(w, "  every: 2s");
    let _ = writeln!(
        w,
        "  count: auto                         # stop once every budget is decided (5 to 20 samples)"
    );
    let _ = writeln!(
        w,
        "# Growth that matters: 64 KiB or 8 objects per 1,000 requests (see `materiality:`).\n\
         budgets:\n  \
         - name: no finalizable type keeps growing\n    \
           metric: finalizable\n    \
           types: \"*\"\n    \
           max_growth: 100\n    \
           trend: fail\n  \
         - name: the live managed heap does not keep growing\n    \
           metric: gc.live\n    \
           trend: fail\n  \
         - name: memory outside the GC heap does not keep growing\n    \
           metric: committed.native\n    \
           trend: fail\n  \
         - name: no type's objects keep growing\n    \
           metric: heap.count\n    \
           types: \"*\"\n    \
           trend: fail"
    );
    y
}
