//! Which make targets destroy work, and why.
//!
//! `mrproper` and `distclean` delete the `.config` and every generated file; Xen's `world` runs
//! `clean` and `kdelete` (which deletes the kernel trees) before building; `kclean` and
//! `<tree>-delete` do the same to the kernel trees. `clean` run without `O=` in a Linux source
//! tree cleans the source tree itself, which out-of-tree builds rely on staying untouched. These
//! need an explicit opt-in ([`crate::Make::allow_destructive`]).

use std::path::Path;

/// Why `target` is destructive when make runs in `dir` (with or without `O=`), or `None` if it
/// is not.
pub(crate) fn reason(target: &str, dir: &Path, has_build_dir: bool) -> Option<&'static str> {
    match target {
        "mrproper" => Some("it deletes the .config and every generated file"),
        "distclean" => Some("it deletes the configuration, generated files and editor backups"),
        "world" => {
            Some("Xen's `world` runs `clean` and `kdelete` (deleting the kernel trees) first")
        }
        "kdelete" => Some("Xen's `kdelete` deletes the kernel build trees"),
        "kclean" => Some("Xen's `kclean` cleans every kernel build tree"),
        "clean" if !has_build_dir && is_kernel_source_tree(dir) => Some(
            "`clean` without O= cleans the kernel source tree itself; pass the build directory (O=) to clean only the build",
        ),
        t if t.ends_with("-delete") => Some("a `-delete` target deletes a whole tree"),
        _ => None,
    }
}

/// A Linux source tree: a top Makefile with `VERSION =` and `PATCHLEVEL =` and a `Kconfig`
/// or `arch/` beside it.
pub(crate) fn is_kernel_source_tree(dir: &Path) -> bool {
    let Ok(makefile) = std::fs::read_to_string(dir.join("Makefile")) else {
        return false;
    };
    let has = |key: &str| {
        makefile.lines().take(20).any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    has("VERSION")
        && has("PATCHLEVEL")
        && (dir.join("Kconfig").exists() || dir.join("arch").is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_targets() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(reason("mrproper", tmp.path(), true).is_some());
        assert!(reason("distclean", tmp.path(), false).is_some());
        assert!(reason("world", tmp.path(), false).is_some());
        assert!(reason("linux-2.6-xen-delete", tmp.path(), false).is_some());
        assert!(reason("all", tmp.path(), false).is_none());
        // `clean` outside a kernel tree is ordinary.
        assert!(reason("clean", tmp.path(), false).is_none());
        std::fs::write(
            tmp.path().join("Makefile"),
            "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("Kconfig"), "").unwrap();
        assert!(reason("clean", tmp.path(), false).is_some());
        assert!(reason("clean", tmp.path(), true).is_none());
    }
}
