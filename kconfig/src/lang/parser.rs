//! The Kconfig parser: the whole language as Linux uses it from 2.6 to 6.x, into a [`Model`].
//!
//! [`parse`] reads a tree from disk (following `source`, `rsource`, `osource`, `orsource`, with
//! globs and macro-expanded paths), runs `$(shell,…)` through the [probe runner](super::probe)
//! and finalizes the model ([`finalize`](super::finalize::finalize)); [`parse_str`] parses text
//! from memory without touching the disk or running anything (for tests and fuzzing).
//!
//! Besides the current language it accepts what older kernels wrote: `boolean`, `---help---`,
//! `option env=…`/`defconfig_list`/`modules`/`allnoconfig_y`, `depends` without `on`,
//! `requires`, `enable` (an old spelling of `select`), `source "arch/$SRCARCH/Kconfig"` with the
//! variable taken from the environment, and `menuconfig`/`source` inside a `choice`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::ast::{CmpOp, SymbolType};
use super::ast::{Expr, FileId, Loc, MenuId, MenuKind, Model, PropKind, SourceFile, SymbolId};
use super::lexer::{Lexer, Tok, Token};
use super::preprocess::{Flavor, MacroMessage, MacroPos, Preprocessor, ShellRunner};
use super::probe::{ProbeOptions, ProbeRecord, Prober};

/// Why a Kconfig tree could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text does not follow the grammar.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file as printed by the kernel's tools.
        file: String,
        /// The line.
        line: u32,
        /// What was expected and what was found.
        message: String,
    },
    /// A macro could not be expanded, or `$(error-if,y,…)` stopped the parse.
    #[error("{file}:{line}: {message}")]
    Macro {
        /// The file.
        file: String,
        /// The line.
        line: u32,
        /// The message.
        message: String,
    },
    /// A file could not be read.
    #[error("{file}:{line}: can't open file \"{path}\"")]
    Open {
        /// The file with the `source` statement (or `<top>` for the top file).
        file: String,
        /// The line of the `source` statement (0 for the top file).
        line: u32,
        /// The path that could not be opened.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file sources itself, directly or through others.
    #[error("{file}:{line}: recursive inclusion of \"{included}\"")]
    RecursiveInclusion {
        /// The file with the `source` statement.
        file: String,
        /// Its line.
        line: u32,
        /// The file included again.
        included: String,
    },
    /// The tree has recursive dependencies; the message is what the kernel's `conf` prints
    /// (every cycle, with file:line).
    #[error(transparent)]
    RecursiveDependency(#[from] super::depcheck::RecursiveDependencyError),
    /// The interrupt flag was raised.
    #[error("interrupted")]
    Interrupted,
    /// No thread could be started for the parser.
    #[error("cannot start a thread for the Kconfig parser")]
    Thread,
}

impl ParseError {
    /// Whether the parse stopped because the interrupt flag was raised.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, ParseError::Interrupted)
    }
}

/// A warning the kernel's tools print while parsing (the parse goes on).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParseWarning {
    /// The file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for ParseWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:warning: {}", self.file, self.line, self.message)
    }
}

/// What `$(shell,…)` does during a parse.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ShellPolicy {
    /// Run commands (with the probe cache and threads of [`ProbeOptions`]).
    Run(ProbeOptions),
    /// Any `$(shell,…)` is a parse error (for untrusted input).
    Forbid,
}

/// What to parse.
#[derive(Debug, Clone)]
pub struct ParseInput<'a> {
    /// The kernel source tree; `source` paths are relative to it.
    pub srctree: &'a Path,
    /// The top Kconfig file, relative to `srctree` (usually `Kconfig`).
    pub top: &'a str,
    /// The environment the macro language reads (and `source "$VAR"` of old kernels).
    pub env: &'a BTreeMap<String, String>,
    /// What `$(shell,…)` does.
    pub shell: ShellPolicy,
    /// Raised to stop the parse (checked before each file and each command).
    pub interrupt: Option<&'a AtomicBool>,
}

/// A parsed and finalized tree and what was recorded while reading it.
#[derive(Debug)]
pub struct Parsed {
    /// The model, finalized.
    pub model: Model,
    /// Environment variables the macro language read, with their values, in order.
    pub env_read: Vec<(String, String)>,
    /// `$(info,…)` and `$(warning-if,…)` output.
    pub messages: Vec<MacroMessage>,
    /// Warnings of the parser and of finalize.
    pub warnings: Vec<ParseWarning>,
    /// Every `$(shell,…)` call, in order.
    pub probes: Vec<ProbeRecord>,
    /// The files and directories the parse depended on (for the model cache).
    pub(crate) inputs: Vec<super::model_cache::Input>,
    /// The evaluator's index of the model, when it was built already (or cached).
    pub(crate) index: Option<super::eval::Index>,
}

/// The kernel's check for recursive dependencies after finalizing (as `conf_parse` does), on
/// the evaluator's index of the model, which is kept in `parsed`. Runs on the parser's
/// big-stack thread.
fn checked(mut parsed: Parsed) -> Result<Parsed, ParseError> {
    let index = parsed
        .index
        .take()
        .unwrap_or_else(|| super::eval::Index::build(&parsed.model));
    super::depcheck::check_indexed(&parsed.model, &index)?;
    parsed.index = Some(index);
    Ok(parsed)
}

/// Parses and finalizes the tree at `input.srctree` starting from `input.top`, then checks it
/// for recursive dependencies (a tree `conf` refuses is refused).
pub fn parse(input: &ParseInput<'_>) -> Result<Parsed, ParseError> {
    let res = with_big_stack(|| {
        let files = Files::Disk(input.srctree.to_path_buf());
        match &input.shell {
            ShellPolicy::Run(opts) => {
                let workdir = opts.workdir.as_deref();
                let tree_cache = opts.cache_dir.as_ref().filter(|_| opts.parsed_tree_cache);
                if let Some(dir) = tree_cache
                    && let Some(parsed) =
                        super::model_cache::load(dir, input.srctree, input.top, input.env, workdir)
                {
                    tracing::debug!("Kconfig tree taken from the model cache");
                    return Ok(parsed);
                }
                let prober = Prober::new(opts.clone(), input.env, input.interrupt);
                let records = prober.records_handle();
                if !prober.knows_previous_run() {
                    // No list of this environment's commands to start ahead: at the first
                    // command that must run, a second pass over the tree starts on a thread and
                    // starts every command it meets without waiting for it (its model is
                    // thrown away; this pass's outcome alone counts).
                    let srctree = input.srctree.to_path_buf();
                    let top = input.top.to_owned();
                    let env = input.env.clone();
                    let runner = prober.speculator();
                    prober.speculate_on_first_miss(Box::new(move |stop| {
                        std::thread::Builder::new()
                            .name("kconfig-speculate".to_owned())
                            .stack_size(256 << 20)
                            .spawn(move || {
                                let started = std::time::Instant::now();
                                let pass = run(
                                    Files::Disk(srctree),
                                    &top,
                                    &env,
                                    Box::new(runner),
                                    Some(&stop),
                                    true,
                                );
                                tracing::debug!(
                                    ms = started.elapsed().as_secs_f64() * 1e3,
                                    completed = pass.is_ok(),
                                    "speculative pass over the Kconfig tree"
                                );
                            })
                            .ok()
                    }));
                }
                let res = run(
                    files,
                    input.top,
                    input.env,
                    Box::new(prober),
                    input.interrupt,
                    false,
                );
                let probes = records.take();
                let res = res.map(|mut p| {
                    p.probes = probes;
                    p
                });
                let parsed = checked(res?)?;
                if let Some(dir) = tree_cache
                    && let Some(index) = &parsed.index
                {
                    // Only a tree that passed the check is stored: a tree taken from the
                    // cache needs no check.
                    super::model_cache::store(
                        dir,
                        input.srctree,
                        input.top,
                        input.env,
                        workdir,
                        &parsed,
                        index,
                    );
                }
                Ok(parsed)
            }
            ShellPolicy::Forbid => run(
                files,
                input.top,
                input.env,
                Box::new(Forbid),
                input.interrupt,
                false,
            )
            .and_then(checked),
        }
    });
    match res {
        Err(_) if input.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) => {
            Err(ParseError::Interrupted)
        }
        other => other,
    }
}

/// Runs `f` on a thread with a large stack: macros may nest 1000 deep, as in the kernel.
fn with_big_stack<T: Send>(
    f: impl FnOnce() -> Result<T, ParseError> + Send,
) -> Result<T, ParseError> {
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("kconfig-parse".to_owned())
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
        {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: parse on this one.
            Err(_) => Err(ParseError::Thread),
        }
    })
}

/// Parses and finalizes Kconfig text held in memory, named `name` in messages, and checks it
/// for recursive dependencies. `source` of any other file is an error and `$(shell,…)` is
/// never run (it is an error).
pub fn parse_str(
    name: &str,
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Parsed, ParseError> {
    parse_files(&[(name, text)], env)
}

/// Like [`parse_str`] with several in-memory files (the first is the top file); `source`
/// finds the others by name.
pub fn parse_files(
    files: &[(&str, &str)],
    env: &BTreeMap<String, String>,
) -> Result<Parsed, ParseError> {
    let top = files.first().map_or("Kconfig", |f| f.0);
    let map = files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec()))
        .collect();
    with_big_stack(|| {
        run(Files::Memory(map), top, env, Box::new(Forbid), None, false).and_then(checked)
    })
}

struct Forbid;
impl ShellRunner for Forbid {
    fn run(&mut self, command: &str, _pos: MacroPos<'_>) -> Result<Vec<u8>, String> {
        Err(format!(
            "$(shell,{command}): running commands is not allowed here"
        ))
    }
}

enum Files {
    Disk(PathBuf),
    Memory(BTreeMap<String, Vec<u8>>),
}

impl Files {
    /// Reads `name` into `buf` (reused across files: no large allocation per file).
    /// Returns the file's metadata when it is on disk.
    fn read(
        &self,
        name: &str,
        buf: &mut Vec<u8>,
    ) -> Result<Option<std::fs::Metadata>, (PathBuf, std::io::Error)> {
        use std::io::Read;
        buf.clear();
        match self {
            Files::Disk(root) => {
                let p = root.join(name);
                // The metadata first: a file changed while it is read then looks changed to the
                // model cache, never unchanged with old content.
                let read = std::fs::File::open(&p).and_then(|mut f| {
                    let md = f.metadata()?;
                    f.read_to_end(buf)?;
                    Ok(md)
                });
                match read {
                    Ok(md) => Ok(Some(md)),
                    Err(e) => Err((p, e)),
                }
            }
            Files::Memory(m) => match m.get(name) {
                Some(t) => {
                    buf.extend_from_slice(t);
                    Ok(None)
                }
                None => Err((
                    PathBuf::from(name),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                )),
            },
        }
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Files::Disk(root) => root.join(name).is_file(),
            Files::Memory(m) => m.contains_key(name),
        }
    }

    /// Names matching a glob pattern, sorted.
    fn glob(&self, pattern: &str) -> Vec<String> {
        match self {
            Files::Disk(root) => {
                let mut out = Vec::new();
                glob_dir(
                    root,
                    Path::new(""),
                    pattern.split('/').collect::<Vec<_>>().as_slice(),
                    &mut out,
                );
                out.sort();
                out
            }
            Files::Memory(m) => m
                .keys()
                .filter(|k| wildcard_match(pattern.as_bytes(), k.as_bytes()))
                .cloned()
                .collect(),
        }
    }
}

/// The files of the tree at `root` matching a `source` glob, sorted (as the parser sees them).
pub(crate) fn glob_on_disk(root: &Path, pattern: &str) -> Vec<String> {
    Files::Disk(root.to_path_buf()).glob(pattern)
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Walks `root/rel` matching one path component per pattern part.
fn glob_dir(root: &Path, rel: &Path, parts: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if !has_glob(first) {
        let next = rel.join(first);
        if rest.is_empty() {
            if root.join(&next).is_file() {
                out.push(next.to_string_lossy().into_owned());
            }
        } else {
            glob_dir(root, &next, rest, out);
        }
        return;
    }
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if !wildcard_match(first.as_bytes(), name.as_bytes()) {
            continue;
        }
        let next = rel.join(&*name);
        if rest.is_empty() {
            if root.join(&next).is_file() {
                out.push(next.to_string_lossy().into_owned());
            }
        } else {
            glob_dir(root, &next, rest, out);
        }
    }
}

/// Shell wildcard matching of one name: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn wildcard_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                b'?' if s[i] != b'/' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, len)) = class_match(&pat[p..], s[i]) {
                        if matched {
                            p += len;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                c if c == s[i] && c != b'*' && c != b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, si)) if s[si] != b'/' => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            _ => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches a `[…]` class at the start of `pat`; returns (matched, length of the class).
fn class_match(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut k = 1;
    let negate = matches!(pat.get(1), Some(b'!' | b'^'));
    if negate {
        k += 1;
    }
    let mut matched = false;
    let mut first = true;
    while k < pat.len() {
        if pat[k] == b']' && !first {
            return Some((matched != negate, k + 1));
        }
        first = false;
        if k + 2 < pat.len() && pat[k + 1] == b'-' && pat[k + 2] != b']' {
            if pat[k] <= c && c <= pat[k + 2] {
                matched = true;
            }
            k += 3;
        } else {
            if pat[k] == c {
                matched = true;
            }
            k += 1;
        }
    }
    None
}

fn run(
    files: Files,
    top: &str,
    env: &BTreeMap<String, String>,
    shell: Box<dyn ShellRunner + '_>,
    interrupt: Option<&AtomicBool>,
    speculative: bool,
) -> Result<Parsed, ParseError> {
    // The speculative pass's model is thrown away (it is there to find the `$(shell,…)`
    // commands early): it is not finalized.
    let mut p = Parser {
        speculative,
        model: Model::new(),
        pp: Preprocessor::new(env, shell),
        files,
        warnings: Vec::new(),
        stack: Vec::new(),
        interrupt,
        modules_line: None,
        operands: 0,
        buffers: Vec::new(),
        inputs: Vec::new(),
    };
    if let Files::Disk(root) = &p.files {
        // A kernel tree has about 20000 symbols.
        p.model.reserve(20_000);
        // Inspected before they are read (see `Files::read`).
        for rel in super::preprocess::IF_FUNCTION_SOURCES {
            p.inputs.push(super::model_cache::Input::of(root, rel));
        }
        p.pp.set_if_function(super::preprocess::tree_has_if_function(root));
    }
    let root = p.model.root();
    let started = std::time::Instant::now();
    p.source_file(top.to_owned(), None, root, false)?;
    let parsed = started.elapsed();
    let mut warnings = p.warnings;
    let mut model = p.model;
    if !speculative {
        warnings.extend(super::finalize::finalize(&mut model));
    }
    tracing::debug!(
        files = model.files.len(),
        symbols = model.symbols.len(),
        parse_ms = parsed.as_secs_f64() * 1e3,
        finalize_ms = (started.elapsed() - parsed).as_secs_f64() * 1e3,
        "Kconfig tree parsed and finalized"
    );
    for name in p.pp.env_unset() {
        p.inputs
            .push(super::model_cache::Input::EnvUnset { name: name.clone() });
    }
    let (env_read, messages) = p.pp.into_records();
    Ok(Parsed {
        model,
        env_read,
        messages,
        warnings,
        probes: Vec::new(),
        inputs: p.inputs,
        index: None,
    })
}

struct Parser<'e> {
    model: Model,
    pp: Preprocessor<'e>,
    files: Files,
    warnings: Vec<ParseWarning>,
    /// Files being read (for recursive inclusion), innermost last.
    stack: Vec<String>,
    interrupt: Option<&'e AtomicBool>,
    modules_line: Option<Loc>,
    operands: u32,
    /// File buffers for reuse.
    buffers: Vec<Vec<u8>>,
    /// What the parse read from disk.
    inputs: Vec<super::model_cache::Input>,
    /// A speculative pass (see [`parse`]): files that can neither run a command nor include
    /// another file (no `$`, no `source`) are skipped. That is three files in four of a kernel
    /// tree; a variable such a file sets without `$` may make a speculative command differ
    /// from the real one, which then only costs that command's run.
    speculative: bool,
}

/// The token stream of one file with one token of look-ahead.
struct Stream<'s> {
    lx: Lexer<'s>,
    peeked: Option<Token<'s>>,
    file: FileId,
    name: &'s str,
}

/// How a statement list ended.
enum End {
    Eof,
    Block(&'static str, u32),
}

/// The kind of block a statement list is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Choice,
}

const MAX_EXPR_DEPTH: u32 = 100;
const MAX_EXPR_OPERANDS: u32 = 2000;

impl<'e> Parser<'e> {
    fn err(&self, st: &Stream<'_>, line: u32, message: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            file: st.name.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn warn(&mut self, st: &Stream<'_>, line: u32, message: impl Into<String>) {
        self.warnings.push(ParseWarning {
            file: st.name.to_owned(),
            line,
            message: message.into(),
        });
    }

    fn next<'s>(&mut self, st: &mut Stream<'s>) -> Result<Token<'s>, ParseError> {
        if let Some(t) = st.peeked.take() {
            return Ok(t);
        }
        let t = st
            .lx
            .next(&mut self.pp)
            .map_err(|(line, message)| ParseError::Macro {
                file: st.name.to_owned(),
                line,
                message,
            })?;
        for w in st.lx.take_warnings() {
            self.warn(st, w.line, w.message);
        }
        Ok(t)
    }

    fn peek<'t, 's>(&mut self, st: &'t mut Stream<'s>) -> Result<&'t Token<'s>, ParseError> {
        if st.peeked.is_none() {
            let t = self.next(st)?;
            st.peeked = Some(t);
        }
        Ok(st.peeked.as_ref().expect("just filled"))
    }

    fn expect_eol(&mut self, st: &mut Stream<'_>, what: &str) -> Result<(), ParseError> {
        let t = self.next(st)?;
        match t.tok {
            Tok::Eol => Ok(()),
            other => Err(self.err(
                st,
                t.line,
                format!(
                    "expected end of line after {what}, found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn expect_quote(&mut self, st: &mut Stream<'_>, what: &str) -> Result<String, ParseError> {
        let t = self.next(st)?;
        match t.tok {
            Tok::Quote(s) => Ok(s),
            other => Err(self.err(
                st,
                t.line,
                format!(
                    "expected a quoted string after {what}, found {}",
                    other.describe()
                ),
            )),
        }
    }

    /// A word that names a symbol (not a keyword, not quoted).
    fn expect_name(&mut self, st: &mut Stream<'_>, what: &str) -> Result<String, ParseError> {
        let t = self.next(st)?;
        match t.tok {
            Tok::Word {
                text,
                keyword: false,
                ..
            } => Ok(text.into_owned()),
            other => Err(self.err(
                st,
                t.line,
                format!(
                    "expected a symbol name after {what}, found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn loc(st: &Stream<'_>, line: u32) -> Loc {
        Loc {
            file: st.file,
            line,
        }
    }

    fn source_file(
        &mut self,
        name: String,
        from: Option<(Loc, String)>,
        parent: MenuId,
        in_choice: bool,
    ) -> Result<(), ParseError> {
        if self.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Err(ParseError::Interrupted);
        }
        let (from_loc, from_name) = match &from {
            Some((l, n)) => (Some(*l), n.clone()),
            None => (None, "<top>".to_owned()),
        };
        if self.stack.contains(&name) {
            return Err(ParseError::RecursiveInclusion {
                file: from_name,
                line: from_loc.map_or(0, |l| l.line),
                included: name,
            });
        }
        let mut text = self.buffers.pop().unwrap_or_default();
        let md = self
            .files
            .read(&name, &mut text)
            .map_err(|(path, source)| ParseError::Open {
                file: from_name.clone(),
                line: from_loc.map_or(0, |l| l.line),
                path,
                source,
            })?;
        if let Some(md) = md {
            self.inputs
                .push(super::model_cache::Input::file(name.clone(), &md));
        }
        if self.speculative
            && memchr::memchr(b'$', &text).is_none()
            && memchr::memmem::find(&text, b"source").is_none()
        {
            text.clear();
        }
        let file = FileId(self.model.files.len() as u32);
        self.model.files.push(SourceFile {
            name: name.clone(),
            included_from: from_loc,
        });
        self.stack.push(name.clone());
        let mut st = Stream {
            lx: Lexer::new(&text, &name),
            peeked: None,
            file,
            name: &name,
        };
        let ctx = if in_choice { Ctx::Choice } else { Ctx::Top };
        let end = self.stmts(&mut st, parent, ctx)?;
        self.stack.pop();
        drop(st);
        self.buffers.push(text);
        match end {
            End::Eof => Ok(()),
            End::Block(kw, line) => Err(ParseError::Syntax {
                file: name,
                line,
                message: format!("unexpected 'end{kw}' (no '{kw}' is open in this file)"),
            }),
        }
    }

    /// Statements until the end of the file or an `end…` keyword.
    fn stmts(&mut self, st: &mut Stream<'_>, parent: MenuId, ctx: Ctx) -> Result<End, ParseError> {
        loop {
            let t = self.next(st)?;
            let line = t.line;
            let (word, plain, keyword) = match t.tok {
                Tok::Eol => continue,
                Tok::Eof => return Ok(End::Eof),
                Tok::Word {
                    text,
                    plain,
                    keyword,
                } => (text, plain, keyword),
                other => {
                    return Err(self.err(
                        st,
                        line,
                        format!("invalid statement: unexpected {}", other.describe()),
                    ));
                }
            };
            let kw = if plain { &*word } else { "" };
            match kw {
                "config" | "menuconfig" => {
                    let name = self.expect_name(st, kw)?;
                    self.expect_eol(st, "the symbol name")?;
                    let sym = self.model.sym(&name);
                    let kind = if kw == "config" {
                        MenuKind::Config(sym)
                    } else {
                        MenuKind::MenuConfig(sym)
                    };
                    let menu = self.entry(kind, parent, Self::loc(st, line), Some(sym));
                    self.options(st, menu, Some(sym), OptSet::Config)?;
                    if kw == "menuconfig" && self.model.menu(menu).prompt.is_none() {
                        self.warn(st, line, "menuconfig statement without prompt");
                    }
                }
                "choice" => {
                    let t = self.next(st)?;
                    let sym = match t.tok {
                        Tok::Eol => self.model.anon_choice(),
                        Tok::Word { text, .. } => {
                            self.expect_eol(st, "the choice name")?;
                            self.model.choice_sym(&text)
                        }
                        other => {
                            return Err(self.err(
                                st,
                                t.line,
                                format!(
                                    "expected end of line after 'choice', found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    };
                    let menu = self.entry(
                        MenuKind::Choice(sym),
                        parent,
                        Self::loc(st, line),
                        Some(sym),
                    );
                    self.options(st, menu, Some(sym), OptSet::Choice)?;
                    self.block(st, menu, Ctx::Choice, "choice", line)?;
                }
                "menu" => {
                    let text = self.expect_quote(st, "'menu'")?;
                    self.expect_eol(st, "the menu prompt")?;
                    let menu = self.entry(MenuKind::Menu, parent, Self::loc(st, line), None);
                    self.prompt(st, menu, None, text, None, line);
                    self.options(st, menu, None, OptSet::Menu)?;
                    self.block(st, menu, Ctx::Top, "menu", line)?;
                }
                "comment" => {
                    let text = self.expect_quote(st, "'comment'")?;
                    self.expect_eol(st, "the comment text")?;
                    let menu = self.entry(MenuKind::Comment, parent, Self::loc(st, line), None);
                    self.prompt(st, menu, None, text, None, line);
                    self.options(st, menu, None, OptSet::Comment)?;
                }
                "if" => {
                    let e = self.expr(st)?;
                    self.expect_eol(st, "the 'if' condition")?;
                    let menu = self.entry(MenuKind::If, parent, Self::loc(st, line), None);
                    self.model.menu_mut(menu).depends = Some(e);
                    self.block(st, menu, ctx, "if", line)?;
                }
                "endmenu" | "endchoice" | "endif" => {
                    self.expect_eol(st, kw)?;
                    let k = match kw {
                        "endmenu" => "menu",
                        "endchoice" => "choice",
                        _ => "if",
                    };
                    return Ok(End::Block(k, line));
                }
                "mainmenu" => {
                    let text = self.expect_quote(st, "'mainmenu'")?;
                    self.expect_eol(st, "the main menu title")?;
                    let text = self.legacy_expand(&text);
                    if self.model.mainmenu.is_none() {
                        let root = self.model.root();
                        self.prompt(st, root, None, text.clone(), None, line);
                        self.model.mainmenu = Some(text);
                    } else {
                        self.warn(
                            st,
                            line,
                            "mainmenu given more than once; the first one is used",
                        );
                    }
                }
                "source" | "rsource" | "osource" | "orsource" => {
                    let path = self.expect_quote(st, kw)?;
                    self.expect_eol(st, "the file name")?;
                    self.include(st, kw, &path, line, parent, ctx == Ctx::Choice)?;
                }
                _ => {
                    let is_kw = keyword;
                    let op = if is_kw {
                        None
                    } else {
                        self.peek(st)?.tok.clone().into()
                    };
                    let flavor = match op {
                        Some(Tok::Eq) => Some(Flavor::Recursive),
                        Some(Tok::ColonEq) => Some(Flavor::Simple),
                        Some(Tok::PlusEq) => Some(Flavor::Append),
                        _ => None,
                    };
                    let Some(flavor) = flavor else {
                        let what = if is_kw {
                            format!("'{word}' is not allowed here (no entry is open)")
                        } else {
                            format!("unknown statement \"{word}\"")
                        };
                        return Err(self.err(st, line, what));
                    };
                    self.next(st)?;
                    let t = self.next(st)?;
                    let value = match t.tok {
                        Tok::AssignVal(v) => {
                            self.expect_eol(st, "the value")?;
                            v
                        }
                        Tok::Eol | Tok::Eof => Vec::new(),
                        other => {
                            return Err(self.err(
                                st,
                                t.line,
                                format!("expected a value, found {}", other.describe()),
                            ));
                        }
                    };
                    let pos = MacroPos {
                        file: st.name,
                        line,
                    };
                    self.pp
                        .assign(word.as_bytes(), &value, flavor, pos)
                        .map_err(|message| ParseError::Macro {
                            file: st.name.to_owned(),
                            line,
                            message,
                        })?;
                }
            }
        }
    }

    fn block(
        &mut self,
        st: &mut Stream<'_>,
        menu: MenuId,
        ctx: Ctx,
        kw: &'static str,
        line: u32,
    ) -> Result<(), ParseError> {
        match self.stmts(st, menu, ctx)? {
            End::Block(k, _) if k == kw => Ok(()),
            End::Block(k, l) => Err(self.err(
                st,
                l,
                format!("unexpected 'end{k}' within {kw} block (opened at line {line})"),
            )),
            End::Eof => Err(self.err(
                st,
                line,
                format!(
                    "missing end statement for this entry: '{kw}' without 'end{kw}' in this file"
                ),
            )),
        }
    }

    fn entry(&mut self, kind: MenuKind, parent: MenuId, loc: Loc, sym: Option<SymbolId>) -> MenuId {
        let m = self.model.add_menu(kind, parent, loc);
        if let Some(s) = sym {
            let s = self.model.symbol_mut(s);
            s.definitions.push(m);
            s.flags.defined = true;
        }
        m
    }

    /// Replaces `$NAME` (old kernels) with the environment variable's value.
    fn legacy_expand(&mut self, s: &str) -> String {
        if !s.contains('$') {
            return s.to_owned();
        }
        let b = s.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if end > start {
                    let name = &s[start..end];
                    out.push_str(&self.pp.env_var(name).unwrap_or_default());
                    i = end;
                    continue;
                }
            }
            let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&s[i..i + ch_len]);
            i += ch_len;
        }
        out
    }

    fn include(
        &mut self,
        st: &mut Stream<'_>,
        kw: &str,
        path: &str,
        line: u32,
        parent: MenuId,
        in_choice: bool,
    ) -> Result<(), ParseError> {
        let path = self.legacy_expand(path);
        let relative = kw.starts_with('r') || kw.starts_with("or");
        let optional = kw.starts_with('o');
        let name = if relative && !path.starts_with('/') {
            match st.name.rfind('/') {
                Some(i) => format!("{}/{}", &st.name[..i], path),
                None => path.clone(),
            }
        } else {
            path.clone()
        };
        let from = Some((Self::loc(st, line), st.name.to_owned()));
        if has_glob(&name) {
            let found = self.files.glob(&name);
            if matches!(self.files, Files::Disk(_)) {
                self.inputs.push(super::model_cache::Input::Glob {
                    pattern: name.clone(),
                    found: found.clone(),
                });
            }
            if found.is_empty() && !optional {
                return Err(self.err(st, line, format!("\"{name}\" matches no file")));
            }
            for f in found {
                self.source_file(f, from.clone(), parent, in_choice)?;
            }
            return Ok(());
        }
        if optional && !self.files.exists(&name) {
            if matches!(self.files, Files::Disk(_)) {
                self.inputs.push(super::model_cache::Input::Absent { name });
            }
            return Ok(());
        }
        self.source_file(name, from, parent, in_choice)
    }

    fn set_type(&mut self, st: &Stream<'_>, line: u32, sym: SymbolId, ty: SymbolType) {
        let s = self.model.symbol(sym);
        if s.ty == ty {
            return;
        }
        if s.ty == SymbolType::Unknown {
            self.model.symbol_mut(sym).ty = ty;
            return;
        }
        let name = if s.name.is_empty() {
            "<choice>".to_owned()
        } else {
            s.name.clone()
        };
        let msg = format!(
            "ignoring type redefinition of '{}' from '{}' to '{}'",
            name,
            s.ty.as_str(),
            ty.as_str()
        );
        self.warn(st, line, msg);
    }

    fn prompt(
        &mut self,
        st: &Stream<'_>,
        menu: MenuId,
        sym: Option<SymbolId>,
        text: String,
        cond: Option<Expr>,
        line: u32,
    ) {
        let trimmed = text.trim_start();
        let text = if trimmed.len() != text.len() {
            self.warn(st, line, "leading whitespace ignored");
            trimmed.to_owned()
        } else {
            text
        };
        if self.model.menu(menu).prompt.is_some() {
            self.warn(st, line, "prompt redefined");
        }
        // Prompts of symbols are also limited by the `visible if` of every enclosing menu.
        let mut visible = cond.clone();
        if sym.is_some() {
            let mut m = self.model.menu(menu).parent;
            while let Some(id) = m {
                let node = self.model.menu(id);
                if let Some(v) = &node.visibility {
                    visible = and_opt(visible, Some(v.clone()));
                }
                m = node.parent;
            }
        }
        let p = self
            .model
            .add_prop(PropKind::Prompt(text), cond, sym, menu, Self::loc(st, line));
        self.model.prop_mut(p).visible = visible;
        self.model.menu_mut(menu).prompt = Some(p);
    }

    fn add_prop(
        &mut self,
        st: &Stream<'_>,
        kind: PropKind,
        cond: Option<Expr>,
        sym: SymbolId,
        menu: MenuId,
        line: u32,
    ) {
        let p = self
            .model
            .add_prop(kind, cond.clone(), Some(sym), menu, Self::loc(st, line));
        self.model.prop_mut(p).visible = cond;
    }

    /// `if EXPR` at the end of a property line, if present.
    fn if_expr(&mut self, st: &mut Stream<'_>) -> Result<Option<Expr>, ParseError> {
        if matches!(&self.peek(st)?.tok, Tok::Word { text, plain: true, .. } if text == "if") {
            self.next(st)?;
            return Ok(Some(self.expr(st)?));
        }
        Ok(None)
    }

    fn options(
        &mut self,
        st: &mut Stream<'_>,
        menu: MenuId,
        sym: Option<SymbolId>,
        set: OptSet,
    ) -> Result<(), ParseError> {
        loop {
            let t = self.peek(st)?;
            let line = t.line;
            let kw = match &t.tok {
                Tok::Eol => {
                    self.next(st)?;
                    continue;
                }
                Tok::Word {
                    text, plain: true, ..
                } => text.clone(),
                _ => return Ok(()),
            };
            let is_cfg = set == OptSet::Config;
            let is_choice = set == OptSet::Choice;
            let sym_ok = is_cfg || is_choice;
            let ty = match &*kw {
                "bool" | "boolean" => Some(SymbolType::Bool),
                "tristate" => Some(SymbolType::Tristate),
                "int" if is_cfg => Some(SymbolType::Int),
                "hex" if is_cfg => Some(SymbolType::Hex),
                "string" if is_cfg => Some(SymbolType::String),
                _ => None,
            };
            let Some(s) = sym.filter(|_| sym_ok) else {
                // menu, comment: only `depends on` and (menu) `visible if`.
                match &*kw {
                    "depends" | "requires" => self.depends(st, menu)?,
                    "visible" if set == OptSet::Menu => {
                        self.next(st)?;
                        let e = self.if_expr(st)?;
                        self.expect_eol(st, "'visible if'")?;
                        let m = self.model.menu_mut(menu);
                        m.visibility = and_opt(m.visibility.take(), e);
                    }
                    _ => return Ok(()),
                }
                continue;
            };
            if let Some(ty) = ty {
                self.next(st)?;
                if matches!(self.peek(st)?.tok, Tok::Quote(_)) {
                    let Tok::Quote(text) = self.next(st)?.tok else {
                        unreachable!()
                    };
                    let cond = self.if_expr(st)?;
                    self.prompt(st, menu, Some(s), text, cond, line);
                }
                self.expect_eol(st, "the type")?;
                self.set_type(st, line, s, ty);
                continue;
            }
            match &*kw {
                "prompt" => {
                    self.next(st)?;
                    let text = self.expect_quote(st, "'prompt'")?;
                    let cond = self.if_expr(st)?;
                    self.expect_eol(st, "the prompt")?;
                    self.prompt(st, menu, Some(s), text, cond, line);
                }
                "default" | "def_bool" | "def_tristate" if is_cfg => {
                    self.next(st)?;
                    let e = self.expr(st)?;
                    let cond = self.if_expr(st)?;
                    self.expect_eol(st, "the default")?;
                    self.add_prop(st, PropKind::Default(e), cond, s, menu, line);
                    match &*kw {
                        "def_bool" => self.set_type(st, line, s, SymbolType::Bool),
                        "def_tristate" => self.set_type(st, line, s, SymbolType::Tristate),
                        _ => {}
                    }
                }
                "default" => {
                    self.next(st)?;
                    let name = self.expect_name(st, "'default'")?;
                    let target = self.model.sym(&name);
                    let cond = self.if_expr(st)?;
                    self.expect_eol(st, "the default")?;
                    self.add_prop(
                        st,
                        PropKind::Default(Expr::Symbol(target)),
                        cond,
                        s,
                        menu,
                        line,
                    );
                }
                "select" | "enable" | "imply" if is_cfg => {
                    self.next(st)?;
                    let name = self.expect_name(st, &format!("'{kw}'"))?;
                    let target = self.model.sym(&name);
                    let cond = self.if_expr(st)?;
                    self.expect_eol(st, &format!("'{kw}'"))?;
                    let kind = if kw == "imply" {
                        PropKind::Imply(target)
                    } else {
                        PropKind::Select(target)
                    };
                    self.add_prop(st, kind, cond, s, menu, line);
                }
                "range" if is_cfg => {
                    self.next(st)?;
                    let lo = self.operand(st)?;
                    let hi = self.operand(st)?;
                    let cond = self.if_expr(st)?;
                    self.expect_eol(st, "the range")?;
                    self.add_prop(st, PropKind::Range(lo, hi), cond, s, menu, line);
                }
                "depends" | "requires" => self.depends(st, menu)?,
                "help" | "---help---" => {
                    self.next(st)?;
                    self.expect_eol(st, "'help'")?;
                    let text = st.lx.help_text();
                    let name = self.model.symbol(s).name.clone();
                    let name = if name.is_empty() {
                        "<choice>".to_owned()
                    } else {
                        name
                    };
                    if self.model.menu(menu).help.is_some() {
                        self.warn(
                            st,
                            line,
                            format!("'{name}' defined with more than one help text -- only the last one will be used"),
                        );
                    }
                    if text.trim().is_empty() {
                        self.warn(st, line, format!("'{name}' defined with blank help text"));
                    }
                    let m = self.model.menu_mut(menu);
                    m.help = Some(text);
                    m.help_loc = Some(Self::loc(st, line));
                }
                "modules" if is_cfg => {
                    self.next(st)?;
                    self.expect_eol(st, "'modules'")?;
                    self.set_modules(st, s, line)?;
                }
                "transitional" if is_cfg => {
                    self.next(st)?;
                    self.expect_eol(st, "'transitional'")?;
                    self.model.symbol_mut(s).flags.transitional = true;
                }
                "optional" if is_choice => {
                    self.next(st)?;
                    self.expect_eol(st, "'optional'")?;
                    self.model.symbol_mut(s).flags.optional = true;
                }
                "option" => {
                    self.next(st)?;
                    self.option(st, s, menu, line)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn set_modules(&mut self, st: &Stream<'_>, s: SymbolId, line: u32) -> Result<(), ParseError> {
        if let Some(prev) = self.model.modules_sym
            && prev != s
        {
            return Err(self.err(
                st,
                line,
                format!(
                    "symbol '{}' redefines option 'modules' already defined by symbol '{}'",
                    self.model.symbol(s).name,
                    self.model.symbol(prev).name
                ),
            ));
        }
        self.model.modules_sym = Some(s);
        self.model.symbol_mut(s).flags.modules = true;
        self.modules_line = Some(Self::loc(st, line));
        Ok(())
    }

    /// `option NAME[=VALUE]` of older kernels.
    fn option(
        &mut self,
        st: &mut Stream<'_>,
        s: SymbolId,
        menu: MenuId,
        line: u32,
    ) -> Result<(), ParseError> {
        let name = self.expect_name(st, "'option'")?;
        let mut arg = None;
        if matches!(self.peek(st)?.tok, Tok::Eq) {
            self.next(st)?;
            let t = self.next(st)?;
            match t.tok {
                Tok::Quote(v) => arg = Some(v),
                Tok::Word { text, .. } => arg = Some(text.into_owned()),
                other => {
                    return Err(self.err(
                        st,
                        t.line,
                        format!(
                            "expected a value after 'option {name}=', found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        }
        self.expect_eol(st, "the option")?;
        match name.as_str() {
            "env" => {
                let Some(var) = arg else {
                    return Err(self.err(
                        st,
                        line,
                        "'option env' needs a value: option env=\"VAR\"",
                    ));
                };
                self.add_prop(st, PropKind::Env(var.clone()), None, s, menu, line);
                self.model.symbol_mut(s).flags.auto = true;
                match self.pp.env_var(&var) {
                    Some(v) => {
                        let c = self.model.const_sym(&v);
                        self.add_prop(st, PropKind::Default(Expr::Symbol(c)), None, s, menu, line);
                    }
                    None => self.warn(st, line, format!("environment variable {var} undefined")),
                }
            }
            "defconfig_list" => {
                if self.model.defconfig_list.is_none() {
                    self.model.defconfig_list = Some(s);
                }
                let flags = &mut self.model.symbol_mut(s).flags;
                flags.defconfig_list = true;
                flags.auto = true;
            }
            "modules" => self.set_modules(st, s, line)?,
            "allnoconfig_y" => self.model.symbol_mut(s).flags.allnoconfig_y = true,
            other => self.warn(st, line, format!("ignoring unknown option {other}")),
        }
        Ok(())
    }

    fn depends(&mut self, st: &mut Stream<'_>, menu: MenuId) -> Result<(), ParseError> {
        let t = self.next(st)?;
        if matches!(&t.tok, Tok::Word { text, plain: true, .. } if text == "depends")
            && matches!(&self.peek(st)?.tok, Tok::Word { text, plain: true, .. } if text == "on")
        {
            self.next(st)?;
        }
        let e = self.expr(st)?;
        self.expect_eol(st, "the dependency")?;
        let m = self.model.menu_mut(menu);
        m.depends = and_opt(m.depends.take(), Some(e));
        Ok(())
    }

    fn expr(&mut self, st: &mut Stream<'_>) -> Result<Expr, ParseError> {
        self.operands = 0;
        self.expr_or(st, 0)
    }

    fn expr_or(&mut self, st: &mut Stream<'_>, depth: u32) -> Result<Expr, ParseError> {
        let mut e = self.expr_and(st, depth)?;
        while matches!(self.peek(st)?.tok, Tok::Or) {
            self.next(st)?;
            let r = self.expr_and(st, depth)?;
            e = Expr::or(e, r);
        }
        Ok(e)
    }

    fn expr_and(&mut self, st: &mut Stream<'_>, depth: u32) -> Result<Expr, ParseError> {
        let mut e = self.unary(st, depth)?;
        while matches!(self.peek(st)?.tok, Tok::And) {
            self.next(st)?;
            let r = self.unary(st, depth)?;
            e = Expr::and(e, r);
        }
        Ok(e)
    }

    fn unary(&mut self, st: &mut Stream<'_>, depth: u32) -> Result<Expr, ParseError> {
        if depth > MAX_EXPR_DEPTH {
            let line = self.peek(st)?.line;
            return Err(self.err(st, line, "expression nested too deeply"));
        }
        match self.peek(st)?.tok {
            Tok::Not => {
                self.next(st)?;
                Ok(Expr::not(self.unary(st, depth + 1)?))
            }
            Tok::LParen => {
                self.next(st)?;
                let e = self.expr_or(st, depth + 1)?;
                let t = self.next(st)?;
                if t.tok != Tok::RParen {
                    return Err(self.err(
                        st,
                        t.line,
                        format!("expected ')', found {}", t.tok.describe()),
                    ));
                }
                Ok(e)
            }
            _ => {
                self.operands += 1;
                if self.operands > MAX_EXPR_OPERANDS {
                    let line = self.peek(st)?.line;
                    return Err(self.err(st, line, "expression too long"));
                }
                let a = self.operand(st)?;
                let op = match self.peek(st)?.tok {
                    Tok::Eq => CmpOp::Eq,
                    Tok::Ne => CmpOp::Ne,
                    Tok::Lt => CmpOp::Lt,
                    Tok::Le => CmpOp::Le,
                    Tok::Gt => CmpOp::Gt,
                    Tok::Ge => CmpOp::Ge,
                    _ => return Ok(Expr::Symbol(a)),
                };
                self.next(st)?;
                let b = self.operand(st)?;
                Ok(Expr::Compare(op, a, b))
            }
        }
    }

    /// A symbol or a quoted constant.
    fn operand(&mut self, st: &mut Stream<'_>) -> Result<SymbolId, ParseError> {
        let t = self.next(st)?;
        match t.tok {
            Tok::Word {
                text,
                keyword: false,
                ..
            } => Ok(self.model.sym(&text)),
            Tok::Quote(s) => Ok(self.model.const_sym(&s)),
            other => Err(self.err(
                st,
                t.line,
                format!(
                    "expected a symbol or a quoted value, found {}",
                    other.describe()
                ),
            )),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OptSet {
    Config,
    Choice,
    Menu,
    Comment,
}

/// `a && b` where `None` stands for "no condition" (as the kernel's `expr_alloc_and`).
pub fn and_opt(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => Some(Expr::and(a, b)),
    }
}

/// `a || b` where `None` is dropped (as the kernel's `expr_alloc_or`: `or(None, b)` is `b`).
pub fn or_opt(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => Some(Expr::or(a, b)),
    }
}

#[cfg(test)]
mod tests;
