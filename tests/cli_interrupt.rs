//! Ctrl-C on the `kforge` command line: the operation stops, its children (hg, and the ssh hg
//! started, and that ssh's own child) are gone, nothing is published, the exit status is 130,
//! and stderr (a pipe here) holds no colour codes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
            "hg never started its ssh; is Mercurial installed? apt-get install mercurial"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_on_a_stalled_hg_fetch_stops_everything_and_exits_130() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
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
    let dest = dir.join("linux-2.6.18-xen.hg");
    let mut kforge = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["fetch", "hg", "ssh://stalled.invalid/linux-2.6.18-xen.hg"])
        .args(["--rev", "tip", "--dest"])
        .arg(&dest)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .env("HGRCPATH", &hgrc)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ssh_pid = read_pid(&dir.join("ssh.pid"));
    let child_pid = read_pid(&dir.join("child.pid"));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &kforge.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = kforge.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "kforge did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    eprintln!("kforge exited {took:?} after SIGINT");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut kforge.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_secs(3), "Ctrl-C took {took:?}");
    assert!(gone(ssh_pid), "hg's ssh outlived kforge");
    assert!(gone(child_pid), "the ssh's child outlived kforge");
    assert!(!dest.exists(), "a half-done checkout was published");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr:?}"
    );
}
