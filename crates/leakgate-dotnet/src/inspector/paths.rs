//! Why objects in a dump are alive: the inspector exports the heap as a graph, leakgate-heap
//! finds the shortest retention paths. One search serves every type asked about.
//!
//! ```no_run
//! use leakgate_dotnet::inspector::Inspector;
//! use leakgate_heap::{PathGrowth, PathOptions};
//! # fn main() -> Result<(), leakgate_dotnet::inspector::InspectorError> {
//! let inspector = Inspector::ensure_built(None)?;
//! let types = ["System.Reflection.Emit.DynamicResolver"];
//! let options = PathOptions::default();
//! let first = inspector.retention_paths("sample-01.core".as_ref(), &types, &options)?;
//! let last = inspector.retention_paths("sample-05.core".as_ref(), &types, &options)?;
//! for group in &last[0].groups {
//!     println!("{} × {}", group.estimated, group.path);
//! }
//! println!("{}", PathGrowth::between(&first[0], &last[0]));
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use leakgate_heap::{HeapGraph, PathOptions, ShortestPaths, TypePaths};

use super::{Inspector, InspectorError, read_heap_graph};

impl Inspector {
    /// The heap of `dump` as a graph. The inspector writes it to a private temporary directory,
    /// which is removed once the graph is read.
    pub fn heap_graph(&self, dump: &Path) -> Result<HeapGraph, InspectorError> {
        let dir = tempfile::Builder::new()
            .prefix("leakgate-heap-graph-")
            .tempdir()
            .map_err(InspectorError::io(
                "creating a directory for the heap graph",
            ))?;
        let file = dir.path().join("heap.graph");
        self.inspect_with_heap_graph(dump, &file)?;
        Ok(read_heap_graph(&file)?)
    }

    /// The grouped retention paths of each of `type_names` in `dump`, in the order asked.
    pub fn retention_paths(
        &self,
        dump: &Path,
        type_names: &[&str],
        options: &PathOptions,
    ) -> Result<Vec<TypePaths>, InspectorError> {
        let graph = self.heap_graph(dump)?;
        let paths = ShortestPaths::compute(&graph);
        Ok(type_names
            .iter()
            .map(|name| paths.type_paths(name, options))
            .collect())
    }
}
