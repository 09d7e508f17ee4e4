//! The layers of memmodel, bottom to top: the allocator (`alloc`), the plan builder (`plan`),
//! the op models (`exec`), the catalog (`ops`) and the case (`case`). A layer may use the ones
//! below it, never one above: the allocator and the interpreter stay usable (and readable)
//! without the case layer. Tests inside a module may reach up (they build cases).

use std::path::{Path, PathBuf};

const LAYERS: [&str; 5] = ["alloc", "plan", "exec", "ops", "case"];

/// The module's non-test source, without comment lines.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // A test module runs to the end of the file in this crate's style.
            if let Some(next) = lines.peek() {
                let next = next.trim_start();
                if next.starts_with("mod ") || next.starts_with("pub(super) mod ") {
                    break;
                }
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The `crate::` modules `code` names, including those in grouped imports
/// (`use crate::{case::X, ops}`).
fn crate_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

fn sources_of(layer: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(layer);
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("exec dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        files.sort();
        files
    } else {
        vec![src.join(format!("{layer}.rs"))]
    }
}

#[test]
fn no_layer_uses_a_layer_above_it() {
    let mut violations = Vec::new();
    for (level, layer) in LAYERS.iter().enumerate() {
        let above = &LAYERS[level + 1..];
        for file in sources_of(layer) {
            for module in crate_modules(&code_of(&file)) {
                if above.contains(&module.as_str()) {
                    violations.push(format!(
                        "{} uses crate::{module}, a layer above {layer}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let code = "use crate::{case::Case, ops};\nfn f() { crate::plan::x(); }\n";
    assert_eq!(crate_modules(code), ["case", "ops", "plan"]);
}
