//! leakgate-init: a scenario that works unedited, written from a .NET web
//! project — and, if asked, the GitHub workflow that runs it on every pull
//! request. What it reads: the project file as XML ([`project`]) and the C#
//! source for route literals only ([`routes`]); what it writes: commented
//! YAML ([`scenario`], [`workflow`]) in which everything it could not find
//! is a comment saying what to fill in.
//!
//! ```no_run
//! let plan = leakgate_init::plan(std::path::Path::new("src/MyApi"), &Default::default())?;
//! for file in &plan.files {
//!     println!("{}:\n{}", file.path.display(), file.contents);
//! }
//! # Ok::<(), leakgate_init::InitError>(())
//! ```

pub mod project;
pub mod routes;
pub mod scenario;
pub mod workflow;

use std::path::{Path, PathBuf};

pub use project::Project;
pub use routes::Endpoints;

/// The Action's reference in a generated workflow when none is given.
pub const DEFAULT_ACTION: &str = "OWNER/leakgate/action@v1";

/// What to write besides the scenario.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Also write `.github/workflows/leakgate.yml`.
    pub workflow: bool,
    /// The `uses:` of the leakgate Action in that workflow.
    pub action: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            workflow: false,
            action: DEFAULT_ACTION.to_string(),
        }
    }
}

/// A file to write, and what goes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// What `leakgate init` found and will write.
#[derive(Clone, Debug)]
pub struct Plan {
    pub project: Project,
    pub endpoints: Endpoints,
    /// The scenario first, then the workflow if asked for.
    pub files: Vec<PlannedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not a valid project file", path.display())]
    Xml {
        path: PathBuf,
        line: u32,
        column: u32,
        #[source]
        source: roxmltree::Error,
    },
    #[error("{} is not a C# project file (.csproj); give a .csproj or a directory", .0.display())]
    NotAProject(PathBuf),
    #[error(
        "no ASP.NET Core project (Sdk=\"Microsoft.NET.Sdk.Web\") under {}{}",
        dir.display(),
        listed(" (found: ", projects, ")")
    )]
    NoWebProject {
        dir: PathBuf,
        projects: Vec<PathBuf>,
    },
    #[error(
        "several web projects under {}; name the one to gate, e.g. `leakgate init {}`{}",
        dir.display(),
        projects[0].display(),
        listed(" (found: ", projects, ")")
    )]
    SeveralWebProjects {
        dir: PathBuf,
        projects: Vec<PathBuf>,
    },
}

fn listed(open: &str, paths: &[PathBuf], close: &str) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("{open}{}{close}", names.join(", "))
}

/// Reads the project at `path` (a `.csproj`, or a directory holding one web
/// project) and plans the files to write: `leakgate/<project>.yaml` beside
/// it and, with [`InitOptions::workflow`], `.github/workflows/leakgate.yml`
/// at the root of its repository. Nothing is written.
pub fn plan(path: &Path, options: &InitOptions) -> Result<Plan, InitError> {
    let project = project::find(path)?;
    let endpoints = routes::discover(project.dir());
    let scenario_path = project
        .dir()
        .join("leakgate")
        .join(format!("{}.yaml", scenario::name_of(&project)));
    let mut files = vec![PlannedFile {
        path: scenario_path.clone(),
        contents: scenario::render(&project, &endpoints),
    }];
    if options.workflow {
        let root = repository_root(project.dir()).unwrap_or_else(|| project.dir().to_path_buf());
        let relative = relative_to(&scenario_path, &root);
        files.push(PlannedFile {
            path: root.join(".github").join("workflows").join("leakgate.yml"),
            contents: workflow::render(&project, &relative, &options.action),
        });
    }
    Ok(Plan {
        project,
        endpoints,
        files,
    })
}

/// The nearest directory at or above `dir` holding `.git`.
fn repository_root(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// `path` relative to `root` with `/` separators (both made absolute).
fn relative_to(path: &Path, root: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (path, root) = (abs(path), abs(root));
    let relative = path.strip_prefix(&root).unwrap_or(&path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
