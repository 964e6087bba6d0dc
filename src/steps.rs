//! The step runner: a [`Run`] follows a plan of named steps, times and records each one, tells
//! an [`Observer`] what happens, and keeps `build.json` and `reproduce.sh` up to date in its
//! output directory as it goes.
//!
//! A flow of your own is a plan plus a sequence of [`Run::step`] calls:
//!
//! ```no_run
//! use std::sync::Arc;
//! use kforge::steps::{PlannedStep, Run, RunOptions};
//! use kforge::observe::Silent;
//!
//! # fn main() -> Result<(), kforge::Error> {
//! let mut run = Run::new("hello", "modern", "out", RunOptions::default(), Arc::new(Silent))?;
//! run.set_plan(vec![PlannedStep::new("build", "make all", vec!["make all".into()])]);
//! let result = run.step("build", |run| {
//!     let mut make = kforge::kbuild::Make::new("project");
//!     make.target("all");
//!     run.supervise_make(&mut make, "make all");
//!     let outcome = make.run()?;
//!     run.record_outcome(&outcome);
//!     Ok(())
//! });
//! let record = run.finish(result)?; // build.json, reproduce.sh, summary.txt
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use kforge_fetch::{Fetched, Fetcher, Sha256Digest, Source};
use kforge_kbuild::{CacheTool, KernelTree, Make, Outcome, Reproducible};
use kforge_toolchain::{Toolchain, Wrapper, WrapperKind};
use serde::{Deserialize, Serialize};

use crate::error::{Context as _, Error};
use crate::observe::Observer;
use crate::record::{
    BuildRecord, CacheRecord, RunResult, SourceRecord, StepRecord, StepStatus, Summary,
};
use crate::repro::{ReproSettings, SourceDate};
use crate::reproduce::{self, ArchiveFetch};

/// A step as planned: its name, what it does, and the equivalent shell commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A compiler cache or distributed compiler in front of `CC` and `HOSTCC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperOptions {
    /// Which one.
    pub kind: WrapperKind,
    /// distcc hosts (`DISTCC_HOSTS` syntax).
    pub distcc_hosts: Option<String>,
    /// icecream scheduler (`HOST[:PORT]`).
    pub icecc_scheduler: Option<String>,
    /// A private cache directory (ccache, sccache).
    pub cache_dir: Option<PathBuf>,
}

impl WrapperOptions {
    /// `kind` with no further settings.
    pub fn new(kind: WrapperKind) -> WrapperOptions {
        WrapperOptions {
            kind,
            distcc_hosts: None,
            icecc_scheduler: None,
            cache_dir: None,
        }
    }
}

/// How a run fetches and builds.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Download cache (default: kforge's cache under `$XDG_CACHE_HOME` or `~/.cache`).
    pub cache_dir: Option<PathBuf>,
    /// Mirrors tried before each origin URL.
    pub mirrors: Vec<String>,
    /// Use only the download cache.
    pub offline: bool,
    /// Extra CA certificates (PEM files) trusted for https sources, beside the system roots.
    pub ca_certs: Vec<PathBuf>,
    /// Allow archives without a pinned sha256 (the hash is computed and reported to pin).
    pub allow_unpinned: bool,
    /// Parallel make jobs (default: the available parallelism, or a distcc host list's slots).
    pub jobs: Option<usize>,
    /// A compiler wrapper in front of CC and HOSTCC.
    pub wrapper: Option<WrapperOptions>,
    /// Reproducible mode for make steps (fixed `KBUILD_BUILD_*` and `SOURCE_DATE_EPOCH` from
    /// the sources' date, prefix maps), which makes the objects independent of the source and
    /// build paths, the clock and the builder, and lets a compiler cache serve a new output
    /// directory. `None` (the default) and `Some(true)`: on; `Some(false)`: off.
    pub reproducible: Option<bool>,
    /// Rebuild the final step in a second build directory (a path of another length, later,
    /// under another user name) and compare the artifacts ([`Run::repro_check`]).
    pub repro_check: bool,
    /// The module signing key (PEM: private key and certificate) for configs that sign
    /// modules (`CONFIG_MODULE_SIG_KEY`), so signed modules come out identical.
    pub module_sig_key: Option<PathBuf>,
    /// Only plan: the wrapper is assumed, not looked up, and nothing runs.
    pub plan_only: bool,
    /// The interrupt flag every long step watches (default: a flag nobody raises).
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// One run of a flow: the record, the output directory, the observer, the interrupt flag.
pub struct Run {
    /// The record written as `build.json`.
    pub record: BuildRecord,
    /// A fix or explanation shown after an error (in the summary).
    pub hint: Option<String>,
    out: PathBuf,
    logs: PathBuf,
    interrupt: Arc<AtomicBool>,
    options: RunOptions,
    observer: Arc<dyn Observer>,
    plan: Vec<PlannedStep>,
    started: Instant,
    step_index: usize,
    current: Option<String>,
    verification_text: Option<String>,
    wrote_reproducer: bool,
    source_date: Option<crate::repro::SourceDate>,
    /// Set once a make or configure run was recorded: the date stays as it was then.
    repro_frozen: AtomicBool,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("out", &self.out)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// ccache's `hash_dir = false`, set with the reproducible settings: with `-g` ccache hashes
/// the working directory unless the command line maps it away. The kernel's objects have the
/// prefix maps (so nothing changes for them), but the host programs `modules_prepare` builds
/// through `tools/`' own Makefiles (objtool with libsubcmd, resolve_btfids with libbpf; `-g`
/// or `-ggdb3`, run from inside the source tree) carry no maps and would miss in every new
/// output directory. With it they hit; their debug info then names the directory of the run
/// that filled the cache (host tools only: nothing of it reaches the kernel or its modules).
pub const CCACHE_NO_HASH_DIR: (&str, &str) = ("CCACHE_NOHASHDIR", "1");

/// ccache's `ignore_options` for `-Wp,-MT,<object>`, added to an inherited
/// `CCACHE_IGNOREOPTIONS`: `tools/build` passes the dependency target as an absolute path inside
/// `-Wp,` (where `CCACHE_BASEDIR` does not reach), so every `tools/` object of a new output
/// directory would miss. The option only names the target in the `.d` file, which `tools/`'
/// fixdep replaces with its own argument.
pub fn ccache_ignore_options() -> (&'static str, String) {
    let mut value = std::env::var("CCACHE_IGNOREOPTIONS").unwrap_or_default();
    if !value.split_whitespace().any(|o| o == "-Wp,-MT,*") {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str("-Wp,-MT,*");
    }
    ("CCACHE_IGNOREOPTIONS", value)
}

/// The environment of ccache in reproducible mode: `CCACHE_BASEDIR` set to `base` (the common
/// parent of the source and build directories: their absolute paths are hashed relative to the
/// working directory, so the same layout elsewhere hits), [`CCACHE_NO_HASH_DIR`] and
/// [`ccache_ignore_options`].
pub fn ccache_reproducible_env(base: &Path) -> [(&'static str, String); 3] {
    [
        ("CCACHE_BASEDIR", base.to_string_lossy().into_owned()),
        (CCACHE_NO_HASH_DIR.0, CCACHE_NO_HASH_DIR.1.to_string()),
        ccache_ignore_options(),
    ]
}

/// The `USER` and `LOGNAME` a reproducibility check's second build runs as.
pub const CHECK_USER: &str = "kforge-check";

/// Where a reproducibility check builds again: beside `dir`, named `<dir>-repro-check` (a path
/// of another length, as `reproducible-builds.rst` asks).
pub fn repro_check_dir(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push("-repro-check");
    dir.with_file_name(name)
}

/// The counters tool of a wrapper kind.
pub fn cache_tool(kind: WrapperKind) -> CacheTool {
    match kind {
        WrapperKind::Ccache => CacheTool::Ccache,
        WrapperKind::Sccache => CacheTool::Sccache,
        WrapperKind::Distcc => CacheTool::Distcc,
        WrapperKind::Icecc => CacheTool::Icecc,
    }
}

impl Run {
    /// Start a run of `flow` in `mode` writing into `out`. The wrapper (if any) is looked up
    /// now, so a missing one fails before anything runs.
    pub fn new(
        flow: &str,
        mode: &str,
        out: impl AsRef<Path>,
        options: RunOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Run, Error> {
        let out = out.as_ref();
        let out = std::path::absolute(out).map_err(|e| Error::io("resolve", out, e))?;
        let logs = out.join("logs");
        let interrupt = options
            .interrupt
            .clone()
            .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
        let mut record = BuildRecord::new(flow, mode, &out);
        record.wrapper = wrapper_for(&options)?.map(|w| {
            if w.kind.is_distributed() {
                let log = logs.join(format!("{}-client.log", w.kind));
                w.with_client_log(log)
            } else {
                w
            }
        });
        record.reproducible = options.reproducible.unwrap_or(true);
        if record.reproducible {
            record.repro.settings = Some(ReproSettings::new(None));
        }
        Ok(Run {
            record,
            hint: None,
            out,
            logs,
            interrupt,
            options,
            observer,
            plan: Vec::new(),
            started: Instant::now(),
            step_index: 0,
            current: None,
            verification_text: None,
            wrote_reproducer: false,
            source_date: None,
            repro_frozen: AtomicBool::new(false),
        })
    }

    /// Set the steps this run follows.
    pub fn set_plan(&mut self, plan: Vec<PlannedStep>) {
        self.plan = plan;
    }

    /// The plan.
    pub fn plan(&self) -> &[PlannedStep] {
        &self.plan
    }

    /// The plan as text (what `--plan` prints).
    pub fn plan_text(&self) -> String {
        use std::fmt::Write as _;
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
        text
    }

    /// The output directory (absolute).
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Where logs go (`<out>/logs`).
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// The options.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// The interrupt flag.
    pub fn interrupt(&self) -> &Arc<AtomicBool> {
        &self.interrupt
    }

    /// The observer.
    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    /// `build.json`'s path.
    pub fn record_path(&self) -> PathBuf {
        self.out.join("build.json")
    }

    /// `reproduce.sh`'s path.
    pub fn reproducer_path(&self) -> PathBuf {
        self.out.join("reproduce.sh")
    }

    fn write_progress(&mut self) -> Result<(), Error> {
        self.record.duration_ms = millis(self.started.elapsed());
        std::fs::create_dir_all(&self.logs)
            .map_err(|e| Error::io("create the directory", &self.logs, e))?;
        self.record
            .write(self.record_path())
            .map_err(|e| Error::io("write", e.path, e.source))?;
        let done: Vec<&str> = self.record.steps.iter().map(|s| s.name.as_str()).collect();
        let pending: Vec<PlannedStep> = self
            .plan
            .iter()
            .filter(|p| !done.contains(&p.name.as_str()))
            .cloned()
            .collect();
        let text = reproduce::script(&self.record, &pending);
        let path = self.reproducer_path();
        crate::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
        if !self.wrote_reproducer {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io("make executable", &path, e))?;
            self.wrote_reproducer = true;
        }
        Ok(())
    }

    /// Run the planned step `name`: tell the observer, time it, record it, and write
    /// `build.json` and `reproduce.sh` afterwards (`reproduce.sh` is first written before the
    /// first step runs). `f` may replace the step's commands through [`Run::set_commands`]
    /// once the real values are known.
    pub fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Run) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if !self.wrote_reproducer {
            self.write_progress()?;
        }
        let planned = self
            .plan
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| PlannedStep::new(name, name, Vec::new()));
        self.step_index += 1;
        self.observer
            .step_started(self.step_index, self.plan.len(), &planned);
        self.record.steps.push(StepRecord {
            name: planned.name.clone(),
            title: planned.title.clone(),
            status: StepStatus::Running,
            duration_ms: 0,
            commands: planned.commands.clone(),
            log: None,
            notes: Vec::new(),
            cause: None,
        });
        self.current = Some(planned.name.clone());
        let start = Instant::now();
        let result = f(self);
        self.observer.command_finished();
        let interrupted = result.is_err() && self.interrupt.load(Ordering::SeqCst);
        if let Err(err) = &result
            && let Some(failure) = make_failure(err)
        {
            // What ran and failed, as it ran, with its log.
            self.set_commands(vec![reproduce::failure_line(failure)]);
            self.set_log(failure.log_file.clone());
            if let Some(step) = self.record.steps.last_mut() {
                step.cause = failure.cause.clone().map(Box::new);
            }
        }
        if let Some(step) = self.record.steps.last_mut() {
            step.duration_ms = millis(start.elapsed());
            step.status = match (&result, interrupted) {
                (Err(_), true) => StepStatus::Interrupted,
                (Err(_), false) => StepStatus::Failed,
                (Ok(_), _) if step.status == StepStatus::Running => StepStatus::Ok,
                (Ok(_), _) => step.status,
            };
            self.observer.step_finished(step);
        }
        self.current = None;
        self.write_progress()?;
        match result {
            Err(err) if interrupted && !err.is_interrupted() => {
                tracing::debug!(error = %err, "the step failed after the interrupt");
                Err(Error::Interrupted { step: name.into() })
            }
            other => other,
        }
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
            step.status = StepStatus::Reused;
        }
    }

    /// Set the current step's log file.
    pub fn set_log(&mut self, log: Option<PathBuf>) {
        if let Some(step) = self.record.steps.last_mut() {
            step.log = log;
        }
    }

    /// A note on the current step (told to the observer, kept in the record).
    pub fn step_note(&mut self, note: impl Into<String>) {
        let note = note.into();
        let step = self.current.clone().unwrap_or_default();
        self.observer.step_note(&step, &note);
        if let Some(step) = self.record.steps.last_mut() {
            step.notes.push(note);
        }
    }

    /// A note for the whole run (in the summary).
    pub fn note(&mut self, note: impl Into<String>) {
        self.record.notes.push(note.into());
    }

    /// Keep the short verification report for the summary.
    pub fn set_verification_text(&mut self, text: String) {
        self.verification_text = Some(text);
    }

    /// The short verification report set so far, if any.
    pub fn verification_text(&self) -> Option<&str> {
        self.verification_text.as_deref()
    }

    /// A line callback for make and configure that feeds the observer.
    pub fn line_callback(&self) -> impl Fn(&kforge_kbuild::Line<'_>) + Send + Sync + 'static {
        let observer = Arc::clone(&self.observer);
        move |line| observer.line(line)
    }

    /// Put a make invocation under the run: its log in the run's logs (`<label>.log` unless
    /// one is set), the interrupt flag, the observer's line callback and `-j`. Tells the
    /// observer a command starts. The compiler wrapper is [`Run::wrap_make`]'s business.
    pub fn supervise_make(&self, make: &mut Make, label: &str) {
        make.interrupt(Arc::clone(&self.interrupt))
            .on_line(self.line_callback());
        if make.get_log_file().is_none() {
            make.log_file(self.logs.join(format!("{}.log", file_label(label))));
        }
        if let Some(jobs) = self.options.jobs {
            make.jobs(jobs);
        }
        self.observer.command_started(label);
    }

    /// Put the run's compiler wrapper (if any) in front of a make invocation's `CC` and
    /// `HOSTCC`, with its environment, the `-j` its slots allow and its counters.
    pub fn wrap_make(&self, make: &mut Make) {
        if let Some(wrapper) = &self.record.wrapper {
            make.vars(wrapper.make_vars(&Toolchain::default()));
            for (k, v) in wrapper.env() {
                make.env(k, v);
            }
            if self.options.jobs.is_none()
                && let Some(jobs) = wrapper.suggested_jobs()
            {
                make.jobs(jobs);
            }
            make.cache_stats(cache_tool(wrapper.kind));
            for (key, value) in self.cache_base_dir() {
                make.env(key, value);
            }
        }
    }

    /// Reproducible settings for a make outside the kernel's kbuild (Xen): `SOURCE_DATE_EPOCH`
    /// and the build identity Xen's Makefiles read (`XEN_BUILD_DATE`, `XEN_BUILD_TIME`,
    /// `XEN_BUILD_HOST`, `XEN_WHOAMI`, `XEN_DOMAIN`). Nothing when the run opted out.
    pub fn reproducible_make(&self, make: &mut Make) {
        let Some(identity) = self.repro_identity() else {
            return;
        };
        let epoch = identity.source_date_epoch.unwrap_or(0);
        let time = crate::repro::timestamp_text(epoch);
        let clock = time
            .split_whitespace()
            .nth(3)
            .unwrap_or("00:00:00")
            .to_string();
        for (key, value) in [
            ("SOURCE_DATE_EPOCH", epoch.to_string()),
            ("XEN_BUILD_DATE", time),
            ("XEN_BUILD_TIME", clock),
            ("XEN_BUILD_HOST", identity.host.clone()),
            ("XEN_WHOAMI", identity.user.clone()),
            ("XEN_DOMAIN", "localdomain".to_string()),
        ] {
            make.env(key, value);
        }
    }

    /// With ccache in reproducible mode: `CCACHE_BASEDIR` set to the output directory, so the
    /// absolute source and build paths of a run (both under it) are hashed relative to the
    /// working directory, and a run into another output directory of the same layout hits;
    /// `CCACHE_NOHASHDIR=1` (ccache's `hash_dir = false`, see [`CCACHE_NO_HASH_DIR`]) and
    /// `-Wp,-MT,*` in `CCACHE_IGNOREOPTIONS` (see [`ccache_ignore_options`]).
    fn cache_base_dir(&self) -> Vec<(&'static str, String)> {
        match &self.record.wrapper {
            Some(w) if w.kind == WrapperKind::Ccache && self.record.reproducible => {
                ccache_reproducible_env(&self.out).to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// The same for a kernel tree: logs, interrupt, lines, `-j`, the wrapper, and reproducible
    /// mode when the run asks for it.
    pub fn supervise_tree(&self, tree: &mut KernelTree) {
        tree.log_dir(&self.logs)
            .interrupt(Arc::clone(&self.interrupt))
            .on_line(self.line_callback());
        if let Some(jobs) = self.options.jobs {
            tree.jobs(jobs);
        }
        if let Some(wrapper) = &self.record.wrapper {
            tree.vars(wrapper.make_vars(&Toolchain::default()));
            for (k, v) in wrapper.env() {
                tree.env(k, v);
            }
            if self.options.jobs.is_none()
                && let Some(jobs) = wrapper.suggested_jobs()
            {
                tree.jobs(jobs);
            }
            tree.cache_stats(cache_tool(wrapper.kind));
            for (key, value) in self.cache_base_dir() {
                tree.env(key, value);
            }
        }
        if let Some(identity) = self.repro_identity() {
            tree.reproducible(identity);
        }
    }

    /// The fixed build identity of a reproducible run (`None` when the run opted out).
    pub fn repro_identity(&self) -> Option<Reproducible> {
        Some(self.record.repro.settings.as_ref()?.identity())
    }

    /// Take the date of a fetched tree for the reproducible settings: the newest date of
    /// the sources fetched before the first make or configure run was recorded
    /// ([`Run::record_outcome`]), so every build step of a run has the same date (see
    /// [`SourceDate::of_tree`]).
    pub fn note_source_date(&mut self, tree: impl AsRef<Path>) {
        if !self.record.reproducible || self.repro_frozen.load(Ordering::SeqCst) {
            return;
        }
        let Some(date) = SourceDate::of_tree(tree) else {
            return;
        };
        if self
            .source_date
            .as_ref()
            .is_none_or(|current| date.epoch > current.epoch)
        {
            self.record.repro.settings = Some(ReproSettings::new(Some(&date)));
            self.source_date = Some(date);
        }
    }

    /// The reproducibility check: `rebuild` builds the final step again into `second` (a
    /// build directory whose path has another length than `first`'s), later than the first
    /// build and with the environment changes it is given (another user name in `USER` and
    /// `LOGNAME`); then the artifacts `names` (paths relative to each build directory) are
    /// compared by sha256 and, where they differ, their causes named. `shared` lists
    /// directories both builds used (the source tree). The result goes to `build.json`
    /// (`repro.check`), a note on the step, and the summary.
    pub fn repro_check(
        &mut self,
        first: &Path,
        second: &Path,
        names: &[PathBuf],
        shared: &[PathBuf],
        rebuild: impl FnOnce(&mut Run, &[(String, String)]) -> Result<(), Error>,
    ) -> Result<crate::repro::ReproCheck, Error> {
        use crate::repro::{CheckBuild, Hints, ReproCheck, compare_dirs};
        let start = Instant::now();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        if first.to_string_lossy().len() == second.to_string_lossy().len() {
            return Err(Error::refused(format!(
                "the reproducibility check needs build directories whose paths differ in length: \
                 {} and {}",
                first.display(),
                second.display()
            )));
        }
        if second.exists() {
            // Only a directory this check made earlier: never a directory of the main build.
            std::fs::remove_dir_all(second)
                .map_err(|e| Error::io("remove the earlier check's build directory", second, e))?;
        }
        std::fs::create_dir_all(second)
            .map_err(|e| Error::io("create the directory", second, e))?;
        let user = std::env::var("USER").ok();
        let started = now();
        let env = vec![
            ("USER".to_string(), CHECK_USER.to_string()),
            ("LOGNAME".to_string(), CHECK_USER.to_string()),
        ];
        rebuild(self, &env)?;
        let rebuilt_ms = millis(start.elapsed());
        let path_list = |dir: &Path| -> Vec<String> {
            std::iter::once(dir)
                .chain(shared.iter().map(PathBuf::as_path))
                .map(|p| p.to_string_lossy().trim_end_matches('/').to_string())
                .collect()
        };
        let hints = Hints {
            paths: [path_list(first), path_list(second)],
            users: [user.clone(), Some(CHECK_USER.to_string())],
            random_seeds: self
                .record
                .repro
                .config
                .iter()
                .filter(|f| !f.handled && f.symbol.contains("RANDSTRUCT"))
                .map(|f| f.symbol.clone())
                .collect(),
        };
        let artifacts = compare_dirs([first, second], names, &hints)
            .map_err(|e| Error::io("compare the artifacts under", second, e))?;
        let check = ReproCheck {
            identical: !artifacts.is_empty() && artifacts.iter().all(|a| a.comparison.identical),
            builds: vec![
                CheckBuild {
                    dir: first.to_path_buf(),
                    user,
                    started_unix: self.record.started_unix,
                    duration_ms: 0,
                },
                CheckBuild {
                    dir: second.to_path_buf(),
                    user: Some(CHECK_USER.to_string()),
                    started_unix: started,
                    duration_ms: rebuilt_ms,
                },
            ],
            artifacts,
            duration_ms: millis(start.elapsed()),
        };
        self.step_note(check.to_string().trim_end().to_string());
        self.record.repro.check = Some(check.clone());
        Ok(check)
    }

    /// Tell the observer a long command starts (its lines follow).
    pub fn command_started(&self, label: &str) {
        self.observer.command_started(label);
    }

    /// Record a finished make or configure run on the current step: its log, its command line
    /// as it ran (directory and environment included), and the wrapper's counters.
    pub fn record_outcome(&mut self, outcome: &Outcome) {
        self.repro_frozen.store(true, Ordering::SeqCst);
        self.set_log(outcome.log_file.clone());
        self.set_commands(vec![reproduce::outcome_line(outcome)]);
        self.record_cache(outcome);
    }

    /// Record a make step's counters (a note on the step, and build.json's `cache`).
    pub fn record_cache(&mut self, outcome: &Outcome) {
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

    /// A fetcher with the run's cache, mirrors and offline mode, reporting progress to the
    /// observer under `label`.
    pub fn fetcher(&self, label: &str) -> Result<Fetcher, Error> {
        let observer = Arc::clone(&self.observer);
        let label_owned = label.to_string();
        let mut builder = Fetcher::builder()
            .offline(self.options.offline)
            .allow_unpinned(self.options.allow_unpinned)
            .progress(move |p| observer.progress(&label_owned, p));
        if let Some(cache) = &self.options.cache_dir {
            builder = builder.cache_dir(cache);
        }
        for mirror in &self.options.mirrors {
            builder = builder.mirror(mirror);
        }
        for ca in &self.options.ca_certs {
            builder = builder.ca_cert(ca);
        }
        builder.build().context("setting up the download cache")
    }

    /// Fetch an archive `url` (pinned by `sha256` unless unpinned fetches are allowed) into
    /// `dest`, dropping the archive's top directory and applying `patches` (`patch -p1`, in
    /// order) before the tree is published. A tree an earlier run of the same source left
    /// there is reused (its provenance is kept beside it in `<dest>.source.json`).
    pub fn fetch_archive(
        &mut self,
        role: &str,
        url: &str,
        sha256: Option<&str>,
        dest: impl AsRef<Path>,
        patches: &[PathBuf],
    ) -> Result<SourceRecord, Error> {
        let dest = dest.as_ref();
        let strip_components = 1;
        let pinned = match sha256 {
            Some(hex) => Some(
                hex.parse::<Sha256Digest>()
                    .with_context(|| format!("the {role} sha256 {hex:?}"))?,
            ),
            None => None,
        };
        if pinned.is_none() && !self.options.allow_unpinned {
            return Err(Error::refused(format!(
                "no sha256 pinned for the {role} archive {url}: pass --{role}-sha256 HEX, or \
                 --allow-unpinned to fetch it anyway and have its hash computed and reported"
            )));
        }
        let commands = |sha: Option<&str>, mirrors: &[String]| {
            reproduce::fetch_commands(&ArchiveFetch {
                url,
                mirrors,
                sha256: sha,
                strip_components,
                dest,
                patches,
            })
        };
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
            if let Some(previous) = Stamp::read(&stamp)
                && previous.url == url
                && (expected.is_none() || previous.sha256 == expected)
                && previous.patches == patches
            {
                let record = SourceRecord {
                    role: role.into(),
                    url: url.into(),
                    sha256: previous.sha256.clone(),
                    pinned: pinned.is_some(),
                    revision: None,
                    dest: dest.to_path_buf(),
                    reused: true,
                };
                self.mark_reused();
                self.step_note(format!(
                    "reusing {} (extracted by an earlier run from the same archive, sha256 {})",
                    dest.display(),
                    record.sha256.as_deref().unwrap_or("unknown")
                ));
                self.set_commands(commands(record.sha256.as_deref(), &previous.mirrors));
                self.record.sources.push(record.clone());
                self.note_source_date(dest);
                return Ok(record);
            }
            return Err(Error::refused(format!(
                "{} already exists and was not extracted from {url}{} by an earlier run; \
                 remove it or choose another output directory",
                dest.display(),
                expected
                    .map(|h| format!(" (sha256 {h})"))
                    .unwrap_or_default()
            )));
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create the directory", parent, e))?;
        }
        let source = match pinned {
            Some(digest) => Source::archive(url, digest),
            None => Source::unpinned_archive(url),
        }
        .with_strip_components(strip_components);
        let fetcher = self.fetcher(role)?;
        let patch_set = patches
            .iter()
            .fold(kforge_fetch::PatchSet::new(), |set, p| set.patch(p, 1));
        let fetched: Result<Fetched, _> =
            fetcher.fetch_patched(&source, dest, &patch_set, &self.interrupt);
        self.observer.progress_finished(role);
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
        Stamp {
            url: url.into(),
            sha256: hex.clone(),
            dest: dest.to_path_buf(),
            patches: patches.to_vec(),
            mirrors: self.options.mirrors.clone(),
        }
        .write(&stamp)?;
        for p in &fetched.patches {
            self.step_note(format!("applied {p}"));
        }
        self.set_commands(commands(hex.as_deref(), &self.options.mirrors.clone()));
        self.record.sources.push(record.clone());
        self.note_source_date(dest);
        Ok(record)
    }

    /// Finish: fill in the result, write `build.json`, `reproduce.sh` and `summary.txt`, and
    /// hand the summary to the observer. Returns the record when `result` is `Ok`, the error
    /// otherwise (an error writing the files wins only when the run itself succeeded).
    pub fn finish(&mut self, result: Result<(), Error>) -> Result<BuildRecord, Error> {
        if !self.interrupt.load(Ordering::SeqCst) {
            // Not after Ctrl-C: the user wants the program to end now.
            self.record.default_cc = kforge_toolchain::Compiler::identify("gcc")
                .ok()
                .map(|c| c.describe());
        }
        match &result {
            Ok(()) => self.record.result = RunResult::Pass,
            Err(err) => {
                self.record.result = if err.is_interrupted() {
                    RunResult::Interrupted
                } else {
                    RunResult::Fail
                };
                self.record.error = Some(error_chain(err));
            }
        }
        let written = self.write_progress().and_then(|()| {
            let summary = self.summary();
            let path = self.out.join("summary.txt");
            crate::write_atomic(&path, summary.as_bytes())
                .map_err(|e| Error::io("write", &path, e))?;
            self.observer.finished(&self.record, &summary);
            Ok(())
        });
        result?;
        written?;
        Ok(self.record.clone())
    }

    /// The summary text.
    pub fn summary(&self) -> String {
        Summary::to_string(
            &self
                .record
                .summary()
                .hint(self.hint.as_deref())
                .verification(self.verification_text.as_deref()),
        )
    }
}

/// The make or configure failure report inside `err`, if a make or configure run failed.
fn make_failure(err: &Error) -> Option<&kforge_kbuild::Failure> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = match err {
        Error::Operation { source, .. } | Error::Library(source) => Some(source.as_ref()),
        _ => None,
    };
    while let Some(e) = current {
        if let Some(f) = e
            .downcast_ref::<kforge_kbuild::make::Error>()
            .and_then(kforge_kbuild::make::Error::failure)
            .or_else(|| match e.downcast_ref::<kforge_kbuild::kernel::Error>() {
                Some(kforge_kbuild::kernel::Error::Make(m)) => m.failure(),
                _ => None,
            })
            .or_else(|| {
                e.downcast_ref::<kforge_kbuild::configure::Error>()
                    .and_then(kforge_kbuild::configure::Error::failure)
            })
        {
            return Some(f);
        }
        current = e.source();
    }
    None
}

/// An error and its causes on one line (`a: b: c`), for the record.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn file_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The wrapper the options ask for: found on PATH with its version (a plan only assumes it).
fn wrapper_for(options: &RunOptions) -> Result<Option<Wrapper>, Error> {
    let Some(w) = &options.wrapper else {
        return Ok(None);
    };
    let mut wrapper = if options.plan_only {
        Wrapper::assume(w.kind, w.kind.program())
    } else {
        Wrapper::find(w.kind)?
    };
    if let Some(hosts) = &w.distcc_hosts {
        wrapper = wrapper.with_distcc_hosts(hosts)?;
    }
    if let Some(scheduler) = &w.icecc_scheduler {
        wrapper = wrapper.with_icecc_scheduler(scheduler.clone())?;
    }
    if let Some(dir) = &w.cache_dir {
        wrapper = wrapper.with_cache_dir(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
    }
    wrapper.check()?;
    Ok(Some(wrapper))
}

/// Where an extracted tree's provenance is kept: beside it, never inside it.
fn stamp_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "source".into());
    name.push(".source.json");
    dest.with_file_name(name)
}

/// The provenance of an extracted tree, kept beside it so a later run can reuse it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamp {
    url: String,
    sha256: Option<String>,
    dest: PathBuf,
    #[serde(default)]
    patches: Vec<PathBuf>,
    #[serde(default)]
    mirrors: Vec<String>,
}

impl Stamp {
    fn read(path: &Path) -> Option<Stamp> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_string_pretty(self).context("encoding the source stamp")?;
        crate::write_atomic(path, json.as_bytes()).map_err(|e| Error::io("write", path, e))
    }
}
