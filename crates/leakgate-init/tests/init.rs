//! `leakgate init` on projects written here the way real ones are: which
//! project is chosen, what its project file says, which routes its source
//! maps, and that the scenario written loads as a valid scenario.

use std::path::Path;

use leakgate_init::{InitError, InitOptions, plan};

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const WEB_PROJECT: &str = r#"<Project Sdk="Microsoft.NET.Sdk.Web">
  <PropertyGroup>
    <TargetFramework>net8.0</TargetFramework>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <PropertyGroup Condition="'$(Configuration)' == 'Debug'">
    <AssemblyName>NotThisOne</AssemblyName>
  </PropertyGroup>
</Project>"#;

/// The scenario `plan` writes for the project at `path`, checked to load.
fn scenario_of(path: &Path) -> (String, leakgate_scenario::Scenario) {
    let plan = plan(path, &InitOptions::default()).expect("a plan");
    let file = &plan.files[0];
    std::fs::create_dir_all(file.path.parent().unwrap()).unwrap();
    std::fs::write(&file.path, &file.contents).unwrap();
    let scenario =
        leakgate_scenario::load(&file.path).unwrap_or_else(|e| panic!("{e}\n{}", file.contents));
    (file.contents.clone(), scenario)
}

fn paths(s: &leakgate_scenario::Scenario) -> Vec<String> {
    let leakgate_scenario::LoadDriver::Builtin(b) = &s.load.driver else {
        panic!("built-in load")
    };
    b.requests.iter().map(|r| r.path.clone()).collect()
}

#[test]
fn minimal_apis_with_groups_health_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Shop Api");
    write(&root, "Shop Api.csproj", WEB_PROJECT);
    write(
        &root,
        "Program.cs",
        r#"var builder = WebApplication.CreateBuilder(args);
builder.Services.AddHealthChecks();
var app = builder.Build();
app.MapHealthChecks("/healthz");
// app.MapGet("/commented-out", () => "no");
/* app.MapGet("/also-commented", () => "no"); */
app.MapGet("/", () => "// not a comment");
var api = app.MapGroup("/api");
var v1 = api.MapGroup("v1");
v1.MapGet("/orders", () => new[] { 1, 2 });
v1.MapGet("/orders/{id:int}", (int id) => id);
api.MapGet("/swagger-like", () => "x");
app.MapGet("/openapi/v1.json", () => "{}");
app.MapPost("/orders", () => Results.Created());
app.Run();
"#,
    );
    let (text, s) = scenario_of(dir.path());
    assert_eq!(s.name, "Shop-Api");
    assert_eq!(
        paths(&s),
        ["/", "/api/v1/orders", "/api/swagger-like"],
        "{text}"
    );
    assert!(
        text.contains(r#"http: "http://127.0.0.1:{port}/healthz"   # Program.cs:4"#),
        "{text}"
    );
    assert!(
        text.contains(r#""bin/Release/net8.0/Shop Api.dll""#),
        "{text}"
    );
    assert!(text.contains("# Program.cs:10"), "{text}");
}

#[test]
fn controllers_attribute_and_conventional_routes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "App.csproj", WEB_PROJECT);
    write(
        dir.path(),
        "Program.cs",
        r#"var app = WebApplication.CreateBuilder(args).Build();
app.MapControllerRoute(name: "default", pattern: "{controller=Shop}/{action=List}/{id?}");
app.Run();"#,
    );
    write(
        dir.path(),
        "Controllers/Api.cs",
        r#"namespace App.Controllers;
[ApiController]
[Route("api/[controller]")]
public class StockController : ControllerBase
{
    public StockController(ILogger<StockController> log) { }
    [HttpGet]
    public IEnumerable<int> Get() => new[] { 1 };
    [HttpGet("{id}")]
    public int One(int id) => id;
    [HttpGet("low")]
    public async Task<IActionResult> Low() => Ok();
    [HttpPost]
    public IActionResult Add() => Ok();
    [HttpGet("/status")]
    public string Status() => "ok";
}

public class ShopController : Controller
{
    public IActionResult List() => View();
    public IActionResult About() => View();
    [HttpPost] public IActionResult Buy() => View();
    [NonAction] public IActionResult Helper() => View();
    public IActionResult Error() => View();
    public IActionResult Item(int id) => View();
}
"#,
    );
    let (text, s) = scenario_of(dir.path());
    assert_eq!(
        paths(&s),
        [
            "/api/Stock",
            "/api/Stock/low",
            "/status",
            "/",
            "/Shop/About"
        ],
        "{text}"
    );
    assert!(text.contains("tcp: \"{port}\""), "{text}");
}

#[test]
fn razor_pages_and_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Site.csproj", WEB_PROJECT);
    write(
        dir.path(),
        "Program.cs",
        "var app = WebApplication.Create(); app.MapRazorPages(); app.Run();",
    );
    write(dir.path(), "Pages/Index.cshtml", "@page\n<h1>Hi</h1>");
    write(
        dir.path(),
        "Pages/Privacy.cshtml",
        "@page\n<h1>Privacy</h1>",
    );
    write(
        dir.path(),
        "Pages/Orders/Detail.cshtml",
        "@page \"{id:int}\"\n",
    );
    write(dir.path(), "Pages/Shared/_Layout.cshtml", "<html></html>");
    let (text, s) = scenario_of(dir.path());
    assert_eq!(paths(&s), ["/", "/Privacy"], "{text}");

    // Nothing found at all: `/`, with 404 an answer, and a comment saying so.
    let bare = tempfile::tempdir().unwrap();
    write(bare.path(), "Bare.csproj", WEB_PROJECT);
    write(
        bare.path(),
        "Program.cs",
        "var app = WebApplication.Create(); app.Run();",
    );
    let (text, s) = scenario_of(bare.path());
    assert_eq!(paths(&s), ["/"], "{text}");
    assert!(
        text.contains("No parameterless GET endpoint found"),
        "{text}"
    );
    let leakgate_scenario::LoadDriver::Builtin(b) = &s.load.driver else {
        panic!()
    };
    assert_eq!(b.expect_status, [404]);
}

#[test]
fn the_launch_url_when_the_source_maps_nothing_readable() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "App.csproj", WEB_PROJECT);
    write(
        dir.path(),
        "Program.cs",
        "var app = WebApplication.Create(); Routes.Add(app); app.Run();",
    );
    write(
        dir.path(),
        "Properties/launchSettings.json",
        "\u{feff}{\"profiles\": {\"http\": {\"launchUrl\": \"catalog\"}, \"s\": {\"launchUrl\": \"swagger\"}}}",
    );
    let (text, s) = scenario_of(dir.path());
    assert_eq!(paths(&s), ["/catalog"], "{text}");
}

#[test]
fn project_files_the_way_msbuild_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Directory.Build.props",
        "<Project><PropertyGroup><TargetFramework>net9.0</TargetFramework></PropertyGroup></Project>",
    );
    write(
        dir.path(),
        "src/Api/Api.csproj",
        r#"<Project><Sdk Name="Microsoft.NET.Sdk.Web" />
  <PropertyGroup><AssemblyName>Contoso.Api</AssemblyName><RuntimeIdentifier>linux-x64</RuntimeIdentifier></PropertyGroup>
</Project>"#,
    );
    write(
        dir.path(),
        "src/Lib/Lib.csproj",
        r#"<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFrameworks>net8.0;net10.0</TargetFrameworks></PropertyGroup></Project>"#,
    );
    write(dir.path(), "src/Api/bin/Release/Old.csproj", WEB_PROJECT);
    let p = plan(dir.path(), &InitOptions::default()).unwrap().project;
    assert_eq!(p.name, "Api");
    assert_eq!(
        p.release_dll().as_deref(),
        Some("bin/Release/net9.0/linux-x64/Contoso.Api.dll")
    );
    let lib = leakgate_init::project::read(&dir.path().join("src/Lib/Lib.csproj")).unwrap();
    assert_eq!(lib.target_framework.as_deref(), Some("net10.0"));
    assert!(!lib.is_web);

    // Artifacts output: `dotnet run`, and the comment says why.
    write(
        dir.path(),
        "Directory.Build.props",
        "<Project><PropertyGroup><TargetFramework>net9.0</TargetFramework><UseArtifactsOutput>true</UseArtifactsOutput></PropertyGroup></Project>",
    );
    let (text, s) = scenario_of(&dir.path().join("src/Api/Api.csproj"));
    let leakgate_scenario::Command::Argv(argv) = &s.service.launch else {
        panic!("an argv")
    };
    assert_eq!(argv[..2], ["dotnet", "run"], "{text}");
    assert!(
        text.contains("(it builds into an artifacts directory (UseArtifactsOutput))"),
        "{text}"
    );
}

#[test]
fn several_or_no_web_projects_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "A/A.csproj", WEB_PROJECT);
    write(dir.path(), "B/B.csproj", WEB_PROJECT);
    let e = plan(dir.path(), &InitOptions::default()).unwrap_err();
    assert!(matches!(e, InitError::SeveralWebProjects { .. }));
    let text = e.to_string();
    assert!(
        text.contains("several web projects")
            && text.contains("A.csproj")
            && text.contains("B.csproj"),
        "{text}"
    );

    let lib = tempfile::tempdir().unwrap();
    write(
        lib.path(),
        "Lib.csproj",
        "<Project Sdk=\"Microsoft.NET.Sdk\"></Project>",
    );
    let e = plan(lib.path(), &InitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no ASP.NET Core project") && e.contains("Lib.csproj"),
        "{e}"
    );

    let bad = tempfile::tempdir().unwrap();
    write(
        bad.path(),
        "Bad.csproj",
        "<Project Sdk=\"Microsoft.NET.Sdk.Web\">\n  <PropertyGroup>\n</Project>",
    );
    let e = plan(bad.path(), &InitOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("Bad.csproj:3:1: not a valid project file"),
        "{text}"
    );
    // What the parser said is the cause, not part of the message.
    let cause = std::error::Error::source(&e)
        .expect("the XML error")
        .to_string();
    assert!(cause.contains("PropertyGroup"), "{cause}");

    let e = plan(&bad.path().join("Program.cs"), &InitOptions::default()).unwrap_err();
    assert!(matches!(e, InitError::Read { .. }), "{e}");
}

#[test]
fn the_workflow_runs_the_scenario_from_the_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    write(dir.path(), "services/Api/Api.csproj", WEB_PROJECT);
    let options = InitOptions {
        workflow: true,
        action: "acme/leakgate/action@v2".into(),
    };
    let plan = plan(&dir.path().join("services/Api"), &options).unwrap();
    let workflow = &plan.files[1];
    assert_eq!(
        workflow.path,
        dir.path().join(".github/workflows/leakgate.yml")
    );
    let yaml: serde_json::Value = serde_saphyr::from_str(&workflow.contents).unwrap();
    let steps = yaml["jobs"]["leak-gate"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["id"] == "leakgate").unwrap();
    assert_eq!(gate["uses"], "acme/leakgate/action@v2");
    assert_eq!(gate["with"]["scenario"], "services/Api/leakgate/Api.yaml");
    // net8.0 for the service, 10 for the inspector.
    let sdks = steps[1]["with"]["dotnet-version"].as_str().unwrap();
    assert_eq!(
        sdks.split_whitespace().collect::<Vec<_>>(),
        ["8.0.x", "10.0.x"]
    );
}
