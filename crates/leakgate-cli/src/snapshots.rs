//! `leakgate review` / `accept` / `reject`: the cargo-insta protocol for
//! approved leak snapshots. A pending `NAME.snap.new` sits beside `NAME.snap`;
//! accepting renames it, rejecting deletes it. No hidden state.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use leakgate_gate::escape::{terminal_line, terminal_text};
use leakgate_gate::snapshot;

use crate::Outcome;

#[derive(Args)]
pub struct PendingArgs {
    /// Snapshot names, `.snap`/`.snap.new` files, or directories to search (default: the current directory).
    paths: Vec<PathBuf>,
}

/// The pending snapshots the arguments name; says so when there are none.
fn pending(args: &PendingArgs) -> anyhow::Result<Vec<PathBuf>> {
    let found = snapshot::pending_named(&args.paths)?;
    if found.is_empty() {
        println!("no pending snapshots");
    }
    Ok(found)
}

fn accept_one(p: &Path) -> anyhow::Result<()> {
    let approved = snapshot::accept(p).with_context(|| format!("cannot accept {}", p.display()))?;
    // File names come from the tree: one line each, never a workflow command.
    println!(
        "{}",
        terminal_line(&format!("accepted {}", approved.display()))
    );
    Ok(())
}

fn reject_one(p: &Path) -> anyhow::Result<()> {
    snapshot::reject(p).with_context(|| format!("cannot reject {}", p.display()))?;
    println!("{}", terminal_line(&format!("rejected {}", p.display())));
    Ok(())
}

pub fn accept(args: PendingArgs) -> anyhow::Result<Outcome> {
    pending(&args)?.iter().try_for_each(|p| accept_one(p))?;
    Ok(Outcome::Pass)
}

pub fn reject(args: PendingArgs) -> anyhow::Result<Outcome> {
    pending(&args)?.iter().try_for_each(|p| reject_one(p))?;
    Ok(Outcome::Pass)
}

pub fn review(args: PendingArgs) -> anyhow::Result<Outcome> {
    let pending = pending(&args)?;
    if pending.is_empty() {
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
            "{} {}",
            console::style("Reviewing").bold(),
            terminal_line(&format!("{} ({}/{})", p.display(), i + 1, pending.len()))
        );
        let diff =
            snapshot::diff_pending(p).with_context(|| format!("cannot read {}", p.display()))?;
        print!("{}", terminal_text(&diff));
        loop {
            print!("  a accept   r reject   s skip > ");
            std::io::stdout().flush()?;
            let Some(answer) = lines.next().transpose()? else {
                return Ok(Outcome::Pass);
            };
            match answer.trim() {
                "a" => accept_one(p)?,
                "r" => reject_one(p)?,
                "s" => println!("skipped"),
                _ => continue,
            }
            break;
        }
    }
    Ok(Outcome::Pass)
}
