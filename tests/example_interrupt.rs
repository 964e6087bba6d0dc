//! Ctrl-C on the flow examples (`examples/kvm.rs`, `examples/xen.rs`): while the first download
//! stalls on a server that accepts the connection and never answers, SIGINT stops the run
//! within a few seconds, the exit status is 130, and the record says the run was interrupted.
//!
//! The README's test command (`scripts/test`) runs `cargo build --examples` before the tests
//! (`cargo test` alone builds examples only as test harnesses), so the binaries are found next
//! to this test's own; a missing binary, or one older than a source its dep-info lists, fails
//! the test with the command that builds it.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`, from this test binary's `target/<profile>/deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/");
    let path = profile_dir.join("examples").join(name);
    let rebuild = format!(
        "build it first: `cargo build --example {name}` (scripts/test builds every example)"
    );
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing; {rebuild}", path.display()));
    // The binary's dep-info (`<name>.d`, written by cargo beside it) lists every source it was
    // built from.
    let dep_info = std::fs::read_to_string(path.with_extension("d")).unwrap_or_default();
    let sources = dep_info
        .split_once(": ")
        .map(|(_, deps)| deps.replace("\\ ", "\u{0}"))
        .unwrap_or_default();
    for source in sources.split_whitespace() {
        let source = PathBuf::from(source.replace('\u{0}', " "));
        if let Ok(modified) = std::fs::metadata(&source).and_then(|m| m.modified()) {
            assert!(
                built >= modified,
                "{} is older than {}; {rebuild}",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// A server that accepts connections and never answers: its URL base, and a channel that
/// reports each accepted connection.
fn stalled_server() -> (String, Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, connections) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Hold every connection open, unread, until the test process ends.
        for stream in listener.incoming().flatten() {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    (format!("http://{addr}"), connections)
}

fn interrupt_and_wait(mut child: std::process::Child, connections: &Receiver<()>) -> (i32, String) {
    // Wait until the download is under way: the server holds the example's connection.
    let deadline = Instant::now() + Duration::from_secs(60);
    while connections.try_recv().is_err() {
        assert!(
            Instant::now() < deadline,
            "the example never connected to the server"
        );
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = read_stderr(&mut child);
            panic!("the example ended before the interrupt ({status}): {stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the example did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("exited {:?} after SIGINT", sent.elapsed());
    (status.code().unwrap_or(-1), read_stderr(&mut child))
}

/// Everything the ended `child` wrote on its standard error.
fn read_stderr(child: &mut std::process::Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

fn assert_interrupted_record(out: &std::path::Path, step: &str) {
    use kforge::record::{BuildRecord, RunResult, StepStatus};
    let record = BuildRecord::read(out.join("build.json")).expect("build.json reads back");
    assert!(
        matches!(record.result, RunResult::Interrupted),
        "the run's result is {:?}, not interrupted",
        record.result
    );
    let stopped = record
        .steps
        .iter()
        .find(|s| s.name == step)
        .unwrap_or_else(|| panic!("no step {step} in build.json"));
    assert!(
        matches!(stopped.status, StepStatus::Interrupted),
        "step {step} is {:?}, not interrupted",
        stopped.status
    );
}

/// Runs example `name` with `args` (plus `--out` and `--cache-dir` in a scratch directory)
/// against a stalled server at `base`, interrupts it during the download, and checks the exit
/// status and the record.
fn interrupted_example_exits_130(name: &str, step: &str, args: &[&str]) {
    let (base, connections) = stalled_server();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let child = Command::new(example(name))
        .args(args.iter().map(|a| a.replace("{base}", &base)))
        .arg("--out")
        .arg(&out)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = interrupt_and_wait(child, &connections);
    assert_eq!(code, 130, "{stderr}");
    assert_interrupted_record(&out, step);
}

#[test]
fn ctrl_c_on_the_kvm_example_during_a_stalled_download_exits_130() {
    interrupted_example_exits_130(
        "kvm",
        "fetch-kernel",
        &[
            "--kernel",
            "{base}/linux-6.1.tar.xz",
            "--allow-unpinned",
            "--config",
            "defconfig",
            "--no-modules",
        ],
    );
}

#[test]
fn ctrl_c_on_the_xen_example_during_a_stalled_download_exits_130() {
    interrupted_example_exits_130(
        "xen",
        "fetch-xen",
        &[
            "--xen",
            "{base}/xen-4.17.5.tar.gz",
            "--allow-unpinned",
            "--no-dom0",
        ],
    );
}
