//! The library's top-level modules import one another without circles: a module may use
//! only those below it. Read from the source text, so a new `use crate::…` that closes a
//! circle fails here with the circle named.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `path` (or `path` itself).
fn sources(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(std::fs::read_to_string(path).unwrap());
    }
}

/// The top-level modules each module names through `crate::` in its code (comments left
/// out), from the library's `src/`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';')))
        .map(str::to_string)
        .collect();
    assert!(modules.len() > 10, "lib.rs lists the modules: {modules:?}");
    let mut graph = BTreeMap::new();
    for module in &modules {
        let dir = src.join(module);
        let path = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
        let mut texts = Vec::new();
        sources(&path, &mut texts);
        let mut uses = BTreeSet::new();
        for text in texts {
            for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                for (i, _) in line.match_indices("crate::") {
                    let name: String =
                        line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if name != *module && modules.contains(&name) {
                        uses.insert(name);
                    }
                }
                // `use crate::{a, b::c}` names several.
                if let Some(list) = line.strip_prefix("use crate::{") {
                    for part in list.split([',', '}', ';']) {
                        let name = part.trim().split("::").next().unwrap_or("").to_string();
                        if name != *module && modules.contains(&name) {
                            uses.insert(name);
                        }
                    }
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A circle through `graph`, if there is one, as the modules along it.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_import_one_another_without_circles() {
    let graph = imports();
    assert!(graph["models"].contains("nn") && graph["web"].contains("models"), "the reader sees imports: {graph:?}");
    if let Some(circle) = find_circle(&graph) {
        panic!("an import circle: {}", circle.join(" → "));
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut graph = imports();
    graph.get_mut("gpu").unwrap().insert("models".into());
    let circle = find_circle(&graph).expect("gpu → models → … → gpu");
    assert_eq!(circle.first(), circle.last());
}
