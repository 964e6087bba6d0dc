//! The Xen flow end to end, on miniatures: a Xen-3.2-like tarball served by a real HTTP server
//! on loopback with its sha256 pinned, the xenified kernel in a real Mercurial repository made
//! with `hg`, a Xen-4.x-like tarball and a Linux-like tree for the dom0 config; real make, real
//! compilers. The flow code is the library's (`kforge::flows`), as the examples run it.

mod common;

use common::flow;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use common::{Server, argv, build_json, require_tool, sha256_hex, tarball, trees};

/// A Mercurial repository at `dir` holding the xenified kernel, committed.
fn hg_repo(dir: &Path, edit: impl FnOnce(&Path)) {
    require_tool("hg", "mercurial");
    std::fs::create_dir_all(dir).unwrap();
    trees::write_linux_2618_xen_tree(dir);
    edit(dir);
    for args in [
        vec!["init"],
        vec!["add", "-q"],
        vec![
            "commit",
            "-q",
            "--config",
            "ui.username=kforge-test <test@example.invalid>",
            "-m",
            "xenified 2.6.18",
        ],
    ] {
        let out = Command::new("hg")
            .args(&args)
            .current_dir(dir)
            .env("HGPLAIN", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    server: Server,
    root: PathBuf,
    xen_url: String,
    xen_sha: String,
    repo: PathBuf,
    user_config: PathBuf,
}

const USER_CONFIG: &str = "# the user's /boot/config-2.6.18-my\nCONFIG_X86_32=y\nCONFIG_XEN=y\n";

impl Fixture {
    fn new(edit_kernel: impl FnOnce(&Path)) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let xen = root.join("trees/xen");
        trees::write_xen32_tree(&xen);
        let server = Server::start();
        let tgz = tarball(&xen, "xen-3.2.0");
        let xen_sha = sha256_hex(&tgz);
        let xen_url = server.serve("xen-3.2.0.tar.gz", tgz);
        let repo = root.join("hg/linux-2.6.18-xen.hg");
        hg_repo(&repo, edit_kernel);
        let user_config = root.join("config-2.6.18-my");
        std::fs::write(&user_config, USER_CONFIG).unwrap();
        Fixture {
            _tmp: tmp,
            server,
            root,
            xen_url,
            xen_sha,
            repo,
            user_config,
        }
    }

    fn howto(&self, out: &Path, extra: &[&str]) -> flow::xen::Args {
        let cache = self.root.join("cache");
        let mut args = vec![
            "--mode",
            "howto",
            "--xen",
            &self.xen_url,
            "--xen-sha256",
            &self.xen_sha,
            "--kernel-hg",
            self.repo.to_str().unwrap(),
            "--config",
            self.user_config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        flow::xen::Args::try_parse_from(argv("xen", &args)).unwrap()
    }
}

fn step<'a>(json: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
}

#[test]
fn howto_flow_clones_beside_the_tree_installs_the_config_in_the_build_dir_and_makes_dist() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let summary = flow::xen::run(fx.howto(&out, &[])).expect("the HOWTO flow passes");

    let xen = out.join("src/xen-3.2.0");
    let checkout = out.join("src/linux-2.6.18-xen.hg");
    // The checkout is a Mercurial checkout beside the Xen tree, as select-repository wants.
    assert!(checkout.join(".hg").is_dir());
    assert_eq!(checkout.parent(), xen.parent());
    // The user's .config went into the build directory, never into the kernel tree. Without
    // --xen-arch, XEN_TARGET_ARCH is the host's, as Xen 3.2's Config.mk makes it.
    let build = xen.join(format!(
        "build-linux-2.6.18-xen_{}",
        flow::xen::host_xen_arch()
    ));
    assert_eq!(
        std::fs::read_to_string(build.join(".config")).unwrap(),
        USER_CONFIG
    );
    assert!(!checkout.join(".config").exists());
    // make dist built both, the kernel from that .config (it must enable CONFIG_XEN).
    let boot = xen.join("dist/install/boot");
    assert!(boot.join("xen-3.2.0.gz").is_file());
    assert!(boot.join("vmlinuz-2.6.18-xen").is_file());

    let json = build_json(&out);
    assert_eq!(json["result"], "pass");
    assert_eq!(json["mode"], "howto");
    assert_eq!(json["sources"][0]["sha256"], fx.xen_sha.as_str());
    let kernel = &json["sources"][1];
    assert_eq!(kernel["role"], "xenified kernel");
    let revision = kernel["revision"].as_str().expect("changeset recorded");
    assert_eq!(revision.len(), 40, "{revision}");
    for name in [
        "check-hg",
        "fetch-xen",
        "clone-kernel",
        "prep-kernels",
        "install-config",
        "xen-build",
    ] {
        assert_eq!(step(&json, name).unwrap()["status"], "ok", "step {name}");
    }
    let artifacts: Vec<&str> = json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert!(
        artifacts.iter().any(|p| p.ends_with("vmlinuz-2.6.18-xen")),
        "{artifacts:?}"
    );
    assert!(summary.contains(revision), "{summary}");
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(reproducer.contains("prep-kernels"), "{reproducer}");
    assert!(reproducer.contains(" dist"), "{reproducer}");
    assert!(!reproducer.contains("world"), "{reproducer}");

    // Why `world` is refused: in this tree, as in Xen 3.2, it deletes the build directory and
    // the .config installed there before building, and so fails.
    let world = Command::new("make")
        .args(["-C", xen.to_str().unwrap(), "world"])
        .output()
        .unwrap();
    assert!(!world.status.success());
    assert!(!build.join(".config").exists(), "world did not clean");
}

/// The ELF class of the object inside a gzip file: 1 for 32-bit, 2 for 64-bit.
fn elf_class_of_gz(path: &Path) -> u8 {
    let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(
        out.status.success() && out.stdout.starts_with(b"\x7fELF"),
        "{}",
        path.display()
    );
    out.stdout[4]
}

/// The command lines make ran for `target`, from the record.
fn commands(json: &serde_json::Value, name: &str) -> String {
    step(json, name).unwrap()["commands"].to_string()
}

#[test]
fn xen_arch_reaches_every_xen_make_and_the_kernel_arch() {
    // On this x86_64 host, as a user here runs it: --xen-arch x86_32 (the HOWTO's machine),
    // then without --xen-arch (Xen's own default: the host's).
    assert_eq!(
        flow::xen::host_xen_arch(),
        "x86_64",
        "these tests expect an x86_64 host"
    );
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out32");
    flow::xen::run(fx.howto(&out, &["--xen-arch", "x86_32"])).expect("x86_32 builds here");
    let xen = out.join("src/xen-3.2.0");
    assert!(xen.join("build-linux-2.6.18-xen_x86_32/.config").is_file());
    assert!(!xen.join("build-linux-2.6.18-xen_x86_64").exists());
    let boot = xen.join("dist/install/boot");
    assert_eq!(
        elf_class_of_gz(&boot.join("xen-3.2.0.gz")),
        1,
        "the hypervisor is 32-bit"
    );
    assert_eq!(
        elf_class_of_gz(&boot.join("vmlinuz-2.6.18-xen")),
        1,
        "the kernel is i386"
    );
    let json = build_json(&out);
    for name in ["prep-kernels", "xen-build"] {
        assert!(
            commands(&json, name).contains("XEN_TARGET_ARCH=x86_32"),
            "{name}: {json}"
        );
    }
    let log = std::fs::read_to_string(out.join("logs/xen-dist.log")).unwrap();
    assert!(log.contains("select-linux-arch: i386"), "{log}");
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(
        reproducer.contains("XEN_TARGET_ARCH=x86_32"),
        "{reproducer}"
    );

    let out = fx.root.join("out64");
    flow::xen::run(fx.howto(&out, &[])).expect("the host's arch builds");
    let xen = out.join("src/xen-3.2.0");
    assert!(xen.join("build-linux-2.6.18-xen_x86_64/.config").is_file());
    let boot = xen.join("dist/install/boot");
    assert_eq!(elf_class_of_gz(&boot.join("xen-3.2.0.gz")), 2);
    assert_eq!(elf_class_of_gz(&boot.join("vmlinuz-2.6.18-xen")), 2);
    let log = std::fs::read_to_string(out.join("logs/xen-dist.log")).unwrap();
    assert!(log.contains("select-linux-arch: x86_64"), "{log}");
    let json = build_json(&out);
    assert!(
        commands(&json, "prep-kernels").contains("XEN_TARGET_ARCH=x86_64"),
        "{json}"
    );
}

#[test]
fn without_xen_target_arch_the_2008_makefiles_build_for_the_host() {
    // What the flow used to do: `make prep-kernels` with no XEN_TARGET_ARCH on an x86_64 host
    // makes build-linux-…_x86_64/, so a step looking for _x86_32 stops. The miniature keeps
    // Xen 3.2's rule.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let xen = src.join("xen-3.2.0");
    trees::write_xen32_tree(&xen);
    hg_repo(&src.join("linux-2.6.18-xen.hg"), |_| {});
    let made = Command::new("make")
        .args(["-C", xen.to_str().unwrap(), "prep-kernels"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(xen.join("build-linux-2.6.18-xen_x86_64").is_dir());
    assert!(!xen.join("build-linux-2.6.18-xen_x86_32").exists());
}

#[test]
fn an_arch_this_host_cannot_build_is_refused_before_any_download() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let err = flow::xen::run(fx.howto(&out, &["--xen-arch", "ia64"])).expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("--xen-arch ia64") && message.contains("--xen-arch x86_64"),
        "{message}"
    );
    assert_eq!(fx.server.hits("xen-3.2.0.tar.gz"), 0);
    assert!(!out.exists());

    // A 32-bit Xen on a host whose gcc cannot link -m32 programs (no gcc-multilib): a gcc
    // that fails the way gcc does without the 32-bit libc headers.
    let bin = fx.root.join("no-multilib-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let gcc = bin.join("gcc");
    std::fs::write(
        &gcc,
        "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = -m32 ]; then\n    echo \"In file included from /usr/include/features.h:510,\" >&2\n    echo \"/usr/include/x86_64-linux-gnu/gnu/stubs.h:7:11: fatal error: gnu/stubs-32.h: No such file or directory\" >&2\n    exit 1\n  fi\ndone\nexec /usr/bin/gcc \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &gcc,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let err = flow::xen::check_xen_arch("x86_32", true, "gcc", Some(bin.as_os_str()))
        .expect_err("no -m32 here");
    let message = format!("{err}");
    assert!(
        message.contains("apt-get install gcc-multilib"),
        "{message}"
    );
    assert!(message.contains("--xen-arch x86_64"), "{message}");
    assert!(message.contains("stubs-32.h"), "{message}");
    // The real gcc of this host links -m32 (gcc-multilib is in scripts/install-deps test).
    flow::xen::check_xen_arch("x86_32", true, "gcc", None).expect("gcc -m32 links here");
    // Modern Xen has no 32-bit hypervisor.
    let err = flow::xen::check_xen_arch("x86_32", false, "gcc", None).expect_err("modern");
    assert!(format!("{err}").contains("64-bit"), "{err}");
}

#[test]
fn the_plan_shows_xen_target_arch() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let text = flow::xen::run(fx.howto(&out, &["--xen-arch", "x86_32", "--plan"])).expect("plan");
    let prep = text
        .lines()
        .find(|l| l.contains("$ make") && l.contains("prep-kernels"))
        .expect(&text);
    assert!(prep.contains("XEN_TARGET_ARCH=x86_32"), "{text}");
    assert!(text.contains("build-linux-*_x86_32/.config"), "{text}");
    assert!(!out.exists());
}

#[test]
fn world_is_refused_before_anything_runs() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let err = flow::xen::run(fx.howto(&out, &["--xen-target", "world"])).expect_err("refused");
    assert!(format!("{err:#}").contains("world"), "{err:#}");
    assert_eq!(fx.server.hits("xen-3.2.0.tar.gz"), 0);
    assert!(!out.exists());
}

#[test]
fn a_checkout_inside_the_tree_elsewhere_or_without_hg_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let xen = src.join("xen-3.2.0");
    std::fs::create_dir_all(&xen).unwrap();
    let name = "linux-2.6.18-xen.hg";
    let check = |checkout: &Path| flow::xen::check_checkout_layout(&xen, checkout, name);

    let inside = xen.join(name);
    std::fs::create_dir_all(inside.join(".hg")).unwrap();
    let err = check(&inside).unwrap_err().to_string();
    assert!(
        err.contains("inside the Xen tree") && err.contains("select-repository"),
        "{err}"
    );

    let elsewhere = tmp.path().join("other").join(name);
    std::fs::create_dir_all(elsewhere.join(".hg")).unwrap();
    assert!(
        check(&elsewhere)
            .unwrap_err()
            .to_string()
            .contains("same level")
    );

    let renamed = src.join("linux-xen");
    std::fs::create_dir_all(renamed.join(".hg")).unwrap();
    assert!(check(&renamed).unwrap_err().to_string().contains(name));

    let exported = src.join(name);
    std::fs::create_dir_all(&exported).unwrap();
    let err = check(&exported).unwrap_err().to_string();
    assert!(err.contains("no .hg"), "{err}");

    std::fs::create_dir_all(exported.join(".hg")).unwrap();
    check(&exported).expect("a checkout beside the tree is accepted");
}

#[test]
fn the_flow_refuses_a_given_checkout_inside_the_xen_tree_before_prep_kernels() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let inside = out.join("src/xen-3.2.0/linux-2.6.18-xen.hg");
    let err = flow::xen::run(fx.howto(&out, &["--kernel-checkout", inside.to_str().unwrap()]))
        .expect_err("refused");
    assert!(format!("{err:#}").contains("select-repository"), "{err:#}");
    let json = build_json(&out);
    assert_eq!(step(&json, "clone-kernel").unwrap()["status"], "failed");
    assert!(step(&json, "prep-kernels").is_none());
}

#[test]
fn an_unclean_kernel_checkout_is_caught_before_make_and_fix_tree_keeps_its_config() {
    let stray = "# a .config left in the kernel tree\nCONFIG_XEN=y\n";
    let fx = Fixture::new(|dir| std::fs::write(dir.join(".config"), stray).unwrap());
    let out = fx.root.join("out");
    let err = flow::xen::run(fx.howto(&out, &[])).expect_err("unclean");
    let message = format!("{err:#}");
    assert!(
        message.contains("mrproper"),
        "the kernel's complaint is predicted: {message}"
    );
    let json = build_json(&out);
    assert_eq!(step(&json, "prep-kernels").unwrap()["status"], "failed");
    assert!(
        !out.join("src/xen-3.2.0/build-linux-2.6.18-xen_x86_64")
            .exists(),
        "make ran anyway"
    );

    flow::xen::run(fx.howto(&out, &["--fix-tree"])).expect("passes with --fix-tree");
    let build = out.join("src/xen-3.2.0/build-linux-2.6.18-xen_x86_64");
    assert_eq!(
        std::fs::read_to_string(build.join(".config")).unwrap(),
        USER_CONFIG
    );
    assert_eq!(
        std::fs::read_to_string(build.join(".config.old")).unwrap(),
        stray,
        "the stray .config was not kept"
    );
    assert!(!out.join("src/linux-2.6.18-xen.hg/.config").exists());
}

#[test]
fn modern_flow_builds_dist_xen_and_verifies_a_dom0_config() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let server = Server::start();
    let xen = root.join("trees/xen4");
    trees::write_xen4_tree(&xen);
    let xen_tgz = tarball(&xen, "xen-4.17.0");
    let xen_sha = sha256_hex(&xen_tgz);
    let xen_url = server.serve("xen-4.17.0.tar.gz", xen_tgz);
    let linux = root.join("trees/linux");
    trees::write_kernel_tree(&linux);
    let linux_tgz = tarball(&linux, "linux-mini-6.1");
    let linux_sha = sha256_hex(&linux_tgz);
    let linux_url = server.serve("linux-mini-6.1.tar.gz", linux_tgz);
    let base = root.join("config-running");
    std::fs::write(&base, trees::BASE_CONFIG_MODULES_OFF).unwrap();
    let out = root.join("out");
    let cache = root.join("cache");
    let args = argv(
        "xen",
        &[
            "--xen",
            &xen_url,
            "--xen-sha256",
            &xen_sha,
            "--kernel",
            &linux_url,
            "--kernel-sha256",
            &linux_sha,
            "--config",
            base.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "-q",
        ],
    );
    let summary = flow::xen::run(flow::xen::Args::try_parse_from(args).unwrap()).expect("passes");
    let boot = out.join("src/xen-4.17.0/dist/install/boot");
    assert!(boot.join("xen-4.17.0.gz").is_file());
    let json = build_json(&out);
    assert_eq!(json["mode"], "modern");
    let verification = &json["config"]["verification"];
    assert_eq!(verification["lost"], serde_json::json!([]));
    assert_eq!(
        verification["requested"].as_u64().unwrap() as usize,
        flow::xen::DOM0_FRAGMENT
            .lines()
            .filter(|l| l.starts_with("CONFIG_"))
            .count()
    );
    let final_config = std::fs::read_to_string(out.join("linux-dom0-build/.config")).unwrap();
    for line in [
        "CONFIG_XEN=y",
        "CONFIG_XEN_DOM0=y",
        "CONFIG_XEN_BLKDEV_BACKEND=m",
    ] {
        assert!(final_config.lines().any(|l| l == line), "{line} missing");
    }
    assert!(!out.join("src/linux-mini-6.1/.config").exists());
    assert!(summary.contains("xen-4.17.0.gz"), "{summary}");
    assert!(summary.contains(&xen_sha), "{summary}");
}

#[test]
fn modern_flow_builds_xen_through_a_loopback_distccd() {
    common::require_tool("distcc", "distcc");
    common::require_tool("distccd", "distcc");
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let server = Server::start();
    let xen = root.join("trees/xen4");
    trees::write_xen4_tree(&xen);
    let xen_tgz = tarball(&xen, "xen-4.17.0");
    let xen_sha = sha256_hex(&xen_tgz);
    let xen_url = server.serve("xen-4.17.0.tar.gz", xen_tgz);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    /// distccd's process group, stopped at the end.
    struct Distccd(std::process::Child);
    impl Drop for Distccd {
        fn drop(&mut self) {
            let group = format!("-{}", self.0.id());
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &group])
                .status();
            let _ = self.0.wait();
        }
    }
    let _distccd = Distccd(
        std::process::Command::new("distccd")
            .args(["--daemon", "--no-detach", "--listen", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--allow", "127.0.0.1", "--log-stderr"])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed().as_secs() < 30, "distccd did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = root.join("out");
    let hosts = format!("127.0.0.1:{port}/3");
    let args = argv(
        "xen",
        &[
            "--xen",
            &xen_url,
            "--xen-sha256",
            &xen_sha,
            "--no-dom0",
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            root.join("cache").to_str().unwrap(),
            "--cc-wrapper",
            "distcc",
            "--distcc-hosts",
            &hosts,
            "-q",
        ],
    );
    let summary = flow::xen::run(flow::xen::Args::try_parse_from(args).unwrap()).expect("passes");
    let json = build_json(&out);
    assert_eq!(json["wrapper"]["kind"], "distcc");
    let build = &json["cache"][0];
    assert_eq!(build["step"], "xen-build", "{json}");
    // xen/xen.c compiled on the daemon.
    assert_eq!(build["report"]["remote_jobs"], 1, "{build}");
    let cmd = step(&json, "xen-build").unwrap()["commands"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cmd.contains("-j3") && cmd.contains("'CC=distcc gcc'"),
        "{cmd}"
    );
    assert!(
        summary.contains("distcc: 1 remote jobs, 0 local jobs"),
        "{summary}"
    );
    let reproducer = std::fs::read_to_string(out.join("reproduce.sh")).unwrap();
    assert!(
        reproducer.contains(&format!("export DISTCC_HOSTS={hosts}")),
        "{reproducer}"
    );
}

#[test]
fn a_failing_make_step_reports_its_first_cause_first() {
    // The 2008 tree's helper script is Python 2; today's python3 runs it under -j2 beside
    // the hypervisor's compile.
    let fx = Fixture::new(|dir| {
        let makefile = std::fs::read_to_string(dir.join("Makefile")).unwrap();
        let makefile = makefile.replace(
            "vmlinuz: outputmakefile\n",
            "vmlinuz: outputmakefile\n\tpython3 $(srctree)/scripts/mkcompile_h.py > $(objtree)/compile.h\n",
        );
        std::fs::write(dir.join("Makefile"), makefile).unwrap();
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(
            dir.join("scripts/mkcompile_h.py"),
            "import sys\nprint \"#define UTS_VERSION \\\"#1\\\"\"\n",
        )
        .unwrap();
    });
    let out = fx.root.join("out");
    let err = flow::xen::run(fx.howto(&out, &[])).expect_err("make dist fails");
    let message = format!("{err:#}");
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    // The cause leads the make failure; make's chain and the log come after it.
    let cause = message.find("Python error at ").expect(&message);
    assert!(message[cause..].contains("mkcompile_h.py:2"), "{message}");
    let chain = message.find("make reported:").expect(&message);
    let log = message.find("full log: ").expect(&message);
    assert!(cause < chain && chain < log, "{message}");
    assert!(message.contains("  File \""), "{message}");
    assert!(summary.contains("Python error at "), "{summary}");
    // build.json keeps the cause as data.
    let json = build_json(&out);
    let cause = &step(&json, "xen-build").unwrap()["cause"];
    assert_eq!(cause["kind"], "traceback", "{json}");
    assert_eq!(cause["language"], "python");
    assert_eq!(cause["target"], "vmlinuz");
    assert_eq!(cause["location"]["line"], 2);
    assert!(cause["hint"].as_str().unwrap().contains("Python 2"));
    assert!(
        summary.contains("PYTHON=python2.7"),
        "the hint is in the summary: {summary}"
    );
}

#[test]
fn boot_is_refused_in_howto_mode_before_any_download() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("out");
    let err = flow::xen::run(fx.howto(&out, &["--boot"])).expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("--boot needs --mode modern") && message.contains("2.6.18"),
        "{message}"
    );
    assert_eq!(fx.server.hits("xen-3.2.0.tar.gz"), 0);
    assert!(!out.exists());
}

#[test]
fn the_boot_plan_boots_xen_with_dom0_and_the_initramfs_as_multiboot_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out,1");
    let args = argv(
        "xen",
        &[
            "--xen",
            "http://127.0.0.1:9/xen-4.17.5.tar.gz",
            "--kernel",
            "http://127.0.0.1:9/linux-6.1.tar.xz",
            "--out",
            out.to_str().unwrap(),
            "--boot",
            "--accel",
            "tcg",
            "--plan",
            "-q",
        ],
    );
    let text = flow::xen::run(flow::xen::Args::try_parse_from(args).unwrap()).expect("plan");
    let o = out.display().to_string();
    let line = text
        .lines()
        .find(|l| l.contains("qemu-system-x86_64"))
        .expect(&text);
    let o_doubled = o.replace(',', ",,");
    for part in [
        "qemu-system-x86_64 -accel tcg -m 512 ".to_string(),
        " -no-reboot ".into(),
        format!(" -serial 'file:{o}/logs/boot-console.log' "),
        format!(" -kernel '{o}/src/xen-4.17.5/xen/xen' "),
        format!(
            " -initrd '{o_doubled}/boot-build/arch/x86/boot/bzImage console=hvc0 \
             earlyprintk=xen panic=-1,{o_doubled}/boot/initramfs.cpio' "
        ),
        " -append 'console=com1 dom0_mem=256M'".into(),
    ] {
        assert!(line.contains(&part), "{part:?} not in\n{line}");
    }
    // The dom0 kernel: tinyconfig + the boot and dom0 options, in its own build directory.
    assert!(text.contains("boot-dom0.config"), "{text}");
    assert!(text.contains(&format!("O={o}/boot-build")), "{text}");
    assert!(text.contains("build-xen"), "{text}");
    assert!(!out.exists());
    // Without a dom0 kernel source there is nothing to boot Xen with.
    let args = argv(
        "xen",
        &[
            "--out",
            out.to_str().unwrap(),
            "--no-dom0",
            "--boot",
            "--plan",
            "-q",
        ],
    );
    let err = flow::xen::run(flow::xen::Args::try_parse_from(args).unwrap()).expect_err("refused");
    assert!(format!("{err:#}").contains("drop --no-dom0"), "{err:#}");
}

/// QEMU cannot load a multiboot module from a path with a space: `--out` with one is refused
/// with `--boot` before anything is downloaded or built (it used to fail at the boot step).
#[test]
fn boot_from_an_output_directory_with_a_space_is_refused_before_any_download() {
    let fx = Fixture::new(|_| {});
    let out = fx.root.join("my out");
    let kernel_url = fx.xen_url.replace("xen-3.2.0.tar.gz", "linux-6.1.tar.xz");
    let args = argv(
        "xen",
        &[
            "--xen",
            &fx.xen_url,
            "--xen-sha256",
            &fx.xen_sha,
            "--kernel",
            &kernel_url,
            "--allow-unpinned",
            "--out",
            out.to_str().unwrap(),
            "--boot",
            "-q",
        ],
    );
    let err = flow::xen::run(flow::xen::Args::try_parse_from(args).unwrap()).expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("has a space") && message.contains("--out"),
        "{message}"
    );
    assert_eq!(fx.server.hits("xen-3.2.0.tar.gz"), 0);
    assert_eq!(fx.server.hits("linux-6.1.tar.xz"), 0);
    assert!(!out.exists());
}
