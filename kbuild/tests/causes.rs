//! The failure report leads with the first real cause: a corpus of small real failing builds
//! (`tests/fixtures/*`, real make, real gcc, real Python, Perl, meson and ninja), each run for
//! real and checked for the kind of cause and the first line of its excerpt. The noisy ones
//! run under `-j2` beside a sibling target writing to both streams.

use std::path::{Path, PathBuf};
use std::process::Command;

use kforge_kbuild::{Cause, CauseKind, Configure, Failure, Language, Make};

/// A fresh copy of `tests/fixtures/<name>` (the builds write into their directory).
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&src, &dir);
    (tmp, dir)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// Fail with how to install a tool the corpus needs, never skip.
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is needed by this test: apt-get install {package} (scripts/install-deps test)"
    );
}

/// Run make -j2 in the fixture and return its failure report.
fn make_failure(name: &str) -> (tempfile::TempDir, Failure) {
    let (tmp, dir) = fixture(name);
    let err = Make::new(&dir)
        .jobs(2)
        .log_file(dir.join("build.log"))
        .run()
        .expect_err("the fixture fails");
    let failure = err.failure().expect("make ran").clone();
    (tmp, failure)
}

fn cause(failure: &Failure) -> &Cause {
    failure
        .cause
        .as_ref()
        .unwrap_or_else(|| panic!("no cause found in:\n{failure}"))
}

/// The report starts with the cause's headline, then its excerpt; make's chain and the log
/// path come after.
fn check_report_order(failure: &Failure) {
    let text = failure.to_string();
    let cause = cause(failure);
    assert!(text.starts_with(&cause.headline()), "{text}");
    let excerpt = text
        .find(&format!("\n  {}", cause.excerpt[0]))
        .expect("excerpt shown");
    if let Some(chain) = text.find("\nmake reported:") {
        assert!(excerpt < chain, "{text}");
    }
    let log = text.find("\nfull log: ").expect("log path shown");
    assert!(
        text[log + 1..].lines().count() == 1,
        "the log path is last: {text}"
    );
}

#[test]
fn python_traceback_under_j2_beside_a_noisy_sibling() {
    require("python3", "python3");
    let (_tmp, failure) = make_failure("python-traceback");
    let c = cause(&failure);
    check_report_order(&failure);
    assert_eq!(
        c.excerpt[0], "Traceback (most recent call last):",
        "{failure}"
    );
    assert_eq!(
        c.excerpt.last().unwrap(),
        "ValueError: invalid literal for int() with base 0: 'two'"
    );
    // The whole traceback and nothing of the sibling's, whatever the interleaving was.
    assert!(
        c.excerpt
            .iter()
            .all(|l| !l.contains("NOISE") && !l.contains("noise:")),
        "{failure}"
    );
    assert!(
        c.excerpt.iter().any(|l| l.contains("in register")),
        "{failure}"
    );
    assert_eq!(
        c.kind,
        CauseKind::Traceback {
            language: Language::Python,
            exception: "ValueError: invalid literal for int() with base 0: 'two'".into()
        }
    );
    // The innermost frame: `register`, on its int(number, 0) line.
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-traceback/gen.py"),
    )
    .unwrap();
    let line = script
        .lines()
        .position(|l| l.contains("int(number, 0)"))
        .unwrap()
        + 1;
    let location = c.location.as_ref().unwrap();
    assert!(
        location.file.ends_with("gen.py") && location.line as usize == line,
        "{location}"
    );
    assert_eq!(c.tool.as_deref(), Some("python"));
    assert_eq!(c.target.as_deref(), Some("gen.h"));
    // The log really was interleaved: the sibling's lines are before and inside the traceback.
    let log = std::fs::read_to_string(failure.log_file.as_ref().unwrap()).unwrap();
    let traceback = log.find("Traceback").unwrap();
    let exception = log.find("ValueError:").unwrap();
    assert!(log[..traceback].contains("noise:"), "{log}");
    assert!(log[traceback..exception].contains("noise:"), "{log}");
}

#[test]
fn python2_helper_script_says_what_to_install() {
    require("python3", "python3");
    let (_tmp, failure) = make_failure("python2-helper");
    let c = cause(&failure);
    assert!(
        c.excerpt[0].starts_with("  File \"") && c.excerpt[0].ends_with("mkversion.py\", line 3"),
        "{failure}"
    );
    assert!(
        c.message.starts_with("SyntaxError: Missing parentheses"),
        "{failure}"
    );
    assert!(
        c.hint.as_ref().unwrap().contains("PYTHON=python2.7"),
        "{failure}"
    );
    assert!(
        failure
            .to_string()
            .contains("\nhint: this script is Python 2"),
        "{failure}"
    );
}

#[test]
fn missing_header() {
    let (_tmp, failure) = make_failure("missing-header");
    let c = cause(&failure);
    check_report_order(&failure);
    assert_eq!(
        c.excerpt[0],
        "a.c:2:10: fatal error: kforge/no-such-header.h: No such file or directory"
    );
    assert_eq!(
        c.kind,
        CauseKind::MissingHeader {
            header: "kforge/no-such-header.h".into()
        }
    );
    assert_eq!(c.location.as_ref().unwrap().to_string(), "a.c:2:10");
    assert_eq!(c.target.as_deref(), Some("a.o"));
    assert!(
        c.excerpt.iter().any(|l| l == "compilation terminated."),
        "{failure}"
    );
}

#[test]
fn link_error() {
    let (_tmp, failure) = make_failure("link-error");
    let c = cause(&failure);
    check_report_order(&failure);
    assert!(
        c.excerpt[0].ends_with("ld: main.o: in function `main':"),
        "{failure}"
    );
    assert_eq!(
        c.kind,
        CauseKind::Link {
            symbol: Some("missing_function".into())
        }
    );
    assert_eq!(c.tool.as_deref(), Some("ld"));
    assert_eq!(c.target.as_deref(), Some("prog"));
}

#[test]
fn unknown_machine_option() {
    let (_tmp, failure) = make_failure("unknown-option");
    let c = cause(&failure);
    assert!(
        c.excerpt[0]
            .ends_with(": error: unrecognized command-line option '-mno-kforge-such-option'"),
        "{failure}"
    );
    assert_eq!(
        c.kind,
        CauseKind::UnknownOption {
            option: "-mno-kforge-such-option".into()
        }
    );
    assert!(c.hint.is_some());
}

#[test]
fn compile_error_under_j2_beside_a_noisy_sibling() {
    let (_tmp, failure) = make_failure("compile-error-j2");
    let c = cause(&failure);
    check_report_order(&failure);
    assert_eq!(c.excerpt[0], "broken.c: In function 'broken':", "{failure}");
    assert_eq!(
        c.excerpt[1],
        "broken.c:3:16: error: 'x' undeclared (first use in this function)"
    );
    assert!(c.excerpt.iter().all(|l| !l.contains("noise")), "{failure}");
    assert_eq!(c.target.as_deref(), Some("broken.o"));
    // The sibling's warnings came first in the log; the report still leads with the error.
    let log = std::fs::read_to_string(failure.log_file.as_ref().unwrap()).unwrap();
    assert!(log.find("noise1.c").unwrap() < log.find("broken.c:3").unwrap());
}

#[test]
fn tool_not_found_with_an_era_hint() {
    let (_tmp, failure) = make_failure("tool-not-found");
    let c = cause(&failure);
    assert!(c.excerpt[0].contains("python2.4: "), "{failure}");
    assert_eq!(
        c.kind,
        CauseKind::ToolNotFound {
            tool: "python2.4".into()
        }
    );
    assert!(c.hint.as_ref().unwrap().contains("Python 2"), "{failure}");
    assert_eq!(c.target.as_deref(), Some("tables.h"));
}

#[test]
fn no_rule_to_make_target() {
    let (_tmp, failure) = make_failure("no-rule");
    let c = cause(&failure);
    assert_eq!(
        c.excerpt[0],
        "make: *** No rule to make target 'config/auto.h', needed by 'a.o'.  Stop."
    );
    assert_eq!(
        c.kind,
        CauseKind::NoRule {
            missing: "config/auto.h".into(),
            needed_by: Some("a.o".into())
        }
    );
}

#[test]
fn perl_script_of_another_era() {
    require("perl", "perl");
    let (_tmp, failure) = make_failure("perl-era");
    let c = cause(&failure);
    assert!(
        c.excerpt[0].starts_with("Can't use 'defined(@array)'"),
        "{failure}"
    );
    assert_eq!(c.location.as_ref().unwrap().to_string(), "timeconst.pl:6");
    assert!(c.hint.as_ref().unwrap().contains("5.22"), "{failure}");
    assert_eq!(c.target.as_deref(), Some("timeconst.h"));
}

#[test]
fn meson_project_built_by_ninja() {
    require("meson", "meson");
    require("ninja", "ninja-build");
    let (_tmp, failure) = make_failure("meson-ninja");
    let c = cause(&failure);
    check_report_order(&failure);
    assert_eq!(
        c.excerpt[0].trim_end(),
        "FAILED: tool.p/tool.c.o",
        "{failure}"
    );
    assert_eq!(c.kind, CauseKind::Compile, "{failure}");
    assert_eq!(c.target.as_deref(), Some("tool.p/tool.c.o"));
    assert!(
        c.message.contains("error: 'undeclared_thing' undeclared"),
        "{failure}"
    );
    assert_eq!(c.location.as_ref().unwrap().to_string(), "../tool.c:2:10");
}

#[test]
fn configure_script_that_fails() {
    let (_tmp, dir) = fixture("configure-error");
    let err = Configure::new(&dir).run().expect_err("configure fails");
    let failure = err.failure().expect("configure ran");
    let c = cause(failure);
    assert_eq!(
        c.excerpt[0],
        "configure: error: kforge_missing.h not found: install the kforge-missing development package"
    );
    assert_eq!(c.kind, CauseKind::Configure);
    assert!(
        failure
            .to_string()
            .starts_with("configure error (configure): "),
        "{failure}"
    );
}

#[test]
fn an_ignored_failure_is_not_the_cause() {
    let (_tmp, failure) = make_failure("ignored-then-error");
    let log = std::fs::read_to_string(failure.log_file.as_ref().unwrap()).unwrap();
    assert!(log.contains("(ignored)"), "{log}");
    let c = cause(&failure);
    assert_eq!(c.kind, CauseKind::Compile, "{failure}");
    assert!(
        c.excerpt[0].starts_with("a.c: In function 'a'") || c.excerpt[0].starts_with("a.c:1:"),
        "{failure}"
    );
    assert_eq!(c.target.as_deref(), Some("a.o"));
}
