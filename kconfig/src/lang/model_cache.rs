//! A cache of the parsed and finalized tree, beside the probe cache: reading a kernel's ~1,500
//! Kconfig files and finalizing the model is most of a warm run, and the result only changes
//! when an input does.
//!
//! An entry is used only when everything the parse depended on is as it was:
//!
//! * every file read (path, size, modification and change time, inode), every optional file
//!   found missing, and the result of every `source` glob;
//! * every environment variable read (same value) or looked up and found unset (still unset);
//! * every `$(shell,…)` command: the identity of the programs and files it names (the probe
//!   cache's key), so the command would give the cached result;
//! * the library version, the source tree, the top file and the probes' working directory.
//!
//! Anything else (a missing, unreadable, corrupt or stale entry) means a normal parse, whose
//! result then replaces the entry (written to a temporary file and renamed).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ast::Model;
use super::ast::shared::Sharing;
use super::eval::Index;
use super::parser::{ParseWarning, Parsed};
use super::preprocess::MacroMessage;
use super::probe::{ProbeRecord, ProbeSource};

/// Bumped when the stored layout or the meaning of the model changes.
const FORMAT: u32 = 5;

/// Something a parse depended on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Input {
    /// A file read (or inspected), relative to the source tree.
    File {
        name: String,
        size: u64,
        mtime_ns: i128,
        ctime_ns: i128,
        ino: u64,
    },
    /// A file looked for and not found.
    Absent { name: String },
    /// The files a `source` glob matched.
    Glob { pattern: String, found: Vec<String> },
    /// An environment variable looked up and not set.
    EnvUnset { name: String },
}

impl Input {
    /// A file read, with its metadata at the time.
    pub(crate) fn file(name: String, md: &std::fs::Metadata) -> Input {
        Input::File {
            name,
            size: md.len(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
            ino: md.ino(),
        }
    }

    /// The file `rel` of the tree as it is now (present or absent).
    pub(crate) fn of(root: &Path, rel: &str) -> Input {
        match std::fs::metadata(root.join(rel)) {
            Ok(md) if md.is_file() => Input::file(rel.to_owned(), &md),
            _ => Input::Absent {
                name: rel.to_owned(),
            },
        }
    }

    fn holds(&self, root: &Path, env: &BTreeMap<String, String>) -> bool {
        match self {
            Input::File { name, .. } => Input::of(root, name) == *self,
            Input::Absent { name } => !root.join(name).is_file(),
            Input::Glob { pattern, found } => super::parser::glob_on_disk(root, pattern) == *found,
            Input::EnvUnset { name } => !env.contains_key(name),
        }
    }
}

/// The first part of an entry: what decides whether the entry may be used. It is read and
/// checked on a thread while the (much larger) [`Body`] is decoded.
#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    version: String,
    srctree: PathBuf,
    top: String,
    workdir: Option<PathBuf>,
    inputs: Vec<Input>,
    env_read: Vec<(String, String)>,
    probes: Vec<ProbeRecord>,
}

/// The second part of an entry: the parse itself.
#[derive(Serialize, Deserialize)]
struct Body {
    messages: Vec<MacroMessage>,
    warnings: Vec<ParseWarning>,
    model: Model,
    index: Index,
}

impl Header {
    /// Whether everything the parse depended on is as it was.
    fn fresh(
        &self,
        srctree: &Path,
        top: &str,
        env: &BTreeMap<String, String>,
        workdir: Option<&Path>,
    ) -> bool {
        if self.format != FORMAT
            || self.version != env!("CARGO_PKG_VERSION")
            || self.srctree != srctree
            || self.top != top
            || self.workdir.as_deref() != workdir
            || !self.env_read.iter().all(|(k, v)| env.get(k) == Some(v))
            || !self.inputs.iter().all(|i| i.holds(srctree, env))
        {
            return false;
        }
        // The probes name the same few programs (gcc, ld, …) over and over: each is looked up
        // on PATH once.
        let mut lookup = super::probe::IdentityLookup::new(env, workdir);
        self.probes
            .iter()
            .all(|p| lookup.command_identities(&p.command) == p.programs)
    }
}

/// Where the entry for this tree, top file and architecture lives in `dir`.
fn entry_path(
    dir: &Path,
    srctree: &Path,
    top: &str,
    env: &BTreeMap<String, String>,
    workdir: Option<&Path>,
) -> PathBuf {
    let mut h = Sha256::new();
    h.update(srctree.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(top.as_bytes());
    h.update([0]);
    for var in ["ARCH", "SRCARCH"] {
        h.update(env.get(var).map_or("", String::as_str).as_bytes());
        h.update([0]);
    }
    if let Some(w) = workdir {
        h.update(w.as_os_str().as_encoded_bytes());
    }
    let digest = h.finalize();
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("kconfig-model-{name}.bin"))
}

/// The entry at `path`, mapped rather than read: reading 9 MB into fresh memory was a tenth
/// of a warm load's page faults, while the mapping shares the page cache's copy.
fn map(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the mapping is read-only and entries are never changed in place: `store` writes
    // a new file and renames it over the old one, so this mapping keeps the file it opened.
    // Only writing into the cache file in place while a load reads it could change the bytes
    // under it (decoding checks every length: a decode error or a stale entry), and only
    // truncating it then would fault the reader; the library never does either.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) };
    map.map_err(
        |e| tracing::debug!(path = %path.display(), error = %e, "cannot map the model cache entry"),
    )
    .ok()
}

/// The cached parse of this tree, if every input it depended on is unchanged.
pub(crate) fn load(
    dir: &Path,
    srctree: &Path,
    top: &str,
    env: &BTreeMap<String, String>,
    workdir: Option<&Path>,
) -> Option<Parsed> {
    let path = entry_path(dir, srctree, top, env, workdir);
    let bytes = map(&path)?;
    let bytes: &[u8] = &bytes;
    let unreadable = |e: postcard::Error| {
        tracing::debug!(path = %path.display(), error = %e, "unreadable model cache entry");
    };
    let (header, rest) = postcard::take_from_bytes::<Header>(bytes)
        .map_err(unreadable)
        .ok()?;
    if header.format != FORMAT {
        tracing::debug!(path = %path.display(), "model cache entry of another format");
        return None;
    }
    // Checking the inputs is mostly `stat` calls; decoding the body is CPU: both at once.
    let (fresh, body) = std::thread::scope(|scope| {
        let check = std::thread::Builder::new()
            .name("kconfig-cache-check".into())
            .spawn_scoped(scope, || header.fresh(srctree, top, env, workdir));
        let body = Sharing::run(|| postcard::from_bytes::<Body>(rest));
        let fresh = match check {
            Ok(check) => check.join().unwrap_or(false),
            // No thread to be had: check here.
            Err(_) => header.fresh(srctree, top, env, workdir),
        };
        (fresh, body)
    });
    if !fresh {
        tracing::debug!(path = %path.display(), "model cache entry is stale");
        return None;
    }
    let body = body.map_err(unreadable).ok()?;
    let probes = header
        .probes
        .into_iter()
        .map(|mut p| {
            p.source = ProbeSource::Cache;
            p.micros = 0;
            p
        })
        .collect();
    Some(Parsed {
        model: body.model,
        env_read: header.env_read,
        messages: body.messages,
        warnings: body.warnings,
        probes,
        inputs: header.inputs,
        index: Some(body.index),
    })
}

/// Stores a parse (best effort: a cache that cannot be written is only slower next time).
pub(crate) fn store(
    dir: &Path,
    srctree: &Path,
    top: &str,
    env: &BTreeMap<String, String>,
    workdir: Option<&Path>,
    parsed: &Parsed,
    index: &Index,
) {
    #[derive(Serialize)]
    struct HeaderRef<'a> {
        format: u32,
        version: &'a str,
        srctree: &'a Path,
        top: &'a str,
        workdir: Option<&'a Path>,
        inputs: &'a [Input],
        env_read: &'a [(String, String)],
        probes: &'a [ProbeRecord],
    }
    #[derive(Serialize)]
    struct BodyRef<'a> {
        messages: &'a [MacroMessage],
        warnings: &'a [ParseWarning],
        model: &'a Model,
        index: &'a Index,
    }
    let path = entry_path(dir, srctree, top, env, workdir);
    let header = HeaderRef {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION"),
        srctree,
        top,
        workdir,
        inputs: &parsed.inputs,
        env_read: &parsed.env_read,
        probes: &parsed.probes,
    };
    let body = BodyRef {
        messages: &parsed.messages,
        warnings: &parsed.warnings,
        model: &parsed.model,
        index,
    };
    let encoded = postcard::to_stdvec(&header).and_then(|mut bytes| {
        let body = Sharing::run(|| postcard::to_stdvec(&body))?;
        bytes.extend_from_slice(&body);
        Ok(bytes)
    });
    let bytes = match encoded {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "cannot encode the model cache entry");
            return;
        }
    };
    let written = std::fs::create_dir_all(dir).and_then(|()| crate::write_atomic(&path, &bytes));
    if let Err(e) = written {
        tracing::debug!(path = %path.display(), error = %e, "cannot write the model cache entry");
    }
}
