//! Archive extraction on hostile input (tar, compressed or not). The archive is extracted into
//! `box/dest` inside a fresh directory that is also the working directory, beside a sentinel
//! directory. Whatever the input:
//! - nothing panics;
//! - nothing appears outside `box/dest`, the sentinel is untouched;
//! - on error, nothing is left in `box` at all (no destination, no staging directory, no file
//!   half-written under a final name);
//! - on success, no symlink in the tree resolves outside it.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use kforge_fetch::{ExtractOptions, extract};
use libfuzzer_sys::fuzz_target;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = fs::canonicalize(tmp.path()).expect("canonical temp dir");
    std::env::set_current_dir(&root).expect("cd into the temp dir");
    fs::create_dir(root.join("box")).unwrap();
    fs::create_dir(root.join("outside")).unwrap();
    fs::write(root.join("outside/sentinel"), b"keep").unwrap();
    let dest = root.join("box/dest");
    // The last byte picks --strip-components 0, 1 or 2.
    let options = ExtractOptions {
        strip_components: usize::from(data.last().copied().unwrap_or(0) % 3),
    };
    let result = extract(data, &dest, &options, &AtomicBool::new(false));
    let mut all = Vec::new();
    walk(&root, &mut all);
    for path in &all {
        let allowed = path == &root.join("box")
            || path == &root.join("outside")
            || path == &root.join("outside/sentinel")
            || (result.is_ok() && path.starts_with(&dest));
        assert!(
            allowed,
            "{} appeared ({:?})",
            path.display(),
            result.as_ref().err()
        );
    }
    assert_eq!(fs::read(root.join("outside/sentinel")).unwrap(), b"keep");
    match result {
        Ok(_) => {
            for path in all.iter().filter(|p| p.starts_with(&dest)) {
                let meta = fs::symlink_metadata(path).unwrap();
                if meta.file_type().is_symlink()
                    && let Ok(resolved) = fs::canonicalize(path)
                {
                    assert!(
                        resolved.starts_with(&dest),
                        "{} -> {}",
                        path.display(),
                        resolved.display()
                    );
                }
            }
        }
        Err(_) => assert!(!dest.exists()),
    }
    std::env::set_current_dir("/").unwrap();
    // Extracted directories may lack the write bit: make them removable.
    for path in all.iter().rev() {
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
        }
    }
});
