//! [`KconfigIndex`]: where a kernel source tree defines each symbol, and its `depends on` lines,
//! read straight from the `Kconfig*` files (no evaluation). Used to explain lost values.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where a symbol is defined and what it depends on, as written in Kconfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolDefinition {
    /// The Kconfig file, relative to the tree root.
    pub file: PathBuf,
    /// 1-based line of `config NAME`.
    pub line: usize,
    /// `depends on` expressions of the entry, and the conditions of enclosing `if` blocks of
    /// the same file (written `if X`).
    pub depends_on: Vec<String>,
}

/// Index of the symbols defined by a source tree's Kconfig files.
#[derive(Debug, Clone, Default)]
pub struct KconfigIndex {
    symbols: HashMap<String, SymbolDefinition>,
    /// Symbols defined only under `arch/<another architecture>/`.
    other_arch: HashMap<String, SymbolDefinition>,
}

/// Reading the Kconfig files failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read Kconfig files under {path}")]
pub struct IndexError {
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

impl KconfigIndex {
    /// Index every `Kconfig*` file under `root`. With `srcarch` (`x86`, `arm64`, …) only that
    /// directory of `arch/` counts, as for the kernel; symbols of the other architectures are
    /// kept apart ([`KconfigIndex::other_arch`]) to tell "not for this architecture" from "does
    /// not exist".
    pub fn build(root: &Path, srcarch: Option<&str>) -> Result<KconfigIndex, IndexError> {
        let _span = tracing::debug_span!("kconfig_index", root = %root.display()).entered();
        let mut index = KconfigIndex::default();
        let mut other = KconfigIndex::default();
        let mut stack = vec![(root.to_path_buf(), false)];
        while let Some((dir, foreign)) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|source| IndexError {
                path: dir.clone(),
                source,
            })?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| IndexError {
                    path: dir.clone(),
                    source,
                })?;
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if kind.is_dir() {
                    if name.starts_with('.') {
                        continue;
                    }
                    let foreign = foreign
                        || srcarch.is_some_and(|arch| dir == root.join("arch") && name != arch);
                    stack.push((path, foreign));
                } else if kind.is_file() && name.starts_with("Kconfig") {
                    files.push(path);
                }
            }
            files.sort();
            for file in files {
                let text = match fs::read(&file) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(source) => return Err(IndexError { path: file, source }),
                };
                let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
                if foreign {
                    other.add_file(&rel, &text);
                } else {
                    index.add_file(&rel, &text);
                }
            }
        }
        for (name, def) in other.symbols {
            if !index.symbols.contains_key(&name) {
                index.other_arch.insert(name, def);
            }
        }
        tracing::debug!(symbols = index.symbols.len(), "indexed Kconfig");
        Ok(index)
    }

    /// Index Kconfig text (one file).
    pub fn add_file(&mut self, file: &Path, text: &str) {
        let mut ifs: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let mut words = line.splitn(2, char::is_whitespace);
            let keyword = words.next().unwrap_or("");
            let rest = words.next().unwrap_or("").trim();
            match keyword {
                "config" | "menuconfig" => {
                    current = None;
                    if !rest.is_empty() && !self.symbols.contains_key(rest) {
                        self.symbols.insert(
                            rest.to_string(),
                            SymbolDefinition {
                                file: file.to_path_buf(),
                                line: i + 1,
                                depends_on: ifs.iter().map(|c| format!("if {c}")).collect(),
                            },
                        );
                        current = Some(rest.to_string());
                    }
                }
                "if" => {
                    ifs.push(rest.to_string());
                    current = None;
                }
                "endif" => {
                    ifs.pop();
                    current = None;
                }
                "choice" | "endchoice" | "menu" | "endmenu" | "source" | "comment" | "mainmenu" => {
                    current = None
                }
                "depends" => {
                    if let (Some(sym), Some(expr)) = (&current, rest.strip_prefix("on"))
                        && let Some(def) = self.symbols.get_mut(sym)
                    {
                        def.depends_on.push(expr.trim().to_string());
                    }
                }
                _ => {}
            }
        }
    }

    /// The definition of a symbol (name without prefix).
    pub fn get(&self, symbol: &str) -> Option<&SymbolDefinition> {
        self.symbols.get(symbol)
    }

    /// The definition of a symbol that only other architectures have.
    pub fn other_arch(&self, symbol: &str) -> Option<&SymbolDefinition> {
        self.other_arch.get(symbol)
    }

    /// Number of symbols defined.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether no symbol is defined.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definitions_depends_and_if_blocks() {
        let mut index = KconfigIndex::default();
        index.add_file(
            Path::new("arch/x86/kvm/Kconfig"),
            "menuconfig VIRTUALIZATION\n\tbool \"Virtualization\"\nif VIRTUALIZATION\n\nconfig KVM\n\ttristate \"KVM\"\n\tdepends on HAVE_KVM\n\tdepends on HIGH_RES_TIMERS\n\tselect X\nendif\nconfig OTHER\n\tbool\n",
        );
        let kvm = index.get("KVM").unwrap();
        assert_eq!(kvm.line, 5);
        assert_eq!(
            kvm.depends_on,
            vec!["if VIRTUALIZATION", "HAVE_KVM", "HIGH_RES_TIMERS"]
        );
        assert!(index.get("OTHER").unwrap().depends_on.is_empty());
        assert!(index.get("X").is_none());
    }

    #[test]
    fn build_separates_other_architectures() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("Kconfig", "config MODULES\n\tbool \"Modules\"\n"),
            ("arch/x86/Kconfig", "config X86_64\n\tdef_bool y\n"),
            (
                "arch/arm64/Kconfig",
                "config ARM64_VA_BITS_48\n\tbool\nconfig MODULES\n\tbool\n",
            ),
            (
                "drivers/net/Kconfig.debug",
                "menuconfig NET_DEBUG\n\tbool\n\tdepends on DEBUG_KERNEL\n",
            ),
            (".git/Kconfig", "config HIDDEN\n"),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        let index = KconfigIndex::build(root, Some("x86")).unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.get("X86_64").unwrap().file,
            Path::new("arch/x86/Kconfig")
        );
        assert_eq!(index.get("MODULES").unwrap().file, Path::new("Kconfig"));
        assert_eq!(
            index.get("NET_DEBUG").unwrap().depends_on,
            vec!["DEBUG_KERNEL"]
        );
        assert!(index.get("ARM64_VA_BITS_48").is_none());
        assert_eq!(index.other_arch("ARM64_VA_BITS_48").unwrap().line, 1);
        assert!(index.other_arch("MODULES").is_none());
        assert!(index.get("HIDDEN").is_none());
        let all = KconfigIndex::build(root, None).unwrap();
        assert!(all.get("ARM64_VA_BITS_48").is_some());
    }
}
