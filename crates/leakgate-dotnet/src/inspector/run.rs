//! Running the built inspector on one dump and holding it to the JSON contract.

use std::path::Path;

use super::build::quiet_dotnet_env;
use super::{ErrorBody, Inspector, InspectorError, ManagedSummary, SCHEMA_VERSION};

impl Inspector {
    /// Reads the managed heap of `dump` (an ELF core from createdump, or a Windows minidump
    /// with heap memory). Blocks until the inspector exits.
    pub fn inspect(&self, dump: &Path) -> Result<ManagedSummary, InspectorError> {
        self.run(dump, None)
    }

    /// [`Inspector::inspect`], and in the same walk of the heap the heap graph written to
    /// `graph_file` (read it with [`super::read_heap_graph`]). The graph holds no field
    /// values, only types, field names, sizes and addresses: it can be kept when the dump is not.
    pub fn inspect_with_heap_graph(
        &self,
        dump: &Path,
        graph_file: &Path,
    ) -> Result<ManagedSummary, InspectorError> {
        self.run(dump, Some(graph_file))
    }

    fn run(
        &self,
        dump: &Path,
        graph_file: Option<&Path>,
    ) -> Result<ManagedSummary, InspectorError> {
        let mut args = vec![
            self.dll.clone().into_os_string(),
            dump.as_os_str().to_owned(),
        ];
        if let Some(dac) = &self.dac {
            args.push("--dac".into());
            args.push(dac.clone().into_os_string());
        }
        if let Some(graph_file) = graph_file {
            args.push("--heap-graph".into());
            args.push(graph_file.as_os_str().to_owned());
        }
        // An OsStr, not a Path: duct runs a Path as a file path, a name through PATH.
        let expression = duct::cmd(self.dotnet.as_os_str(), args)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .before_spawn(|command| {
                // A group of its own, so a terminal's Ctrl-C reaches leakgate (which
                // winds down in order) rather than cutting the inspector short; and
                // PDEATHSIG so it does not outlive a killed leakgate.
                std::os::unix::process::CommandExt::process_group(command, 0);
                // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
                unsafe {
                    std::os::unix::process::CommandExt::pre_exec(command, || {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                quiet_dotnet_env(command);
                // Startup cost matters (one run per sample): tiered compilation's quick JIT on.
                command.env("DOTNET_TieredPGO", "0");
                Ok(())
            });
        let handle = expression.start().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                InspectorError::SdkMissing {
                    dotnet: self.dotnet.clone(),
                }
            }
            _ => InspectorError::Io {
                action: format!("running the inspector ({})", self.dll.display()),
                source: e,
            },
        })?;
        let running = |e| InspectorError::Io {
            action: format!("running the inspector ({})", self.dll.display()),
            source: e,
        };
        // Polled, not one long wait: a Ctrl-C (the cancel flag) kills it at once.
        let until = std::time::Instant::now() + self.timeout;
        let output = loop {
            if let Some(output) = handle.try_wait().map_err(running)? {
                break output.clone();
            }
            let cancelled = self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst));
            if cancelled || std::time::Instant::now() >= until {
                let _ = handle.kill();
                return Err(if cancelled {
                    InspectorError::Interrupted {
                        dump: dump.to_path_buf(),
                    }
                } else {
                    InspectorError::TimedOut {
                        dump: dump.to_path_buf(),
                        secs: self.timeout.as_secs(),
                    }
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        parse_output(dump, graph_file, &stdout, output.status.success(), &stderr)
    }
}

/// Maps the inspector's stdout to a summary or the matching error; anything else (a crash,
/// a missing field, a newer schema) is `BadOutput` with enough text to see why.
pub(super) fn parse_output(
    dump: &Path,
    graph_file: Option<&Path>,
    stdout: &str,
    exited_ok: bool,
    stderr: &str,
) -> Result<ManagedSummary, InspectorError> {
    let bad = |message: String| InspectorError::BadOutput {
        dump: dump.to_path_buf(),
        message,
        source: None,
    };
    let value: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| InspectorError::BadOutput {
            dump: dump.to_path_buf(),
            message: format!(
                "stdout is not one JSON document (exit {}; stdout starts {:?}; stderr: {})",
                if exited_ok { "ok" } else { "failed" },
                excerpt(stdout),
                excerpt(stderr)
            ),
            source: Some(e),
        })?;
    if let Some(error) = value.get("error") {
        let body: ErrorBody = serde_json::from_value(error.clone()).map_err(|source| {
            InspectorError::BadErrorObject {
                dump: dump.to_path_buf(),
                object: error.to_string(),
                source,
            }
        })?;
        return Err(error_from(dump, graph_file, body));
    }
    if !exited_ok {
        return Err(bad(format!(
            "exit failed without an error object; stderr: {}",
            excerpt(stderr)
        )));
    }
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(bad(format!(
            "schema_version is {version:?}, this leakgate reads {SCHEMA_VERSION}"
        )));
    }
    serde_json::from_value(value).map_err(|source| InspectorError::BadOutput {
        dump: dump.to_path_buf(),
        message: "summary does not match".into(),
        source: Some(source),
    })
}

fn error_from(dump: &Path, graph_file: Option<&Path>, body: ErrorBody) -> InspectorError {
    let dump = dump.to_path_buf();
    match body.kind.as_str() {
        "no_clr" => InspectorError::NoClr { dump },
        "dac_not_found" => InspectorError::DacNotFound {
            dump,
            message: body.message,
            looked_for: body.looked_for.into_iter().map(Into::into).collect(),
        },
        "dump_unreadable" => InspectorError::DumpUnreadable {
            dump,
            message: body.message,
        },
        "heap_graph_unwritable" => InspectorError::HeapGraph(super::HeapGraphFileError {
            file: graph_file.map(Path::to_path_buf).unwrap_or_default(),
            offset: 0,
            message: body.message,
            cause: None,
        }),
        other => InspectorError::BadOutput {
            dump,
            message: format!(
                "inspector error of unknown kind {other:?}: {}",
                body.message
            ),
            source: None,
        },
    }
}

fn excerpt(text: &str) -> String {
    const LIMIT: usize = 2000;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(stdout: &str, ok: bool) -> Result<ManagedSummary, InspectorError> {
        parse_output(Path::new("/tmp/x.core"), None, stdout, ok, "")
    }

    #[test]
    fn error_objects_map_to_variants() {
        let no_clr = r#"{"error":{"kind":"no_clr","message":"m"}}"#;
        assert!(matches!(
            parse(no_clr, false),
            Err(InspectorError::NoClr { .. })
        ));
        let dac = r#"{"error":{"kind":"dac_not_found","message":"m","looked_for":["/a/libmscordaccore.so"]}}"#;
        match parse(dac, false) {
            Err(InspectorError::DacNotFound { looked_for, .. }) => {
                assert_eq!(
                    looked_for,
                    vec![std::path::PathBuf::from("/a/libmscordaccore.so")]
                )
            }
            other => panic!("{other:?}"),
        }
        let bad = r#"{"error":{"kind":"dump_unreadable","message":"cut"}}"#;
        assert!(matches!(
            parse(bad, false),
            Err(InspectorError::DumpUnreadable { .. })
        ));
    }

    #[test]
    fn crashes_and_contract_breaks_are_bad_output() {
        assert!(matches!(
            parse("Unhandled exception.", false),
            Err(InspectorError::BadOutput { .. })
        ));
        assert!(matches!(
            parse(r#"{"schema_version":2}"#, true),
            Err(InspectorError::BadOutput { .. })
        ));
        assert!(matches!(
            parse(r#"{"schema_version":1}"#, true),
            Err(InspectorError::BadOutput { .. })
        ));
    }
}
