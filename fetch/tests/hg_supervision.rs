//! No process outlives an `hg` call: a clone over ssh whose `ssh` (a child of hg with a child
//! of its own) stalls is interrupted, and hg, the ssh and its child are all gone afterwards.
//! The test re-runs its own binary with `HGRCPATH` pointing at a configuration of its own
//! (setting the variable in-process would need `unsafe`), which runs the inner test.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kforge_fetch::{Fetcher, Source};

/// Dead, or a zombie waiting for its new parent to reap it.
fn gone(pid: i32) -> bool {
    kforge_process::wait_for_exit(pid, Duration::from_secs(5))
}

fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "hg never started its ssh ({}); is Mercurial installed? apt-get install mercurial",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_hg_clone_leaves_neither_hg_nor_its_ssh_behind() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A stalled ssh: it starts a child of its own and never answers.
    let ssh = dir.join("fake-ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\necho $$ > {d}/ssh.pid\nsleep 300 &\necho $! > {d}/child.pid\nwait\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hgrc = dir.join("hgrc");
    std::fs::write(&hgrc, format!("[ui]\nssh = {}\n", ssh.display())).unwrap();
    let inner = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "inner_interrupted_clone",
            "--ignored",
            "--nocapture",
        ])
        .env("HGRCPATH", &hgrc)
        .env("KFORGE_TEST_DIR", dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success() && text.contains("1 passed"),
        "{text}\n{}",
        String::from_utf8_lossy(&inner.stderr)
    );
}

#[test]
#[ignore = "run by an_interrupted_hg_clone_leaves_neither_hg_nor_its_ssh_behind"]
fn inner_interrupted_clone() {
    let dir = std::path::PathBuf::from(
        std::env::var_os("KFORGE_TEST_DIR").expect("run by the outer test"),
    );
    let dir = dir.as_path();

    let fetcher = Fetcher::builder()
        .cache_dir(dir.join("cache"))
        .build()
        .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let raise = Arc::clone(&flag);
    let pids = dir.to_path_buf();
    let watcher = std::thread::spawn(move || {
        let ssh = read_pid(&pids.join("ssh.pid"));
        let child = read_pid(&pids.join("child.pid"));
        raise.store(true, Ordering::SeqCst);
        (ssh, child, Instant::now())
    });
    let err = fetcher
        .fetch(
            &Source::hg("ssh://stalled.invalid/linux-2.6.18-xen.hg", "tip"),
            &dir.join("linux-2.6.18-xen.hg"),
            &flag,
        )
        .expect_err("interrupted");
    let (ssh, child, raised) = watcher.join().unwrap();
    assert!(err.is_interrupted(), "{err}");
    assert!(
        raised.elapsed() < Duration::from_secs(5),
        "the interrupt took {:?}",
        raised.elapsed()
    );
    assert!(gone(ssh), "hg's ssh ({ssh}) outlived the call");
    assert!(gone(child), "the ssh's child ({child}) outlived the call");
    assert!(!dir.join("linux-2.6.18-xen.hg").exists());
}
