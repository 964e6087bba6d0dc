//! The kernel's own `conf` (Linux 6.1, `scripts/kconfig/`) as a test oracle.
//!
//! [`conf_binary`] builds `conf` once per target directory from Debian's `linux-source-6.1`
//! tarball (`/usr/src/linux-source-6.1.tar.xz`, or `KFORGE_LINUX_TARBALL`): only
//! `scripts/kconfig/` (and the few files of [`LINUX_FILES`]) is extracted, then `bison`, `flex`
//! and `gcc` build it the way the kernel's `scripts/Makefile.host` does. The result lives under `$CARGO_TARGET_TMPDIR/kconfig-oracle/`
//! and a file lock serialises the build between test binaries running in parallel.
//!
//! [`run`] runs that `conf` on a Kconfig tree written by a test ([`Tree`]) with a clean
//! environment (only `PATH`, `LC_ALL=C`, `srctree`, `KCONFIG_CONFIG` and what the test passes),
//! in a fresh output directory, and returns what it wrote and printed.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Bump when the way `conf` is built changes, so old caches are rebuilt.
const BUILD_RECIPE: &str =
    "linux-6.1 conf: bison -t -l, flex -L, gcc -O2, v2 (+ arch/mips Makefile and tools)";

const CONF_SOURCES: &[&str] = &[
    "conf.c",
    "confdata.c",
    "expr.c",
    "lexer.lex.c",
    "menu.c",
    "parser.tab.c",
    "preprocess.c",
    "symbol.c",
    "util.c",
];

/// The Linux 6.1 source tarball the oracle is built from.
pub fn linux_tarball() -> PathBuf {
    if let Some(t) = std::env::var_os("KFORGE_LINUX_TARBALL") {
        return PathBuf::from(t);
    }
    let default = PathBuf::from("/usr/src/linux-source-6.1.tar.xz");
    if !default.is_file() {
        panic!(
            "the Kconfig tests compare against the kernel's own `conf`, built from Linux 6.1's \
             scripts/kconfig: {} is missing. Install it with `scripts/install-deps test` \
             (Debian package linux-source-6.1), or point KFORGE_LINUX_TARBALL at a Linux 6.1 \
             tarball",
            default.display()
        );
    }
    default
}

fn cache_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kconfig-oracle")
}

/// Files of the Linux 6.1 tree kept beside `conf` (besides `scripts/kconfig/`) for the tests
/// that run the kernel's own make rules: MIPS' generic defconfig targets.
pub const LINUX_FILES: &[&str] = &[
    "arch/mips/Makefile",
    "arch/mips/tools/generic-board-config.sh",
];

/// A file of the Linux 6.1 tree extracted with `conf` (`scripts/kconfig/…` or one of
/// [`LINUX_FILES`]), by its path in the tree.
pub fn linux_file(rel: &str) -> PathBuf {
    let dir = conf_binary()
        .parent()
        .expect("conf lives in a directory")
        .to_path_buf();
    let p = dir.join(rel);
    assert!(p.is_file(), "{} was not extracted with conf", p.display());
    p
}

/// Path of the kernel's `conf`, built on first use (once per target directory, shared by all
/// test binaries).
pub fn conf_binary() -> &'static Path {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(build_conf)
}

fn build_conf() -> PathBuf {
    let root = cache_root();
    std::fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    let tarball = linux_tarball();
    let dir = root.join("linux-6.1");
    let conf = dir.join("conf");
    let stamp_path = dir.join("stamp");
    let stamp = format!("{BUILD_RECIPE}\nfrom {}\n", tarball.display());

    let lock_path = root.join("linux-6.1.lock");
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));

    if conf.is_file() && std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
        return conf;
    }

    let partial = root.join("linux-6.1.partial");
    let _ = std::fs::remove_dir_all(&partial);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&partial)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", partial.display()));

    // Only scripts/kconfig: decompressing the tarball still takes ~15 s, once.
    let mut tar = Command::new("tar");
    tar.arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&partial)
        .arg("--strip-components=1")
        .arg("--wildcards")
        .arg("*/scripts/kconfig/*")
        .args(LINUX_FILES.iter().map(|f| format!("*/{f}")));
    checked(&mut tar, "tar", "xz-utils and tar");

    let kdir = partial.join("scripts/kconfig");
    assert!(
        kdir.join("conf.c").is_file(),
        "{} holds no scripts/kconfig/conf.c: is it a Linux source tarball?",
        tarball.display()
    );
    let mut bison = Command::new("bison");
    bison
        .current_dir(&kdir)
        .args(["-o", "parser.tab.c", "--defines=parser.tab.h", "-t", "-l"])
        .arg("parser.y");
    checked(&mut bison, "bison", "bison");
    let mut flex = Command::new("flex");
    flex.current_dir(&kdir)
        .args(["-o", "lexer.lex.c", "-L"])
        .arg("lexer.l");
    checked(&mut flex, "flex", "flex");
    let mut gcc = Command::new("gcc");
    gcc.current_dir(&kdir)
        .args(["-O2", "-std=gnu11", "-I.", "-o", "conf"])
        .args(CONF_SOURCES);
    checked(&mut gcc, "gcc", "gcc");

    std::fs::copy(kdir.join("conf"), partial.join("conf"))
        .unwrap_or_else(|e| panic!("cannot copy conf: {e}"));
    std::fs::write(partial.join("stamp"), &stamp)
        .unwrap_or_else(|e| panic!("cannot write stamp: {e}"));
    std::fs::rename(&partial, &dir).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            dir.display()
        )
    });
    drop(lock);
    conf
}

fn checked(cmd: &mut Command, what: &str, package: &str) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {what} ({e}) to build the kernel's conf: install it with \
             `scripts/install-deps test` (Debian package {package})"
        )
    });
    assert!(
        out.status.success(),
        "{what} failed building the kernel's conf ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Kconfig tree written by a test into a temporary directory.
pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// A tree holding `files` (relative path, contents); parents are created.
    pub fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("kconfig-tree-")
            .tempdir()
            .expect("tempdir");
        let tree = Tree { dir };
        for (path, text) in files {
            tree.write(path, text);
        }
        tree
    }

    /// Write (or overwrite) one file.
    pub fn write(&self, path: &str, text: &str) {
        let p = self.dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write tree file");
    }

    /// The tree's root (`srctree`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What `conf` is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `--olddefconfig` (reads the input `.config`, if any).
    OldDefconfig,
    /// `--allnoconfig`.
    AllNo,
    /// `--allyesconfig`.
    AllYes,
    /// `--allmodconfig`.
    AllMod,
    /// `--alldefconfig`.
    AllDef,
    /// `--defconfig=FILE` with this text as FILE.
    Defconfig(String),
    /// `--savedefconfig=defconfig` (reads the input `.config`).
    SaveDefconfig,
    /// `--randconfig` with `KCONFIG_SEED`.
    Rand(u32),
}

impl Op {
    /// conf's option for this operation.
    pub fn flag(&self) -> String {
        match self {
            Op::OldDefconfig => "--olddefconfig".into(),
            Op::AllNo => "--allnoconfig".into(),
            Op::AllYes => "--allyesconfig".into(),
            Op::AllMod => "--allmodconfig".into(),
            Op::AllDef => "--alldefconfig".into(),
            Op::Defconfig(_) => "--defconfig=defconfig.in".into(),
            Op::SaveDefconfig => "--savedefconfig=defconfig".into(),
            Op::Rand(_) => "--randconfig".into(),
        }
    }
}

/// What one `conf` run wrote and printed.
#[derive(Debug)]
pub struct ConfRun {
    /// The `.config` it wrote (`None` for savedefconfig or when it wrote none).
    pub config: Option<String>,
    /// The `defconfig` savedefconfig wrote.
    pub defconfig: Option<String>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (warnings, errors).
    pub stderr: String,
    /// Whether it exited 0.
    pub success: bool,
    /// The output directory it ran in (kept until the run is dropped).
    pub out: tempfile::TempDir,
}

impl ConfRun {
    /// The `.config`, or a panic with conf's messages.
    pub fn config(&self) -> &str {
        self.config.as_deref().unwrap_or_else(|| {
            panic!(
                "conf wrote no .config (success: {})\nstdout:\n{}\nstderr:\n{}",
                self.success, self.stdout, self.stderr
            )
        })
    }

    /// The saved defconfig, or a panic with conf's messages.
    pub fn defconfig(&self) -> &str {
        self.defconfig.as_deref().unwrap_or_else(|| {
            panic!(
                "conf wrote no defconfig (success: {})\nstdout:\n{}\nstderr:\n{}",
                self.success, self.stdout, self.stderr
            )
        })
    }
}

/// The environment both `conf` and kforge see in the small-tree tests, besides what a test adds.
pub fn base_env(srctree: &Path) -> Vec<(String, String)> {
    vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
        ("LC_ALL".into(), "C".into()),
        ("srctree".into(), srctree.display().to_string()),
    ]
}

/// Run the kernel's `conf` with `op` on `tree/Kconfig` (or `top`), optionally with `input` as the
/// existing `.config`, in a fresh output directory, with a clean environment plus `env`.
pub fn run(tree: &Path, top: &str, op: &Op, input: Option<&str>, env: &[(&str, &str)]) -> ConfRun {
    run_with_files(tree, top, op, input, env, &[])
}

/// [`run`] with `files` (name, text) written into the output directory first (the directory
/// conf runs in, as make's `O=` directory).
pub fn run_with_files(
    tree: &Path,
    top: &str,
    op: &Op,
    input: Option<&str>,
    env: &[(&str, &str)],
    files: &[(&str, &str)],
) -> ConfRun {
    let out = tempfile::Builder::new()
        .prefix("kconfig-conf-out-")
        .tempdir()
        .expect("tempdir");
    for (name, text) in files {
        std::fs::write(out.path().join(name), text).expect("write a file for conf");
    }
    if let Some(text) = input {
        std::fs::write(out.path().join(".config"), text).expect("write input .config");
    }
    if let Op::Defconfig(text) = op {
        std::fs::write(out.path().join("defconfig.in"), text).expect("write defconfig");
    }
    let mut cmd = Command::new(conf_binary());
    cmd.current_dir(out.path())
        .env_clear()
        .envs(base_env(tree))
        .env("KCONFIG_CONFIG", ".config")
        .envs(env.iter().copied())
        .arg(op.flag())
        .arg(top);
    if let Op::Rand(seed) = op {
        cmd.env("KCONFIG_SEED", seed.to_string());
    }
    let o = cmd.output().expect("run conf");
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).ok();
    let (config, defconfig) = match op {
        Op::SaveDefconfig => (None, read("defconfig")),
        _ => (
            if o.status.success() {
                read(".config")
            } else {
                None
            },
            None,
        ),
    };
    ConfRun {
        config,
        defconfig,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        success: o.status.success(),
        out,
    }
}
