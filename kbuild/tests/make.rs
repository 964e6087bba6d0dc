//! `Make` against small Makefiles written by the tests, with real make and a real gcc.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{makefile, read_pids, survivors, wait_for_pids};
use kforge_kbuild::make::Error;
use kforge_kbuild::{LineKind, Make, Status, Stream};

#[test]
fn flags_variables_and_environment_reach_make() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "show:
    @echo 'arch=$(ARCH) cross=$(CROSS_COMPILE) cc=$(CC) v=$(V) o=$(O)'
    @echo \"env=$$KFORGE_TEST_ENV\"
    @echo 'flags=$(MAKEFLAGS)'
    @echo \"lc_all=$$LC_ALL\"",
    );
    let out_dir = dir.path().join("out");
    let outcome = Make::new(dir.path())
        .arch("arm64")
        .cross_compile("aarch64-linux-gnu-")
        .vars([("CC".to_string(), "gcc-11".to_string())])
        .var("CC", "gcc-12") // the last value wins
        .env("KFORGE_TEST_ENV", "from env")
        .jobs(3)
        .keep_going(true)
        .verbose(true)
        .build_dir(&out_dir)
        .target("show")
        .capture_stdout(true)
        .run()
        .unwrap();
    assert_eq!(
        outcome.stdout[0],
        format!(
            "arch=arm64 cross=aarch64-linux-gnu- cc=gcc-12 v=1 o={}",
            out_dir.display()
        )
    );
    assert!(out_dir.is_dir(), "O= directory is created");
    assert_eq!(outcome.stdout[1], "env=from env");
    let flags = &outcome.stdout[2];
    assert!(flags.contains('k'), "-k reaches make: {flags}");
    assert!(flags.contains("-j3"), "-j3 reaches make: {flags}");
    assert_eq!(outcome.stdout[3], "lc_all=C");
    assert_eq!(outcome.status, Status::Exited(0));
    assert_eq!(outcome.targets, ["show"]);
    let cmd = outcome.command.join(" ");
    assert!(cmd.starts_with("make -C "), "{cmd}");
    assert!(
        cmd.contains(" CC=gcc-12 ") && !cmd.contains("gcc-11"),
        "{cmd}"
    );
}

#[test]
fn relative_build_dir_is_made_absolute() {
    let make = {
        let mut m = Make::new("/src");
        m.build_dir("rel/out");
        m
    };
    let cwd = std::env::current_dir().unwrap();
    let o = format!("O={}", cwd.join("rel/out").display());
    assert!(
        make.command_line().iter().any(|a| a.to_str() == Some(&o)),
        "{:?}",
        make.command_line()
    );
}

#[test]
fn jobs_really_run_in_parallel() {
    // a and b each wait for the other to have started: only a parallel make finishes them.
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "all: a b
a b:
    @touch $@.started; i=0; while [ ! -e $(if $(filter a,$@),b,a).started ]; do i=$$((i+1)); [ $$i -lt $(TRIES) ] || exit 1; sleep 0.1; done",
    );
    Make::new(dir.path())
        .jobs(2)
        .var("TRIES", "600")
        .target("all")
        .timeout(Duration::from_secs(120))
        .run()
        .unwrap();
    for f in ["a.started", "b.started"] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    // With -j1 the first job waits for a second that never starts: it gives up with exit 1.
    let err = Make::new(dir.path())
        .jobs(1)
        .var("TRIES", "10")
        .target("all")
        .timeout(Duration::from_secs(120))
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::Failed(_)), "{err}");
}

#[test]
fn output_streams_to_callback_log_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "all:
    @for i in $$(seq 1 2000); do echo \"line $$i\"; done
    @echo 'x.c:1:2: warning: something odd' >&2
    @echo 'y.c:3:4: warning: something else' >&2
    @printf 'no newline at the end'",
    );
    let log = dir.path().join("logs/all.log");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let outcome = Make::new(dir.path())
        .target("all")
        .log_file(&log)
        .on_line(move |line| {
            seen2
                .lock()
                .unwrap()
                .push((line.stream, line.kind, line.text.to_owned()))
        })
        .run()
        .unwrap();
    assert_eq!(outcome.lines, 2003);
    assert_eq!(outcome.warnings, 2);
    assert_eq!(outcome.errors, 0);
    assert_eq!(outcome.log_file.as_deref(), Some(log.as_path()));
    let seen = seen.lock().unwrap();
    let stdout: Vec<&str> = seen
        .iter()
        .filter(|(s, _, _)| *s == Stream::Stdout)
        .map(|(_, _, t)| t.as_str())
        .collect();
    assert_eq!(stdout.len(), 2001);
    assert_eq!(stdout[0], "line 1");
    assert_eq!(stdout[1999], "line 2000");
    assert_eq!(stdout[2000], "no newline at the end");
    let warnings: Vec<_> = seen
        .iter()
        .filter(|(s, k, _)| *s == Stream::Stderr && *k == LineKind::Warning)
        .collect();
    assert_eq!(warnings.len(), 2);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("$ make -C "), "{}", lines[0]);
    assert!(lines.contains(&"line 1") && lines.contains(&"line 2000"));
    assert!(lines.contains(&"x.c:1:2: warning: something odd"));
    assert!(lines.last().unwrap().starts_with("# exit status 0 after "));
    assert_eq!(lines.len(), 2003 + 2);
}

#[test]
fn lines_reach_tracing_at_their_levels() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .finish();
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "all:
    @echo '  CC      progress.o'
    @echo 'a.c:1:1: warning: careful' >&2
    @echo 'b.c:2:2: error: broken' >&2",
    );
    tracing::subscriber::with_default(subscriber, || {
        Make::new(dir.path()).target("all").run().unwrap();
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let level_of = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not traced in:\n{text}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(level_of("CC      progress.o"), "DEBUG");
    assert_eq!(level_of("warning: careful"), "WARN");
    assert_eq!(level_of("error: broken"), "ERROR");
    assert!(text.contains("make{targets=all}"), "{text}");
}

#[test]
fn gcc_error_is_excerpted_with_context_and_make_chain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.c"), "int good(void) { return 1; }\n").unwrap();
    std::fs::write(
        dir.path().join("bad.c"),
        "int main(void)\n{\n    undeclared_thing = 1;\n    return 0;\n}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    makefile(
        &dir.path().join("sub"),
        "all: bad.o
%.o: ../%.c
    gcc -c -o $@ $<",
    );
    makefile(
        dir.path(),
        "all: good.o
    $(MAKE) -C sub
%.o: %.c
    gcc -c -o $@ $<",
    );
    let log = dir.path().join("build.log");
    let err = Make::new(dir.path())
        .target("all")
        .jobs(1)
        .log_file(&log)
        .run()
        .unwrap_err();
    let Error::Failed(failure) = &err else {
        panic!("expected a failure, got {err}");
    };
    assert_eq!(failure.targets, ["all"]);
    assert_eq!(failure.status, Status::Exited(2));
    assert_eq!(failure.log_file.as_deref(), Some(log.as_path()));
    let excerpt = failure.compiler_errors.join("\n");
    assert!(
        excerpt.contains("bad.c: In function 'main':"),
        "context before the error: {excerpt}"
    );
    assert!(
        excerpt.contains("bad.c:3:5: error: 'undeclared_thing' undeclared"),
        "{excerpt}"
    );
    assert!(
        excerpt.contains("undeclared_thing = 1;"),
        "source line: {excerpt}"
    );
    assert_eq!(failure.make_errors.len(), 2, "{:?}", failure.make_errors);
    assert!(failure.make_errors[0].starts_with("make[1]: *** [Makefile:3: bad.o] Error 1"));
    assert!(failure.make_errors[1].starts_with("make: *** [Makefile:2: all] Error 2"));
    let text = err.to_string();
    for needle in [
        "make failed:",
        "(targets: all)",
        "exit status 2",
        "error: 'undeclared_thing' undeclared",
        "make: *** [Makefile:2: all] Error 2",
        &format!("full log: {}", log.display()),
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let json = serde_json::to_value(failure.as_ref()).unwrap();
    assert_eq!(json["status"]["exited"], 2);
}

#[test]
fn a_target_reading_stdin_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "prompt:
    @printf 'Enable feature (FOO) [N/y/?] (NEW) '; if read answer; then echo \"read [$$answer]\"; else echo 'stdin closed'; fi
    @cat
    @echo done",
    );
    let outcome = Make::new(dir.path())
        .target("prompt")
        .capture_stdout(true)
        .timeout(Duration::from_secs(60))
        .run()
        .unwrap();
    assert_eq!(
        outcome.stdout,
        ["Enable feature (FOO) [N/y/?] (NEW) stdin closed", "done"]
    );
}

#[test]
fn prompts_take_their_defaults_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "oldconfig:
    @for q in A B C; do printf \"$$q? \"; read a || exit 7; echo \"[$$a]\"; done",
    );
    let outcome = Make::new(dir.path())
        .target("oldconfig")
        .answer_prompts_with_defaults(true)
        .capture_stdout(true)
        .timeout(Duration::from_secs(60))
        .run()
        .unwrap();
    assert_eq!(outcome.stdout, ["A? []", "B? []", "C? []"]);
}

#[test]
fn destructive_targets_need_an_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "mrproper distclean world kdelete:
    @touch $@.ran",
    );
    for target in ["mrproper", "distclean", "world", "kdelete"] {
        let err = Make::new(dir.path())
            .targets(["all", target])
            .run()
            .unwrap_err();
        assert!(matches!(err, Error::Destructive { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("`{target}`")), "{text}");
        assert!(text.contains("allow_destructive(true)"), "{text}");
        assert!(!dir.path().join(format!("{target}.ran")).exists());
    }
    Make::new(dir.path())
        .target("mrproper")
        .allow_destructive(true)
        .run()
        .unwrap();
    assert!(dir.path().join("mrproper.ran").exists());
}

#[test]
fn clean_in_a_kernel_source_tree_needs_o_or_an_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 0
clean:
    @echo cleaned $(O)",
    );
    std::fs::write(dir.path().join("Kconfig"), "").unwrap();
    let err = Make::new(dir.path()).target("clean").run().unwrap_err();
    assert!(err.to_string().contains("O="), "{err}");
    let out = dir.path().join("o");
    Make::new(dir.path())
        .build_dir(&out)
        .target("clean")
        .run()
        .unwrap();
}

/// A Makefile whose `all` starts, in two parallel jobs, shells with `sleep 300` children and
/// grandchildren, one of them ignoring SIGTERM; every pid goes to `pids`.
fn process_tree_makefile(dir: &std::path::Path) {
    makefile(
        dir,
        "all: one two
one:
    @echo $$$$ >> pids; sleep 300 & echo $$! >> pids; sh -c 'sleep 300 & echo $$! >> pids; wait' & wait
two:
    @echo $$$$ >> pids; trap '' TERM; sleep 300 & echo $$! >> pids; wait",
    );
}

const TREE_PIDS: usize = 5;

#[test]
fn timeout_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    process_tree_makefile(dir.path());
    let started = Instant::now();
    let err = Make::new(dir.path())
        .target("all")
        .jobs(2)
        .timeout(Duration::from_secs(8))
        .kill_grace(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(120));
    let Error::TimedOut { after, failure } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(*after, Duration::from_secs(8));
    assert!(matches!(
        failure.status,
        Status::Signaled(_) | Status::Exited(_)
    ));
    assert!(err.to_string().contains("timed out after 8.0s"), "{err}");
    let pids = read_pids(&dir.path().join("pids"));
    assert_eq!(
        pids.len(),
        TREE_PIDS,
        "the tree did not start in 8 s: {pids:?}"
    );
    assert_eq!(survivors(&pids), Vec::<i32>::new(), "processes survived");
}

#[test]
fn interrupt_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    process_tree_makefile(dir.path());
    let flag = Arc::new(AtomicBool::new(false));
    let pids_file = dir.path().join("pids");
    let raiser = {
        let flag = Arc::clone(&flag);
        let pids_file = pids_file.clone();
        std::thread::spawn(move || {
            let pids = wait_for_pids(&pids_file, TREE_PIDS);
            flag.store(true, Ordering::Relaxed);
            pids
        })
    };
    let err = Make::new(dir.path())
        .target("all")
        .jobs(2)
        .interrupt(Arc::clone(&flag))
        .kill_grace(Duration::from_millis(500))
        .timeout(Duration::from_secs(300))
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted(_)), "{err}");
    let pids = raiser.join().unwrap();
    assert_eq!(survivors(&pids), Vec::<i32>::new(), "processes survived");
}

#[test]
fn dropping_a_running_make_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    process_tree_makefile(dir.path());
    let running = Make::new(dir.path())
        .target("all")
        .jobs(2)
        .kill_grace(Duration::from_millis(500))
        .spawn()
        .unwrap();
    let make_pid = running.pid() as i32;
    let pids = wait_for_pids(&dir.path().join("pids"), TREE_PIDS);
    drop(running);
    // make itself was reaped by the drop: no zombie of ours is left.
    assert!(
        !std::path::Path::new(&format!("/proc/{make_pid}")).exists(),
        "make ({make_pid}) was not reaped"
    );
    assert_eq!(survivors(&pids), Vec::<i32>::new(), "processes survived");
}

#[test]
fn background_jobs_left_by_a_finished_make_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // One straggler keeps stdout open (a reader waiting for EOF would hang on it), one does not.
    makefile(
        dir.path(),
        "all:
    @sleep 300 & echo $$! >> pids
    @sleep 300 >/dev/null 2>&1 & echo $$! >> pids
    @echo finished",
    );
    let started = Instant::now();
    let outcome = Make::new(dir.path())
        .target("all")
        .kill_grace(Duration::from_millis(500))
        .capture_stdout(true)
        .run()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(outcome.stdout, ["finished"]);
    let pids = read_pids(&dir.path().join("pids"));
    assert_eq!(pids.len(), 2);
    assert_eq!(survivors(&pids), Vec::<i32>::new(), "stragglers survived");
}

#[test]
fn bad_input_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = Make::new(dir.path().join("missing")).run().unwrap_err();
    assert!(matches!(err, Error::NoDirectory { .. }), "{err}");
    let err = Make::new(dir.path())
        .var("BAD NAME", "x")
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("\"BAD NAME\""), "{err}");
    let err = Make::new(dir.path())
        .program("kforge-no-such-make")
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("kforge-no-such-make"), "{err}");
    // No Makefile: make's own message is in the report.
    let err = Make::new(dir.path()).target("all").run().unwrap_err();
    let failure = err.failure().unwrap();
    assert!(
        failure.make_errors[0].contains("No rule to make target 'all'"),
        "{failure:?}"
    );
    assert!(err.to_string().contains("no log file was kept"), "{err}");
}

#[test]
fn failure_without_compiler_errors_shows_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    makefile(
        dir.path(),
        "all:
    @echo '***' >&2; echo '*** The source tree is not clean, please run make mrproper' >&2; exit 1",
    );
    let err = Make::new(dir.path()).target("all").run().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("last output lines:"), "{text}");
    assert!(text.contains("The source tree is not clean"), "{text}");
}

#[test]
fn a_process_that_left_the_group_cannot_hang_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    // setsid moves the sleep out of make's process group while it keeps stdout open.
    makefile(
        dir.path(),
        "all:
    @setsid sleep 120 & echo $$! >> pids
    @echo finished",
    );
    let started = Instant::now();
    let outcome = Make::new(dir.path())
        .target("all")
        .kill_grace(Duration::from_millis(300))
        .capture_stdout(true)
        .run();
    let elapsed = started.elapsed();
    for pid in read_pids(&dir.path().join("pids")) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let outcome = outcome.unwrap();
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert_eq!(outcome.stdout, ["finished"]);
}
