//! Compiler caches and distributed compilation, for real: ccache, sccache, distcc and icecream
//! put in front of the compiler by `kforge_toolchain::Wrapper`, a kernel-style build run by
//! `kforge_kbuild::KernelTree`, the counters read by `Make::cache_stats`, and the daemons
//! (distccd, icecc-scheduler + iceccd, the sccache server) started on loopback by the tests and
//! stopped by drop guards.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kforge::kbuild::{CacheReport, CacheTool, KernelTree, Outcome, Reproducible};
use kforge::toolchain::{Toolchain, Wrapper, WrapperKind};

/// Files of the kernel-style project: `SOURCES` kernel objects built with `-g` from the build
/// directory (like kbuild in `O=`), one of them including a generated `compile.h` that carries
/// the build's timestamp, user and host (like `init/version.c`), and one host tool.
const SOURCES: usize = 8;

/// A kernel-style tree: the top Makefile has Linux's version lines; objects go to `O=`,
/// compiled with the working directory in the build directory, `-g`, `$(KCFLAGS)`, absolute
/// include paths into the source tree, and `__FILE__` in the code.
fn write_project(root: &Path) {
    let makefile = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION = -cache\n\
srctree := $(CURDIR)\n\
objtree := $(if $(O),$(O),$(CURDIR))\n\
CC = cc\nHOSTCC = cc\n\
SRCS := $(sort $(notdir $(wildcard $(srctree)/kernel/*.c)))\n\
OBJS := $(addprefix $(objtree)/kernel/,$(SRCS:.c=.o))\n\
.PHONY: all\n\
all: $(objtree)/vmlinux.a $(objtree)/scripts/tool\n\
$(objtree)/include/generated/compile.h:\n\
\tmkdir -p $(dir $@)\n\
\tprintf '#define UTS_VERSION \"%s\"\\n#define LINUX_COMPILE_BY \"%s@%s\"\\n' \"$${KBUILD_BUILD_TIMESTAMP:-$$(date +%s.%N)}\" \"$${KBUILD_BUILD_USER:-$$(id -un)}\" \"$${KBUILD_BUILD_HOST:-$$(uname -n)}\" > $@\n\
$(objtree)/kernel/%.o: $(srctree)/kernel/%.c $(objtree)/include/generated/compile.h\n\
\t@mkdir -p $(objtree)/kernel\n\
\t@echo '  CC      kernel/$*.o'\n\
\tcd $(objtree) && $(CC) -g -O2 $(KCFLAGS) -I$(srctree)/include -I./include/generated -c $< -o kernel/$*.o\n\
$(objtree)/vmlinux.a: $(OBJS)\n\
\tcd $(objtree) && ar rcsD vmlinux.a $(patsubst $(objtree)/%,%,$(OBJS))\n\
$(objtree)/scripts/tool: $(srctree)/scripts/tool.c\n\
\t@mkdir -p $(objtree)/scripts\n\
\tcd $(objtree) && $(HOSTCC) -O2 -c $< -o scripts/tool.o && $(HOSTCC) scripts/tool.o -o scripts/tool\n";
    std::fs::create_dir_all(root.join("kernel")).unwrap();
    std::fs::create_dir_all(root.join("include/linux")).unwrap();
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    std::fs::write(root.join("Makefile"), makefile).unwrap();
    std::fs::write(
        root.join("include/linux/kernel.h"),
        "#define KERNEL_ORIGIN __FILE__\nstatic inline int twice(int x) { return 2 * x; }\n",
    )
    .unwrap();
    for i in 0..SOURCES {
        let mut text = String::from("#include <linux/kernel.h>\n");
        if i == 0 {
            text.push_str(
                "#include \"compile.h\"\nconst char linux_banner[] = UTS_VERSION \" \" LINUX_COMPILE_BY;\n",
            );
        }
        text.push_str(&format!(
            "const char *origin_{i}(void) {{ return KERNEL_ORIGIN; }}\n\
             const char *file_{i}(void) {{ return __FILE__; }}\n\
             int work_{i}(int n) {{ int s = 0; for (int k = 0; k < n; k++) s += twice(k) ^ {i}; return s; }}\n"
        ));
        std::fs::write(root.join(format!("kernel/unit{i}.c")), text).unwrap();
    }
    std::fs::write(
        root.join("scripts/tool.c"),
        "#include <stdio.h>\nint main(void) { puts(\"host tool\"); return 0; }\n",
    )
    .unwrap();
}

/// The wrapped `CC`/`HOSTCC` (`gcc`, as the kernel's default) and the wrapper's environment.
fn tree(src: &Path, out: &Path, wrapper: &Wrapper, reproducible: bool) -> KernelTree {
    let tool: CacheTool = kforge::steps::cache_tool(wrapper.kind);
    let plain = Toolchain {
        cc: Some("gcc".into()),
        hostcc: Some("gcc".into()),
        ..Toolchain::default()
    };
    let mut tree = KernelTree::new(src);
    tree.build_dir(out)
        .vars(wrapper.make_vars(&plain))
        .cache_stats(tool)
        .log_dir(out.join("logs"));
    for (k, v) in wrapper.env() {
        tree.env(k, v);
    }
    if let Some(jobs) = wrapper.suggested_jobs() {
        tree.jobs(jobs);
    }
    if reproducible {
        tree.reproducible(Reproducible::default());
    }
    tree
}

fn build(tree: &KernelTree) -> (Outcome, CacheReport) {
    let outcome = tree.build(["all"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.cache_error, None);
    let report = outcome.cache.clone().expect("counters were asked for");
    (outcome, report)
}

fn objects(out: &Path) -> Vec<PathBuf> {
    let mut objs: Vec<PathBuf> = (0..SOURCES)
        .map(|i| PathBuf::from(format!("kernel/unit{i}.o")))
        .collect();
    objs.push(PathBuf::from("scripts/tool.o"));
    for o in &objs {
        assert!(out.join(o).is_file(), "{} was not built", o.display());
    }
    objs
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two distinct free ports, neither directly after the other (icecc-scheduler also listens on
/// its port + 1).
fn free_ports() -> (u16, u16) {
    loop {
        let (a, b) = (free_port(), free_port());
        if a != b && a.abs_diff(b) > 1 && a < u16::MAX && b < u16::MAX {
            return (a, b);
        }
    }
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not listen on 127.0.0.1:{port} within 30 s; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_log(log: &Path, needle: &str, what: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not log {needle:?} within 30 s; its log {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon started in its own process group; dropping it stops the whole group.
struct Daemon {
    child: Child,
    name: &'static str,
}

impl Daemon {
    fn start(name: &'static str, command: &mut Command, stderr_to: &Path) -> Daemon {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(stderr_to).unwrap();
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { child, name }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Children of the group that outlive the leader.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .stderr(Stdio::null())
                    .status();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM: killing it", self.name);
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

#[test]
fn wrappers_are_found_with_their_versions() {
    for kind in WrapperKind::ALL {
        common::require_tool(kind.program(), kind.package());
        let found = Wrapper::find(kind).unwrap_or_else(|e| panic!("{e}"));
        let version = found.version.clone().expect("a version");
        assert!(
            version.starts_with(|c: char| c.is_ascii_digit()),
            "{kind}: {version}"
        );
        assert_eq!(found.command, kind.program());
        assert!(found.describe().contains(&version));
    }
}

#[test]
fn ccache_hits_across_build_dirs_only_in_reproducible_mode() {
    common::require_tool("ccache", "ccache");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("linux");
    write_project(&src);
    let ccache = |cache: &str| {
        Wrapper::find(WrapperKind::Ccache)
            .unwrap()
            .with_cache_dir(dir.path().join(cache))
    };

    // Reproducible: the second build directory is served from the cache.
    let wrapper = ccache("cache-repro");
    let (first, cold) = build(&tree(&src, &dir.path().join("o1"), &wrapper, true));
    assert!(
        first
            .command
            .iter()
            .any(|a| a == "CC=ccache gcc" || a == "HOSTCC=ccache gcc")
    );
    assert_eq!(cold.hits, Some(0), "{cold}");
    assert_eq!(cold.misses, Some(SOURCES as u64 + 1), "{cold}");
    let (_, warm) = build(&tree(&src, &dir.path().join("o2"), &wrapper, true));
    let warm_rate = warm.hit_rate.unwrap();
    assert!(warm_rate >= 0.9, "reproducible second build dir: {warm}");
    // And the objects are the same bytes, whichever directory built them.
    for obj in objects(&dir.path().join("o1")) {
        assert_eq!(
            std::fs::read(dir.path().join("o1").join(&obj)).unwrap(),
            std::fs::read(dir.path().join("o2").join(&obj)).unwrap(),
            "{} differs between the two build directories",
            obj.display()
        );
    }

    // Not reproducible: the build directory is in every object's debug info, so ccache
    // hashes it, and only the host tool (built without -g) hits.
    let wrapper = ccache("cache-plain");
    build(&tree(&src, &dir.path().join("o3"), &wrapper, false));
    let (_, plain) = build(&tree(&src, &dir.path().join("o4"), &wrapper, false));
    let plain_rate = plain.hit_rate.unwrap();
    assert!(
        plain_rate < warm_rate && plain_rate < 0.5,
        "without the reproducible mode: {plain}; with it: {warm}"
    );
    assert_eq!(plain.hits, Some(1), "only the host tool hits: {plain}");
    eprintln!("reproducible: {warm}\nplain: {plain}");
}

#[test]
fn sccache_serves_a_second_build_from_its_local_cache() {
    common::require_tool("sccache", "sccache");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("linux");
    write_project(&src);
    let port = free_port();
    let wrapper = Wrapper::find(WrapperKind::Sccache)
        .unwrap()
        .with_cache_dir(dir.path().join("sccache"))
        .with_sccache_port(port);
    assert!(
        wrapper
            .env()
            .contains(&("SCCACHE_IDLE_TIMEOUT".into(), "0".into()))
    );

    /// Stops the sccache server at the end, whatever happened.
    struct Server(Vec<(String, String)>);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = Command::new("sccache")
                .arg("--stop-server")
                .envs(self.0.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let status = Command::new("sccache")
        .arg("--start-server")
        .envs(wrapper.env())
        .status()
        .unwrap();
    let _server = Server(wrapper.env());
    assert!(status.success(), "sccache --start-server failed");

    let out = dir.path().join("o");
    let (_, cold) = build(&tree(&src, &out, &wrapper, true));
    assert_eq!(cold.hits, Some(0), "{cold}");
    assert_eq!(cold.misses, Some(SOURCES as u64 + 1), "{cold}");
    std::fs::remove_dir_all(&out).unwrap();
    let (_, warm) = build(&tree(&src, &out, &wrapper, true));
    assert_eq!(warm.hits, Some(SOURCES as u64 + 1), "{warm}");
    assert_eq!(warm.misses, Some(0), "{warm}");
    eprintln!("sccache second build: {warm}");
}

/// The object without its debug sections (distcc compiles the preprocessed text, whose column
/// numbers differ where a macro was expanded: `.debug_line` differs, the code does not).
fn code_of(obj: &Path) -> Vec<u8> {
    let stripped = obj.with_extension("stripped");
    let status = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(obj)
        .arg(&stripped)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&stripped).unwrap()
}

#[test]
fn distcc_sends_the_jobs_to_a_loopback_distccd() {
    common::require_tool("distcc", "distcc");
    common::require_tool("distccd", "distcc");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("linux");
    write_project(&src);
    let port = free_port();
    let daemon_log = dir.path().join("distccd.log");
    // --log-stderr: as root distccd drops to the `distcc` user, which could not open a log
    // file in the test's private directory.
    let _distccd = Daemon::start(
        "distccd",
        Command::new("distccd").args([
            "--daemon",
            "--no-detach",
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--allow",
            "127.0.0.1",
            "--jobs",
            "2",
            "--log-stderr",
            "--log-level=info",
        ]),
        &daemon_log,
    );
    wait_for_port(port, "distccd", &daemon_log);

    let wrapper = Wrapper::find(WrapperKind::Distcc)
        .unwrap()
        .with_distcc_hosts(&format!("127.0.0.1:{port}/2"))
        .unwrap()
        .with_client_log(dir.path().join("distcc-client.log"));
    assert_eq!(wrapper.suggested_jobs(), Some(2));
    let out = dir.path().join("o-distcc");
    let mut distributed = tree(&src, &out, &wrapper, true);
    // A job distccd refuses must fail the build, not quietly run here.
    distributed.env("DISTCC_FALLBACK", "0");
    let (outcome, report) = build(&distributed);
    assert!(
        outcome.command.iter().any(|a| a == "-j2"),
        "{:?}",
        outcome.command
    );
    let jobs = SOURCES as u64 + 1;
    assert_eq!(report.remote_jobs, Some(jobs), "{report}");
    // The host tool's link: distcc never sends a link away.
    assert_eq!(report.local_jobs, Some(1), "{report}");

    // distccd's own log: one COMPILE_OK job summary per object.
    let log = std::fs::read_to_string(&daemon_log).unwrap();
    let served = log
        .lines()
        .filter(|l| l.contains("COMPILE_OK") && l.contains("client: 127.0.0.1"))
        .count() as u64;
    assert_eq!(served, jobs, "distccd log:\n{log}");

    // The same build with the plain local compiler gives the same code.
    let local_out = dir.path().join("o-local");
    let mut local = KernelTree::new(&src);
    local
        .build_dir(&local_out)
        .var("CC", "gcc")
        .var("HOSTCC", "gcc")
        .reproducible(Reproducible::default());
    local.build(["all"]).unwrap_or_else(|e| panic!("{e}"));
    for obj in objects(&out) {
        assert_eq!(
            code_of(&out.join(&obj)),
            code_of(&local_out.join(&obj)),
            "{} built through distccd differs from the local build",
            obj.display()
        );
    }
    eprintln!("distcc: {report}; distccd served {served} jobs");
}

#[test]
fn icecream_jobs_go_through_a_loopback_scheduler_and_daemon() {
    for (tool, package) in [
        ("icecc", "icecc"),
        ("icecc-scheduler", "icecc"),
        ("iceccd", "icecc"),
    ] {
        common::require_tool(tool, package);
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("linux");
    write_project(&src);
    // iceccd runs its jobs as the `icecc` user when started as root: its directory must be
    // reachable and its environment directory its own.
    let ice = dir.path().join("ice");
    let envs = ice.join("envs");
    std::fs::create_dir_all(&envs).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for d in [dir.path(), ice.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if is_root {
        let status = Command::new("chown")
            .arg("icecc:icecc")
            .arg(&envs)
            .status()
            .unwrap();
        assert!(status.success(), "chown icecc {}", envs.display());
    }
    let (scheduler_port, daemon_port) = free_ports();
    let scheduler_log = ice.join("scheduler.log");
    let daemon_log = ice.join("iceccd.log");
    let socket = ice.join("iceccd.socket");
    let _scheduler = Daemon::start(
        "icecc-scheduler",
        Command::new("icecc-scheduler").args([
            "-p",
            &scheduler_port.to_string(),
            "-l",
            &scheduler_log.display().to_string(),
            "-vv",
        ]),
        &ice.join("scheduler.stderr"),
    );
    // Not a probe connection: the scheduler would wait for that client's protocol greeting.
    wait_for_log(&scheduler_log, "scheduler ready", "icecc-scheduler");

    let wrapper = Wrapper::find(WrapperKind::Icecc)
        .unwrap()
        .with_icecc_scheduler(format!("127.0.0.1:{scheduler_port}"))
        .unwrap()
        .with_client_log(ice.join("client.log"));
    let mut iceccd = Command::new("iceccd");
    iceccd
        .args(wrapper.iceccd_args())
        .args([
            "-p",
            &daemon_port.to_string(),
            "-N",
            "kforge-test",
            "-m",
            "2",
            "-b",
            &envs.display().to_string(),
            "-l",
            &daemon_log.display().to_string(),
            "-vvv",
        ])
        // A private socket for the client to find this daemon (not the system's).
        .env("ICECC_TEST_SOCKET", &socket);
    let _iceccd = Daemon::start("iceccd", &mut iceccd, &ice.join("iceccd.stderr"));
    wait_for_log(&daemon_log, "Connected to scheduler", "iceccd");

    let out = dir.path().join("o-icecc");
    let mut tree = tree(&src, &out, &wrapper, true);
    tree.env("ICECC_TEST_SOCKET", socket.display().to_string());
    let (_, report) = build(&tree);
    let jobs = SOURCES as u64 + 1;
    let daemon = std::fs::read_to_string(&daemon_log).unwrap();
    let scheduler = std::fs::read_to_string(&scheduler_log).unwrap_or_default();
    // Every compile and the host tool's link went through icecc; on one machine the
    // scheduler places the compiles on this very host, so they count as local.
    assert_eq!(
        report.remote_jobs.unwrap() + report.local_jobs.unwrap(),
        jobs + 1,
        "{report}\nclient log:\n{}",
        std::fs::read_to_string(ice.join("client.log")).unwrap_or_default()
    );
    let daemon_jobs = daemon
        .lines()
        .filter(|l| l.contains("handle_job_done"))
        .count() as u64;
    assert!(
        daemon_jobs >= jobs,
        "iceccd reported {daemon_jobs} jobs for {jobs} compiles:\n{daemon}"
    );

    // Forcing a remote build (ICECC_TEST_REMOTEBUILD) when the scheduler's only compile
    // server is this host: the job is sent to iceccd over TCP, but a daemon never installs
    // its own native compiler environment as a remote one, so it answers "Empty environment"
    // and the client falls back to a local build. With a second host the job counts as remote.
    std::fs::remove_file(out.join("kernel/unit1.o")).unwrap();
    tree.env("ICECC_TEST_REMOTEBUILD", "1");
    let (_, forced) = build(&tree);
    let daemon = std::fs::read_to_string(&daemon_log).unwrap();
    let client = std::fs::read_to_string(ice.join("client.log")).unwrap();
    let scheduler_after = std::fs::read_to_string(&scheduler_log).unwrap_or_default();
    assert!(
        scheduler_after.lines().count() > scheduler.lines().count()
            && scheduler_after.contains("NEW "),
        "the scheduler placed no job:\n{scheduler_after}"
    );
    if forced.remote_jobs == Some(1) {
        eprintln!("icecream: remote build through iceccd worked: {forced}");
    } else {
        assert_eq!(forced.local_jobs, Some(1), "{forced}\n{client}");
        assert!(
            client.contains("got exception") && daemon.contains("Empty environment"),
            "the forced remote build fell back without the expected reason:\nclient:\n{client}\ndaemon:\n{daemon}"
        );
        eprintln!(
            "icecream: the forced remote build fell back to local; iceccd: {}",
            daemon
                .lines()
                .find(|l| l.contains("Empty environment"))
                .unwrap_or_default()
        );
    }
    eprintln!("icecream: {report}; iceccd reported {daemon_jobs} jobs");
}

fn linux_src() -> PathBuf {
    PathBuf::from(std::env::var_os("KFORGE_LINUX_SRC").unwrap_or_else(|| {
        panic!("KFORGE_LINUX_SRC is not set: run scripts/e2e (it extracts Linux 6.1 and sets it)")
    }))
}

/// A tinyconfig x86_64 kernel built through ccache (private cache) in `out`.
fn tinyconfig_through_ccache(
    src: &Path,
    out: &Path,
    cache: &Path,
    reproducible: bool,
) -> (Duration, CacheReport) {
    tinyconfig_with(src, out, cache, reproducible, false)
}

/// The same, optionally with debug info (`CONFIG_DEBUG_INFO`, so `-g`).
fn tinyconfig_with(
    src: &Path,
    out: &Path,
    cache: &Path,
    reproducible: bool,
    debug_info: bool,
) -> (Duration, CacheReport) {
    let wrapper = Wrapper::find(WrapperKind::Ccache)
        .unwrap()
        .with_cache_dir(cache);
    let mut tree = tree(src, out, &wrapper, reproducible);
    tree.arch("x86_64");
    tree.config_target("tinyconfig")
        .unwrap_or_else(|e| panic!("{e}"));
    if debug_info {
        let config = out.join(".config");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(
            "CONFIG_DEBUG_KERNEL=y\n# CONFIG_DEBUG_INFO_NONE is not set\nCONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y\n",
        );
        std::fs::write(&config, text).unwrap();
        tree.olddefconfig().unwrap_or_else(|e| panic!("{e}"));
        let resolved = std::fs::read_to_string(&config).unwrap();
        assert!(
            resolved.lines().any(|l| l == "CONFIG_DEBUG_INFO=y"),
            "CONFIG_DEBUG_INFO did not land in {}",
            config.display()
        );
    }
    let start = Instant::now();
    let (_, report) = build(&tree);
    (start.elapsed(), report)
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn ccache_serves_a_second_tinyconfig_build_dir_in_reproducible_mode() {
    common::require_tool("ccache", "ccache");
    let src = linux_src();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("ccache-repro");
    let (cold_time, cold) = tinyconfig_through_ccache(&src, &dir.path().join("o1"), &cache, true);
    let (warm_time, warm) = tinyconfig_through_ccache(&src, &dir.path().join("o2"), &cache, true);
    eprintln!(
        "tinyconfig x86_64, reproducible: cold {:.1} s ({cold}), warm in a second O= {:.1} s ({warm})",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64()
    );
    assert!(cold.misses.unwrap() > 300, "{cold}");
    assert!(warm.hit_rate.unwrap() >= 0.9, "{warm}");

    let cache = dir.path().join("ccache-plain");
    tinyconfig_through_ccache(&src, &dir.path().join("o3"), &cache, false);
    let (plain_time, plain) =
        tinyconfig_through_ccache(&src, &dir.path().join("o4"), &cache, false);
    eprintln!(
        "tinyconfig x86_64, not reproducible: second O= {:.1} s ({plain})",
        plain_time.as_secs_f64()
    );
    // tinyconfig has no debug info, and kbuild's O= command lines are relative, so the build
    // directory does not reach most objects: what the fixed identity saves here is what
    // includes compile.h (its timestamp changes every build). The debug-info case (-g, where
    // the directory is in every object) is the fast test above.
    assert!(
        plain.misses.unwrap() > warm.misses.unwrap(),
        "without the reproducible mode: {plain}; with it: {warm}"
    );
    // The source tree is left untouched by O= builds.
    assert!(!src.join(".config").exists());
}

#[test]
#[ignore = "real kernel: run scripts/e2e"]
fn with_debug_info_only_the_reproducible_mode_lets_a_second_build_dir_hit() {
    common::require_tool("ccache", "ccache");
    let src = linux_src();
    let dir = tempfile::tempdir().unwrap();
    let mut rates = Vec::new();
    for (name, reproducible) in [("repro", true), ("plain", false)] {
        let cache = dir.path().join(format!("ccache-{name}"));
        let (cold_time, cold) = tinyconfig_with(
            &src,
            &dir.path().join(format!("{name}-1")),
            &cache,
            reproducible,
            true,
        );
        let (warm_time, warm) = tinyconfig_with(
            &src,
            &dir.path().join(format!("{name}-2")),
            &cache,
            reproducible,
            true,
        );
        eprintln!(
            "tinyconfig + DEBUG_INFO, {name}: cold {:.1} s ({cold}), second O= {:.1} s ({warm})",
            cold_time.as_secs_f64(),
            warm_time.as_secs_f64()
        );
        rates.push(warm.hit_rate.unwrap());
    }
    assert!(rates[0] >= 0.9, "reproducible: {:.3}", rates[0]);
    assert!(rates[1] < 0.5, "not reproducible: {:.3}", rates[1]);
}
