//! `kforge kernel …` against fake kernel trees (a top Makefile with VERSION/PATCHLEVEL and the
//! targets the commands use), with real make and gcc.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn kforge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kforge"));
    cmd.env_remove("RUST_LOG");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Write a Makefile; lines starting with four spaces become recipe lines.
fn makefile(dir: &Path, body: &str) {
    let body: String = body
        .lines()
        .map(|l| match l.strip_prefix("    ") {
            Some(recipe) => format!("\t{recipe}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("Makefile"), body).unwrap();
}

fn fake_tree(dir: &Path, version: u32, patchlevel: u32, sublevel: u32) {
    makefile(
        dir,
        &format!(
            "VERSION = {version}
PATCHLEVEL = {patchlevel}
SUBLEVEL = {sublevel}
EXTRAVERSION =

olddefconfig oldnoconfig:
    @test -f $(O)/.config && echo 'ran $@' && echo CONFIG_RESOLVED=y >> $(O)/.config
oldconfig:
    @printf 'New (NEW) [N/y] '; read a || exit 9; echo \"ran oldconfig [$$a]\"; echo CONFIG_RESOLVED=y >> $(O)/.config
modules_prepare prepare scripts:
    @echo 'ran $@'; touch $(O)/$@.done
kernelrelease:
    @echo '#'; echo '# configuration written to .config'; echo '{version}.{patchlevel}.{sublevel}-fake'
mrproper:
    @touch $(O)/mrproper.ran
broken:
    gcc -c -o $(O)/broken.o broken.c
mask:
    @grep SigBlk /proc/self/status
hang:
    @echo $$$$ >> $(O)/pids; sleep 300 & echo $$! >> $(O)/pids; wait"
        ),
    );
    std::fs::write(
        dir.join("broken.c"),
        "int f(void)\n{\n    return missing_symbol;\n}\n",
    )
    .unwrap();
}

#[test]
fn release_prints_the_last_line() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 192);
    let out = run(kforge().args(["kernel", "release"]).arg(src.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "6.1.192-fake\n");

    let out = run(kforge()
        .args(["--json", "kernel", "release"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(src.path().join("o")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"release\": \"6.1.192-fake\""), "{stdout}");
    assert!(stdout.contains("\"patchlevel\": 1"), "{stdout}");
}

#[test]
fn prepare_installs_resolves_and_prepares() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("build");
    let config = src.path().join("my.config");
    std::fs::write(&config, "CONFIG_FOO=y\n").unwrap();
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build)
        .arg("--config")
        .arg(&config)
        .args(["--arch", "x86_64"]));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "installed {} as {}",
            config.display(),
            build.join(".config").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("resolved the config with olddefconfig (Linux 6.1.0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("prepared for external modules with `make modules_prepare`"),
        "{stdout}"
    );
    assert!(stdout.contains("kernel release 6.1.0-fake"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(build.join(".config")).unwrap(),
        "CONFIG_FOO=y\nCONFIG_RESOLVED=y\n"
    );
    assert!(build.join("modules_prepare.done").exists());
    assert!(build.join("kforge-logs/olddefconfig.log").is_file());
}

#[test]
fn prepare_on_an_old_tree_answers_prompts_and_uses_prepare_scripts() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 2, 6, 18);
    // Old trees have no modules_prepare target.
    let mk = std::fs::read_to_string(src.path().join("Makefile")).unwrap();
    std::fs::write(
        src.path().join("Makefile"),
        mk.replace("modules_prepare prepare scripts:", "prepare scripts:"),
    )
    .unwrap();
    let build = src.path().join("build");
    std::fs::create_dir(&build).unwrap();
    std::fs::write(build.join(".config"), "CONFIG_X=y\n").unwrap();
    let out = run(kforge()
        .args(["--json", "kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("\"strategy\": \"oldconfig_with_defaults\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"prepare\",\n      \"scripts\""),
        "{stdout}"
    );
    assert!(build.join("prepare.done").exists() && build.join("scripts.done").exists());
}

#[test]
fn prepare_can_be_told_how_to_resolve() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("build");
    std::fs::create_dir(&build).unwrap();
    std::fs::write(build.join(".config"), "CONFIG_X=y\n").unwrap();
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build)
        .args(["--resolve-with", "oldconfig-defaults"]));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "resolved the config with oldconfig (every prompt answered with its default)"
        ),
        "{stdout}"
    );
    let log = std::fs::read_to_string(build.join("kforge-logs/oldconfig.log")).unwrap();
    assert!(log.contains("ran oldconfig []"), "{log}");
}

#[test]
fn prepare_explains_missing_inputs() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let out = run(kforge().args(["kernel", "prepare"]).arg(src.path()));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("needs --build-dir"),
        "{}",
        text(&out.stderr)
    );
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(src.path().join("empty")));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("has no .config: pass --config FILE"),
        "{stderr}"
    );
}

#[test]
fn build_refuses_destructive_targets_without_opt_in() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("o");
    let out = run(kforge()
        .args(["kernel", "build"])
        .arg(src.path())
        .arg("-O")
        .arg(&build)
        .arg("mrproper"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to run the destructive target `mrproper`"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-destructive"), "{stderr}");
    assert!(!build.join("mrproper.ran").exists());
    let out = run(kforge()
        .args(["kernel", "build", "--allow-destructive"])
        .arg(src.path())
        .arg("-O")
        .arg(&build)
        .arg("mrproper"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(build.join("mrproper.ran").exists());
}

#[test]
fn build_failure_shows_the_compiler_error() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("o");
    let out = run(kforge()
        .current_dir(src.path())
        .args(["kernel", "build"])
        .arg(src.path())
        .arg("-O")
        .arg(&build)
        .arg("broken"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: make failed:"), "{stderr}");
    assert!(
        stderr.contains("error: 'missing_symbol' undeclared"),
        "{stderr}"
    );
    assert!(stderr.contains("make: *** [Makefile:"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "full log: {}",
            build.join("kforge-logs/broken.log").display()
        )),
        "{stderr}"
    );
}

#[test]
fn make_gets_a_clean_signal_mask() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("o");
    let out = run(kforge()
        .args(["-v", "kernel", "build"])
        .arg(src.path())
        .arg("-O")
        .arg(&build)
        .arg("mask"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(build.join("kforge-logs/mask.log")).unwrap();
    assert!(log.contains("SigBlk:\t0000000000000000"), "{log}");
}

fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

#[test]
fn ctrl_c_stops_the_whole_build() {
    let src = tempfile::tempdir().unwrap();
    fake_tree(src.path(), 6, 1, 0);
    let build = src.path().join("o");
    let child = kforge()
        .args(["kernel", "build"])
        .arg(src.path())
        .arg("-O")
        .arg(&build)
        .arg("hang")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pids_file = build.join("pids");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pids: Vec<i32> = loop {
        let pids: Vec<i32> = std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        if pids.len() >= 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "the build did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("make was interrupted"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&p| gone(p)) {
        assert!(Instant::now() < deadline, "processes survived: {pids:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn prepare_a_real_linux_tree() {
    let src = std::env::var_os("KFORGE_LINUX_SRC").unwrap_or_else(|| {
        panic!(
            "KFORGE_LINUX_SRC is not set: run scripts/e2e (it extracts Debian's linux-source-6.1)"
        )
    });
    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("defconfig");
    let out = run(kforge()
        .args(["kernel", "build"])
        .arg(&src)
        .arg("-O")
        .arg(&first)
        .args(["--arch", "x86_64", "defconfig"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let build = work.path().join("build");
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(&src)
        .arg("--build-dir")
        .arg(&build)
        .arg("--config")
        .arg(first.join(".config"))
        .args(["--arch", "x86_64"]));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("resolved the config with olddefconfig (Linux 6.1."),
        "{stdout}"
    );
    assert!(stdout.contains("`make modules_prepare`"), "{stdout}");
    assert!(build.join("scripts/mod/modpost").is_file());
    let out = run(kforge()
        .args(["kernel", "release"])
        .arg(&src)
        .arg("--build-dir")
        .arg(&build));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("6.1."),
        "{}",
        text(&out.stdout)
    );
    assert!(!Path::new(&src).join(".config").exists());
}

/// A tree whose `all` compiles three C files into `O=` with `$(CC)` and a host tool with
/// `$(HOSTCC)`, from the build directory (as kbuild does).
fn compiling_tree(dir: &Path) {
    makefile(
        dir,
        "VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 0
EXTRAVERSION =
CC = gcc
HOSTCC = gcc
all:
    mkdir -p $(O)
    for f in a b c; do (cd $(O) && $(CC) -O2 -c $(CURDIR)/$$f.c -o $$f.o) || exit 1; done
    cd $(O) && $(HOSTCC) -O2 -c $(CURDIR)/tool.c -o tool.o
olddefconfig:
    @echo CONFIG_RESOLVED=y >> $(O)/.config
modules_prepare:
    cd $(O) && $(CC) -O2 -c $(CURDIR)/a.c -o prepared.o
kernelrelease:
    @echo 6.1.0-fake",
    );
    for f in ["a", "b", "c", "tool"] {
        std::fs::write(
            dir.join(format!("{f}.c")),
            format!("int {f}_fn(int x) {{ return x * 3 + {}; }}\n", f.len()),
        )
        .unwrap();
    }
}

#[test]
fn build_through_ccache_reports_hits_and_misses() {
    let src = tempfile::tempdir().unwrap();
    compiling_tree(src.path());
    let cache = src.path().join("ccache");
    let build = |dir: &str| {
        let out = run(kforge()
            .env("CCACHE_DIR", &cache)
            .args(["--json", "kernel", "build"])
            .arg(src.path())
            .arg("--build-dir")
            .arg(src.path().join(dir))
            .args(["--cc-wrapper", "ccache", "all"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            json["command"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "CC=ccache gcc"),
            "{json}"
        );
        json["cache"].clone()
    };
    let cold = build("o1");
    assert_eq!(cold["tool"], "ccache");
    assert_eq!(
        (cold["hits"].as_u64(), cold["misses"].as_u64()),
        (Some(0), Some(4)),
        "{cold}"
    );
    let warm = build("o2");
    assert_eq!(
        (warm["hits"].as_u64(), warm["misses"].as_u64()),
        (Some(4), Some(0)),
        "{warm}"
    );
    assert_eq!(warm["hit_rate"].as_f64(), Some(1.0));

    // Human output: the counters after the build line.
    let out = run(kforge()
        .env("CCACHE_DIR", &cache)
        .args(["kernel", "build"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(src.path().join("o3"))
        .args(["--cc-wrapper", "ccache", "all"]));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("compiler wrapper: ccache "), "{stdout}");
    assert!(
        stdout.contains("ccache: 4 hits, 0 misses (100.0% hit rate)"),
        "{stdout}"
    );
}

#[test]
fn prepare_with_distcc_needs_hosts_and_sets_jobs_from_slots() {
    let src = tempfile::tempdir().unwrap();
    compiling_tree(src.path());
    let build = src.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(build.join(".config"), "CONFIG_FOO=y\n").unwrap();
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build)
        .args(["--cc-wrapper", "distcc"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("distcc needs a host list: pass --distcc-hosts"),
        "{}",
        text(&out.stderr)
    );
    // localhost slots compile here (no daemon needed); -j is the total of the slots.
    let out = run(kforge()
        .args(["--json", "kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build)
        .args(["--cc-wrapper", "distcc", "--distcc-hosts", "localhost/3"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let command = json["prepared"]["outcome"]["command"].as_array().unwrap();
    assert!(command.iter().any(|a| a == "-j3"), "{command:?}");
    assert!(command.iter().any(|a| a == "CC=distcc gcc"), "{command:?}");
    assert_eq!(json["wrapper"]["kind"], "distcc");
    assert_eq!(json["cache"]["local_jobs"].as_u64(), Some(1), "{json}");
    assert_eq!(json["cache"]["remote_jobs"].as_u64(), Some(0), "{json}");
    assert!(build.join("prepared.o").is_file());
    assert!(build.join("kforge-logs/distcc-client.log").is_file());
    // --distcc-hosts on another wrapper is refused with the reason.
    let out = run(kforge()
        .args(["kernel", "prepare"])
        .arg(src.path())
        .arg("--build-dir")
        .arg(&build)
        .args(["--cc-wrapper", "ccache", "--distcc-hosts", "localhost/3"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("a distcc host list applies to distcc only"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn build_is_reproducible_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    makefile(
        &src,
        "VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 0

show:
    @echo \"ts=$$KBUILD_BUILD_TIMESTAMP sde=$$SOURCE_DATE_EPOCH user=$$KBUILD_BUILD_USER kcflags=$(KCFLAGS)\"",
    );
    // The tree's date: the newest time among its top files, as an archive records them.
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(src.join("Makefile"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    let out = dir.path().join("o");
    // `make show` in the build directory, with `extra` flags; its log.
    let show = |extra: &[&str]| {
        let o = run(kforge()
            .args(["-q", "kernel", "build"])
            .args(extra)
            .arg(&src)
            .arg("-O")
            .arg(&out)
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .arg("show"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::read_to_string(dir.path().join("logs/show.log")).unwrap()
    };
    let log = show(&[]);
    assert!(
        log.contains(&format!(
            "ts=Tue Nov 14 22:13:20 UTC 2023 sde=1700000000 user=kforge kcflags=-ffile-prefix-map={}=.",
            src.display()
        )),
        "{log}"
    );
    let log = show(&["--no-reproducible"]);
    assert!(log.contains("ts= sde= user= kcflags=\n"), "{log}");
}
