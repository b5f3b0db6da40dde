//! A small heap builder for tests: objects get addresses in creation order, references
//! read as the situation they build ("the list's `_items` field holds the array").
#![allow(dead_code)]

use leakgate_heap::{
    HeapGraph, HeapGraphBuilder, PathOptions, PendingObject, Root, ShortestPaths, TypePaths,
};

#[derive(Debug, Clone, Copy)]
pub struct Obj {
    pending: PendingObject,
    pub address: u64,
}

pub struct TestHeap {
    builder: HeapGraphBuilder,
    next_address: u64,
}

impl Default for TestHeap {
    fn default() -> Self {
        TestHeap::new()
    }
}

impl TestHeap {
    pub fn new() -> TestHeap {
        TestHeap {
            builder: HeapGraphBuilder::new(),
            next_address: 0x1000,
        }
    }

    /// A new object of `type_name` at the next free address.
    pub fn object(&mut self, type_name: &str) -> Obj {
        let address = self.next_address;
        self.next_address += 0x20;
        self.object_at(address, type_name)
    }

    pub fn object_at(&mut self, address: u64, type_name: &str) -> Obj {
        self.sized_at(address, type_name, 0x20)
    }

    /// A new object of `type_name` and `size` bytes at the next free address.
    pub fn sized(&mut self, type_name: &str, size: u64) -> Obj {
        let address = self.next_address;
        self.next_address += size.max(0x20).next_multiple_of(0x20);
        self.sized_at(address, type_name, size)
    }

    fn sized_at(&mut self, address: u64, type_name: &str, size: u64) -> Obj {
        let ty = self.builder.add_type(type_name, false);
        Obj {
            pending: self.builder.add_object(address, ty, size),
            address,
        }
    }

    /// `n` objects of `type_name`.
    pub fn objects(&mut self, type_name: &str, n: usize) -> Vec<Obj> {
        (0..n).map(|_| self.object(type_name)).collect()
    }

    /// `from.field` holds `to`.
    pub fn field(&mut self, from: Obj, field: &str, to: Obj) {
        let field = self.builder.field_name(field);
        self.builder
            .add_reference(from.pending, to.address, Some(field));
    }

    /// `from` (an array) holds `to` as an element.
    pub fn element(&mut self, from: Obj, to: Obj) {
        self.builder.add_reference(from.pending, to.address, None);
    }

    pub fn root(&mut self, root: Root, to: Obj) {
        self.builder.add_root(root, to.address);
    }

    pub fn build(self) -> HeapGraph {
        self.builder.build().expect("a test heap builds")
    }
}

/// The shortest path to the object at `address`, as one line (None: unreachable).
pub fn path_line(graph: &HeapGraph, address: u64) -> Option<String> {
    let object = graph.find(address).expect("an object at that address");
    ShortestPaths::compute(graph)
        .path_to(object)
        .map(|p| p.to_string())
}

/// The grouped paths of `type_name`, sampling at most `sample` instances.
pub fn type_paths(graph: &HeapGraph, type_name: &str, sample: usize) -> TypePaths {
    ShortestPaths::compute(graph).type_paths(type_name, &PathOptions { sample })
}

/// Each group as "estimated × path".
pub fn group_lines(paths: &TypePaths) -> Vec<String> {
    paths
        .groups
        .iter()
        .map(|g| format!("{} × {}", g.estimated, g.path))
        .collect()
}
