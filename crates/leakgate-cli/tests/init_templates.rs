//! From `dotnet new` to a gate: for each of the SDK's web templates
//! (`webapi`, `web`, `mvc`, created offline), `leakgate init` writes a
//! scenario that runs unedited and passes the healthy service; the same
//! scenario fails once the template's endpoint keeps 4 KiB per request,
//! and the report names what holds it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{e2e_lock, leakgate_run, read_report, temp_out};

/// The template's endpoint, and the same endpoint keeping 4 KiB per request.
struct Template {
    name: &'static str,
    file: &'static str,
    endpoint: &'static str,
    leaking: &'static str,
}

const TEMPLATES: [Template; 3] = [
    Template {
        name: "webapi",
        file: "Program.cs",
        endpoint: "app.MapGet(\"/weatherforecast\", () =>\n{\n",
        leaking: "app.MapGet(\"/weatherforecast\", () =>\n{\n    Leak.Keep.Enqueue(new byte[4096]);\n",
    },
    Template {
        name: "web",
        file: "Program.cs",
        endpoint: "app.MapGet(\"/\", () => \"Hello World!\");",
        leaking: "app.MapGet(\"/\", () => { Leak.Keep.Enqueue(new byte[4096]); return \"Hello World!\"; });",
    },
    Template {
        name: "mvc",
        file: "Controllers/HomeController.cs",
        endpoint: "public IActionResult Index()\n    {\n",
        leaking: "public IActionResult Index()\n    {\n        Leak.Keep.Enqueue(new byte[4096]);\n",
    },
];

const LEAK_CLASS: &str = "\npublic static class Leak\n{\n    public static readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> Keep = new();\n}\n";

fn dotnet_new(template: &str, dir: &Path) {
    let out = Command::new("dotnet")
        .args(["new", template, "-o"])
        .arg(dir)
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .env("DOTNET_NOLOGO", "1")
        .env("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1")
        .output()
        .expect("dotnet runs");
    assert!(out.status.success(), "dotnet new {template}: {out:?}");
}

fn build(project: &Path) {
    let out = Command::new("dotnet")
        .args(["build", "-c", "Release"])
        .current_dir(project)
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .env("DOTNET_NOLOGO", "1")
        .output()
        .expect("dotnet runs");
    assert!(out.status.success(), "dotnet build: {out:?}");
}

fn init(args: &[&str], path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .arg("init")
        .arg(path)
        .args(args)
        .output()
        .expect("leakgate runs")
}

#[test]
fn init_then_run_gates_the_sdk_web_templates() {
    let _lock = e2e_lock();
    // The next template is created and built while the runs of the one
    // before it wait on their samples (leakgate's own build then finds it
    // up to date): the runs measure memory after a full GC, which a build
    // next door does not change.
    let (ready, prepared) = std::sync::mpsc::channel();
    let preparing = std::thread::spawn(move || {
        for t in &TEMPLATES {
            let root = tempfile::Builder::new()
                .prefix("leakgate-init-")
                .tempdir()
                .unwrap();
            let project = root.path().join("Contoso.Shop");
            dotnet_new(t.name, &project);
            build(&project);
            if ready.send((t, root, project)).is_err() {
                return;
            }
        }
    });
    for (t, _root, project) in prepared {
        let made = init(&[], &project);
        assert!(made.status.success(), "{}: {made:?}", t.name);
        let scenario = project.join("leakgate/Contoso.Shop.yaml");
        let written = std::fs::read_to_string(&scenario).expect("the scenario");
        // Never overwrites: a second init is refused and changes nothing.
        let again = init(&[], &project);
        assert_eq!(again.status.code(), Some(2), "{}: {again:?}", t.name);
        assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
        assert_eq!(std::fs::read_to_string(&scenario).unwrap(), written);

        let out = temp_out();
        let run = leakgate_run(&scenario, out.path(), &[]);
        assert_eq!(
            run.code, 0,
            "{}: healthy template\n{written}\n{}",
            t.name, run.output
        );
        let report = read_report(out.path());
        assert!(
            report["load"]["requests"].as_u64().unwrap() > 500,
            "{}",
            t.name
        );

        // The template's endpoint now keeps 4 KiB per request.
        let source = project.join(t.file);
        // The templates are written with CRLF line ends.
        let text = std::fs::read_to_string(&source)
            .unwrap()
            .replace("\r\n", "\n");
        assert!(
            text.contains(t.endpoint),
            "{}: the template changed:\n{text}",
            t.name
        );
        std::fs::write(
            &source,
            text.replacen(t.endpoint, t.leaking, 1) + LEAK_CLASS,
        )
        .unwrap();
        let out = temp_out();
        let run = leakgate_run(&scenario, out.path(), &[]);
        assert_eq!(run.code, 1, "{}: leaking template\n{}", t.name, run.output);
        let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
        assert!(
            summary.contains("Leak.Keep") && summary.contains("System.Byte[]"),
            "{}: the report names the holder\n{summary}",
            t.name
        );
    }
    preparing.join().expect("the templates were prepared");
}
