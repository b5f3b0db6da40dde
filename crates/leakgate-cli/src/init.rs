//! `leakgate init [PATH]`: a scenario (and, with `--workflow`, a GitHub
//! workflow) from a .NET web project. Never overwrites a file.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use leakgate_init::{InitOptions, Plan};
use leakgate_pipeline::Outcome;

#[derive(clap::Args)]
pub struct InitArgs {
    /// A project file (`.csproj`) or a directory holding one web project.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Print the files to stdout instead of writing them.
    #[arg(long)]
    print: bool,
    /// Also write `.github/workflows/leakgate.yml` (at the repository's root)
    /// running the scenario with the leakgate Action.
    #[arg(long)]
    workflow: bool,
    /// The Action the workflow uses.
    #[arg(long, value_name = "REF", default_value = leakgate_init::DEFAULT_ACTION, env = "LEAKGATE_ACTION")]
    action: String,
}

pub fn init(args: InitArgs) -> anyhow::Result<Outcome> {
    let options = InitOptions {
        workflow: args.workflow,
        action: args.action,
    };
    let plan = leakgate_init::plan(&args.path, &options)?;
    if args.print {
        let mut out = std::io::stdout().lock();
        for (i, file) in plan.files.iter().enumerate() {
            if plan.files.len() > 1 {
                let separator = if i == 0 { "" } else { "---\n" };
                writeln!(out, "{separator}# {}", file.path.display())?;
            }
            out.write_all(file.contents.as_bytes())?;
        }
        return Ok(Outcome::Pass);
    }
    // Refuse before writing anything: no half-written set of files.
    if let Some(existing) = plan
        .files
        .iter()
        .find(|f| f.path.symlink_metadata().is_ok())
    {
        anyhow::bail!(
            "{} already exists; leakgate init never overwrites (remove it, or use --print)",
            existing.path.display()
        );
    }
    for file in &plan.files {
        if let Some(dir) = file.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file.path)
            .and_then(|mut f| f.write_all(file.contents.as_bytes()))
            .with_context(|| format!("cannot write {}", file.path.display()))?;
        println!("wrote {}", file.path.display());
    }
    summarise(&plan);
    Ok(Outcome::Pass)
}

/// What was found, and the next command.
fn summarise(plan: &Plan) {
    let e = &plan.endpoints;
    let routes = match e.gets.len() {
        0 => "no parameterless GET endpoint (loads `/`)".to_string(),
        1 => format!("1 GET endpoint ({})", e.gets[0].path),
        n => format!("{n} GET endpoints"),
    };
    let ready = match &e.health {
        Some(h) => format!("ready when {} answers", h.path),
        None => "ready when the port accepts connections".to_string(),
    };
    println!("project {}: {routes}; {ready}", plan.project.file.display());
    let scenario = &plan.files[0].path;
    println!("next: leakgate run {}", scenario.display());
}
