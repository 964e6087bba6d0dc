//! Finding every C compiler on a search path and identifying them concurrently.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::compiler::{Compiler, DEFAULT_TIMEOUT};
use crate::family::Family;
use crate::identify::{self, Identity};

/// What a file name on `PATH` says about the compiler behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameClass {
    /// Lower is a better name to invoke the compiler by.
    pub(crate) rank: u8,
    /// `gcc`/`clang` when the name says so (`cc` says nothing).
    pub(crate) family: Option<Family>,
    /// `x86_64-linux-gnu-` for `x86_64-linux-gnu-gcc-12`.
    pub(crate) cross_prefix: Option<String>,
}

fn is_version_suffix(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_triple_prefix(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 2
        && parts[0].starts_with(|c: char| c.is_ascii_alphabetic())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        })
}

/// Classify a file name: `cc`, `gcc`, `gcc-N[.M]`, `clang`, `clang-N[.M]`, `<triple>-gcc[-N]`,
/// `<triple>-clang[-N]`. Everything else (`gcc-ar-12`, `clang-cpp-14`, `c99-gcc`, `clang++`) is
/// not a C compiler driver.
pub(crate) fn classify_name(name: &str) -> Option<NameClass> {
    if name == "cc" {
        return Some(NameClass {
            rank: 4,
            family: None,
            cross_prefix: None,
        });
    }
    for family in [Family::Gcc, Family::Clang] {
        let driver = family.driver_name();
        // Split `[<triple>-]driver[-version]`.
        let Some(pos) = find_driver(name, driver) else {
            continue;
        };
        let (prefix, rest) = name.split_at(pos);
        let suffix = &rest[driver.len()..];
        let versioned = match suffix {
            "" => false,
            s => match s.strip_prefix('-') {
                Some(v) if is_version_suffix(v) => true,
                _ => continue,
            },
        };
        let cross_prefix = match prefix {
            "" => None,
            p => match p.strip_suffix('-') {
                Some(t) if is_triple_prefix(t) => Some(p.to_string()),
                _ => continue,
            },
        };
        let rank = match (cross_prefix.is_some(), versioned) {
            (false, true) => 0,
            (false, false) => 1,
            (true, true) => 2,
            (true, false) => 3,
        };
        return Some(NameClass {
            rank,
            family: Some(family),
            cross_prefix,
        });
    }
    None
}

/// Where `driver` starts in `name` as a whole word (`gcc` in `x86_64-linux-gnu-gcc-12`).
fn find_driver(name: &str, driver: &str) -> Option<usize> {
    name.match_indices(driver)
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || name.as_bytes()[i - 1] == b'-')
        .filter(|&i| {
            let end = i + driver.len();
            end == name.len() || name.as_bytes()[end] == b'-'
        })
        .last()
}

/// Whether `path` is a regular file (after following symlinks) with an execute bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program on `PATH` with a compiler's name that could not be identified: a dangling symlink,
/// a wrapper that fails, a binary for another machine. Reported, never fatal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrokenCompiler {
    /// The names it goes by on `PATH`.
    pub names: Vec<String>,
    /// The first `PATH` entry that leads to it.
    pub path: PathBuf,
    /// What went wrong.
    #[serde(serialize_with = "serialize_display")]
    pub error: identify::Error,
}

fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The result of a discovery: every compiler found, every broken one, and what was scanned.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Discovered {
    /// The identified compilers, sorted by family, then newest version first, then `PATH` order.
    pub compilers: Vec<Compiler>,
    /// Programs with a compiler's name that could not be identified.
    pub broken: Vec<BrokenCompiler>,
    /// The search path that was scanned.
    pub search_path: String,
    /// How many directory entries were looked at.
    pub entries_scanned: usize,
    /// How many binaries were identified from the process-wide cache instead of being run.
    pub cached: usize,
    /// Wall time of the discovery.
    #[serde(serialize_with = "serialize_duration")]
    pub elapsed: Duration,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Discovered {
    /// The compiler that `name` runs (`"gcc"`, `"cc"`, `"clang-14"`), if one was found.
    pub fn by_name(&self, name: &str) -> Option<&Compiler> {
        self.compilers
            .iter()
            .find(|c| c.names.iter().any(|n| n == name) || c.command == name)
    }
}

/// Why a discovery could not run at all (a broken compiler is not such a reason: see
/// [`Discovered::broken`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No search path was given and `PATH` is not set.
    #[error("PATH is not set and no search path was given: set PATH or call Discovery::path")]
    PathUnset,
    /// The caller raised the interrupt flag; running compilers were killed.
    #[error("compiler discovery interrupted")]
    Interrupted,
    /// A worker thread could not be started.
    #[error("could not start a compiler identification thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl Error {
    /// Whether discovery stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
    }
}

/// Identity cache key: the binary's inode and content stamp, so an upgraded compiler is re-run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    /// For a binary that is not itself named like a compiler (ccache, distcc), the name it is run
    /// by: such a wrapper picks the real compiler from `argv[0]`.
    dispatch_name: Option<String>,
}

impl FileKey {
    fn of(meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            dispatch_name: None,
        }
    }
}

fn cache() -> &'static Mutex<HashMap<FileKey, Identity>> {
    static CACHE: OnceLock<Mutex<HashMap<FileKey, Identity>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether the binary a name leads to is a wrapper that dispatches on `argv[0]` (ccache,
/// distcc): its own file name is not a compiler's.
fn is_wrapper(canonical_path: &Path) -> bool {
    canonical_path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| classify_name(n).is_none())
}

fn file_key(name: &str, meta: &std::fs::Metadata, canonical_path: &Path) -> FileKey {
    let mut key = FileKey::of(meta);
    if is_wrapper(canonical_path) {
        key.dispatch_name = Some(name.to_string());
    }
    key
}

/// Identify one program through the process-wide cache.
pub(crate) fn identify_cached(path: &Path, timeout: Duration) -> Result<Identity, identify::Error> {
    let key = std::fs::metadata(path).ok().map(|meta| {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        file_key(name, &meta, &canonical)
    });
    if let Some(key) = &key
        && let Some(hit) = cache().lock().ok().and_then(|c| c.get(key).cloned())
    {
        return Ok(hit);
    }
    let identity = identify::identify(path, timeout, None)?;
    if let Some(key) = key
        && let Ok(mut c) = cache().lock()
    {
        c.insert(key, identity.clone());
    }
    Ok(identity)
}

/// Finds and identifies the C compilers on a search path: a builder, like `cc::Build`.
///
/// Every directory of the search path is listed once; files named like a compiler driver
/// (`cc`, `gcc`, `gcc-N[.M]`, `clang`, `clang-N`, `<triple>-gcc[-N]`) are grouped by the binary
/// they lead to (symlinks and hard links are one compiler), and each distinct binary is identified
/// once, on a pool of threads, by its predefined macros and `-dumpmachine`. Identities are cached
/// for the life of the process, keyed by inode, size and mtime.
///
/// ```no_run
/// let found = kforge_toolchain::Discovery::new()
///     .path("/usr/local/bin:/usr/bin")
///     .threads(4)
///     .run()?;
/// for c in &found.compilers {
///     println!("{} {} {}", c.command, c.family, c.version);
/// }
/// # Ok::<(), kforge_toolchain::discover::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Discovery {
    path: Option<OsString>,
    threads: usize,
    timeout: Duration,
    use_cache: bool,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery::new()
    }
}

impl Discovery {
    /// Scan the process's `PATH`, identify with up to 2 × the available parallelism threads
    /// (identification waits on child processes), with a 30 s deadline per compiler run, cached.
    pub fn new() -> Discovery {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4);
        Discovery {
            path: None,
            threads,
            timeout: DEFAULT_TIMEOUT,
            use_cache: true,
        }
    }

    /// Scan this `PATH`-style list (colon-separated directories) instead of the process's.
    pub fn path(mut self, path: impl Into<OsString>) -> Discovery {
        self.path = Some(path.into());
        self
    }

    /// How many compilers to identify at once (at least 1).
    pub fn threads(mut self, threads: usize) -> Discovery {
        self.threads = threads.max(1);
        self
    }

    /// The deadline for each compiler run; a compiler that hangs is killed and reported broken.
    pub fn timeout(mut self, timeout: Duration) -> Discovery {
        self.timeout = timeout;
        self
    }

    /// Whether to reuse (and fill) the process-wide identity cache (default: yes).
    pub fn cache(mut self, use_cache: bool) -> Discovery {
        self.use_cache = use_cache;
        self
    }

    /// Scan and identify.
    pub fn run(&self) -> Result<Discovered, Error> {
        self.run_inner(None)
    }

    /// Scan and identify, stopping early (and killing running compilers) when `interrupt` is
    /// raised, e.g. by a Ctrl-C handler.
    pub fn run_interruptible(&self, interrupt: &AtomicBool) -> Result<Discovered, Error> {
        self.run_inner(Some(interrupt))
    }

    fn run_inner(&self, interrupt: Option<&AtomicBool>) -> Result<Discovered, Error> {
        let interrupted = || interrupt.is_some_and(|i| i.load(Ordering::Relaxed));
        let started = Instant::now();
        let search_path = match &self.path {
            Some(p) => p.clone(),
            None => std::env::var_os("PATH").ok_or(Error::PathUnset)?,
        };
        let _span =
            tracing::debug_span!("discover", path = %search_path.to_string_lossy()).entered();
        let scan = scan(&search_path);
        tracing::debug!(
            entries = scan.entries_scanned,
            binaries = scan.groups.len(),
            "scanned search path"
        );

        // Identify each distinct binary once: from the cache, or on the thread pool.
        let mut results: Vec<Option<Result<Identity, identify::Error>>> =
            vec![None; scan.groups.len()];
        let mut cached = 0;
        let mut to_run = Vec::new();
        for (i, group) in scan.groups.iter().enumerate() {
            let hit = match (&group.key, self.use_cache) {
                (Some(key), true) => cache().lock().ok().and_then(|c| c.get(key).cloned()),
                _ => None,
            };
            match hit {
                Some(identity) => {
                    results[i] = Some(Ok(identity));
                    cached += 1;
                }
                None => to_run.push(i),
            }
        }
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<(usize, Result<Identity, identify::Error>)>> = Mutex::new(Vec::new());
        let workers = self.threads.min(to_run.len());
        std::thread::scope(|scope| {
            let mut spawn_error = None;
            for n in 0..workers {
                let worker = || loop {
                    if interrupted() {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = to_run.get(k) else { break };
                    let group = &scan.groups[i];
                    let result = match &group.key {
                        None => Err(identify::Error::DanglingSymlink {
                            path: group.entries[0].path.clone(),
                            target: std::fs::read_link(&group.entries[0].path).unwrap_or_default(),
                        }),
                        Some(_) => identify::identify(&group.run_path, self.timeout, interrupt),
                    };
                    match &result {
                        Ok(id) => {
                            tracing::debug!(path = %group.run_path.display(), family = %id.family, version = %id.version, "identified")
                        }
                        Err(e) => {
                            tracing::info!(path = %group.run_path.display(), error = %e, "not a usable compiler")
                        }
                    }
                    if let Ok(mut d) = done.lock() {
                        d.push((i, result));
                    }
                };
                if let Err(e) = std::thread::Builder::new()
                    .name(format!("identify-{n}"))
                    .spawn_scoped(scope, worker)
                {
                    spawn_error.get_or_insert(e);
                }
            }
            match spawn_error {
                Some(e) => Err(Error::Thread(e)),
                None => Ok(()),
            }
        })?;
        if interrupted() {
            return Err(Error::Interrupted);
        }
        for (i, result) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            if let (Ok(identity), Some(key), true) = (&result, &scan.groups[i].key, self.use_cache)
                && let Ok(mut c) = cache().lock()
            {
                c.insert(key.clone(), identity.clone());
            }
            results[i] = Some(result);
        }

        let mut compilers = Vec::new();
        let mut broken = Vec::new();
        for (group, result) in scan.groups.into_iter().zip(results) {
            let names = group.names();
            match result {
                Some(Ok(identity)) => {
                    let command = match names.first() {
                        Some(n) => n.clone(),
                        None => group.run_path.to_string_lossy().into_owned(),
                    };
                    let cross_prefix = group
                        .entries
                        .iter()
                        .filter_map(|e| e.class.cross_prefix.clone())
                        .next();
                    let paths = group.paths();
                    let path_order = group.entries.iter().map(|e| e.order).min().unwrap_or(0);
                    let mut compiler = Compiler::from_parts(
                        identity,
                        command,
                        group.run_path,
                        group.canonical_path,
                        names,
                        paths,
                        cross_prefix,
                        self.timeout,
                    );
                    compiler.path_order = path_order;
                    compilers.push(compiler);
                }
                Some(Err(error)) => broken.push(BrokenCompiler {
                    names: group.entries.iter().map(|e| e.name.clone()).collect(),
                    path: group.entries[0].path.clone(),
                    error,
                }),
                None => {}
            }
        }
        compilers.sort_by(|a, b| {
            a.family
                .cmp(&b.family)
                .then(b.version.cmp(&a.version))
                .then(a.path_order.cmp(&b.path_order))
        });
        Ok(Discovered {
            compilers,
            broken,
            search_path: search_path.to_string_lossy().into_owned(),
            entries_scanned: scan.entries_scanned,
            cached,
            elapsed: started.elapsed(),
        })
    }
}

/// Scan and identify the compilers on the process's `PATH` with default settings.
pub fn discover() -> Result<Discovered, Error> {
    Discovery::new().run()
}

/// One `PATH` entry with a compiler's name.
#[derive(Debug)]
struct Entry {
    name: String,
    path: PathBuf,
    class: NameClass,
    /// Position in PATH order.
    order: usize,
    /// An earlier directory holds the same name, so the shell never runs this one by name.
    shadowed: bool,
}

/// The entries that lead to one binary.
#[derive(Debug)]
struct Group {
    key: Option<FileKey>,
    canonical_path: PathBuf,
    /// The entry to run for identification: the best unshadowed name.
    run_path: PathBuf,
    entries: Vec<Entry>,
}

impl Group {
    fn names(&self) -> Vec<String> {
        let mut usable: Vec<&Entry> = self.entries.iter().filter(|e| !e.shadowed).collect();
        usable.sort_by_key(|e| (e.class.rank, e.order));
        let mut names: Vec<String> = Vec::new();
        for e in usable {
            if !names.contains(&e.name) {
                names.push(e.name.clone());
            }
        }
        names
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.entries.iter().map(|e| e.path.clone()).collect()
    }
}

struct Scan {
    groups: Vec<Group>,
    entries_scanned: usize,
}

fn scan(search_path: &OsStr) -> Scan {
    let mut seen_dirs = Vec::new();
    let mut seen_names = std::collections::HashSet::new();
    let mut entries_scanned = 0;
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<FileKey, usize> = HashMap::new();
    let mut order = 0;
    for dir in std::env::split_paths(search_path) {
        // An empty PATH element means the current directory to a shell; compilers are not
        // looked for there.
        if dir.as_os_str().is_empty() {
            continue;
        }
        let canonical_dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if seen_dirs.contains(&canonical_dir) {
            continue;
        }
        seen_dirs.push(canonical_dir);
        let Ok(listing) = std::fs::read_dir(&dir) else {
            tracing::trace!(dir = %dir.display(), "not a readable directory, skipped");
            continue;
        };
        let mut found: Vec<(String, NameClass)> = Vec::new();
        for item in listing.flatten() {
            entries_scanned += 1;
            let file_name = item.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if let Some(class) = classify_name(name) {
                found.push((name.to_string(), class));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, class) in found {
            let path = dir.join(&name);
            let shadowed = !seen_names.insert(name.clone());
            order += 1;
            let entry = Entry {
                name,
                path: path.clone(),
                class,
                order,
                shadowed,
            };
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    if !meta.is_file() || {
                        use std::os::unix::fs::PermissionsExt;
                        meta.permissions().mode() & 0o111 == 0
                    } {
                        continue;
                    }
                    let canonical_path =
                        std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    // Symlinks to one compiler binary are one compiler; symlinks to a wrapper
                    // that dispatches on its name (/usr/lib/ccache/gcc-12 -> ../../bin/ccache)
                    // are as many compilers as names.
                    let key = file_key(&entry.name, &meta, &canonical_path);
                    let ino_key = FileKey {
                        size: 0,
                        mtime: 0,
                        mtime_nsec: 0,
                        ..key.clone()
                    };
                    match by_key.get(&ino_key) {
                        Some(&g) => groups[g].entries.push(entry),
                        None => {
                            by_key.insert(ino_key, groups.len());
                            groups.push(Group {
                                key: Some(key),
                                canonical_path,
                                run_path: path,
                                entries: vec![entry],
                            });
                        }
                    }
                }
                // A dangling symlink with a compiler's name: report it.
                Err(_) if std::fs::symlink_metadata(&path).is_ok() => groups.push(Group {
                    key: None,
                    canonical_path: path.clone(),
                    run_path: path,
                    entries: vec![entry],
                }),
                Err(_) => {}
            }
        }
    }
    // Run each binary through its best unshadowed name.
    for group in &mut groups {
        if let Some(best) = group
            .entries
            .iter()
            .filter(|e| !e.shadowed)
            .min_by_key(|e| (e.class.rank, e.order))
        {
            group.run_path = best.path.clone();
        }
    }
    Scan {
        groups,
        entries_scanned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_names_are_recognised() {
        let rank = |n: &str| classify_name(n).map(|c| c.rank);
        assert_eq!(rank("cc"), Some(4));
        assert_eq!(rank("gcc"), Some(1));
        assert_eq!(rank("clang"), Some(1));
        assert_eq!(rank("gcc-12"), Some(0));
        assert_eq!(rank("gcc-3.4"), Some(0));
        assert_eq!(rank("clang-14"), Some(0));
        assert_eq!(rank("x86_64-linux-gnu-gcc-12"), Some(2));
        assert_eq!(rank("aarch64-linux-gnu-gcc"), Some(3));
        assert_eq!(
            classify_name("x86_64-linux-gnu-gcc-12").and_then(|c| c.cross_prefix),
            Some("x86_64-linux-gnu-".to_string())
        );
        assert_eq!(
            classify_name("arm-none-eabi-gcc").and_then(|c| c.cross_prefix),
            Some("arm-none-eabi-".to_string())
        );
        for not in [
            "gcc-ar-12",
            "x86_64-linux-gnu-gcc-ar-12",
            "clang-cpp-14",
            "clang++",
            "clang++-14",
            "c89-gcc",
            "c99-gcc",
            "gccgo",
            "gcc-",
            "gcc-12.",
            "mygcc",
            "ccache",
            "tcc",
            "-gcc",
            "x86_64--gcc",
        ] {
            assert_eq!(classify_name(not), None, "{not}");
        }
    }
}
