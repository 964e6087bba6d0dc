//! What the KVM and Xen flows share: the terminal (progress bars, a live status line for make,
//! `-v`/`-q`), the record of a run (steps with their commands and times, sources with their
//! sha256, the compiler, the config verification, artifacts), and the three files every run
//! leaves in its output directory: `summary.txt`, `build.json` (like TuxMake's
//! `metadata.json`) and `reproduce.sh` (the same build with plain shell commands).
//!
//! The flows themselves live in [`kvm`] and [`xen`]; `examples/kvm.rs` and `examples/xen.rs`
//! only parse the command line and call them, so the integration tests run the very same code.
#![allow(dead_code)]

pub mod kernel;
pub mod kvm;
pub mod xen;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kforge::fetch::{Fetched, Fetcher, Phase, Sha256Digest, Source};
use serde::Serialize;

/// Options every flow takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Output directory: sources, build directories, logs, build.json, reproduce.sh, summary.txt.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Download cache (default: kforge's cache under $XDG_CACHE_HOME or ~/.cache).
    #[arg(long, value_name = "DIR")]
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
    /// recorded per step in build.json and the summary.
    #[arg(long, value_name = "WRAPPER")]
    pub cc_wrapper: Option<kforge::toolchain::WrapperKind>,
    /// distcc hosts, DISTCC_HOSTS syntax ('HOST[:PORT][/SLOTS] …'); -j defaults to the total
    /// of the slots.
    #[arg(long, value_name = "HOSTS", requires = "cc_wrapper")]
    pub distcc_hosts: Option<String>,
    /// icecream scheduler (HOST[:PORT]), given to iceccd as ICECC_SCHEDULER.
    #[arg(long, value_name = "ADDR", requires = "cc_wrapper")]
    pub icecc_scheduler: Option<String>,
    /// A private cache directory for ccache or sccache (CCACHE_DIR / SCCACHE_DIR).
    #[arg(long, value_name = "DIR", requires = "cc_wrapper")]
    pub cc_cache_dir: Option<PathBuf>,
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

// ---------------------------------------------------------------------------------------------
// The terminal.

/// What the user sees: step headers, download bars, one live status line under make, the
/// summary. `-q` shows errors only; `-v`/`-vv` add the libraries' tracing events.
#[derive(Clone)]
pub struct Ui {
    multi: MultiProgress,
    quiet: bool,
    verbose: u8,
    status: Arc<Mutex<Option<ProgressBar>>>,
}

impl Ui {
    /// A terminal for `verbose`/`quiet`, with the libraries' tracing events routed above the
    /// bars (a second call keeps the first subscriber, as tests do).
    pub fn new(verbose: u8, quiet: bool) -> Ui {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let ui = Ui {
            multi: MultiProgress::with_draw_target(target),
            quiet,
            verbose,
            status: Arc::new(Mutex::new(None)),
        };
        let default = match (quiet, verbose) {
            (true, _) => "error,kforge_kbuild::output=off",
            // Make's lines go to the log files and the status line, not to the terminal.
            (false, 0) => "warn,kforge_kbuild::output=off",
            (false, 1) => "info,kforge_kbuild::output=warn",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let writer = SuspendingWriter(ui.multi.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .without_time()
            .try_init();
        ui
    }

    /// Whether `-q` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// A line on stdout (not with `-q`).
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.quiet {
            self.multi.suspend(|| println!("{}", text.as_ref()));
        }
    }

    /// A line on stderr, always.
    pub fn error(&self, text: impl AsRef<str>) {
        self.multi.suspend(|| eprintln!("{}", text.as_ref()));
    }

    /// A download bar for `label`, fed by the fetcher's progress callback.
    pub fn download_bar(&self, label: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template(
                "  {prefix} {msg:8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar
    }

    /// Start the live status line for a make or configure step.
    pub fn start_status(&self, label: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.status.lock() {
            *slot = Some(bar);
        }
    }

    /// Stop the live status line.
    pub fn stop_status(&self) {
        if let Ok(mut slot) = self.status.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// A line callback for make and configure: the status line shows the latest line.
    pub fn line_callback(&self) -> impl Fn(&kforge::kbuild::Line<'_>) + Send + Sync + 'static {
        let status = Arc::clone(&self.status);
        move |line| {
            if let Ok(slot) = status.lock()
                && let Some(bar) = slot.as_ref()
            {
                bar.set_message(line.text.trim().to_string());
            }
        }
    }
}

/// Writes tracing output above the progress bars.
#[derive(Clone)]
struct SuspendingWriter(MultiProgress);

struct SuspendedLine {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl std::io::Write for SuspendedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SuspendedLine {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.multi.suspend(|| {
            let _ = std::io::stderr().write_all(&buf);
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SuspendingWriter {
    type Writer = SuspendedLine;
    fn make_writer(&'a self) -> SuspendedLine {
        SuspendedLine {
            multi: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The record of a run.

/// A step as planned: its name, what it does, and the equivalent shell commands.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// Short name (`fetch-kernel`, `olddefconfig`, …).
    pub name: String,
    /// What it does, in the words of the HOWTO.
    pub title: String,
    /// The shell commands it amounts to.
    pub commands: Vec<String>,
}

impl PlannedStep {
    /// A step.
    pub fn new(name: &str, title: &str, commands: Vec<String>) -> PlannedStep {
        PlannedStep {
            name: name.into(),
            title: title.into(),
            commands,
        }
    }
}

/// A step that ran (or failed).
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// Short name.
    pub name: String,
    /// What it does.
    pub title: String,
    /// `ok`, `reused` or `failed`.
    pub status: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The shell commands it amounts to (also in reproduce.sh).
    pub commands: Vec<String>,
    /// Its full log, for make and configure steps.
    pub log: Option<PathBuf>,
    /// What a user should know about it.
    pub notes: Vec<String>,
}

/// A source that was fetched.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRecord {
    /// What it is (`kernel`, `userland`, `xen`, `xenified kernel`).
    pub role: String,
    /// Where from.
    pub url: String,
    /// sha256 of the archive.
    pub sha256: Option<String>,
    /// Whether the hash was pinned on the command line.
    pub pinned: bool,
    /// The changeset or commit, for repositories.
    pub revision: Option<String>,
    /// Where it was extracted or checked out.
    pub dest: PathBuf,
    /// Whether the archive came from the cache, or an earlier run's tree was reused.
    pub reused: bool,
}

/// The compiler chosen for a step.
#[derive(Debug, Clone, Serialize)]
pub struct CompilerRecord {
    /// The requirement it was chosen by.
    pub requirement: String,
    /// The command (`gcc-12`).
    pub command: String,
    /// `gcc-12 (GCC 12.2.0, x86_64-linux-gnu)`.
    pub description: String,
    /// Family.
    pub family: String,
    /// Version.
    pub version: String,
    /// Target triple.
    pub target: String,
}

/// A compiler wrapper's counters over one make step.
#[derive(Debug, Clone, Serialize)]
pub struct CacheRecord {
    /// The step.
    pub step: String,
    /// Hits, misses, remote and local jobs during it.
    pub report: kforge::kbuild::CacheReport,
}

/// A file the build produced.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its sha256.
    pub sha256: String,
}

impl Artifact {
    /// Hash `path`.
    pub fn of(path: &Path) -> Result<Artifact> {
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let bytes = file.metadata()?.len();
        let sha256 = Sha256Digest::of_reader(file)
            .with_context(|| format!("read {}", path.display()))?
            .to_hex();
        Ok(Artifact {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
}

/// The machine.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Running kernel release.
    pub kernel: String,
    /// CPU architecture.
    pub arch: String,
    /// Available parallelism.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
}

impl Host {
    fn detect() -> Host {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        Host {
            kernel,
            arch: std::env::consts::ARCH.to_string(),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
        }
    }
}

/// Everything `build.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct BuildRecord {
    /// Format version of this file.
    pub schema: u32,
    /// `kvm` or `xen`.
    pub flow: String,
    /// `modern` or `howto`.
    pub mode: String,
    /// kforge's version.
    pub kforge: String,
    /// The command line.
    pub command: Vec<String>,
    /// Seconds since the epoch at the start.
    pub started_unix: u64,
    /// Total seconds.
    pub seconds: f64,
    /// `pass` or `fail`.
    pub result: String,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The machine.
    pub host: Host,
    /// The output directory.
    pub out: PathBuf,
    /// Sources with their hashes.
    pub sources: Vec<SourceRecord>,
    /// The compiler chosen by requirement, if a step needed one.
    pub compiler: Option<CompilerRecord>,
    /// What `gcc` (the default `CC` of the kernel and Xen Makefiles) is on this machine.
    pub default_cc: Option<String>,
    /// The compiler cache or distributed compiler in front of CC and HOSTCC.
    pub wrapper: Option<kforge::toolchain::Wrapper>,
    /// Its counters, per make step.
    pub cache: Vec<CacheRecord>,
    /// The kernel configuration: base, fragments, merge overrides and verification.
    pub config: Option<serde_json::Value>,
    /// Steps in order.
    pub steps: Vec<StepRecord>,
    /// Files produced.
    pub artifacts: Vec<Artifact>,
    /// What the user should know.
    pub notes: Vec<String>,
}

/// One run of a flow: the terminal, the record, the output directory, the interrupt flag.
pub struct Run {
    /// The terminal.
    pub ui: Ui,
    /// The record written as build.json.
    pub record: BuildRecord,
    /// The output directory (absolute).
    pub out: PathBuf,
    /// Where logs go.
    pub logs: PathBuf,
    /// Raised by Ctrl-C; every long step watches it.
    pub interrupt: Arc<AtomicBool>,
    /// The common options.
    pub common: Common,
    plan: Vec<PlannedStep>,
    started: Instant,
    step_index: usize,
    verification_text: Option<String>,
    /// A fix or explanation shown after an error.
    pub hint: Option<String>,
}

impl Run {
    /// Start a run of `flow` in `mode` writing into `out`, following `plan`.
    pub fn new(
        flow: &str,
        mode: &str,
        common: &Common,
        out: &Path,
        plan: Vec<PlannedStep>,
    ) -> Result<Run> {
        let ui = Ui::new(common.verbose, common.quiet);
        let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let logs = out.join("logs");
        let interrupt = if common.plan {
            Arc::new(AtomicBool::new(false))
        } else {
            // One handler per process: later runs (tests) share the first flag.
            static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
            Arc::clone(FLAG.get_or_init(|| {
                kforge::kbuild::interrupt::flag_on_signals()
                    .unwrap_or_else(|_| Arc::new(AtomicBool::new(false)))
            }))
        };
        let record = BuildRecord {
            schema: 1,
            flow: flow.into(),
            mode: mode.into(),
            kforge: env!("CARGO_PKG_VERSION").into(),
            command: std::env::args().collect(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            seconds: 0.0,
            result: "running".into(),
            error: None,
            host: Host::detect(),
            out: out.clone(),
            sources: Vec::new(),
            compiler: None,
            default_cc: None,
            wrapper: None,
            cache: Vec::new(),
            config: None,
            steps: Vec::new(),
            artifacts: Vec::new(),
            notes: Vec::new(),
        };
        let mut record = record;
        record.wrapper = wrapper_for(common)?.map(|w| {
            if w.kind.is_distributed() {
                let log = logs.join(format!("{}-client.log", w.kind));
                w.with_client_log(log)
            } else {
                w
            }
        });
        Ok(Run {
            ui,
            record,
            out,
            logs,
            interrupt,
            common: common.clone(),
            plan,
            started: Instant::now(),
            step_index: 0,
            verification_text: None,
            hint: None,
        })
    }

    /// Set the steps this run follows.
    pub fn set_plan(&mut self, plan: Vec<PlannedStep>) {
        self.plan = plan;
    }

    /// Put the compiler wrapper (if any) in front of a kernel tree's CC and HOSTCC, with its
    /// environment, the `-j` its slots allow and its counters.
    pub fn apply_wrapper_to_tree(&self, tree: &mut kforge::kbuild::KernelTree) {
        let Some(wrapper) = &self.record.wrapper else {
            return;
        };
        tree.vars(wrapper.make_vars(&kforge::toolchain::Toolchain::default()));
        for (k, v) in wrapper.env() {
            tree.env(k, v);
        }
        if self.common.jobs.is_none()
            && let Some(jobs) = wrapper.suggested_jobs()
        {
            tree.jobs(jobs);
        }
        if let Ok(tool) = wrapper.kind.program().parse() {
            tree.cache_stats(tool);
        }
    }

    /// The same for a plain make invocation (Xen's).
    pub fn apply_wrapper_to_make(&self, make: &mut kforge::kbuild::Make) {
        let Some(wrapper) = &self.record.wrapper else {
            return;
        };
        make.vars(wrapper.make_vars(&kforge::toolchain::Toolchain::default()));
        for (k, v) in wrapper.env() {
            make.env(k, v);
        }
        if self.common.jobs.is_none()
            && let Some(jobs) = wrapper.suggested_jobs()
        {
            make.jobs(jobs);
        }
        if let Ok(tool) = wrapper.kind.program().parse() {
            make.cache_stats(tool);
        }
    }

    /// Record a make step's counters (a note on the step, and build.json's `cache`).
    pub fn record_cache(&mut self, outcome: &kforge::kbuild::Outcome) {
        // A step that compiled nothing (olddefconfig, say) has nothing to report.
        if let Some(report) = outcome.cache.as_ref().filter(|r| {
            [r.hits, r.misses, r.remote_jobs, r.local_jobs]
                .iter()
                .any(|n| n.unwrap_or(0) > 0)
        }) {
            self.step_note(report.to_string());
            let step = self
                .record
                .steps
                .last()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            self.record.cache.push(CacheRecord {
                step,
                report: report.clone(),
            });
        }
        if let Some(err) = &outcome.cache_error {
            self.step_note(format!("compiler wrapper counters unavailable: {err}"));
        }
    }

    /// Print the plan (for `--plan`).
    pub fn print_plan(&self) {
        let mut text = format!(
            "{} flow ({} mode): {} steps, output in {}\n",
            self.record.flow,
            self.record.mode,
            self.plan.len(),
            self.out.display()
        );
        for (i, step) in self.plan.iter().enumerate() {
            let _ = writeln!(text, "\n{:>2}. {}  [{}]", i + 1, step.title, step.name);
            for command in &step.commands {
                let _ = writeln!(text, "      $ {command}");
            }
        }
        // --plan is what the user asked to see, even with -q.
        println!("{text}");
    }

    /// Run the planned step `name`: prints its header, times it, records it. `f` may replace
    /// the step's commands (once the real values are known) through [`Run::set_commands`].
    pub fn step<T>(&mut self, name: &str, f: impl FnOnce(&mut Run) -> Result<T>) -> Result<T> {
        let planned = self
            .plan
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| PlannedStep::new(name, name, Vec::new()));
        self.step_index += 1;
        self.ui.say(format!(
            "[{}/{}] {}",
            self.step_index,
            self.plan.len(),
            planned.title
        ));
        self.record.steps.push(StepRecord {
            name: planned.name.clone(),
            title: planned.title.clone(),
            status: "running".into(),
            seconds: 0.0,
            commands: planned.commands.clone(),
            log: None,
            notes: Vec::new(),
        });
        let start = Instant::now();
        let result = f(self);
        self.ui.stop_status();
        let seconds = start.elapsed().as_secs_f64();
        if let Some(step) = self.record.steps.last_mut() {
            step.seconds = seconds;
            if result.is_err() {
                step.status = "failed".into();
            } else if step.status == "running" {
                step.status = "ok".into();
            }
        }
        if result.is_ok() {
            self.ui.say(format!("      done in {seconds:.1} s"));
        }
        result
    }

    /// Replace the current step's commands.
    pub fn set_commands(&mut self, commands: Vec<String>) {
        if let Some(step) = self.record.steps.last_mut() {
            step.commands = commands;
        }
    }

    /// Mark the current step as reused from an earlier run.
    pub fn mark_reused(&mut self) {
        if let Some(step) = self.record.steps.last_mut() {
            step.status = "reused".into();
        }
    }

    /// Set the current step's log file.
    pub fn set_log(&mut self, log: Option<PathBuf>) {
        if let Some(step) = self.record.steps.last_mut() {
            step.log = log;
        }
    }

    /// A note on the current step (printed, and kept in the summary).
    pub fn step_note(&mut self, note: impl Into<String>) {
        let note = note.into();
        self.ui.say(format!("      {note}"));
        if let Some(step) = self.record.steps.last_mut() {
            step.notes.push(note);
        }
    }

    /// A note for the whole run (shown in the summary).
    pub fn note(&mut self, note: impl Into<String>) {
        self.record.notes.push(note.into());
    }

    /// Keep the human-readable verification report for the summary.
    pub fn set_verification_text(&mut self, text: String) {
        self.verification_text = Some(text);
    }

    /// A fetcher with the common options and a download bar labelled `label`.
    pub fn fetcher(&self, label: &str) -> Result<(Fetcher, ProgressBar)> {
        let bar = self.ui.download_bar(label);
        let feed = bar.clone();
        let mut builder = Fetcher::builder()
            .offline(self.common.offline)
            .allow_unpinned(self.common.allow_unpinned)
            .progress(move |p| {
                if let Some(total) = p.total {
                    feed.set_length(total);
                }
                feed.set_position(p.done);
                feed.set_message(match p.phase {
                    Phase::Download => "fetch",
                    Phase::Extract => "extract",
                    Phase::WaitLock => "waitlock",
                    Phase::Clone => "clone",
                    Phase::Checkout => "checkout",
                    Phase::Patch => "patch",
                });
            });
        if let Some(cache) = &self.common.cache {
            builder = builder.cache_dir(cache);
        }
        for mirror in &self.common.mirror {
            builder = builder.mirror(mirror);
        }
        for ca in &self.common.ca_cert {
            builder = builder.ca_cert(ca);
        }
        Ok((
            builder.build().context("setting up the download cache")?,
            bar,
        ))
    }

    /// Fetch an archive `url` (pinned by `sha256` unless unpinned fetches are allowed) into
    /// `dest`, dropping the archive's top directory. A tree an earlier run of the same source
    /// left there is reused (recorded in `<dest>.source.json`).
    pub fn fetch_archive(
        &mut self,
        role: &str,
        url: &str,
        sha256: Option<&str>,
        dest: &Path,
    ) -> Result<SourceRecord> {
        self.fetch_archive_patched(role, url, sha256, dest, &[])
    }

    /// [`Run::fetch_archive`], applying `patches` (`patch -p1`, in order) before the tree is
    /// published.
    pub fn fetch_archive_patched(
        &mut self,
        role: &str,
        url: &str,
        sha256: Option<&str>,
        dest: &Path,
        patches: &[PathBuf],
    ) -> Result<SourceRecord> {
        let pinned = match sha256 {
            Some(hex) => Some(
                hex.parse::<Sha256Digest>()
                    .map_err(|e| anyhow::anyhow!("--{role}-sha256 {hex:?}: {e}"))?,
            ),
            None => None,
        };
        if pinned.is_none() && !self.common.allow_unpinned {
            bail!(
                "no sha256 pinned for the {role} archive {url}: pass --{role}-sha256 HEX, or \
                 --allow-unpinned to fetch it anyway and have its hash computed and reported"
            );
        }
        let stamp = stamp_path(dest);
        if dest.exists() {
            // Unpinned local archives are hashed again: a tree extracted from an older
            // linux-source package is not reused after an upgrade.
            let expected = match (pinned, url.strip_prefix("file://")) {
                (Some(d), _) => Some(d.to_hex()),
                (None, Some(path)) => std::fs::File::open(path)
                    .ok()
                    .and_then(|f| Sha256Digest::of_reader(f).ok())
                    .map(|d| d.to_hex()),
                (None, None) => None,
            };
            if let Some(previous) = read_stamp(&stamp)
                && previous.url == url
                && (expected.is_none() || previous.sha256 == expected)
            {
                let mut record = previous;
                record.reused = true;
                record.pinned = pinned.is_some();
                self.mark_reused();
                self.step_note(format!(
                    "reusing {} (extracted by an earlier run from the same archive, sha256 {})",
                    dest.display(),
                    record.sha256.as_deref().unwrap_or("?")
                ));
                self.set_commands(fetch_commands(url, record.sha256.as_deref(), dest));
                self.record.sources.push(record.clone());
                return Ok(record);
            }
            bail!(
                "{} already exists and was not extracted from {url}{} by an earlier run; \
                 remove it or choose another --out",
                dest.display(),
                expected
                    .map(|h| format!(" (sha256 {h})"))
                    .unwrap_or_default()
            );
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let source = match pinned {
            Some(digest) => Source::archive(url, digest),
            None => Source::unpinned_archive(url),
        }
        .with_strip_components(1);
        let (fetcher, bar) = self.fetcher(role)?;
        let patch_set = patches
            .iter()
            .fold(kforge::fetch::PatchSet::new(), |set, p| set.patch(p, 1));
        let fetched: Result<Fetched, _> =
            fetcher.fetch_patched(&source, dest, &patch_set, &self.interrupt);
        bar.finish_and_clear();
        let fetched = fetched.with_context(|| format!("fetching the {role} archive {url}"))?;
        let hex = fetched.sha256.map(|d| d.to_hex());
        let record = SourceRecord {
            role: role.into(),
            url: url.into(),
            sha256: hex.clone(),
            pinned: pinned.is_some(),
            revision: None,
            dest: dest.to_path_buf(),
            reused: fetched.from_cache,
        };
        if let Some(report) = &fetched.extract {
            self.step_note(format!(
                "{} files, {} MB into {}",
                report.files,
                report.bytes / 1_000_000,
                dest.display()
            ));
        }
        match (&hex, pinned) {
            (Some(hex), None) => self.step_note(format!(
                "unpinned (--allow-unpinned): sha256 {hex}; pin it with --{role}-sha256 {hex}"
            )),
            (Some(hex), Some(_)) => self.step_note(format!("sha256 {hex} verified")),
            _ => {}
        }
        write_stamp(&stamp, &record)?;
        let mut commands = fetch_commands(url, hex.as_deref(), dest);
        for p in &fetched.patches {
            self.step_note(format!("applied {p}"));
        }
        for p in patches {
            commands.push(format!(
                "patch -p1 -d {} < {}",
                shell_quote(&dest.display().to_string()),
                shell_quote(&p.display().to_string())
            ));
        }
        self.set_commands(commands);
        self.record.sources.push(record.clone());
        Ok(record)
    }

    /// Finish: fill in the result, write build.json, reproduce.sh and summary.txt, print the
    /// summary. Returns the summary text.
    pub fn finish(&mut self, result: &Result<()>) -> Result<String> {
        self.record.seconds = self.started.elapsed().as_secs_f64();
        self.record.default_cc = kforge::toolchain::Compiler::identify("gcc")
            .ok()
            .map(|c| c.describe());
        match result {
            Ok(()) => self.record.result = "pass".into(),
            Err(err) => {
                self.record.result = "fail".into();
                self.record.error = Some(format!("{err:#}"));
            }
        }
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let json = serde_json::to_string_pretty(&self.record)?;
        write_atomic(&self.out.join("build.json"), json.as_bytes())?;
        let reproducer = self.reproducer();
        let reproducer_path = self.out.join("reproduce.sh");
        write_atomic(&reproducer_path, reproducer.as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&reproducer_path, std::fs::Permissions::from_mode(0o755))?;
        let summary = self.summary();
        write_atomic(&self.out.join("summary.txt"), summary.as_bytes())?;
        if result.is_ok() {
            self.ui.say(&summary);
        } else {
            self.ui.error(&summary);
        }
        Ok(summary)
    }

    fn reproducer(&self) -> String {
        let mut text = String::from("#!/bin/sh\n");
        let _ = writeln!(
            text,
            "# Reproduce the {} flow ({} mode) with plain commands, as kforge ran it.\n\
             # Recorded by: {}\n\
             # Result: {}\nset -eu\n",
            self.record.flow,
            self.record.mode,
            self.record
                .command
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            self.record.result
        );
        if let Some(w) = &self.record.wrapper {
            let _ = writeln!(text, "# compiler wrapper: {}", w.describe());
            for (k, v) in w.env() {
                let _ = writeln!(text, "export {k}={}", shell_quote(&v));
            }
            text.push('\n');
        }
        for step in &self.record.steps {
            let _ = writeln!(
                text,
                "# {} ({}, {:.1} s)",
                step.title, step.status, step.seconds
            );
            for command in &step.commands {
                let _ = writeln!(text, "{command}");
            }
            text.push('\n');
        }
        text
    }

    fn summary(&self) -> String {
        let r = &self.record;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n== {} flow ({} mode): {} in {:.1} s ==",
            r.flow,
            r.mode,
            r.result.to_uppercase(),
            r.seconds
        );
        if let Some(err) = &r.error {
            let _ = writeln!(s, "error: {err}");
            if let Some(hint) = &self.hint {
                let _ = writeln!(s, "{hint}");
            }
        }
        let _ = writeln!(s, "sources:");
        if r.sources.is_empty() {
            let _ = writeln!(s, "  (none fetched)");
        }
        for src in &r.sources {
            let _ = writeln!(s, "  {:<16} {}", src.role, src.url);
            match (&src.sha256, src.pinned) {
                (Some(h), true) => {
                    let _ = writeln!(s, "  {:<16} sha256 {h} (pinned, verified)", "");
                }
                (Some(h), false) => {
                    let _ = writeln!(s, "  {:<16} sha256 {h} (UNPINNED: pin it next time)", "");
                }
                _ => {}
            }
            if let Some(rev) = &src.revision {
                let _ = writeln!(s, "  {:<16} changeset {rev}", "");
            }
            let _ = writeln!(
                s,
                "  {:<16} -> {}{}",
                "",
                src.dest.display(),
                if src.reused { " (reused)" } else { "" }
            );
        }
        match &r.compiler {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "compiler: {} chosen for \"{}\"",
                    c.description, c.requirement
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "compiler: the Makefiles' default CC=gcc: {}",
                    r.default_cc.as_deref().unwrap_or("(gcc not identified)")
                );
            }
        }
        if let Some(w) = &r.wrapper {
            let _ = writeln!(s, "compiler wrapper: {}", w.describe());
            for c in &r.cache {
                let _ = writeln!(s, "  {:<22} {}", c.step, c.report);
            }
        }
        if let Some(text) = &self.verification_text {
            let _ = writeln!(s, "config verification:");
            for line in text.lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        let _ = writeln!(s, "steps:");
        for (i, step) in r.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {:>2}. {:<22} {:>7.1} s  {:<7}{}",
                i + 1,
                step.name,
                step.seconds,
                step.status,
                step.log
                    .as_ref()
                    .map(|l| format!("  log {}", l.display()))
                    .unwrap_or_default()
            );
            for note in &step.notes {
                let _ = writeln!(s, "      {note}");
            }
        }
        if !r.artifacts.is_empty() {
            let _ = writeln!(s, "artifacts:");
            for a in &r.artifacts {
                let _ = writeln!(s, "  {}", a.path.display());
                let _ = writeln!(s, "      {} bytes, sha256 {}", a.bytes, a.sha256);
            }
        }
        if !r.notes.is_empty() {
            let _ = writeln!(s, "notes:");
            for note in &r.notes {
                let _ = writeln!(s, "  - {note}");
            }
        }
        let _ = writeln!(
            s,
            "recorded: {}/build.json, {}/reproduce.sh, logs in {}",
            self.out.display(),
            self.out.display(),
            self.logs.display()
        );
        s
    }
}

/// The wrapper the common options ask for: found on PATH with its version (a plan only
/// assumes it), its client log in the run's logs.
fn wrapper_for(common: &Common) -> Result<Option<kforge::toolchain::Wrapper>> {
    use kforge::toolchain::Wrapper;
    let Some(kind) = common.cc_wrapper else {
        return Ok(None);
    };
    let mut wrapper = if common.plan {
        Wrapper::assume(kind, kind.program())
    } else {
        Wrapper::find(kind)?
    };
    if let Some(hosts) = &common.distcc_hosts {
        wrapper = wrapper.with_distcc_hosts(hosts)?;
    }
    if let Some(scheduler) = &common.icecc_scheduler {
        wrapper = wrapper.with_icecc_scheduler(scheduler.clone())?;
    }
    if let Some(dir) = &common.cc_cache_dir {
        wrapper = wrapper.with_cache_dir(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
    }
    wrapper.check()?;
    Ok(Some(wrapper))
}

/// Where an extracted tree's provenance is kept: beside it, never inside it.
fn stamp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!("{name}.source.json"))
}

#[derive(serde::Deserialize)]
struct Stamp {
    role: String,
    url: String,
    sha256: Option<String>,
    dest: PathBuf,
}

fn read_stamp(path: &Path) -> Option<SourceRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    let stamp: Stamp = serde_json::from_str(&text).ok()?;
    Some(SourceRecord {
        role: stamp.role,
        url: stamp.url,
        sha256: stamp.sha256,
        pinned: false,
        revision: None,
        dest: stamp.dest,
        reused: true,
    })
}

fn write_stamp(path: &Path, record: &SourceRecord) -> Result<()> {
    let json = serde_json::json!({
        "role": record.role, "url": record.url, "sha256": record.sha256, "dest": record.dest,
    });
    write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())
}

/// The shell commands that fetch, verify and extract an archive.
pub fn fetch_commands(url: &str, sha256: Option<&str>, dest: &Path) -> Vec<String> {
    let name = url.rsplit('/').next().unwrap_or("archive");
    let get = match url.strip_prefix("file://") {
        Some(path) => format!("cp {} {}", shell_quote(path), shell_quote(name)),
        None => format!("curl -fL -o {} {}", shell_quote(name), shell_quote(url)),
    };
    let mut commands = vec![get];
    if let Some(hex) = sha256 {
        commands.push(format!("echo '{hex}  {name}' | sha256sum -c -"));
    }
    commands.push(format!(
        "mkdir -p {d} && tar -xf {n} -C {d} --strip-components=1",
        d = shell_quote(&dest.display().to_string()),
        n = shell_quote(name)
    ));
    commands
}

/// A command line for display and for reproduce.sh.
pub fn shell_line<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    args.into_iter()
        .map(|a| shell_quote(&a.as_ref().to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quote `arg` for a POSIX shell when it needs it.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Write `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map_or("out".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming onto {}", path.display()))?;
    Ok(())
}

/// The name of an archive's tree: `linux-source-6.1.tar.xz` → `linux-source-6.1`.
pub fn archive_stem(url: &str) -> String {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("source");
    let mut stem = name.to_string();
    for ext in [".gz", ".xz", ".bz2", ".zst", ".tgz", ".tbz2", ".txz"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s.to_string();
            break;
        }
    }
    if let Some(s) = stem.strip_suffix(".tar") {
        stem = s.to_string();
    }
    // Debian's upstream tarballs: `qemu_7.2+dfsg.orig.tar.xz` → `qemu-7.2+dfsg`.
    if let Some(s) = stem.strip_suffix(".orig") {
        stem = s.replacen('_', "-", 1);
    }
    if stem.is_empty() {
        "source".into()
    } else {
        stem
    }
}

/// Run a flow body, then write the records whatever happened; the error (if any) is returned
/// after the summary was printed.
pub fn finish_run(run: &mut Run, result: Result<()>) -> Result<String> {
    let summary = run.finish(&result)?;
    result
        .map(|()| summary)
        .map_err(|err| anyhow::Error::new(Reported(format!("{err:#}"))))
}

/// An error the summary already showed (so `main` does not print it twice).
#[derive(Debug)]
pub struct Reported(pub String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// The exit code of a flow's `main`, printing errors the summary did not show.
pub fn exit_code(result: Result<String>) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            if !err.is::<Reported>() {
                eprintln!("error: {err:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Regular files under `dir` (sorted), for artifact lists.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
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
