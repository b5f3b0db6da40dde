//! Prints `!address -summary` for dumps or saved maps/smaps files, or for
//! a live process: `cargo run -p leakgate-memory --example address_summary -- FILE... | --pid PID`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--pid") {
        let pid: u32 = args.get(1).ok_or("--pid needs a pid")?.parse()?;
        let (maps, smaps) = leakgate_memory::read_live(pid)?;
        let map = leakgate_memory::parse_proc_maps(&maps, Some(&smaps))?;
        print!(
            "{}",
            leakgate_memory::render_address_summary(&map.summary())
        );
        return Ok(());
    }
    for a in &args {
        let map = leakgate_memory::read_dump(Path::new(a))?;
        println!("== {a}");
        print!(
            "{}",
            leakgate_memory::render_address_summary(&map.summary())
        );
    }
    Ok(())
}
