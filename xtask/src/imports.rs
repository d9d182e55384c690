//! `cargo xtask imports`: the module import graph of each library crate
//! under `crates/`, checked for circles.
//!
//! A node is a top-level module of the crate (`src/x.rs` or `src/x/`; a
//! submodule belongs to its top-level module, so a parent and its children
//! are one node). An edge `a -> b` is a `crate::b...` path anywhere in the
//! non-test code of `a` (a `use` or a path in an expression), where `b` is a
//! module the crate root declares, or an item the crate root re-exports from
//! `b` (`pub use b::Item`). Comments, doc comments and the trailing
//! `#[cfg(test)] mod tests` of a file are skipped: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's modules and the modules each imports.
pub(crate) type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph of the crate whose sources are under `src`.
pub(crate) fn crate_graph(src: &Path) -> Result<Graph, String> {
    let root = read(&src.join("lib.rs"))?;
    let root = code_lines(&root);
    let modules = declared_modules(&root);
    let reexports = reexported_items(&root, &modules);
    let mut graph = Graph::new();
    for module in &modules {
        let mut files = Vec::new();
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        rust_files(&src.join(module), &mut files)?;
        let edges = graph.entry(module.clone()).or_default();
        for file in files {
            let text = read(&file)?;
            for target in crate_paths(&code_lines(&text)) {
                let node = if modules.contains(&target) {
                    Some(target)
                } else {
                    reexports.get(&target).cloned()
                };
                if let Some(node) = node.filter(|node| node != module) {
                    edges.insert(node);
                }
            }
        }
    }
    Ok(graph)
}

/// The number of edges of `graph`.
pub(crate) fn edge_count(graph: &Graph) -> usize {
    graph.values().map(BTreeSet::len).sum()
}

/// A circle of `graph` (its modules in order, the first repeated at the
/// end), if it has one.
pub(crate) fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::OnPath) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut circle = path[start..].to_vec();
                circle.push(node.to_owned());
                return Some(circle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::OnPath);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, marks, path) {
                return Some(circle);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

/// The modules of `graph` that lie on some circle.
pub(crate) fn modules_in_circles(graph: &Graph) -> BTreeSet<String> {
    let reaches_itself = |start: &String| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph.get(start).into_iter().flatten().collect();
        while let Some(node) = stack.pop() {
            if node == start {
                return true;
            }
            if seen.insert(node) {
                stack.extend(graph.get(node).into_iter().flatten());
            }
        }
        false
    };
    graph
        .keys()
        .filter(|m| reaches_itself(m))
        .cloned()
        .collect()
}

/// Checks the library crates `names` under `crates/` of `workspace` (every
/// one when `names` is empty): prints each crate's module and edge counts,
/// fails naming a circle.
pub(crate) fn check(workspace: &Path, names: &[String], verbose: bool) -> Result<(), String> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(workspace.join("crates"))
        .map_err(|error| format!("listing crates/: {error}"))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|dir| dir.join("src").join("lib.rs").is_file())
        .filter(|dir| {
            names.is_empty()
                || dir
                    .file_name()
                    .is_some_and(|n| names.iter().any(|name| n == name.as_str()))
        })
        .collect();
    crates.sort();
    if crates.len() < names.len() {
        return Err(format!(
            "not every one of {names:?} is a library crate under crates/"
        ));
    }
    let mut circles = Vec::new();
    for dir in crates {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let graph = crate_graph(&dir.join("src"))?;
        eprintln!(
            "{name}: {} modules, {} import edges, {} modules on a circle",
            graph.len(),
            edge_count(&graph),
            modules_in_circles(&graph).len()
        );
        if verbose {
            for (module, targets) in &graph {
                let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
                eprintln!("  {module} -> {}", targets.join(", "));
            }
        }
        if let Some(circle) = find_circle(&graph) {
            circles.push(format!("{name}: {}", circle.join(" -> ")));
        }
    }
    if circles.is_empty() {
        Ok(())
    } else {
        Err(format!("import circles: {}", circles.join("; ")))
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("reading {}: {error}", path.display()))
}

/// Every `.rs` file under `dir` (none when it is no directory).
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// The lines of `text` that are code: no comment lines, and nothing from a
/// `#[cfg(test)]` followed by an inline `mod name {` on.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut code = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines.get(index + 1).is_some_and(|next| {
                next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{')
            })
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push(*line);
    }
    code
}

/// The modules `mod x;` (any visibility) declares in the crate root, but
/// not those only tests build (`#[cfg(test)]` or `#[cfg(all(test, ..))]`
/// on the line before).
fn declared_modules(root: &[&str]) -> BTreeSet<String> {
    let test_only = |index: usize| {
        index > 0 && {
            let attribute = root[index - 1].trim();
            attribute.starts_with("#[cfg(") && attribute.contains("test")
        }
    };
    root.iter()
        .enumerate()
        .filter(|&(index, _)| !test_only(index))
        .filter_map(|(_, line)| {
            let line = line.trim();
            let rest = line.strip_suffix(';')?;
            let name = rest.split_whitespace().skip_while(|w| *w != "mod").nth(1)?;
            Some(name.to_owned())
        })
        .collect()
}

/// The items the crate root re-exports from its own modules
/// (`pub use m::Item;`, `pub use m::{A, B};`), each with its module.
fn reexported_items(root: &[&str], modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    for line in root {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim_end_matches(';');
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        if !modules.contains(module) {
            continue;
        }
        let names = rest
            .trim_start_matches('{')
            .trim_end_matches('}')
            .split(',')
            .filter_map(|item| item.trim().rsplit("::").next())
            .filter_map(|item| item.split(" as ").last())
            .map(str::trim)
            .filter(|name| !name.is_empty());
        for name in names {
            items.insert(name.to_owned(), module.to_owned());
        }
    }
    items
}

/// The first segment after every `crate::` in `lines` (each member of a
/// `crate::{a::X, b}` group).
fn crate_paths(lines: &[&str]) -> Vec<String> {
    let text = lines.join("\n");
    let mut found = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = group.len();
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = index;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 && c != ',' {
                    item.push(c);
                }
            }
            items.push(item);
            found.extend(items.iter().map(|item| leading_ident(item.trim())));
        } else {
            found.push(leading_ident(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

/// The identifier `text` starts with (empty when none).
fn leading_ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    }

    #[test]
    fn a_circle_through_three_modules_is_found_and_a_diamond_is_none() {
        let circle = find_circle(&graph(&[
            ("db", "jobs"),
            ("jobs", "health"),
            ("health", "db"),
        ]));
        assert_eq!(
            circle,
            Some(vec![
                "db".to_owned(),
                "jobs".to_owned(),
                "health".to_owned(),
                "db".to_owned()
            ])
        );
        let diamond = graph(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]);
        assert_eq!(find_circle(&diamond), None);
        assert!(modules_in_circles(&diamond).is_empty());
        let tail = graph(&[("a", "b"), ("b", "c"), ("c", "b")]);
        let on_circle: Vec<String> = modules_in_circles(&tail).into_iter().collect();
        assert_eq!(on_circle, vec!["b".to_owned(), "c".to_owned()]);
        assert_eq!(edge_count(&diamond), 4);
    }

    #[test]
    fn crate_paths_are_read_from_uses_groups_and_expressions_but_not_comments() {
        let text = "use crate::db::{DbInner, DB};\n\
                    #[cfg(test)]\n\
                    mod test_support;\n\
                    use crate::{error::Result, iter};\n\
                    // use crate::commented::X;\n\
                    /// [`crate::doc_link`]\n\
                    fn f() { crate::recovery::open(p); my_crate::other(); }\n\
                    #[cfg(test)]\n\
                    mod tests {\n\
                    use crate::testonly::X;\n\
                    }\n";
        let paths = crate_paths(&code_lines(text));
        assert_eq!(paths, vec!["db", "error", "iter", "recovery"]);
    }

    /// The crates `cargo xtask ci` requires acyclic are, in the tree as it
    /// is (the same check as the CI step, so a plain test run catches a new
    /// circle too).
    #[test]
    fn the_required_crates_import_their_modules_in_no_circle() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
        for name in crate::ACYCLIC_CRATES {
            let graph = crate_graph(&crates.join(name).join("src")).unwrap();
            assert!(graph.len() > 1, "{name}: no modules found");
            assert_eq!(find_circle(&graph), None, "{name}");
        }
    }

    #[test]
    fn reexported_items_name_their_module() {
        let root = [
            "mod db;",
            "mod iter;",
            "pub use db::DB;",
            "pub use iter::{DbIterator, KeyRange};",
            "pub use seer_core::Foo;",
        ];
        let modules = declared_modules(&root);
        let items = reexported_items(&root, &modules);
        assert_eq!(items.get("DB").map(String::as_str), Some("db"));
        assert_eq!(items.get("KeyRange").map(String::as_str), Some("iter"));
        assert_eq!(items.get("Foo"), None);
        assert!(!modules.contains("model"), "a test-only module is no node");
    }
}
