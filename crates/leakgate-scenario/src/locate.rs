//! Where each value of a scenario file is written, from the YAML parser's own
//! spans: a second, lenient pass over the text that keeps only locations.
//!
//! Checks that serde cannot express (a count too large, a URL that is not
//! loopback) name the value by its path, e.g. `["sampling", "count"]` or
//! `["load", "requests", "2", "path"]`, and the error points at it. A path
//! that is not written in the file (a default) falls back to its nearest
//! written parent.
//!
//! ```
//! use leakgate_scenario::locate::Locations;
//! let text = "sampling:\n  every: 5s\n  count: 4\nbudgets:\n  - metric: resident\n";
//! let at = Locations::read(text);
//! assert_eq!(at.find(&["sampling", "count"]), (3, 10));
//! assert_eq!(at.find(&["budgets", "0"]), (5, 5));
//! assert_eq!(at.find(&["sampling", "dump"]), (2, 3), "unwritten: its section");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A node of the location tree: a value's place and, for mappings and
/// sequences, its children by key or index.
#[derive(Debug, Default, Clone)]
struct Node {
    children: BTreeMap<String, (u64, u64, Node)>,
}

/// The location of every value in a scenario file.
#[derive(Debug, Default, Clone)]
pub struct Locations {
    root: Node,
}

impl Locations {
    /// Reads the locations of `text`; an unreadable text has none (the real
    /// parse reports why).
    pub fn read(text: &str) -> Locations {
        // Values are not judged here: let `.nan` through to the check that names it.
        let mut options = serde_saphyr::Options::default();
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
        serde_saphyr::from_str_with_options::<Node>(text, options)
            .map(|root| Locations { root })
            .unwrap_or_default()
    }

    /// `(line, column)`, 1-based, of the value at `path`, or of its nearest
    /// written parent; `(1, 1)` when nothing of it is written.
    pub fn find(&self, path: &[&str]) -> (u64, u64) {
        let mut node = &self.root;
        let mut found = (1, 1);
        for key in path {
            let Some((line, column, child)) = node.children.get(*key) else {
                break;
            };
            found = (*line, *column);
            node = child;
        }
        found
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

fn located(v: Spanned<Node>) -> (u64, u64, Node) {
    (v.referenced.line(), v.referenced.column(), v.value)
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            node.children.entry(key.0).or_insert(located(value));
        }
        Ok(node)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        let mut index = 0usize;
        while let Some(value) = seq.next_element::<Spanned<Node>>()? {
            node.children.insert(index.to_string(), located(value));
            index += 1;
        }
        Ok(node)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("~".into()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_values_are_located() {
        let text = "\
service:
  command: dotnet
load:
  requests: [{ path: /a }, { path: leak, weight: 2 }]
  command: wrk
";
        let at = Locations::read(text);
        assert_eq!(at.find(&["load", "command"]), (5, 12));
        assert_eq!(at.find(&["load", "requests", "1", "path"]), (4, 36));
        assert_eq!(at.find(&["service", "command"]), (2, 12));
    }

    #[test]
    fn unreadable_text_has_no_locations() {
        assert_eq!(Locations::read("a: [").find(&["a"]), (1, 1));
    }
}
