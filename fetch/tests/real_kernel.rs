//! Opt-in: the real Debian Linux 6.1 tarball (138 MB, 78k files) through the whole pipeline.

use std::sync::atomic::AtomicBool;

use kforge_fetch::{Fetcher, Sha256Digest, Source};

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn real_kernel_tarball_fetches_like_tar_extracts_it() {
    let tarball = std::env::var_os("KFORGE_LINUX_TARBALL")
        .expect("KFORGE_LINUX_TARBALL is not set: run scripts/e2e (it installs linux-source-6.1)");
    let tarball = std::path::PathBuf::from(tarball);
    let sha = Sha256Digest::of_reader(std::fs::File::open(&tarball).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::builder()
        .cache_dir(tmp.path().join("cache"))
        .build()
        .unwrap();
    let dest = tmp.path().join("linux");
    let source =
        Source::archive(format!("file://{}", tarball.display()), sha).with_strip_components(1);
    let fetched = fetcher
        .fetch(&source, &dest, &AtomicBool::new(false))
        .unwrap();
    let report = fetched.extract.unwrap();

    // What GNU tar lists: regular files and symlinks.
    let listing = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&tarball)
        .output()
        .expect("tar is needed");
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    let files = text.lines().filter(|l| l.starts_with('-')).count() as u64;
    let links = text.lines().filter(|l| l.starts_with('l')).count() as u64;
    assert_eq!(report.files + report.hard_links, files);
    assert_eq!(report.symlinks, links);
    let makefile = std::fs::read_to_string(dest.join("Makefile")).unwrap();
    assert!(
        makefile.contains("VERSION = 6\nPATCHLEVEL = 1\n"),
        "{}",
        &makefile[..200]
    );
    // Same bytes as the tree the e2e script extracted with tar, where available.
    if let Some(src) = std::env::var_os("KFORGE_LINUX_SRC") {
        let src = std::path::PathBuf::from(src);
        for file in [
            "Makefile",
            "kernel/fork.c",
            "scripts/Makefile.build",
            "arch/x86/Kconfig",
        ] {
            assert_eq!(
                std::fs::read(dest.join(file)).unwrap(),
                std::fs::read(src.join(file)).unwrap(),
                "{file}"
            );
        }
    }
    // Exec bits survive (make runs scripts directly).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("scripts/setlocalversion"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
}
