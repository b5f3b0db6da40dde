//! leakgate-heap: why objects are alive. A source-independent managed-heap graph (from a
//! dump through the ClrMD inspector, or from an EventPipe GC-heap snapshot), the shortest
//! retention path of each object from the GC roots, those paths grouped per type, the group
//! that grew between two snapshots, and how much memory the object holding it keeps alive
//! (its retained size, from the dominator tree).
//!
//! ```
//! use leakgate_heap::{HeapGraph, HeapGraphBuilder, PathGrowth, PathOptions, Root, ShortestPaths};
//!
//! /// A static list holding `kept` entries.
//! fn snapshot(kept: u64) -> HeapGraph {
//!     let mut b = HeapGraphBuilder::new();
//!     let list = b.add_type("System.Collections.Generic.List<Entry>", false);
//!     let array = b.add_type("Entry[]", false);
//!     let entry = b.add_type("Entry", false);
//!     let items = b.field_name("_items");
//!     let holder = b.add_object(0x1000, list, 32);
//!     b.add_reference(holder, 0x2000, Some(items));
//!     let elements = b.add_object(0x2000, array, 16 + 8 * kept);
//!     for i in 0..kept {
//!         let address = 0x10_0000 + 0x20 * i;
//!         b.add_object(address, entry, 24);
//!         b.add_reference(elements, address, None);
//!     }
//!     b.add_root(Root::static_field("Registry", "Entries"), 0x1000);
//!     b.build().expect("a well-formed heap")
//! }
//!
//! let (first, last) = (snapshot(10), snapshot(421));
//! let options = PathOptions::default(); // trace up to 100 instances per type
//! let before = ShortestPaths::compute(&first).type_paths("Entry", &options);
//! let after = ShortestPaths::compute(&last).type_paths("Entry", &options);
//! assert_eq!((after.instances, after.sampled, after.groups[0].estimated), (421, 100, 421));
//! let growth = PathGrowth::between(&before, &after);
//! // (`~`: estimated from the 100 instances traced.)
//! assert_eq!(
//!     growth.to_string(),
//!     "Entry: ~+411 of +411 through static Registry.Entries \
//!      → System.Collections.Generic.List<Entry>._items → Entry[] → Entry"
//! );
//! ```
//!
//! Layers: [`model`] (the graph), [`builder`] (from any source), [`bfs`] (shortest paths from
//! all roots), [`grouping`] (sampled paths of a type, grouped), [`diff`] (the path that grew),
//! [`dominators`] (who alone keeps objects alive, and their retained sizes), [`path`] and
//! [`root`] (what a path and a root are, and how they read), [`signature`] (a short stable
//! name for one way objects are kept alive).

pub mod bfs;
pub mod builder;
pub mod diff;
pub mod dominators;
pub mod grouping;
pub mod model;
pub mod path;
pub mod root;
pub mod signature;

pub use bfs::ShortestPaths;
pub use builder::{BuildError, HeapGraphBuilder, PendingObject};
pub use diff::{GroupGrowth, HolderGrowth, PathGrowth, SnapshotCounts};
pub use dominators::{Dominator, DominatorTree, Holder};
pub use grouping::{GroupHolder, PathGroup, PathOptions, TypePaths};
pub use model::{BuildStats, FieldId, HeapGraph, ObjectId, SeenRoot, TypeId};
pub use path::{PathStep, RetentionPath};
pub use root::Root;
pub use signature::LeakSignature;
