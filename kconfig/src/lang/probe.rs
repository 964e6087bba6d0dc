//! `$(shell,…)` probes: run with the environment the kernel's Makefile gives `conf`, cached on
//! disk across runs, and prefetched on threads.
//!
//! A probe is keyed by its command string and the identity (path, size, modification time) of
//! every program and file it names: each word containing a `/` that is an existing file, and
//! every other word looked up on the `PATH` of the environment (found or not, so installing a
//! compiler later changes the key). A warm run, where every key is in the cache, forks nothing.
//! The cache also remembers, per environment, the commands of the previous run; the next run
//! starts those whose results are not cached on threads before the parser asks for them, so a
//! cold run with a changed compiler runs its probes in parallel. Every call is recorded in a
//! [`ProbeRecord`] saying whether it ran or came from the cache.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long one `$(shell,…)` command may run (compiler probes take milliseconds).
const PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::preprocess::{MacroPos, ShellRunner};

/// How probes run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// Directory of the probe cache (created if missing); `None` runs every probe.
    pub cache_dir: Option<PathBuf>,
    /// Working directory of the commands (the kernel runs them in the build directory; some
    /// create temporary directories there). `None`: a private temporary directory.
    pub workdir: Option<PathBuf>,
    /// Threads running probes ahead of the parser; 0 means one more than there are CPUs.
    pub threads: usize,
    /// Also keep the parsed and finalized tree in `cache_dir`, and use it while nothing it
    /// was read with has changed (see [`Kconfig::load`](super::Kconfig::load)).
    pub parsed_tree_cache: bool,
}

impl ProbeOptions {
    /// Options with a cache directory.
    pub fn with_cache(cache_dir: impl AsRef<Path>) -> Self {
        ProbeOptions {
            cache_dir: Some(cache_dir.as_ref().to_path_buf()),
            ..Default::default()
        }
    }
}

/// Where a probe's result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSource {
    /// Run when the parser asked for it.
    Ran,
    /// Run ahead of time on a thread (the previous run used it too).
    Prefetched,
    /// Taken from the on-disk cache; nothing was run.
    Cache,
    /// The same command earlier in this run.
    Repeat,
}

/// The identity of a program or file a command names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramIdentity {
    /// The word in the command.
    pub word: String,
    /// Where it was found (`None`: not found on `PATH`).
    pub path: Option<PathBuf>,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// One `$(shell,…)` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// The command, as given to `/bin/sh -c`.
    pub command: String,
    /// Its standard output, as the kernel uses it (trailing newlines removed, other newlines
    /// as spaces, at most 4095 bytes).
    pub output: String,
    /// Exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    /// Where the result came from.
    pub source: ProbeSource,
    /// The Kconfig file that asked for it.
    pub file: String,
    /// The line.
    pub line: u32,
    /// Time taken in microseconds (waiting for it, for a prefetched one).
    pub micros: u64,
    /// The programs and files the command names, as used in the cache key.
    pub programs: Vec<ProgramIdentity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    command: String,
    output: Vec<u8>,
    status: Option<i32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, Entry>,
    /// Commands of the last run, by environment key.
    last_runs: BTreeMap<String, Vec<String>>,
}

const CACHE_FILE: &str = "kconfig-probes-v1.json";
const MAX_ENTRIES: usize = 4096;

enum Slot {
    Pending,
    Done(Result<Entry, String>),
}

struct Shared {
    env: BTreeMap<String, String>,
    workdir: Mutex<Option<(PathBuf, Option<tempfile::TempDir>)>>,
    opts: ProbeOptions,
    state: Mutex<State>,
    ready: Condvar,
    /// Set when the load is over: a speculative pass still going stops.
    stop: Arc<AtomicBool>,
    /// Starts the speculative pass (see [`Prober::speculate_on_first_miss`]); taken once.
    on_first_miss: Mutex<Option<SpeculationStart>>,
    /// The speculative pass's thread, joined before the load returns.
    speculation: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Starts a speculative pass on a thread (given the flag that stops it).
pub type SpeculationStart =
    Box<dyn FnOnce(Arc<AtomicBool>) -> Option<std::thread::JoinHandle<()>> + Send>;

#[derive(Default)]
struct State {
    cache: CacheFile,
    dirty: bool,
    /// Results of this run by key (prefetched or run).
    slots: HashMap<String, Slot>,
    used: Vec<String>,
    used_keys: Vec<String>,
    records: Vec<ProbeRecord>,
    identities: HashMap<String, ProgramIdentity>,
    /// Commands waiting for a worker thread (key, command), first needed first.
    queue: std::collections::VecDeque<(String, String)>,
    /// Worker threads running.
    workers: usize,
}

/// Shared access to the records and the cache of a [`Prober`] after it was handed to the
/// parser.
#[derive(Clone)]
pub struct ProbeHandle(Arc<Shared>);

impl std::fmt::Debug for ProbeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeHandle").finish_non_exhaustive()
    }
}

impl ProbeHandle {
    /// Drops the commands still queued (started ahead and not needed after all) and waits for
    /// the running ones: no probe outlives the load.
    pub fn finish_workers(&self) {
        {
            // Under the lock: a speculative pass between its check of `stop` and its wait
            // cannot miss the wake-up.
            let _st = self.0.lock();
            self.0.stop.store(true, Ordering::Relaxed);
        }
        self.0.ready.notify_all();
        let pass = self
            .0
            .speculation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(pass) = pass {
            let _ = pass.join();
        }
        let mut st = self.0.lock();
        st.queue.clear();
        while st.workers > 0 {
            st = self.0.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Writes the cache (if it changed) and returns the records of every call so far.
    pub fn take(&self) -> Vec<ProbeRecord> {
        self.finish_workers();
        let _ = self.0.save();
        std::mem::take(&mut self.0.lock().records)
    }
}

/// The `$(shell,…)` runner used by [`parse`](super::parser::parse).
pub struct Prober<'a> {
    shared: Arc<Shared>,
    interrupt: Option<&'a AtomicBool>,
    context: String,
}

impl std::fmt::Debug for Prober<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn workdir(&self) -> Result<PathBuf, String> {
        let mut w = self.workdir.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, _)) = &*w {
            return Ok(p.clone());
        }
        let (p, t) = match &self.opts.workdir {
            Some(p) => (p.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kforge-kconfig-probe")
                    .tempdir()
                    .map_err(|e| {
                        format!("cannot create a working directory for $(shell,…): {e}")
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        *w = Some((p.clone(), t));
        Ok(p)
    }

    fn cache_path(&self) -> Option<PathBuf> {
        self.opts.cache_dir.as_ref().map(|d| d.join(CACHE_FILE))
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = self.cache_path() else {
            return Ok(());
        };
        let mut st = self.lock();
        if !st.dirty {
            return Ok(());
        }
        if st.cache.entries.len() > MAX_ENTRIES {
            let keep: std::collections::HashSet<String> = st.used_keys.iter().cloned().collect();
            st.cache.entries.retain(|k, _| keep.contains(k));
        }
        st.cache.version = 1;
        let json = serde_json::to_vec(&st.cache).map_err(std::io::Error::other)?;
        st.dirty = false;
        drop(st);
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        crate::write_atomic(&path, &json)
    }

    /// Runs `/bin/sh -c command` with the environment, in the working directory.
    fn execute(&self, command: &str) -> Result<Entry, String> {
        let dir = self.workdir()?;
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c")
            .arg(command)
            .env_clear()
            .envs(&self.env)
            .current_dir(&dir);
        // Under the one supervisor: own process group, a deadline, nothing left running.
        let out = kforge_process::run(
            &mut sh,
            &kforge_process::Options::new().timeout(PROBE_DEADLINE),
        )
        .map_err(|e| format!("$(shell,{command}): {}", error_chain(&e)))?;
        Ok(Entry {
            command: command.to_owned(),
            output: out.stdout,
            status: out.status.code(),
        })
    }

    fn identity(&self, word: &str) -> Option<ProgramIdentity> {
        if let Some(id) = self.lock().identities.get(word) {
            return Some(id.clone());
        }
        let path_var = self.env.get("PATH").map_or("", String::as_str);
        let id = find_identity(word, path_var, self.opts.workdir.as_deref())?;
        self.lock().identities.insert(word.to_owned(), id.clone());
        Some(id)
    }

    /// The programs and files `command` names.
    fn identities(&self, command: &str) -> Vec<ProgramIdentity> {
        identities_of(command, |word| self.identity(word))
    }

    fn key(command: &str, ids: &[ProgramIdentity]) -> String {
        let mut h = Sha256::new();
        h.update(command.as_bytes());
        for id in ids {
            h.update([0]);
            h.update(id.word.as_bytes());
            h.update([1]);
            if let Some(p) = &id.path {
                h.update(p.as_os_str().as_encoded_bytes());
            }
            h.update(format!("\x02{}\x03{}", id.size, id.mtime_ns).as_bytes());
        }
        hex(h.finalize())
    }
}

/// The identity of the program or file `word` names: a path (absolute, or relative to
/// `workdir`), else a name looked up on `path_var`. `None` for words that are no file
/// (`/dev/…`, `/proc/…`, a relative path without a working directory).
fn find_identity(word: &str, path_var: &str, workdir: Option<&Path>) -> Option<ProgramIdentity> {
    let found = if word.contains('/') {
        if word.starts_with("/dev/") || word.starts_with("/proc/") {
            return None;
        }
        let p = Path::new(word);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            match workdir {
                Some(w) => w.join(p),
                None => return None,
            }
        };
        match std::fs::metadata(&p) {
            Ok(md) if md.is_file() => Some((p, md)),
            _ => return None,
        }
    } else {
        path_var.split(':').filter(|d| !d.is_empty()).find_map(|d| {
            let p = Path::new(d).join(word);
            std::fs::metadata(&p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (p, m))
        })
    };
    let id = match found {
        Some((p, md)) => ProgramIdentity {
            word: word.to_owned(),
            path: Some(p),
            size: md.len(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
        },
        None => ProgramIdentity {
            word: word.to_owned(),
            path: None,
            size: 0,
            mtime_ns: 0,
        },
    };
    Some(id)
}

/// Looks up the programs and files probe commands name, as a probe's cache key uses them
/// (each command run with `env`'s `PATH` in `workdir`), each word once.
pub(crate) struct IdentityLookup<'a> {
    path_var: &'a str,
    workdir: Option<&'a Path>,
    seen: HashMap<String, Option<ProgramIdentity>>,
}

impl<'a> IdentityLookup<'a> {
    /// Lookups on `env`'s `PATH`, relative paths in `workdir`.
    pub(crate) fn new(env: &'a BTreeMap<String, String>, workdir: Option<&'a Path>) -> Self {
        IdentityLookup {
            path_var: env.get("PATH").map_or("", String::as_str),
            workdir,
            seen: HashMap::new(),
        }
    }

    /// The identities of the programs and files `command` names.
    pub(crate) fn command_identities(&mut self, command: &str) -> Vec<ProgramIdentity> {
        identities_of(command, |w| {
            if let Some(id) = self.seen.get(w) {
                return id.clone();
            }
            let id = find_identity(w, self.path_var, self.workdir);
            self.seen.insert(w.to_owned(), id.clone());
            id
        })
    }
}

/// The identities of the programs and files `command` names, in order, each word once:
/// what a probe's cache key is made of (`identity` looks one word up).
fn identities_of(
    command: &str,
    identity: impl FnMut(&str) -> Option<ProgramIdentity>,
) -> Vec<ProgramIdentity> {
    let mut seen = std::collections::HashSet::new();
    command_words(command)
        .filter(|w| seen.insert(*w))
        .filter_map(identity)
        .collect()
}

const SHELL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "do", "done", "while", "case", "esac", "in", "echo",
    "test", "set", "printf", "trap", "command", "true", "false", "exit", "cd", "export", "read",
    "shift", "return", "local", "eval", "exec", "EXIT", "y", "n",
];

/// Words of a shell command that could name a program or a file.
fn command_words(command: &str) -> impl Iterator<Item = &str> {
    command
        .split(|c: char| c.is_whitespace() || "|&;(){}<>\"'`=,".contains(c))
        .filter(|w| !w.is_empty() && !w.starts_with('-') && !w.contains('$'))
        .filter(|w| {
            w.contains('/')
                || (w
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
                    && w.bytes().any(|b| b.is_ascii_alphabetic())
                    && !SHELL_WORDS.contains(w))
        })
}

impl<'a> Prober<'a> {
    /// A runner using `env` as the complete environment of every command. Loads the cache and
    /// starts prefetching the previous run's uncached commands.
    pub fn new(
        opts: ProbeOptions,
        env: &BTreeMap<String, String>,
        interrupt: Option<&'a AtomicBool>,
    ) -> Self {
        let mut ctx = Sha256::new();
        for (k, v) in env {
            ctx.update(k.as_bytes());
            ctx.update([0]);
            ctx.update(v.as_bytes());
            ctx.update([1]);
        }
        if let Some(w) = &opts.workdir {
            ctx.update(w.as_os_str().as_encoded_bytes());
        }
        let context = hex(ctx.finalize());
        let cache = opts
            .cache_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(CACHE_FILE)).ok())
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|c| c.version == 1)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            env: env.clone(),
            workdir: Mutex::new(None),
            opts,
            state: Mutex::new(State {
                cache,
                ..Default::default()
            }),
            ready: Condvar::new(),
            stop: Arc::new(AtomicBool::new(false)),
            on_first_miss: Mutex::new(None),
            speculation: Mutex::new(None),
        });
        let p = Prober {
            shared,
            interrupt,
            context,
        };
        p.prefetch();
        p
    }

    /// A handle to the records and the cache.
    pub fn records_handle(&self) -> ProbeHandle {
        ProbeHandle(self.shared.clone())
    }

    fn prefetch(&self) {
        let previous = self
            .shared
            .lock()
            .cache
            .last_runs
            .get(&self.context)
            .cloned()
            .unwrap_or_default();
        let mut todo = Vec::new();
        for cmd in previous {
            let ids = self.shared.identities(&cmd);
            let key = Shared::key(&cmd, &ids);
            let mut st = self.shared.lock();
            if st.cache.entries.contains_key(&key) || st.slots.contains_key(&key) {
                continue;
            }
            st.slots.insert(key.clone(), Slot::Pending);
            todo.push((key, cmd));
        }
        if todo.is_empty() {
            return;
        }
        Shared::submit(&self.shared, todo);
    }

    /// Whether commands of a previous run with this environment are known (and were started
    /// ahead if their results are not cached).
    pub fn knows_previous_run(&self) -> bool {
        self.shared
            .lock()
            .cache
            .last_runs
            .contains_key(&self.context)
    }

    /// Arranges for `start` to be called the first time a command is neither cached nor
    /// started ahead (a first run, or a changed compiler with no list of the previous run's
    /// commands): it should start a speculative pass over the tree on a thread with
    /// [`Prober::speculator`], stopping when the flag it is given is set. The pass is stopped
    /// and joined when the records are taken ([`ProbeHandle::take`]).
    pub fn speculate_on_first_miss(&self, start: SpeculationStart) {
        *self
            .shared
            .on_first_miss
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(start);
    }

    /// A runner for a speculative pass over the tree: every command it is asked for is
    /// started on a worker thread and answered at once with its result when that is known,
    /// else with a guess (`n`), so that the pass finds the next commands without waiting.
    /// Commands whose output is kept in a variable (`:=`) are waited for, because later
    /// commands are built from them. Nothing is recorded; a guess may lead the pass to
    /// commands the real pass never runs (their results are unused).
    pub fn speculator(&self) -> Speculator {
        Speculator {
            shared: self.shared.clone(),
            keep: 0,
        }
    }
}

/// The runner of [`Prober::speculator`].
pub struct Speculator {
    shared: Arc<Shared>,
    keep: u32,
}

impl std::fmt::Debug for Speculator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speculator").finish_non_exhaustive()
    }
}

impl ShellRunner for Speculator {
    fn run(&mut self, command: &str, _pos: MacroPos<'_>) -> Result<Vec<u8>, String> {
        let sh = &self.shared;
        let ids = sh.identities(command);
        let key = Shared::key(command, &ids);
        let mut st = sh.lock();
        if let Some(e) = st.cache.entries.get(&key) {
            return Ok(e.output.clone());
        }
        if !st.slots.contains_key(&key) {
            st.slots.insert(key.clone(), Slot::Pending);
            drop(st);
            Shared::submit(sh, vec![(key.clone(), command.to_owned())]);
            st = sh.lock();
        }
        loop {
            match st.slots.get(&key) {
                Some(Slot::Done(Ok(e))) => return Ok(e.output.clone()),
                Some(Slot::Done(Err(e))) => return Err(e.clone()),
                Some(Slot::Pending) if self.keep > 0 => {
                    if sh.stop.load(Ordering::Relaxed) {
                        return Err("stopped".to_owned());
                    }
                    st = sh.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                _ => return Ok(b"n".to_vec()),
            }
        }
    }

    fn value_kept(&mut self, kept: bool) {
        if kept {
            self.keep += 1;
        } else {
            self.keep = self.keep.saturating_sub(1);
        }
    }
}

impl Shared {
    /// Queues commands for the worker threads, starting workers up to the limit. The default
    /// is one more than there are CPUs: the parser threads need CPU too (they are what the
    /// load waits for), and on 2 CPUs a cold x86 load took 1,218 ms (median of 6) with 3
    /// workers against 1,248 ms with 8.
    fn submit(shared: &Arc<Shared>, jobs: Vec<(String, String)>) {
        if jobs.is_empty() {
            return;
        }
        let limit = match shared.opts.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
            n => n,
        };
        let mut st = shared.lock();
        st.queue.extend(jobs);
        let want = limit.min(st.workers + st.queue.len());
        while st.workers < want {
            let worker = shared.clone();
            let started = std::thread::Builder::new()
                .name("kconfig-probe".into())
                .spawn(move || worker.work());
            if started.is_err() {
                break;
            }
            st.workers += 1;
        }
        if st.workers == 0 {
            // No thread could be started: run the queue here.
            drop(st);
            shared.work_inline();
        }
    }

    /// A worker: runs queued commands until the queue is empty.
    fn work(&self) {
        loop {
            let mut st = self.lock();
            let Some((key, cmd)) = st.queue.pop_front() else {
                st.workers -= 1;
                drop(st);
                self.ready.notify_all();
                return;
            };
            drop(st);
            let res = self.execute(&cmd);
            self.lock().slots.insert(key, Slot::Done(res));
            self.ready.notify_all();
        }
    }

    fn work_inline(&self) {
        loop {
            let Some((key, cmd)) = self.lock().queue.pop_front() else {
                return;
            };
            let res = self.execute(&cmd);
            self.lock().slots.insert(key, Slot::Done(res));
            self.ready.notify_all();
        }
    }
}

impl ShellRunner for Prober<'_> {
    fn run(&mut self, command: &str, pos: MacroPos<'_>) -> Result<Vec<u8>, String> {
        if self.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Err("interrupted".to_owned());
        }
        let start = Instant::now();
        let sh = &*self.shared;
        let programs = sh.identities(command);
        let key = Shared::key(command, &programs);
        let mut st = sh.lock();
        let repeat = st.used_keys.contains(&key);
        // A prefetched (or earlier) result of this run, waiting for it if it is running.
        let mut source = None;
        let mut result = None;
        loop {
            match st.slots.get(&key) {
                Some(Slot::Pending) => {
                    st = sh.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                Some(Slot::Done(r)) => {
                    source = Some(if repeat {
                        ProbeSource::Repeat
                    } else {
                        ProbeSource::Prefetched
                    });
                    result = Some(r.clone());
                    break;
                }
                None => break,
            }
        }
        if result.is_none()
            && let Some(e) = st.cache.entries.get(&key)
        {
            source = Some(if repeat {
                ProbeSource::Repeat
            } else {
                ProbeSource::Cache
            });
            result = Some(Ok(e.clone()));
        }
        let (entry, source) = match result {
            Some(r) => (r?, source.unwrap_or(ProbeSource::Cache)),
            None => {
                // Marked as running, so that a speculative pass does not start it again.
                st.slots.insert(key.clone(), Slot::Pending);
                drop(st);
                let start = sh
                    .on_first_miss
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(start) = start
                    && let Some(pass) = start(sh.stop.clone())
                {
                    *sh.speculation.lock().unwrap_or_else(|e| e.into_inner()) = Some(pass);
                }
                let res = sh.execute(command);
                st = sh.lock();
                st.slots.insert(key.clone(), Slot::Done(res.clone()));
                drop(st);
                sh.ready.notify_all();
                let e = res?;
                st = sh.lock();
                (e, ProbeSource::Ran)
            }
        };
        if !st.cache.entries.contains_key(&key) {
            st.cache.entries.insert(key.clone(), entry.clone());
            st.dirty = true;
        }
        if !repeat {
            st.used_keys.push(key);
            st.used.push(command.to_owned());
        }
        let output = super::preprocess::shell_output(entry.output.clone());
        st.records.push(ProbeRecord {
            command: command.to_owned(),
            output: String::from_utf8_lossy(&output).into_owned(),
            status: entry.status,
            source,
            file: pos.file.to_owned(),
            line: pos.line,
            micros: start.elapsed().as_micros() as u64,
            programs,
        });
        let used = st.used.clone();
        if st.cache.last_runs.get(&self.context) != Some(&used) {
            st.cache.last_runs.insert(self.context.clone(), used);
            st.dirty = true;
        }
        Ok(entry.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        let mut e = BTreeMap::new();
        e.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
        e.insert("GREETING".to_owned(), "hello".to_owned());
        e
    }

    const POS: MacroPos<'static> = MacroPos {
        file: "Kconfig",
        line: 3,
    };

    #[test]
    fn runs_with_the_given_environment_and_caches_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("probe.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"$GREETING from script\"\n").unwrap();
        let cmd = format!("sh {} && echo second", script.display());
        let opts = ProbeOptions::with_cache(dir.path().join("cache"));
        let env = env();

        let mut p = Prober::new(opts.clone(), &env, None);
        let h = p.records_handle();
        assert_eq!(p.run(&cmd, POS).unwrap(), b"hello from script\nsecond\n");
        assert_eq!(p.run(&cmd, POS).unwrap(), b"hello from script\nsecond\n");
        let recs = h.take();
        assert_eq!(recs[0].source, ProbeSource::Ran);
        assert_eq!(recs[0].output, "hello from script second");
        assert_eq!(recs[1].source, ProbeSource::Repeat);
        assert!(
            recs[0]
                .programs
                .iter()
                .any(|id| id.path.as_deref() == Some(script.as_path()))
        );

        // Warm: from the cache, nothing runs.
        let mut p = Prober::new(opts.clone(), &env, None);
        let h = p.records_handle();
        assert_eq!(p.run(&cmd, POS).unwrap(), b"hello from script\nsecond\n");
        assert_eq!(h.take()[0].source, ProbeSource::Cache);

        // Changing the script (size and mtime) changes the key: the previous run's command is
        // prefetched on a thread.
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"$GREETING from the new script\"\n",
        )
        .unwrap();
        let mut p = Prober::new(opts, &env, None);
        let h = p.records_handle();
        assert_eq!(
            p.run(&cmd, POS).unwrap(),
            b"hello from the new script\nsecond\n"
        );
        assert_eq!(h.take()[0].source, ProbeSource::Prefetched);
    }

    #[test]
    fn words_that_name_programs() {
        let w: Vec<_> = command_words("{ gcc -Werror -c -x c /dev/null -o .tmp_$$/tmp.o; } >/dev/null 2>&1 && echo \"y\" || echo \"n\"").collect();
        assert_eq!(w, ["gcc", "c", "/dev/null", "/dev/null"]);
    }
}
