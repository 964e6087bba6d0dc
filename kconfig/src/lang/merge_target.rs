//! Defconfig targets that are make rules, not files: an architecture Makefile can build a
//! configuration by merging fragments onto a base defconfig with `scripts/kconfig/merge_config.sh
//! -m` and resolving the result with `olddefconfig`. MIPS does this for its generic kernels (Linux
//! 4.11 and later): `make ARCH=mips 32r2el_defconfig` (the arch's `KBUILD_DEFCONFIG`) is
//!
//! 1. `merge_config.sh -m generic_defconfig generic/32r2.config generic/el.config` into `.config`;
//! 2. `olddefconfig` of a copy of it (the reference configuration);
//! 3. `arch/mips/tools/generic-board-config.sh`: every board fragment (`BOARDS`, default every
//!    `generic/board-*.config`) whose `# require CONFIG_X=y` lines hold in the reference is merged
//!    into `.config` the same way;
//! 4. `olddefconfig` of `.config`.
//!
//! The rule is read from `arch/$(SRCARCH)/Makefile`: the `gen_generic_defconfigs` definition
//! (target name and prerequisites), its `$(eval $(call …))` instantiations, the recipe that runs
//! `merge_config.sh` on `generic_defconfig $^` and the board script, and the legacy aliases
//! (`ocelot_defconfig-y := 32r2el_defconfig BOARDS=ocelot`). A Makefile whose rule reads
//! differently is not recognized, and the target is reported as missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Prefix;

/// A merge target: what to merge, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeTarget {
    /// The base defconfig (relative to the source tree).
    pub base: PathBuf,
    /// Fragments merged onto the base, in order (relative to the source tree).
    pub fragments: Vec<PathBuf>,
    /// Board fragments merged when their `# require` lines hold in the resolved merge of base
    /// and fragments (relative to the source tree); empty when the rule has no board step.
    pub boards: Vec<PathBuf>,
}

/// The text of a file of the tree, or `None` when it cannot be read.
fn read(srctree: &Path, rel: &Path) -> Option<String> {
    std::fs::read_to_string(srctree.join(rel)).ok()
}

/// The merge target `name` of `arch/<srcarch>/Makefile`, if that Makefile defines one.
/// `env` is make's environment: a `BOARDS` variable there chooses the boards, as on make's
/// command line.
pub(crate) fn find(
    srctree: &Path,
    srcarch: &str,
    name: &str,
    env: &BTreeMap<String, String>,
) -> Option<MergeTarget> {
    let arch_dir = Path::new("arch").join(srcarch);
    let makefile = read(srctree, &arch_dir.join("Makefile"))?;
    let mut boards_var = env.get("BOARDS").cloned();
    let mut name = name.to_owned();
    // A legacy alias: `NAME-y := TARGET BOARDS=LIST` with a rule that runs `$(MAKE) … $($@-y)`.
    if makefile.contains("$($@-y)") {
        let prefix = format!("{name}-y");
        for line in makefile.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix(":=") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let Some(target) = words.next() else {
                continue;
            };
            for w in words {
                if let Some(list) = w.strip_prefix("BOARDS=") {
                    boards_var = Some(list.to_owned());
                }
            }
            name = target.to_owned();
            break;
        }
    }
    generic(srctree, &arch_dir, &makefile, &name, boards_var.as_deref())
}

/// MIPS' generic-kernel rule (`gen_generic_defconfigs`).
fn generic(
    srctree: &Path,
    arch_dir: &Path,
    makefile: &str,
    name: &str,
    boards_var: Option<&str>,
) -> Option<MergeTarget> {
    // The definition as the Makefile writes it: the target name and its two prerequisites.
    let define = section(makefile, "define gen_generic_defconfigs", "endef")?;
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    let define = compact(&define);
    for needed in [
        "target:=$(bits)$(rev)$(filterel,$(endian))_defconfig",
        "$$(target):$(generic_config_dir)/$(bits)$(rev).config",
        "$$(target):$(generic_config_dir)/$(endian).config",
    ] {
        if !define.contains(needed) {
            return None;
        }
    }
    // The recipe: merge_config.sh on generic_defconfig and the prerequisites.
    let whole = compact(makefile);
    if !whole.contains(
        "merge_config.sh\\-m-O$(objtree)$(srctree)/arch/$(ARCH)/configs/generic_defconfig$^",
    ) {
        return None;
    }
    let with_boards = whole.contains("/tools/generic-board-config.sh");
    let dir_rel = arch_dir.join("configs").join("generic");
    let dir_line = makefile.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "generic_config_dir").then(|| v.trim().to_owned())
    })?;
    if dir_line != "$(srctree)/arch/$(ARCH)/configs/generic" {
        return None;
    }
    // Every `$(eval $(call gen_generic_defconfigs,BITS,REVS,ENDIANS))`.
    for line in makefile.lines() {
        let Some(args) = line
            .trim()
            .strip_prefix("$(eval $(call gen_generic_defconfigs,")
            .and_then(|r| r.strip_suffix("))"))
        else {
            continue;
        };
        let lists: Vec<Vec<&str>> = args
            .split(',')
            .map(|a| a.split_whitespace().collect())
            .collect();
        let [bits, revs, endians] = lists.as_slice() else {
            continue;
        };
        for b in bits {
            for r in revs {
                for e in endians {
                    let el = if *e == "el" { "el" } else { "" };
                    if format!("{b}{r}{el}_defconfig") != name {
                        continue;
                    }
                    let boards = if with_boards {
                        boards(srctree, &dir_rel, boards_var)
                    } else {
                        Vec::new()
                    };
                    return Some(MergeTarget {
                        base: arch_dir.join("configs").join("generic_defconfig"),
                        fragments: vec![
                            dir_rel.join(format!("{b}{r}.config")),
                            dir_rel.join(format!("{e}.config")),
                        ],
                        boards,
                    });
                }
            }
        }
    }
    None
}

/// The text between a line starting with `start` and the next line that is `end`.
fn section(text: &str, start: &str, end: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.trim_end() == start)?;
    let mut body = String::new();
    for l in lines {
        if l.trim() == end {
            return Some(body);
        }
        body.push_str(l);
        body.push('\n');
    }
    None
}

/// `BOARDS`, or every `board-*.config` of the directory in name order (make's `$(wildcard)`).
fn boards(srctree: &Path, dir_rel: &Path, var: Option<&str>) -> Vec<PathBuf> {
    if let Some(list) = var.filter(|v| !v.trim().is_empty()) {
        return list
            .split_whitespace()
            .map(|b| dir_rel.join(format!("board-{b}.config")))
            .collect();
    }
    let Ok(entries) = std::fs::read_dir(srctree.join(dir_rel)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("board-") && n.ends_with(".config"))
        .collect();
    names.sort();
    names.into_iter().map(|n| dir_rel.join(n)).collect()
}

/// `merge_config.sh -m BASE FRAGMENT`: every line of `base` that sets a symbol the fragment
/// sets is dropped, then the fragment is appended after a newline. (`conf` reads assignments in
/// order, so the order decides which `=y` of a choice wins.)
pub(crate) fn merge_text(base: &str, fragment: &str, prefix: &Prefix) -> String {
    let p = prefix.as_str();
    let names: Vec<&str> = fragment
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix(p)
                .and_then(|r| {
                    let end = r
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(r.len());
                    r[end..].starts_with('=').then(|| &l[..p.len() + end])
                })
                .or_else(|| {
                    let r = l.strip_prefix("# ")?.strip_suffix(" is not set")?;
                    let name = r.strip_prefix(p)?;
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        .then_some(r)
                })?;
            Some(rest)
        })
        .collect();
    // merge_config.sh deletes lines matching `/$CFG[ =]/` (sed) for each redefined symbol.
    let sets = |line: &str, name: &str| {
        line.match_indices(name)
            .any(|(i, _)| matches!(line.as_bytes().get(i + name.len()), Some(b' ') | Some(b'=')))
    };
    let mut out = String::with_capacity(base.len() + fragment.len() + 1);
    for line in base.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if names.iter().any(|n| sets(text, n)) {
            continue;
        }
        out.push_str(line);
    }
    out.push('\n');
    out.push_str(fragment);
    out
}

/// Whether every `# require CONFIG_X=y|n` line of a board fragment holds in the resolved
/// reference configuration (`=y`: the line is in it; `=n`: `CONFIG_X=y` is not). A requirement
/// of another form makes the board skipped, as generic-board-config.sh does.
pub(crate) fn requirements_hold(board: &str, reference: &str) -> bool {
    let lines: Vec<&str> = reference.lines().collect();
    for req in board.lines().filter_map(|l| l.strip_prefix("# require ")) {
        // `cut -d' ' -f 3-` of the line, read by `read` (surrounding blanks dropped).
        let req = req.trim();
        let met = if req.ends_with("=y") {
            lines.contains(&req)
        } else if let Some(sym) = req.strip_suffix("=n") {
            !lines.contains(&format!("{sym}=y").as_str())
        } else {
            false
        };
        if !met {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_drops_redefined_lines_and_appends_the_fragment() {
        let base = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_AB=y\nCONFIG_C=\"x\"\n";
        let frag = "# comment\nCONFIG_B=m\n# CONFIG_C is not set\n";
        assert_eq!(
            merge_text(base, frag, &Prefix::kernel()),
            "CONFIG_A=y\nCONFIG_AB=y\n\n# comment\nCONFIG_B=m\n# CONFIG_C is not set\n"
        );
    }

    #[test]
    fn requirements() {
        let reference = "CONFIG_32BIT=y\n# CONFIG_64BIT is not set\n";
        assert!(requirements_hold(
            "# require CONFIG_32BIT=y\nCONFIG_X=y\n",
            reference
        ));
        assert!(!requirements_hold("# require CONFIG_64BIT=y\n", reference));
        assert!(requirements_hold("# require CONFIG_64BIT=n\n", reference));
        assert!(!requirements_hold("# require CONFIG_32BIT=n\n", reference));
        assert!(!requirements_hold("# require CONFIG_32BIT=m\n", reference));
        assert!(requirements_hold("CONFIG_X=y\n", reference));
    }
}
