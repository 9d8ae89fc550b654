//! The source layout has no import cycles: no file uses (through
//! `crate::…` or `super::sibling::…` paths) a module that uses it back,
//! directly or through others, in any crate of the workspace. A new cycle
//! fails here with the files on it.
//!
//! A module is a file (`foo.rs` or `foo/mod.rs`); a path names the longest
//! prefix that is a module file. A child naming its own parent (`super::x`
//! or `crate::parent::x`, the parent's shared helpers) and a parent naming
//! its child (`child::x`, what `mod child;` is for) are the tree itself,
//! not cycles, and are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate's module files: module path (`["store", "json"]`) → source.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap_or(&p).with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.insert(parts, text);
        }
    }
    out
}

/// Strips comments and string literals (paths in docs are not imports).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every full path of a use-tree starting at `s` (just after `crate::`):
/// `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, `a::c::e`.
fn paths(s: &str) -> Vec<Vec<String>> {
    fn tree(s: &[u8], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            while *i < s.len() && s[*i].is_ascii_whitespace() {
                *i += 1;
            }
            if *i < s.len() && s[*i] == b'{' {
                *i += 1;
                loop {
                    tree(s, i, &path, out);
                    while *i < s.len() && s[*i].is_ascii_whitespace() {
                        *i += 1;
                    }
                    match s.get(*i) {
                        Some(b',') => {
                            *i += 1;
                            while *i < s.len() && s[*i].is_ascii_whitespace() {
                                *i += 1;
                            }
                            if s.get(*i) == Some(&b'}') {
                                *i += 1;
                                return;
                            }
                        }
                        Some(b'}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                }
            }
            let start = *i;
            while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
                *i += 1;
            }
            if start == *i {
                break;
            }
            path.push(String::from_utf8_lossy(&s[start..*i]).into_owned());
            if s.get(*i) == Some(&b':') && s.get(*i + 1) == Some(&b':') {
                *i += 2;
                continue;
            }
            break;
        }
        out.push(path);
    }
    let mut out = Vec::new();
    let mut i = 0;
    tree(s.as_bytes(), &mut i, &[], &mut out);
    out
}

/// The module a path names: its longest prefix that is a module file.
fn target(mods: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

/// Edges: module → modules it names (not itself, not its ancestors, not
/// its descendants).
fn edges(mods: &BTreeMap<Vec<String>, String>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut g = BTreeMap::new();
    for (m, text) in mods {
        let code = code_only(text);
        let mut to = BTreeSet::new();
        let mut named = Vec::new();
        for (pos, _) in code.match_indices("crate::") {
            let before = code[..pos].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            named.extend(paths(&code[pos + "crate::".len()..]));
        }
        for (pos, _) in code.match_indices("super::") {
            let before = code[..pos].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base = m.clone();
            base.pop();
            for p in paths(&code[pos + "super::".len()..]) {
                let mut full = base.clone();
                full.extend(p);
                named.push(full);
            }
        }
        for p in named {
            if let Some(t) = target(mods, &p) {
                let related = t.starts_with(m) || m.starts_with(&t);
                if !related {
                    to.insert(t);
                }
            }
        }
        g.insert(m.clone(), to);
    }
    g
}

/// The strongly connected components with more than one module.
fn cycles(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    let nodes: Vec<&Vec<String>> = g.keys().collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in &nodes {
        let mut stack = vec![(*n, false)];
        while let Some((v, done)) = stack.pop() {
            if done {
                order.push(v);
                continue;
            }
            if !seen.insert(v) {
                continue;
            }
            stack.push((v, true));
            for w in g.get(v).into_iter().flatten() {
                if !seen.contains(w) {
                    stack.push((w, false));
                }
            }
        }
    }
    let mut rev: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for (v, ws) in g {
        for w in ws {
            rev.entry(w).or_default().push(v);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.into_iter().rev() {
        if assigned.contains(v) {
            continue;
        }
        let mut comp = Vec::new();
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            if !assigned.insert(x) {
                continue;
            }
            comp.push(x.clone());
            for y in rev.get(x).into_iter().flatten() {
                if !assigned.contains(*y) {
                    stack.push(y);
                }
            }
        }
        if comp.len() > 1 {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[test]
fn no_import_cycles_in_any_crate() {
    let root = workspace();
    let mut found = Vec::new();
    for krate in ["daemon/src", "daemon/api/src", "tui/src", "tests/src"] {
        let mods = modules(&root.join(krate));
        assert!(mods.len() > 1, "no modules found under {krate}");
        for c in cycles(&edges(&mods)) {
            let names: Vec<String> = c
                .iter()
                .map(|m| format!("{krate}/{}", m.join("/")))
                .collect();
            found.push(names.join(" ↔ "));
        }
    }
    assert!(
        found.is_empty(),
        "import cycles (each line: modules that use each other):\n{}",
        found.join("\n")
    );
}

/// The checker itself finds a cycle and the paths of a nested use-tree.
#[test]
fn the_checker_sees_a_cycle() {
    let mut mods = BTreeMap::new();
    mods.insert(vec!["a".to_string()], "use crate::b::{x, y};".to_string());
    mods.insert(
        vec!["b".to_string()],
        "fn f() { crate::c::z(); }".to_string(),
    );
    mods.insert(
        vec!["c".to_string()],
        "// crate::b is only a comment\nuse crate::{a::w, d};".to_string(),
    );
    mods.insert(vec!["d".to_string()], "use super::e;".to_string());
    let found = cycles(&edges(&mods));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3);
    assert_eq!(
        paths("a::{b, c::{d, e}}, f"),
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["a".to_string(), "c".to_string(), "d".to_string()],
            vec!["a".to_string(), "c".to_string(), "e".to_string()],
        ]
    );
}
