//! Mercurial sources: repositories made with the real `hg` command.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use kforge_fetch::{Fetcher, Source, hg};

// The one `hg` runner of the tests (also behind `hg serve --certificate`).
#[path = "common/tls.rs"]
mod tls;
use tls::hg_in;

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

/// A repository like linux-2.6.18-xen.hg: two changesets, the first tagged.
fn upstream(dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    hg_in(dir, &["init"]);
    std::fs::write(dir.join("Makefile"), "SUBLEVEL = 18\n").unwrap();
    hg_in(dir, &["add", "Makefile"]);
    hg_in(dir, &["commit", "-m", "first"]);
    let first = hg_in(dir, &["log", "-r", ".", "-T", "{node}"]);
    hg_in(dir, &["tag", "-r", &first, "xen-3.2.0"]);
    std::fs::write(dir.join("Makefile"), "SUBLEVEL = 18\nEXTRAVERSION = -xen\n").unwrap();
    hg_in(dir, &["commit", "-m", "second"]);
    let tip = hg_in(dir, &["log", "-r", "tip", "-T", "{node}"]);
    (first, tip)
}

#[test]
fn installed_mercurial_is_recent_enough() {
    let version = hg::check_installed().expect("Mercurial is needed: apt-get install mercurial");
    assert!(
        version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
}

#[test]
fn tag_and_changeset_checkouts_beside_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path().join("upstream/linux-2.6.18-xen.hg");
    let (first, tip) = upstream(&up);
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let url = up.to_str().unwrap();

    // The Xen layout: the kernel checkout beside the Xen tree, named linux-2.6.18-xen.hg.
    let dest = tmp.path().join("build/linux-2.6.18-xen.hg");
    let fetched = f
        .fetch(&Source::hg(url, "xen-3.2.0"), &dest, &no())
        .unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(first.as_str()));
    assert!(
        dest.join(".hg").is_dir(),
        "a Mercurial checkout (select-repository needs .hg)"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("Makefile")).unwrap(),
        "SUBLEVEL = 18\n"
    );
    assert_eq!(
        hg_in(&dest, &["paths", "default"]),
        url,
        "default path is the real URL"
    );
    assert_eq!(hg_in(&dest, &["log", "-r", ".", "-T", "{node}"]), first);

    let fetched = f
        .fetch(&Source::hg(url, &tip), &tmp.path().join("tip"), &no())
        .unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(tip.as_str()));
    assert!(
        std::fs::read_to_string(tmp.path().join("tip/Makefile"))
            .unwrap()
            .contains("-xen")
    );
}

#[test]
fn unknown_revision_and_offline_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path().join("up");
    let (first, _) = upstream(&up);
    let url = up.to_str().unwrap();
    let cache = tmp.path().join("c");
    let offline = Fetcher::builder()
        .cache_dir(&cache)
        .offline(true)
        .build()
        .unwrap();
    let err = offline
        .fetch(&Source::hg(url, "xen-3.2.0"), &tmp.path().join("a"), &no())
        .unwrap_err();
    assert!(err.to_string().contains("offline mode"), "{err}");

    let online = Fetcher::builder().cache_dir(&cache).build().unwrap();
    let err = online
        .fetch(
            &Source::hg(url, "no-such-tag"),
            &tmp.path().join("a"),
            &no(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no-such-tag"), "{err}");
    assert!(!tmp.path().join("a").exists());
    online
        .fetch(&Source::hg(url, "xen-3.2.0"), &tmp.path().join("a"), &no())
        .unwrap();

    std::fs::remove_dir_all(&up).unwrap();
    let fetched = offline
        .fetch(&Source::hg(url, &first), &tmp.path().join("b"), &no())
        .unwrap();
    assert_eq!(fetched.revision, Some(first));
}
