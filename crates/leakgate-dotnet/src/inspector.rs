//! The managed inspector bridge: a small ClrMD program (C# sources in `inspector/`, embedded
//! in this crate) reads a .NET dump and prints a [`ManagedSummary`] as JSON.
//!
//! ```no_run
//! use leakgate_dotnet::inspector::{Inspector, render_finalize_queue};
//! # fn main() -> Result<(), leakgate_dotnet::inspector::InspectorError> {
//! let inspector = Inspector::ensure_built(None)?; // first use builds it with the local .NET SDK
//! let summary = inspector.inspect(std::path::Path::new("/tmp/service.core"))?;
//! print!("{}", render_finalize_queue(&summary));
//! # Ok(())
//! # }
//! ```
//!
//! Layers: `summary` is the JSON contract (types and schema), `build` finds or builds the
//! program, `run` executes it and maps its error objects, `render` prints SOS-style tables,
//! `graph_file` reads the heap graph it writes with `--heap-graph`, and `paths` turns a dump
//! into retention paths (see [`Inspector::retention_paths`]).

mod build;
mod error;
mod graph_file;
mod paths;
mod render;
mod run;
mod summary;

pub use build::{DOTNET_ENV, Inspector, source_hash};
pub use error::InspectorError;
pub use graph_file::{
    HEAP_GRAPH_FORMAT_VERSION, HeapGraphFileCause, HeapGraphFileError, parse_heap_graph,
    read_heap_graph,
};
pub use render::{render_finalize_queue, render_heap_stat};
pub use summary::{
    AddressRange, ErrorBody, FREE_SPACE, GcSegment, GenerationCount, InspectorOutput,
    ManagedSummary, SCHEMA_VERSION, TypeStat, schema_json,
};
