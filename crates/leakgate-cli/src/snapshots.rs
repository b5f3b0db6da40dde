//! `leakgate review` / `accept` / `reject`: the cargo-insta protocol for
//! approved leak snapshots. A pending `NAME.snap.new` sits beside `NAME.snap`;
//! accepting renames it, rejecting deletes it. No hidden state.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use leakgate_gate::snapshot;

use crate::Outcome;

#[derive(Args)]
pub struct PendingArgs {
    /// Snapshot names, `.snap`/`.snap.new` files, or directories to search (default: the current directory).
    paths: Vec<PathBuf>,
}

/// The pending snapshots the arguments name, as `.snap.new` paths.
fn pending(args: &PendingArgs) -> anyhow::Result<Vec<PathBuf>> {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut found = Vec::new();
    for root in roots {
        if root.is_dir() {
            found.extend(
                snapshot::pending(&root)
                    .with_context(|| format!("cannot search {}", root.display()))?,
            );
            continue;
        }
        let new = pending_path(&root);
        if !new.exists() {
            bail!(
                "no pending snapshot {} (run the scenario first)",
                new.display()
            );
        }
        found.push(new);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `x.snap.new` for `x`, `x.snap` or `x.snap.new`.
fn pending_path(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    if s.ends_with(".snap") || s.ends_with(".snap.new") {
        snapshot::pending_path(path)
    } else {
        PathBuf::from(format!("{s}.snap.new"))
    }
}

pub fn accept(args: PendingArgs) -> anyhow::Result<Outcome> {
    let pending = pending(&args)?;
    if pending.is_empty() {
        println!("no pending snapshots");
    }
    for p in pending {
        let approved =
            snapshot::accept(&p).with_context(|| format!("cannot accept {}", p.display()))?;
        println!("accepted {}", approved.display());
    }
    Ok(Outcome::Pass)
}

pub fn reject(args: PendingArgs) -> anyhow::Result<Outcome> {
    let pending = pending(&args)?;
    if pending.is_empty() {
        println!("no pending snapshots");
    }
    for p in pending {
        snapshot::reject(&p).with_context(|| format!("cannot reject {}", p.display()))?;
        println!("rejected {}", p.display());
    }
    Ok(Outcome::Pass)
}

pub fn review(args: PendingArgs) -> anyhow::Result<Outcome> {
    let pending = pending(&args)?;
    if pending.is_empty() {
        println!("no pending snapshots");
        return Ok(Outcome::Pass);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "review asks a question per snapshot and needs a terminal; use `leakgate accept` or `leakgate reject`"
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    for (i, p) in pending.iter().enumerate() {
        println!(
            "{} {} ({}/{})",
            console::style("Reviewing").bold(),
            p.display(),
            i + 1,
            pending.len()
        );
        print!(
            "{}",
            snapshot::diff_pending(p).with_context(|| format!("cannot read {}", p.display()))?
        );
        loop {
            print!("  a accept   r reject   s skip > ");
            std::io::stdout().flush()?;
            let Some(answer) = lines.next().transpose()? else {
                return Ok(Outcome::Pass);
            };
            match answer.trim() {
                "a" => {
                    let approved = snapshot::accept(p)?;
                    println!("accepted {}", approved.display());
                }
                "r" => {
                    snapshot::reject(p)?;
                    println!("rejected {}", p.display());
                }
                "s" => println!("skipped"),
                _ => continue,
            }
            break;
        }
    }
    Ok(Outcome::Pass)
}
