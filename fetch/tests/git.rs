//! git sources: repositories made with git2, fetched over a local path and file://.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use kforge_fetch::{Fetcher, Source, git};

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

struct Upstream {
    _tmp: tempfile::TempDir,
    path: std::path::PathBuf,
    first: String,
    second: String,
}

fn commit(repo: &git2::Repository, file: &str, text: &str, message: &str) -> git2::Oid {
    let workdir = repo.workdir().unwrap();
    std::fs::write(workdir.join(file), text).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(file)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Kernel Hacker", "k@example.invalid").unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// main: v1 (tagged, annotated) then a second commit.
fn upstream() -> Upstream {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("xen.git");
    let repo = git2::Repository::init_opts(
        &path,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .unwrap();
    let first = commit(&repo, "Makefile", "VERSION = 1\n", "first");
    let sig = git2::Signature::now("Kernel Hacker", "k@example.invalid").unwrap();
    repo.tag(
        "v1.0",
        &repo.find_object(first, None).unwrap(),
        &sig,
        "release 1.0",
        false,
    )
    .unwrap();
    let second = commit(&repo, "Makefile", "VERSION = 2\n", "second");
    Upstream {
        _tmp: tmp,
        path,
        first: first.to_string(),
        second: second.to_string(),
    }
}

fn makefile(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("Makefile")).unwrap()
}

#[test]
fn branch_tag_and_commit_checkouts() {
    let up = upstream();
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let url = up.path.to_str().unwrap();

    let fetched = f
        .fetch(&Source::git(url, "main"), &tmp.path().join("branch"), &no())
        .unwrap();
    assert_eq!(makefile(&tmp.path().join("branch")), "VERSION = 2\n");
    assert_eq!(fetched.revision.as_deref(), Some(up.second.as_str()));
    let checkout = git2::Repository::open(tmp.path().join("branch")).unwrap();
    assert_eq!(checkout.head().unwrap().shorthand().ok(), Some("main"));
    assert_eq!(
        checkout.find_remote("origin").unwrap().url().ok(),
        Some(url),
        "origin is the real URL"
    );

    let fetched = f
        .fetch(&Source::git(url, "v1.0"), &tmp.path().join("tag"), &no())
        .unwrap();
    assert_eq!(makefile(&tmp.path().join("tag")), "VERSION = 1\n");
    assert_eq!(fetched.revision.as_deref(), Some(up.first.as_str()));

    let file_url = format!("file://{url}");
    let fetched = f
        .fetch(
            &Source::git(&file_url, &up.first),
            &tmp.path().join("commit"),
            &no(),
        )
        .unwrap();
    assert_eq!(makefile(&tmp.path().join("commit")), "VERSION = 1\n");
    assert_eq!(fetched.revision.as_deref(), Some(up.first.as_str()));
    let head = git2::Repository::open(tmp.path().join("commit")).unwrap();
    assert!(head.head_detached().unwrap());
}

#[test]
fn pinned_commits_are_verified() {
    let up = upstream();
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let url = up.path.to_str().unwrap();
    let ok = Source::git(url, "v1.0").with_commit(&up.first);
    f.fetch(&ok, &tmp.path().join("ok"), &no()).unwrap();

    let wrong = Source::git(url, "main").with_commit(&up.first);
    let err = f
        .fetch(&wrong, &tmp.path().join("wrong"), &no())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            kforge_fetch::Error::Git(git::Error::PinMismatch { .. })
        ),
        "{text}"
    );
    assert!(
        text.contains(&up.first) && text.contains(&up.second),
        "{text}"
    );
    assert!(!tmp.path().join("wrong").exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "only the cache and the good checkout"
    );

    let bad = Source::git(url, "main").with_commit("1234");
    let err = f.fetch(&bad, &tmp.path().join("bad"), &no()).unwrap_err();
    assert!(err.to_string().contains("40-digit"), "{err}");
}

#[test]
fn unknown_revisions_and_offline_mode() {
    let up = upstream();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let url = up.path.to_str().unwrap();
    let offline = Fetcher::builder()
        .cache_dir(&cache)
        .offline(true)
        .build()
        .unwrap();
    let err = offline
        .fetch(&Source::git(url, "v1.0"), &tmp.path().join("a"), &no())
        .unwrap_err();
    assert!(err.to_string().contains("offline mode"), "{err}");

    let online = Fetcher::builder().cache_dir(&cache).build().unwrap();
    let err = online
        .fetch(
            &Source::git(url, "no-such-branch"),
            &tmp.path().join("a"),
            &no(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no-such-branch"), "{err}");
    online
        .fetch(&Source::git(url, "main"), &tmp.path().join("a"), &no())
        .unwrap();

    // The mirror now serves offline fetches; the upstream can even disappear.
    std::fs::remove_dir_all(&up.path).unwrap();
    let fetched = offline
        .fetch(&Source::git(url, "v1.0"), &tmp.path().join("b"), &no())
        .unwrap();
    assert_eq!(fetched.revision.as_deref(), Some(up.first.as_str()));
    assert_eq!(makefile(&tmp.path().join("b")), "VERSION = 1\n");
}

#[test]
fn a_moved_branch_is_fetched_again() {
    let up = upstream();
    let tmp = tempfile::tempdir().unwrap();
    let f = Fetcher::builder()
        .cache_dir(tmp.path().join("c"))
        .build()
        .unwrap();
    let url = up.path.to_str().unwrap();
    f.fetch(&Source::git(url, "main"), &tmp.path().join("a"), &no())
        .unwrap();
    let repo = git2::Repository::open(&up.path).unwrap();
    let third = commit(&repo, "Makefile", "VERSION = 3\n", "third");
    let fetched = f
        .fetch(&Source::git(url, "main"), &tmp.path().join("b"), &no())
        .unwrap();
    assert_eq!(fetched.revision, Some(third.to_string()));
    assert_eq!(makefile(&tmp.path().join("b")), "VERSION = 3\n");
}
