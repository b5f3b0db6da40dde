//! A snapshot as a [`HeapGraph`], for retention paths: the same model a dump
//! gives through the inspector, so one search serves both sources.
//!
//! What the runtime's events can and cannot say: references carry no field
//! names (BulkEdge has none), a static root names its field but not the
//! class that declares it, a stack root names neither thread nor method,
//! and a dependent handle becomes a reference from its key to its value
//! (the value lives as long as the key does).

use leakgate_heap::{BuildError, HeapGraph, HeapGraphBuilder, PendingObject, Root, SeenRoot};

use super::model::{GcHeapDump, GcRoot, RootKind};

/// The snapshot's objects, references and roots as a heap graph; type
/// names as ClrMD prints them.
pub fn heap_graph(dump: &GcHeapDump) -> Result<HeapGraph, BuildError> {
    let mut b = HeapGraphBuilder::with_capacity(dump.nodes.len(), dump.edges.len());
    let types: Vec<_> = dump
        .types
        .iter()
        .map(|t| b.add_type(&t.clrmd_name(), t.is_finalizable()))
        .collect();
    let unknown = b.add_type("<unknown type>", false);
    // Only the keys of dependent handles are looked up by address: a map of
    // them, not of every object (which would cost ~30 bytes per object).
    let mut keys: std::collections::HashMap<u64, Option<PendingObject>> = dump
        .dependent_handles
        .iter()
        .map(|handle| (handle.key, None))
        .collect();
    for (node, targets) in dump.nodes_with_edges() {
        let ty = types
            .get(node.type_index as usize)
            .copied()
            .unwrap_or(unknown);
        let object = b.add_object(node.address, ty, node.size);
        for &target in targets {
            b.add_reference(object, target, None);
        }
        if let Some(key) = keys.get_mut(&node.address) {
            key.get_or_insert(object);
        }
    }
    if !dump.dependent_handles.is_empty() {
        let dependent = b.field_name("(dependent handle)");
        for handle in &dump.dependent_handles {
            if let Some(&Some(key)) = keys.get(&handle.key) {
                b.add_reference(key, handle.value, Some(dependent));
            }
        }
    }
    for root in dump.roots.iter().filter(|r| r.is_strong()) {
        b.add_root(named_root(root), root.target);
    }
    b.build()
}

/// What a snapshot's root reads as on a path.
fn named_root(root: &GcRoot) -> Root {
    match &root.kind {
        RootKind::Stack => Root::stack(None, None),
        RootKind::FinalizerQueue => Root::FinalizerQueue,
        RootKind::Handle if root.is_pinning() => Root::PinnedHandle,
        RootKind::Handle => Root::StrongHandle,
        RootKind::StaticVariable {
            field_name,
            thread_local,
            ..
        } => Root::Other {
            label: format!(
                "{} {field_name}",
                if *thread_local {
                    "thread static"
                } else {
                    "static"
                }
            ),
        },
        RootKind::Other | RootKind::Unknown(_) => Root::Other {
            label: "runtime root".into(),
        },
    }
}

/// The snapshot's GC handles that keep their object alive, as roots a dump of
/// the same process can adopt ([`HeapGraph::adopt_roots`]): a dump's reader can
/// miss handles the runtime's own walk lists (dotnet/runtime#124872). Each
/// object's type is named as the dump names it, by method table (`names`),
/// else as the snapshot does.
pub fn handle_roots(
    dump: &GcHeapDump,
    names: &std::collections::HashMap<u64, String>,
) -> Vec<SeenRoot> {
    let mut held: std::collections::HashMap<u64, Root> = dump
        .roots
        .iter()
        .filter(|r| r.kind == RootKind::Handle && r.is_strong())
        .map(|r| (r.target, named_root(r)))
        .collect();
    let mut seen = Vec::with_capacity(held.len());
    for node in &dump.nodes {
        let Some(root) = held.remove(&node.address) else {
            continue;
        };
        let Some(ty) = dump.types.get(node.type_index as usize) else {
            continue;
        };
        let type_name = names
            .get(&ty.id)
            .cloned()
            .unwrap_or_else(|| ty.clrmd_name());
        seen.push(SeenRoot {
            root,
            address: node.address,
            type_name,
        });
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcheap::model::{GcNode, GcRoot, GcType};
    use leakgate_heap::{PathOptions, ShortestPaths};

    fn ty(id: u64, name: &str) -> GcType {
        GcType {
            id,
            name: Some(name.into()),
            flags: 0,
            module_id: 0,
            type_name_id: 0,
            cor_element_type: 0,
        }
    }

    #[test]
    fn a_static_list_becomes_a_named_path() {
        let dump = GcHeapDump {
            types: vec![
                ty(1, "System.Collections.Generic.List`1[Entry]"),
                ty(2, "Entry"),
            ],
            nodes: vec![
                GcNode {
                    address: 0x10,
                    size: 32,
                    type_index: 0,
                    edge_count: 2,
                },
                GcNode {
                    address: 0x20,
                    size: 24,
                    type_index: 1,
                    edge_count: 0,
                },
                GcNode {
                    address: 0x30,
                    size: 24,
                    type_index: 1,
                    edge_count: 0,
                },
            ],
            edges: vec![0x20, 0x30],
            roots: vec![GcRoot {
                kind: RootKind::StaticVariable {
                    type_id: 1,
                    field_name: "Entries".into(),
                    thread_local: false,
                },
                flags: 0,
                target: 0x10,
                root_id: 0,
            }],
            ..GcHeapDump::default()
        };
        let graph = heap_graph(&dump).unwrap();
        let paths = ShortestPaths::compute(&graph).type_paths("Entry", &PathOptions::default());
        assert_eq!(paths.instances, 2);
        assert_eq!(
            paths.groups[0].path.to_string(),
            "static Entries → System.Collections.Generic.List<Entry> → Entry"
        );
    }

    /// Strong and pinned handles become roots a dump can adopt, their objects
    /// named as the dump names them; weak handles and other roots do not.
    #[test]
    fn handles_are_roots_a_dump_can_adopt() {
        use crate::gcheap::events::root_flag;
        let node = |address, type_index| GcNode {
            address,
            size: 24,
            type_index,
            edge_count: 0,
        };
        let handle = |target, flags| GcRoot {
            kind: RootKind::Handle,
            flags,
            target,
            root_id: 0,
        };
        let dump = GcHeapDump {
            types: vec![ty(0x7f01, "TaskNode"), ty(0x7f02, "Entry")],
            nodes: vec![node(0x10, 0), node(0x20, 1), node(0x30, 1), node(0x40, 1)],
            roots: vec![
                handle(0x10, 0),
                handle(0x20, root_flag::PINNING),
                handle(0x30, root_flag::WEAK_REF),
                GcRoot {
                    kind: RootKind::Stack,
                    ..handle(0x40, 0)
                },
            ],
            ..GcHeapDump::default()
        };
        let names = std::collections::HashMap::from([(
            0x7f01,
            "System.Threading.SemaphoreSlim+TaskNode".to_string(),
        )]);
        let seen = handle_roots(&dump, &names);
        let shown: Vec<(u64, String, String)> = seen
            .iter()
            .map(|s| (s.address, s.root.to_string(), s.type_name.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    0x10,
                    "strong handle".to_string(),
                    "System.Threading.SemaphoreSlim+TaskNode".to_string()
                ),
                (0x20, "pinned handle".to_string(), "Entry".to_string()),
            ]
        );
    }
}
