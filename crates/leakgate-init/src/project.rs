//! Which project to gate, and what its project file says: whether it is a
//! web project, its target framework and assembly name, so the built dll's
//! path is known without building it. The project file is read as XML; a
//! `Directory.Build.props` above it is read the same way (MSBuild imports
//! it first, so the project's own values win).

use std::path::{Path, PathBuf};

use crate::InitError;

/// The SDK of ASP.NET Core projects.
const WEB_SDK: &str = "Microsoft.NET.Sdk.Web";

/// Directories never searched for projects or sources: build output,
/// dependencies, tools' state, and leakgate's own output.
pub(crate) const SKIPPED_DIRS: [&str; 6] = [
    "bin",
    "obj",
    "node_modules",
    "leakgate-out",
    "artifacts",
    "packages",
];

/// How deep under the given directory projects are looked for.
const SEARCH_DEPTH: usize = 5;

/// A project file and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The `.csproj` file.
    pub file: PathBuf,
    /// The file name without `.csproj`.
    pub name: String,
    /// Its SDK is the web SDK.
    pub is_web: bool,
    /// `AssemblyName`, else the project name.
    pub assembly: String,
    /// `TargetFramework`, or the newest of `TargetFrameworks`; `None` when
    /// not set in plain text (computed from other properties).
    pub target_framework: Option<String>,
    /// `RuntimeIdentifier`, which adds a directory to the output path.
    pub runtime_identifier: Option<String>,
    /// Why the output path cannot be predicted, if it cannot (an
    /// `OutputPath`, artifacts output, a computed value): leakgate then
    /// starts the service with `dotnet run`.
    pub unpredictable_output: Option<String>,
}

impl Project {
    /// The directory holding the project file.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// The dll `dotnet build -c Release` writes, relative to the project's
    /// directory, when that is predictable.
    pub fn release_dll(&self) -> Option<String> {
        if self.unpredictable_output.is_some() {
            return None;
        }
        let tfm = self.target_framework.as_deref()?;
        let rid = self
            .runtime_identifier
            .as_deref()
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        Some(format!("bin/Release/{tfm}/{rid}{}.dll", self.assembly))
    }

    /// The .NET major version of its target framework (`net8.0` → 8).
    pub fn dotnet_major(&self) -> Option<u32> {
        let tfm = self.target_framework.as_deref()?;
        tfm.strip_prefix("net")?.split('.').next()?.parse().ok()
    }
}

/// The project at `path`: a project file, or the one web project under a
/// directory (an error listing them when there are several).
pub fn find(path: &Path) -> Result<Project, InitError> {
    let meta = std::fs::metadata(path).map_err(|source| InitError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        return read(path);
    }
    let mut projects = Vec::new();
    let walk = walkdir::WalkDir::new(path)
        .max_depth(SEARCH_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_skipped(e));
    for entry in walk.filter_map(Result::ok) {
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "csproj") {
            projects.push(read(entry.path())?);
        }
    }
    let web: Vec<Project> = projects.iter().filter(|p| p.is_web).cloned().collect();
    match web.len() {
        1 => Ok(web.into_iter().next().expect("one")),
        0 => Err(InitError::NoWebProject {
            dir: path.to_path_buf(),
            projects: projects.into_iter().map(|p| p.file).collect(),
        }),
        _ => Err(InitError::SeveralWebProjects {
            dir: path.to_path_buf(),
            projects: web.into_iter().map(|p| p.file).collect(),
        }),
    }
}

/// Hidden directories and [`SKIPPED_DIRS`].
pub(crate) fn is_skipped(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    entry.file_type().is_dir()
        && (name.starts_with('.') || SKIPPED_DIRS.iter().any(|s| name.eq_ignore_ascii_case(s)))
}

/// Reads one project file (and the `Directory.Build.props` above it).
pub fn read(file: &Path) -> Result<Project, InitError> {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.extension().is_none_or(|e| e != "csproj") {
        return Err(InitError::NotAProject(file.to_path_buf()));
    }
    let own = Properties::of(file)?;
    let mut merged = Properties::default();
    for props in directory_build_props(file) {
        merged.fill_from(Properties::of(&props)?);
    }
    merged.fill_from(own.clone());
    // Whichever of the two was set last (the project's own over the props').
    let tfm = match merged.last_of(&["TargetFramework", "TargetFrameworks"]) {
        Some(("TargetFrameworks", list)) => newest(list),
        Some((_, tfm)) => Some(tfm),
        None => None,
    };
    let computed = |v: &Option<String>| v.as_deref().is_some_and(|v| v.contains("$("));
    let assembly = merged.get("AssemblyName");
    let rid = merged.get("RuntimeIdentifier");
    let unpredictable_output = if merged.is_true("UseArtifactsOutput") {
        Some("it builds into an artifacts directory (UseArtifactsOutput)".to_string())
    } else if let Some(p) = ["OutputPath", "BaseOutputPath", "ArtifactsPath"]
        .into_iter()
        .find(|p| merged.get(p).is_some())
    {
        Some(format!("it sets {p}"))
    } else if computed(&tfm) || computed(&assembly) || computed(&rid) {
        Some("its target framework or assembly name is computed".to_string())
    } else if tfm.is_none() {
        Some("no TargetFramework in its project file or Directory.Build.props".to_string())
    } else {
        None
    };
    Ok(Project {
        file: file.to_path_buf(),
        assembly: assembly.unwrap_or_else(|| name.clone()),
        name,
        is_web: own.web_sdk,
        target_framework: tfm,
        runtime_identifier: rid,
        unpredictable_output,
    })
}

/// The newest framework of a `TargetFrameworks` list (`net8.0;net10.0`).
fn newest(list: String) -> Option<String> {
    let version = |t: &str| -> (u32, u32) {
        let v = t.trim().strip_prefix("net").unwrap_or("");
        let mut parts = v.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    list.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .max_by_key(|t| version(t))
        .map(str::to_string)
}

/// `Directory.Build.props` files from the filesystem root down to the
/// project's directory (MSBuild imports the nearest one, which by
/// convention imports its parent's; reading all is the common case).
fn directory_build_props(file: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = file
        .ancestors()
        .skip(1)
        .map(|d| d.join("Directory.Build.props"))
        .filter(|p| p.is_file())
        .collect();
    found.reverse();
    found
}

/// The unconditional properties of an MSBuild file, and its SDK.
#[derive(Clone, Default)]
struct Properties {
    values: Vec<(String, String)>,
    web_sdk: bool,
}

impl Properties {
    fn of(file: &Path) -> Result<Properties, InitError> {
        let text = std::fs::read_to_string(file).map_err(|source| InitError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let text = text.trim_start_matches('\u{feff}');
        let doc = roxmltree::Document::parse(text).map_err(|e| InitError::Xml {
            path: file.to_path_buf(),
            line: e.pos().row,
            column: e.pos().col,
            source: e,
        })?;
        let root = doc.root_element();
        let is_web = |sdk: Option<&str>| {
            sdk.is_some_and(|s| {
                s.split(';')
                    .any(|s| s.trim().split('/').next() == Some(WEB_SDK))
            })
        };
        let mut props = Properties {
            web_sdk: is_web(root.attribute("Sdk")),
            ..Properties::default()
        };
        for node in root.children().filter(|n| n.is_element()) {
            match node.tag_name().name() {
                "Sdk" => props.web_sdk |= is_web(node.attribute("Name")),
                "Import" => props.web_sdk |= is_web(node.attribute("Sdk")),
                // Conditional groups (Debug, one framework) do not apply to all builds.
                "PropertyGroup" if node.attribute("Condition").is_none() => {
                    for p in node.children().filter(|n| n.is_element()) {
                        if p.attribute("Condition").is_none() {
                            let value = p.text().unwrap_or("").trim().to_string();
                            props.values.push((p.tag_name().name().to_string(), value));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(props)
    }

    /// The last value set (MSBuild's rule), if not empty.
    fn get(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    /// The last of `names` set, and its value, if not empty.
    fn last_of<'a>(&self, names: &[&'a str]) -> Option<(&'a str, String)> {
        let (name, value) = self
            .values
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))?;
        let name = names.iter().find(|n| *n == name)?;
        (!value.is_empty()).then(|| (*name, value.clone()))
    }

    fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Later files override earlier ones; the SDK is the project's own.
    fn fill_from(&mut self, later: Properties) {
        self.values.extend(later.values);
        self.web_sdk = later.web_sdk;
    }
}
