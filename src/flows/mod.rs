//! The two HOWTOs as flows: [`kvm`] ("Quick HOWTO for building Qumranet's KVM", 2008) and
//! [`xen`] ("Quick HOWTO for building Xen 3.2 on Debian/Ubuntu", 2008), each one step per line
//! of the original recipe, on today's sources by default.
//!
//! A flow takes its options (which derive `clap::Parser`, so a command line can parse them)
//! and an [`Observer`](crate::observe::Observer), and leaves `build.json`, `reproduce.sh`,
//! `summary.txt` and `logs/` in its output directory whether it passed or failed.
//! `examples/kvm.rs` and `examples/xen.rs` add only a terminal.

pub mod kvm;
pub mod xen;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::steps::{RunOptions, WrapperOptions};

/// Which era's sources and steps a flow follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Today's sources and steps (the default).
    Modern,
    /// The 2008 HOWTO's own sources, URLs, versions and steps.
    Howto,
}

impl Mode {
    /// `modern` or `howto`, as recorded in `build.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Modern => "modern",
            Mode::Howto => "howto",
        }
    }
}

/// Options every flow takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Output directory: sources, build directories, logs, build.json, reproduce.sh, summary.txt.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Download cache [default: $KFORGE_CACHE_DIR, $XDG_CACHE_HOME/kforge or ~/.cache/kforge].
    #[arg(long = "cache-dir", alias = "cache", value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// A mirror tried before each origin URL (repeatable).
    #[arg(long, value_name = "URL")]
    pub mirror: Vec<String>,
    /// Use only the download cache.
    #[arg(long)]
    pub offline: bool,
    /// Also trust the CA certificates of this PEM file for https sources (archives, git,
    /// Mercurial); repeatable. SSL_CERT_FILE/SSL_CERT_DIR and HTTPS_PROXY/NO_PROXY are honoured.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Allow archives without a pinned sha256 (the hash is computed and reported to pin).
    #[arg(long)]
    pub allow_unpinned: bool,
    /// Parallel make jobs (default: the available parallelism).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run the kernel's (and Xen's) CC and HOSTCC through a compiler cache or distributed
    /// compiler: ccache, sccache, distcc or icecc. Its hits, misses and remote jobs are
    /// recorded per step in build.json and the summary. The reproducible settings (on by
    /// default) let a second output directory hit the cache.
    #[arg(long, value_name = "WRAPPER")]
    pub cc_wrapper: Option<kforge_toolchain::WrapperKind>,
    /// distcc hosts, DISTCC_HOSTS syntax (`HOST[:PORT][/SLOTS] …`); -j defaults to the total
    /// of the slots.
    #[arg(long, value_name = "HOSTS", requires = "cc_wrapper")]
    pub distcc_hosts: Option<String>,
    /// icecream scheduler (`HOST[:PORT]`), given to iceccd as ICECC_SCHEDULER.
    #[arg(long, value_name = "ADDR", requires = "cc_wrapper")]
    pub icecc_scheduler: Option<String>,
    /// A private cache directory for ccache or sccache (CCACHE_DIR / SCCACHE_DIR).
    #[arg(long, value_name = "DIR", requires = "cc_wrapper")]
    pub cc_cache_dir: Option<PathBuf>,
    /// Build without the reproducible settings. By default make steps run with
    /// KBUILD_BUILD_TIMESTAMP and SOURCE_DATE_EPOCH from the sources' date,
    /// KBUILD_BUILD_USER/HOST=kforge and -ffile-prefix-map for the source and build directories
    /// (KCFLAGS, KAFLAGS), so the same inputs give the same bytes in any directory
    /// and a compiler cache serves a new output directory.
    #[arg(long)]
    pub no_reproducible: bool,
    /// After the build, rebuild the final step in a second build directory (a path of another
    /// length, later, under another user name) and compare the artifacts by sha256; when they
    /// differ, name the cause (build path, timestamp, signature, build id, random seed) and
    /// the first differing ELF section. The result goes to build.json (`repro.check`) and the
    /// summary.
    #[arg(long)]
    pub repro_check: bool,
    /// Sign modules with this key (a PEM file with the private key and certificate) for
    /// configs with CONFIG_MODULE_SIG_ALL, so signed modules are identical between builds;
    /// without it such a config signs with a key generated per build directory. kforge never
    /// generates a key.
    #[arg(long, value_name = "FILE")]
    pub module_sig_key: Option<PathBuf>,
    /// Print the steps and their commands without running anything.
    #[arg(long)]
    pub plan: bool,
    /// More output (-v: each step's events and compiler warnings, -vv: every make line).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors (the summary is still written to the output directory).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Common {
    /// The run options these flags ask for, watching `interrupt`.
    pub fn run_options(&self, interrupt: Option<Arc<AtomicBool>>) -> RunOptions {
        RunOptions {
            cache_dir: self.cache.clone(),
            mirrors: self.mirror.clone(),
            offline: self.offline,
            ca_certs: self.ca_cert.clone(),
            allow_unpinned: self.allow_unpinned,
            jobs: self.jobs,
            wrapper: self.cc_wrapper.map(|kind| WrapperOptions {
                kind,
                distcc_hosts: self.distcc_hosts.clone(),
                icecc_scheduler: self.icecc_scheduler.clone(),
                cache_dir: self.cc_cache_dir.clone(),
            }),
            reproducible: Some(!self.no_reproducible),
            repro_check: self.repro_check,
            module_sig_key: self.module_sig_key.clone(),
            plan_only: self.plan,
            interrupt,
        }
    }
}

/// What both flows do around their steps: start the run, plan, print the plan or run the
/// body, finish the record.
struct Flow<'a> {
    name: &'static str,
    mode: Mode,
    out: &'a std::path::Path,
    common: &'a Common,
}

impl Flow<'_> {
    fn run(
        &self,
        observer: Arc<dyn crate::observe::Observer>,
        interrupt: Option<Arc<AtomicBool>>,
        plan: impl FnOnce(&crate::steps::Run) -> Vec<crate::steps::PlannedStep>,
        body: impl FnOnce(&mut crate::steps::Run) -> Result<(), crate::Error>,
    ) -> Result<Finished, crate::Error> {
        let mut run = crate::steps::Run::new(
            self.name,
            self.mode.as_str(),
            self.out,
            self.common.run_options(interrupt),
            observer,
        )?;
        let steps = plan(&run);
        run.set_plan(steps);
        if self.common.plan {
            return Ok(Finished::Planned(run.plan_text()));
        }
        let result = body(&mut run);
        Ok(Finished::Ran(Box::new(run.finish(result)?)))
    }
}

/// Regular files under `dir` (sorted), for artifact lists.
pub fn files_under(dir: impl AsRef<std::path::Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.as_ref().to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// What a flow returns: the finished record and the plan text (for `--plan`, nothing ran).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Finished {
    /// The flow ran (and passed); the record is also in `build.json`.
    Ran(Box<crate::record::BuildRecord>),
    /// Only the plan was asked for.
    Planned(String),
}
