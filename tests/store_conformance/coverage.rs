//! Every store operation must be called by some case of this suite: a method
//! added to a store trait without a case fails here, so coverage of the two
//! backends cannot shrink unnoticed.

use std::path::Path;

/// The method names declared in `trait` blocks of `source`. A block runs from
/// a line declaring a trait to the next line that is a lone `}` at column 0.
fn trait_methods(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        if !inside {
            inside = ["pub trait ", "pub(crate) trait ", "trait "]
                .iter()
                .any(|t| line.starts_with(t));
            continue;
        }
        if line == "}" {
            inside = false;
            continue;
        }
        let code = line.trim_start();
        let rest = code
            .strip_prefix("async fn ")
            .or_else(|| code.strip_prefix("fn "));
        if let Some(rest) = rest {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

/// Rust files under `dir`, recursively, except those under `skip` directories.
fn rust_files(dir: &Path, skip: &[&str]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !skip.contains(&name) {
                out.extend(rust_files(&path, skip));
            }
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_store_operation_has_a_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The store's interface: its role traits (the backends' primitives in
    // `sql/` are how it is built, not what callers use).
    let declared: Vec<String> = rust_files(&root.join("src/store"), &["sqlite", "postgres", "sql"])
        .iter()
        .flat_map(|f| trait_methods(&read(f)))
        .collect();
    assert!(
        declared.len() >= 50,
        "found only {} store methods: has the trait moved? {declared:?}",
        declared.len()
    );
    // Calls from cases only: helpers and this file do not count.
    let cases: String = rust_files(&root.join("tests/store_conformance"), &[])
        .iter()
        .filter(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !matches!(name, "main.rs" | "harness.rs" | "coverage.rs")
        })
        .map(|f| read(f))
        .collect();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|m| !cases.contains(&format!(".{m}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "store methods no conformance case calls: {missing:?}"
    );
}

#[test]
fn trait_methods_are_read_from_trait_blocks_only() {
    let source = "pub trait A: Send {\n    /// Doc.\n    async fn one(&self) -> u8;\n    fn two(\n        &self,\n    );\n}\n\
                  impl A for B {\n    async fn three(&self) {}\n}\ntrait C {\n    async fn four(&self);\n}\n";
    assert_eq!(trait_methods(source), ["one", "two", "four"]);
}
