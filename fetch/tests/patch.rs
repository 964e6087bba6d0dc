//! Patches and quilt series applied before the tree is published.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use common::*;
use kforge_fetch::{Fetcher, PatchSet, Source, patch};

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

/// An archive `qemu-1.0/{configure,Makefile}` served as file://, and its source.
fn qemu_source(dir: &Path) -> Source {
    let mut b = tar::Builder::new(Vec::new());
    for (name, text) in [
        ("qemu-1.0/configure", "#!/bin/sh\ncc=gcc\nkvm=no\n"),
        ("qemu-1.0/Makefile", "all:\n\techo build\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o755);
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    let archive = gzip(&b.into_inner().unwrap());
    let path = dir.join("qemu-1.0.tar.gz");
    std::fs::write(&path, &archive).unwrap();
    Source::archive(format!("file://{}", path.display()), sha(&archive)).with_strip_components(1)
}

const KVM_PATCH: &str = "\
--- a/configure
+++ b/configure
@@ -1,3 +1,3 @@
 #!/bin/sh
 cc=gcc
-kvm=no
+kvm=yes
";

const CC_PATCH_P0: &str = "\
--- configure
+++ configure
@@ -1,3 +1,3 @@
 #!/bin/sh
-cc=gcc
+cc=gcc-3.4
 kvm=yes
";

const BROKEN_PATCH: &str = "\
--- a/Makefile
+++ b/Makefile
@@ -1,2 +1,2 @@
 all:
-\techo something that is not there
+\techo patched
";

#[test]
fn a_quilt_series_applies_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let source = qemu_source(tmp.path());
    let patches = tmp.path().join("debian/patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(patches.join("enable-kvm.patch"), KVM_PATCH).unwrap();
    std::fs::write(patches.join("old-gcc.patch"), CC_PATCH_P0).unwrap();
    std::fs::write(
        patches.join("series"),
        "# Debian patches\nenable-kvm.patch\n\nold-gcc.patch -p0\n",
    )
    .unwrap();
    let set = PatchSet::from_series(&patches.join("series"), 1).unwrap();
    assert_eq!(set.patches().len(), 2);
    assert_eq!(set.patches()[1].strip, 0);
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let dest = tmp.path().join("qemu");
    let fetched = f.fetch_patched(&source, &dest, &set, &no()).unwrap();
    assert_eq!(fetched.patches.len(), 2);
    assert_eq!(
        std::fs::read_to_string(dest.join("configure")).unwrap(),
        "#!/bin/sh\ncc=gcc-3.4\nkvm=yes\n"
    );
    assert!(!dest.join("configure.orig").exists(), "no backup files");
}

#[test]
fn a_patch_that_does_not_apply_names_itself_and_its_hunk_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let source = qemu_source(tmp.path());
    std::fs::write(tmp.path().join("1.patch"), KVM_PATCH).unwrap();
    std::fs::write(tmp.path().join("2-broken.patch"), BROKEN_PATCH).unwrap();
    let set = PatchSet::new()
        .patch(tmp.path().join("1.patch"), 1)
        .patch(tmp.path().join("2-broken.patch"), 1);
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let dest = tmp.path().join("qemu");
    let err = f.fetch_patched(&source, &dest, &set, &no()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            kforge_fetch::Error::Patch(patch::Error::DoesNotApply { .. })
        ),
        "{text}"
    );
    assert!(text.contains("2-broken.patch"), "{text}");
    assert!(text.contains("Hunk #1 FAILED"), "{text}");
    assert!(
        text.contains("-\techo something that is not there"),
        "rejected hunk shown: {text}"
    );
    assert!(!dest.exists(), "no half-patched tree under the final name");
    let mut left = entries(tmp.path());
    left.retain(|n| n.starts_with('.'));
    assert!(left.is_empty(), "no temporary tree left: {left:?}");
}

#[test]
fn series_options_other_than_p_are_rejected_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("series");
    std::fs::write(&series, "a.patch\nb.patch --fuzz=3\n").unwrap();
    let err = PatchSet::from_series(&series, 1).unwrap_err();
    assert!(err.to_string().contains("series:2"), "{err}");
}
