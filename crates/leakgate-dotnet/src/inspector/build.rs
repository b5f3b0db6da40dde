//! Finding or building the inspector: the C# sources are embedded in this crate, so an
//! installed `leakgate` can build them anywhere with the local SDK; the build is cached per
//! source hash, so edited sources rebuild and unchanged ones are built once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::InspectorError;

/// Environment variable naming the `dotnet` executable (default: `dotnet` on PATH).
pub const DOTNET_ENV: &str = "LEAKGATE_DOTNET";

/// The inspector's sources, embedded so the binary does not depend on a checkout.
const SOURCES: &[(&str, &str)] = &[
    (
        "LeakgateInspector.csproj",
        include_str!("../../inspector/LeakgateInspector.csproj"),
    ),
    ("Program.cs", include_str!("../../inspector/Program.cs")),
    (
        "Inspection.cs",
        include_str!("../../inspector/Inspection.cs"),
    ),
    ("DumpCheck.cs", include_str!("../../inspector/DumpCheck.cs")),
    (
        "HeapGraphWriter.cs",
        include_str!("../../inspector/HeapGraphWriter.cs"),
    ),
    (
        "InspectorException.cs",
        include_str!("../../inspector/InspectorException.cs"),
    ),
];

const DLL: &str = "LeakgateInspector.dll";
/// Written last into a finished build: a directory without it is not trusted.
const COMPLETE_MARKER: &str = ".leakgate-complete";

/// A built inspector, ready to read dumps.
#[derive(Debug, Clone)]
pub struct Inspector {
    pub(super) dotnet: PathBuf,
    pub(super) dll: PathBuf,
    pub(super) dac: Option<PathBuf>,
    /// How long one inspection may take before it is stopped (a heap walk on a
    /// damaged dump can loop); default [`DEFAULT_INSPECT_TIMEOUT`].
    pub(super) timeout: std::time::Duration,
    /// Set from a Ctrl-C handler: a running inspection is killed once it turns true.
    pub(super) cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Generous: a multi-GiB heap takes seconds to walk, not minutes.
pub const DEFAULT_INSPECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// First 16 hex digits of the SHA-256 over the embedded sources (names and contents).
pub fn source_hash() -> String {
    let mut hasher = Sha256::new();
    for (name, text) in SOURCES {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

fn default_cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("leakgate"))
}

fn dotnet_from_env() -> PathBuf {
    std::env::var_os(DOTNET_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("dotnet"))
}

impl Inspector {
    /// Returns the cached inspector for these sources, building it first if needed.
    /// `cache_dir` holds `inspector-<hash>/`; default `$XDG_CACHE_HOME/leakgate` or
    /// `~/.cache/leakgate`. Uses `$LEAKGATE_DOTNET` or `dotnet` on PATH.
    pub fn ensure_built(cache_dir: Option<&Path>) -> Result<Inspector, InspectorError> {
        Self::ensure_built_with(&dotnet_from_env(), cache_dir)
    }

    /// [`Inspector::ensure_built`] with an explicit `dotnet` executable.
    pub fn ensure_built_with(
        dotnet: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Inspector, InspectorError> {
        let root = match cache_dir {
            Some(dir) => dir.to_path_buf(),
            None => default_cache_root().ok_or_else(|| InspectorError::Io {
                action: "finding a cache directory for the inspector".into(),
                source: std::io::Error::other("neither XDG_CACHE_HOME nor HOME is set"),
            })?,
        };
        let dir = root.join(format!("inspector-{}", source_hash()));
        let marker = dir.join(COMPLETE_MARKER);
        if marker.is_file() {
            // Marks the build as in use, for the pruning below.
            let _ = std::fs::File::options()
                .append(true)
                .open(&marker)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        } else {
            build_into(dotnet, &root, &dir)?;
            prune_old_builds(&root, &dir);
        }
        Ok(Inspector {
            timeout: DEFAULT_INSPECT_TIMEOUT,
            dotnet: dotnet.to_path_buf(),
            dll: dir.join(DLL),
            dac: None,
            cancel: None,
        })
    }

    /// Stops an inspection that takes longer than `timeout`.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Inspector {
        self.timeout = timeout;
        self
    }

    /// Kills a running inspection (with [`InspectorError::Interrupted`]) once
    /// `cancel` turns true: Ctrl-C does not wait for a heap walk.
    pub fn with_cancel(
        mut self,
        cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Inspector {
        self.cancel = Some(cancel);
        self
    }

    /// Use this DAC (`libmscordaccore.so` / `mscordaccore.dll`) instead of searching for one:
    /// for dumps from a runtime version not installed here.
    pub fn with_dac(mut self, dac: impl Into<PathBuf>) -> Inspector {
        self.dac = Some(dac.into());
        self
    }

    /// The built `LeakgateInspector.dll`.
    pub fn dll(&self) -> &Path {
        &self.dll
    }

    /// The `dotnet` executable it runs under.
    pub fn dotnet(&self) -> &Path {
        &self.dotnet
    }
}

/// Builds in a private temporary directory beside `dir`, then renames it into place, so
/// concurrent builders never see (or leave) a half-written cache entry; the loser of the
/// rename race drops its copy and uses the winner's.
fn build_into(dotnet: &Path, root: &Path, dir: &Path) -> Result<(), InspectorError> {
    std::fs::create_dir_all(root).map_err(InspectorError::io(format!(
        "creating the cache directory {}",
        root.display()
    )))?;
    let work = tempfile::Builder::new()
        .prefix(".inspector-build-")
        .tempdir_in(root)
        .map_err(InspectorError::io(format!(
            "creating a build directory in {}",
            root.display()
        )))?;
    let src = work.path().join("src");
    let out = work.path().join("out");
    std::fs::create_dir_all(&src)
        .map_err(InspectorError::io(format!("creating {}", src.display())))?;
    for (name, text) in SOURCES {
        std::fs::write(src.join(name), text).map_err(InspectorError::io(format!(
            "writing {}",
            src.join(name).display()
        )))?;
    }

    let mut command = Command::new(dotnet);
    command
        .arg("build")
        .arg(src.join("LeakgateInspector.csproj"))
        // No build server or MSBuild nodes left running after us (they would outlive a CI step).
        .args(["-c", "Release", "--nologo", "-v", "q", "-nodeReuse:false"])
        .args(["-p:UseSharedCompilation=false", "-o"])
        .arg(&out)
        .stdin(Stdio::null());
    quiet_dotnet_env(&mut command);
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            InspectorError::SdkMissing {
                dotnet: dotnet.to_path_buf(),
            }
        }
        _ => InspectorError::Io {
            action: format!("running {} build", dotnet.display()),
            source: e,
        },
    })?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if log.contains("No .NET SDKs were found") {
        return Err(InspectorError::SdkMissing {
            dotnet: dotnet.to_path_buf(),
        });
    }
    if !output.status.success() || !out.join(DLL).is_file() {
        return Err(InspectorError::BuildFailed { dir: src, log });
    }
    std::fs::write(out.join(COMPLETE_MARKER), source_hash()).map_err(InspectorError::io(
        format!("writing {}", out.join(COMPLETE_MARKER).display()),
    ))?;

    // A stale, unmarked directory (a crash between rename and marker cannot happen, but a
    // manual copy can) is moved aside so the rename below can succeed.
    if dir.exists() && !dir.join(COMPLETE_MARKER).is_file() {
        let stale = work.path().join("stale");
        let _ = std::fs::rename(dir, &stale);
    }
    match std::fs::rename(&out, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(COMPLETE_MARKER).is_file() => Ok(()), // another builder won
        Err(e) => Err(InspectorError::Io {
            action: format!("moving the inspector build into {}", dir.display()),
            source: e,
        }),
    }
}

/// Removes inspectors of earlier sources from the cache: only complete
/// `inspector-<hash>` builds (leakgate's own, by their marker) that no run
/// has touched for a week, so a concurrent older leakgate keeps its copy.
fn prune_old_builds(root: &Path, current: &Path) {
    const UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with("inspector-")
            && path.join(COMPLETE_MARKER).is_file();
        let unused = std::fs::metadata(path.join(COMPLETE_MARKER))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > UNUSED_FOR));
        if ours && unused && path != current {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// No telemetry banner, no first-run experience: nothing on stdout but what we ask for.
pub(super) fn quiet_dotnet_env(command: &mut Command) {
    let vars: [(&str, OsString); 3] = [
        ("DOTNET_CLI_TELEMETRY_OPTOUT", "1".into()),
        ("DOTNET_NOLOGO", "1".into()),
        ("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1".into()),
    ];
    command.envs(vars);
}
