//! Graph build, shortest paths and dominators on synthetic heaps of 10^6 and 10^7 objects.
//!
//! ```text
//! cargo run --release -p leakgate-heap --example dominators_bench [-- 1000000 10000000]
//! ```
//!
//! The heap looks like a service's: dictionaries (an array of entries, each with a key
//! string and a value that links to the previous one, to a nearby object and, 1 in 20,
//! anywhere in the heap), linked lists (some closed into a cycle), one list 10^5 long,
//! containers holding containers, many static and stack roots, a little garbage. Memory for the dominator step
//! is measured twice: the peak of bytes allocated above those held before it (a counting
//! allocator: exact, whatever malloc keeps cached), and the peak resident size above the one
//! before it (Linux: the peak is reset through /proc/self/clear_refs first). Target at 10^7
//! objects: ≤ 5 s, ≤ 80 bytes/object.

use std::time::Instant;

use leakgate_heap::{
    DominatorTree, HeapGraph, HeapGraphBuilder, PendingObject, Root, ShortestPaths, TypeId,
};

#[path = "support/measure.rs"]
mod measure;
use measure::{cpu_seconds, reset_peak_rss, status_kib};

fn main() {
    let sizes = measure::sizes().into_iter().map(|n| n as usize);
    for objects in sizes {
        run(objects);
    }
}

fn run(objects: usize) {
    let start = Instant::now();
    let graph = synthetic_heap(objects, 0x5eed);
    let build = start.elapsed();

    let start = Instant::now();
    let reachable = ShortestPaths::compute(&graph).reachable_count();
    let bfs = start.elapsed();

    reset_peak_rss();
    let before = status_kib("VmRSS");
    let allocated_before = measure::reset();
    let (start, cpu_before) = (Instant::now(), cpu_seconds());
    let tree = DominatorTree::compute(&graph);
    let dominators = start.elapsed();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let (peak, after) = (status_kib("VmHWM"), status_kib("VmRSS"));
    let (most, held) = measure::peak_and_held();
    let (allocated_peak, allocated_kept) = (most - allocated_before, held - allocated_before);

    let n = graph.object_count() as f64;
    println!(
        "{} objects, {} references ({:.2}/object), {} roots, {} reachable (BFS {}, dominators {})",
        graph.object_count(),
        graph.edge_count(),
        graph.edge_count() as f64 / n,
        graph.roots().len(),
        reachable,
        reachable,
        tree.reachable_count()
    );
    println!("  graph build  {:>8.3} s", build.as_secs_f64());
    println!("  BFS          {:>8.3} s", bfs.as_secs_f64());
    match cpu {
        Some(cpu) => println!(
            "  dominators   {:>8.3} s (CPU {cpu:.2} s)",
            dominators.as_secs_f64()
        ),
        None => println!("  dominators   {:>8.3} s", dominators.as_secs_f64()),
    }
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "  dominators allocated: peak {:.0} MiB ({:.1} bytes/object), kept {:.0} MiB ({:.1} bytes/object)",
        mib(allocated_peak),
        allocated_peak as f64 / n,
        mib(allocated_kept),
        allocated_kept as f64 / n,
    );
    match (before, peak, after) {
        (Some(before), Some(peak), Some(after)) => println!(
            "  dominators resident: peak +{:.0} MiB ({:.1} bytes/object), kept +{:.0} MiB ({:.1} bytes/object)",
            (peak.saturating_sub(before)) as f64 / 1024.0,
            (peak.saturating_sub(before) * 1024) as f64 / n,
            (after.saturating_sub(before)) as f64 / 1024.0,
            (after.saturating_sub(before) * 1024) as f64 / n,
        ),
        _ => println!("  dominators resident: /proc/self/status unreadable"),
    }
    let top = graph
        .roots()
        .iter()
        .map(|(_, o)| (tree.retained_size(*o), *o))
        .max();
    if let Some((bytes, object)) = top {
        println!(
            "  largest rooted retained size: {:.1} MiB ({} objects)",
            bytes as f64 / (1024.0 * 1024.0),
            tree.retained_objects(object)
        );
    }
}

/// A heap of about `objects` objects, laid out in address order as a heap walk gives it.
fn synthetic_heap(objects: usize, seed: u64) -> HeapGraph {
    let mut rng = Rng(seed);
    let mut b = HeapGraphBuilder::with_capacity(objects, objects * 5 / 2);
    let container = b.add_type("Container", false);
    let array = b.add_type("Entry[]", false);
    let entry = b.add_type("Entry", false);
    let string = b.add_type("System.String", false);
    let value = b.add_type("Value", false);
    let node = b.add_type("LinkedListNode<Value>", false);
    let (items, key, val, next, prev, other, owner) = (
        b.field_name("_items"),
        b.field_name("key"),
        b.field_name("value"),
        b.field_name("next"),
        b.field_name("prev"),
        b.field_name("other"),
        b.field_name("owner"),
    );
    let mut count = 0usize;
    let mut containers: Vec<(PendingObject, u64)> = Vec::new();
    let mut long_list_done = false;

    while count < objects {
        let room = objects - count;
        let (head, head_address) = new(&mut b, &mut count, container, 48);
        // Held by a static, by another container, or (1 in 30) by nothing: garbage.
        match rng.below(30) {
            0 => {}
            1..=12 => b.add_root(
                Root::static_field(format!("App.Cache{}", containers.len()), "instance"),
                head_address,
            ),
            _ => match containers.get(rng.below(containers.len().max(1) as u64) as usize) {
                Some(&(parent, _)) => b.add_reference(parent, head_address, Some(other)),
                None => b.add_root(Root::StrongHandle, head_address),
            },
        }
        containers.push((head, head_address));

        if rng.below(2) == 0 {
            // A dictionary: container → array → entries → key and value.
            let k = (1 + rng.below(2000) as usize)
                .min(room.saturating_sub(2) / 3)
                .max(1);
            let (elements, elements_address) = new(&mut b, &mut count, array, 16 + 8 * k as u64);
            b.add_reference(head, elements_address, Some(items));
            let mut previous: Option<(u64, u64)> = None; // entry, value
            for _ in 0..k {
                let (e, e_address) = new(&mut b, &mut count, entry, 32);
                b.add_reference(elements, e_address, None);
                let (_, k_address) = new(&mut b, &mut count, string, 20 + 2 * rng.below(40));
                b.add_reference(e, k_address, Some(key));
                let (v, v_address) = new(&mut b, &mut count, value, 40);
                b.add_reference(e, v_address, Some(val));
                b.add_reference(v, head_address, Some(owner));
                if let Some((previous_entry, previous_value)) = previous {
                    b.add_reference(v, previous_value, Some(prev));
                    if rng.below(2) == 0 {
                        b.add_reference(e, previous_entry, Some(next)); // a chained bucket
                    }
                }
                b.add_reference(v, nearby(&mut rng, count), Some(other));
                if rng.below(20) == 0 {
                    // Anywhere in the heap, before or after: cross links and cycles.
                    b.add_reference(v, address(rng.below(objects as u64) as usize), Some(other));
                }
                previous = Some((e_address, v_address));
            }
        } else {
            // A linked list of nodes each holding a value; one of them 10^5 long.
            let length = if !long_list_done && room > 300_000 {
                long_list_done = true;
                100_000
            } else {
                (1 + rng.below(1000) as usize)
                    .min(room.saturating_sub(1) / 2)
                    .max(1)
            };
            let (mut last, mut last_address) = (head, head_address);
            let mut first_address = None;
            for _ in 0..length {
                let (n, n_address) = new(&mut b, &mut count, node, 48);
                b.add_reference(last, n_address, Some(next));
                b.add_reference(n, last_address, Some(prev));
                let (v, v_address) = new(&mut b, &mut count, value, 40);
                b.add_reference(n, v_address, Some(val));
                b.add_reference(v, nearby(&mut rng, count), Some(other));
                if rng.below(20) == 0 {
                    b.add_reference(v, address(rng.below(objects as u64) as usize), Some(other));
                }
                first_address.get_or_insert(n_address);
                (last, last_address) = (n, n_address);
            }
            if let (Some(first), 0) = (first_address, rng.below(5)) {
                b.add_reference(last, first, Some(next)); // a circular list
            }
        }
    }
    // Locals on stacks: a few thousand objects anywhere.
    for thread in 0..(objects / 2000).max(1) {
        let target = address(rng.below(count as u64) as usize);
        b.add_root(
            Root::stack(Some(thread as u32), Some("Worker.Run()")),
            target,
        );
    }
    b.build().expect("the synthetic heap is well-formed")
}

fn address(i: usize) -> u64 {
    0x10_0000 + 0x20 * i as u64
}

/// A new object at the next address.
fn new(b: &mut HeapGraphBuilder, count: &mut usize, ty: TypeId, size: u64) -> (PendingObject, u64) {
    *count += 1;
    (
        b.add_object(address(*count - 1), ty, size),
        address(*count - 1),
    )
}

/// One of the last few thousand objects made: most references stay near their holder.
fn nearby(rng: &mut Rng, count: usize) -> u64 {
    address(count - 1 - rng.below(count.min(5000) as u64) as usize)
}

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound.max(1)
    }
}
