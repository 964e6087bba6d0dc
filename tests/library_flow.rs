//! A flow of one's own, built from the library alone (no code from examples/): a C project
//! served as a tarball by a real HTTP server on loopback, fetched and built with real make and
//! gcc through `kforge::steps::Run`. It must leave `build.json` (typed, read back) and
//! `reproduce.sh` (written before the first step, and rebuilding the same binary), report to
//! the observer, keep the record current after each step, stop on the interrupt flag, and let
//! `kforge record diff` compare two runs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, sha256_hex, tarball};
use kforge::kbuild::Make;
use kforge::observe::{Collector, Event, Observer};
use kforge::record::{Artifact, BuildRecord, RunResult, StepStatus};
use kforge::steps::{PlannedStep, Run, RunOptions};

/// A tiny C project whose `all` builds `hello` and whose `slow` sleeps.
fn project(dir: &Path, greeting: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("hello.c"),
        format!("#include <stdio.h>\nint main(void) {{ puts(\"{greeting}\"); return 0; }}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("Makefile"),
        "all: hello\nhello: hello.c\n\t$(CC) -O1 -o $@ hello.c\nslow:\n\tsleep 30\n",
    )
    .unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    _server: Server,
    url: String,
    sha: String,
}

impl Fixture {
    fn new(greeting: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        project(&root.join("tree"), greeting);
        let tgz = tarball(&root.join("tree"), "hello-1.0");
        let sha = sha256_hex(&tgz);
        let server = Server::start();
        let url = server.serve("hello-1.0.tar.gz", tgz);
        Fixture {
            _tmp: tmp,
            root,
            _server: server,
            url,
            sha,
        }
    }

    fn options(&self) -> RunOptions {
        RunOptions {
            cache_dir: Some(self.root.join("cache")),
            ..RunOptions::default()
        }
    }
}

/// The flow: fetch the tarball, `make TARGET`, record `hello` as an artifact.
fn hello_flow(
    fx: &Fixture,
    out: &Path,
    target: &str,
    options: RunOptions,
    observer: Arc<dyn Observer>,
) -> Result<BuildRecord, kforge::Error> {
    let mut run = Run::new("hello", "modern", out, options, observer)?;
    let src = run.out().join("src/hello-1.0");
    run.set_plan(vec![
        PlannedStep::new(
            "fetch",
            "Fetch the sources",
            vec![format!("# fetch {}", fx.url)],
        ),
        PlannedStep::new("build", "make", vec![format!("make -C {}", src.display())]),
    ]);
    let result = run
        .step("fetch", |run| {
            run.fetch_archive("src", &fx.url, Some(&fx.sha), &src, &[])
        })
        .and_then(|_| {
            run.step("build", |run| {
                let mut make = Make::new(&src);
                make.target(target);
                run.supervise_make(&mut make, &format!("make {target}"));
                let outcome = make.run()?;
                run.record_outcome(&outcome);
                let hello = src.join("hello");
                run.record
                    .artifacts
                    .push(Artifact::of(&hello).map_err(|e| kforge::Error::io("hash", &hello, e))?);
                Ok(())
            })
        });
    run.finish(result)
}

/// Checks, when a step starts, what the output directory already holds.
struct Inspector {
    out: PathBuf,
    seen: Mutex<Vec<String>>,
}

impl Observer for Inspector {
    fn step_started(&self, _index: usize, _total: usize, step: &PlannedStep) {
        let reproducer = std::fs::read_to_string(self.out.join("reproduce.sh"))
            .unwrap_or_else(|e| panic!("no reproduce.sh before the step {}: {e}", step.name));
        let record = BuildRecord::read(self.out.join("build.json")).expect("build.json so far");
        assert_eq!(record.result, RunResult::Running);
        if step.name == "fetch" {
            assert!(record.steps.is_empty());
            // Before anything ran, the reproducer holds the plan.
            assert!(reproducer.contains("not run yet"), "{reproducer}");
        } else {
            // After each step the record is current.
            assert_eq!(record.steps.len(), 1);
            assert_eq!(record.steps[0].status, StepStatus::Ok);
            assert_eq!(record.sources.len(), 1);
        }
        self.seen.lock().unwrap().push(step.name.clone());
    }
}

#[test]
fn a_custom_flow_from_the_library_leaves_a_record_and_a_reproducer_that_rebuilds_the_same_binary() {
    let fx = Fixture::new("hello from kforge");
    let out = fx.root.join("out");
    let collector = Arc::new(Collector::new());
    let record = hello_flow(&fx, &out, "all", fx.options(), collector.clone()).expect("passes");

    // build.json reads back as the same typed record.
    let back = BuildRecord::read(out.join("build.json")).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.schema_version, kforge::record::SCHEMA_VERSION);
    assert_eq!(back.result, RunResult::Pass);
    assert_eq!(back.sources[0].sha256.as_deref(), Some(fx.sha.as_str()));
    assert!(back.steps.iter().all(|s| s.status == StepStatus::Ok));
    let build = back.step("build").unwrap();
    assert!(build.log.as_ref().is_some_and(|l| l.is_file()));
    assert!(
        build.commands[0].starts_with("(cd ") && build.commands[0].contains(" env LC_ALL=C make"),
        "{:?}",
        build.commands
    );

    // The observer heard every step start and finish, and make's lines.
    let events = collector.events();
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepStarted { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["fetch", "build"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Line(l) if l.contains("hello.c")))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Finished(s) if s.contains("PASS")))
    );

    // reproduce.sh, run from elsewhere after the tree is gone, rebuilds the same binary.
    let hello = out.join("src/hello-1.0/hello");
    let expected = record.artifacts[0].sha256.clone();
    std::fs::remove_dir_all(out.join("src/hello-1.0")).unwrap();
    let cwd = fx.root.join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let ran = std::process::Command::new(out.join("reproduce.sh"))
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "reproduce.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(sha256_hex(&std::fs::read(&hello).unwrap()), expected);
    // Its commands ran in their own directories: nothing landed in the repository.
    assert!(!Path::new("hello-1.0.tar.gz").exists());
}

#[test]
fn the_record_and_the_reproducer_are_written_as_the_run_goes() {
    let fx = Fixture::new("hi");
    let out = fx.root.join("out");
    let inspector = Arc::new(Inspector {
        out: out.clone(),
        seen: Mutex::new(Vec::new()),
    });
    hello_flow(&fx, &out, "all", fx.options(), inspector.clone()).expect("passes");
    assert_eq!(*inspector.seen.lock().unwrap(), ["fetch", "build"]);
}

/// Raises the interrupt flag when a step starts.
struct CtrlC {
    at: &'static str,
    flag: Arc<AtomicBool>,
}

impl Observer for CtrlC {
    fn step_started(&self, _index: usize, _total: usize, step: &PlannedStep) {
        if step.name == self.at {
            let flag = Arc::clone(&self.flag);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                flag.store(true, Ordering::SeqCst);
            });
        }
    }
}

#[test]
fn an_interrupt_stops_the_step_and_is_recorded_as_such() {
    let fx = Fixture::new("hi");
    let out = fx.root.join("out");
    let flag = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        interrupt: Some(Arc::clone(&flag)),
        ..fx.options()
    };
    let observer = Arc::new(CtrlC {
        at: "build",
        flag: Arc::clone(&flag),
    });
    let start = Instant::now();
    let err = hello_flow(&fx, &out, "slow", options, observer).expect_err("interrupted");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "`sleep 30` was not stopped"
    );
    assert!(err.is_interrupted(), "{err}");
    let record = BuildRecord::read(out.join("build.json")).unwrap();
    assert_eq!(record.result, RunResult::Interrupted);
    assert_eq!(
        record.step("build").unwrap().status,
        StepStatus::Interrupted
    );
    assert_eq!(record.step("fetch").unwrap().status, StepStatus::Ok);
}

#[test]
fn record_diff_names_what_differs_between_two_runs() {
    let kforge = env!("CARGO_BIN_EXE_kforge");
    let a = Fixture::new("one");
    let b = Fixture::new("two");
    let out_a = a.root.join("out");
    let out_b = b.root.join("out");
    let silent = Arc::new(kforge::observe::Silent);
    hello_flow(&a, &out_a, "all", a.options(), silent.clone()).unwrap();
    hello_flow(&b, &out_b, "all", b.options(), silent).unwrap();
    let (ja, jb) = (out_a.join("build.json"), out_b.join("build.json"));

    let same = std::process::Command::new(kforge)
        .args(["record", "diff"])
        .args([&ja, &ja])
        .output()
        .unwrap();
    assert!(same.status.success());
    assert!(String::from_utf8_lossy(&same.stdout).contains("same sources"));

    let differ = std::process::Command::new(kforge)
        .args(["record", "diff"])
        .args([&ja, &jb])
        .output()
        .unwrap();
    assert_eq!(differ.status.code(), Some(1));
    let text = String::from_utf8_lossy(&differ.stdout);
    assert!(text.contains("source src:"), "{text}");
    assert!(text.contains(&a.sha) && text.contains(&b.sha), "{text}");
    assert!(text.contains("artifact src/hello-1.0/hello:"), "{text}");
    assert!(
        !text.contains("compiler:"),
        "same compiler reported as different: {text}"
    );

    let json = std::process::Command::new(kforge)
        .args(["--json", "record", "diff"])
        .args([&ja, &jb])
        .output()
        .unwrap();
    let diff: kforge::record::RecordDiff = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(diff.differences.len(), 2, "{diff:?}");

    // Not a record: the error names the file.
    let bogus = a.root.join("bogus.json");
    std::fs::write(&bogus, "{\"schema_version\": 1}").unwrap();
    let old = std::process::Command::new(kforge)
        .args(["record", "diff"])
        .args([&bogus, &ja])
        .output()
        .unwrap();
    assert!(!old.status.success());
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(
        err.contains("bogus.json") && err.contains("schema_version 1"),
        "{err}"
    );
    // With --json the failure is a JSON object on stdout, the cause chain included.
    let json = std::process::Command::new(kforge)
        .args(["--json", "record", "diff"])
        .args([&bogus, &ja])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(error["error"], "reading the first record");
    assert!(
        error["causes"][0]
            .as_str()
            .unwrap()
            .contains("schema_version 1"),
        "{error}"
    );
    assert_eq!(error["interrupted"], false);
}

#[test]
fn a_failed_make_step_records_the_command_as_it_ran_and_its_log() {
    let fx = Fixture::new("hi");
    let out = fx.root.join("out");
    let err = hello_flow(
        &fx,
        &out,
        "no-such-target",
        fx.options(),
        Arc::new(Collector::new()),
    )
    .expect_err("make fails");
    assert!(!err.is_interrupted());
    let record = BuildRecord::read(out.join("build.json")).unwrap();
    assert_eq!(record.result, RunResult::Fail);
    let build = record.step("build").unwrap();
    assert_eq!(build.status, StepStatus::Failed);
    assert!(
        build.commands[0].starts_with("(cd ") && build.commands[0].ends_with(" no-such-target)"),
        "{:?}",
        build.commands
    );
    let log = std::fs::read_to_string(build.log.as_ref().expect("the log")).unwrap();
    assert!(log.contains("no-such-target"), "{log}");
    assert!(
        record.error.as_deref().unwrap().contains("no-such-target"),
        "{:?}",
        record.error
    );
}
