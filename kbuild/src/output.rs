//! Output of a running build, one line at a time: classification, `tracing` events, the log
//! file, the caller's line callback, and what a failure report keeps (compiler error excerpts,
//! make's `*** [...] Error N` chain, the last lines).
//!
//! Every line goes through [`classify`] once. Lines are decoded as lossy UTF-8 for classification
//! and callbacks, but the log file receives the raw bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Which pipe of the child a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a line of build output is, as far as a failure report is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A compiler, assembler, linker or configure error (`foo.c:3:5: error: …`,
    /// `fatal error:`, `undefined reference to`, `configure: error:`, `ERROR: …`).
    Error,
    /// A compiler or tool warning (`foo.c:3:5: warning: …`, `WARNING: modpost: …`).
    Warning,
    /// A message from make itself with `***`: `make[1]: *** [Makefile:5: all] Error 2`,
    /// `make: *** No rule to make target 'x'.  Stop.`, `Makefile:3: *** missing separator.`
    Make,
    /// Anything else (progress, command lines at `V=1`, notes, context lines).
    Other,
}

/// One line of output, handed to the caller's line callback.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The pipe it came from.
    pub stream: Stream,
    /// Its classification.
    pub kind: LineKind,
    /// The text, without the line terminator, decoded as lossy UTF-8.
    pub text: &'a str,
}

/// The caller's line callback, shared by the reader threads.
pub(crate) type LineCallback = Arc<dyn Fn(&Line<'_>) + Send + Sync>;

/// Classify one line of build output (without its line terminator).
///
/// ```
/// use kforge_kbuild::{classify, LineKind};
/// assert_eq!(classify("foo.c:3:5: error: 'x' undeclared"), LineKind::Error);
/// assert_eq!(classify("foo.c:9:1: warning: unused variable 'y'"), LineKind::Warning);
/// assert_eq!(classify("make[1]: *** [Makefile:5: foo.o] Error 1"), LineKind::Make);
/// assert_eq!(classify("  CC      init/main.o"), LineKind::Other);
/// ```
pub fn classify(line: &str) -> LineKind {
    // One pass over the colons (V=1 command lines are long but have few of them): every
    // tool message has the form `<where>: <kind>…`, plus a few forms at the start of the line.
    let mut kind = LineKind::Other;
    for (i, _) in line.match_indices(':') {
        let rest = &line[i..];
        if rest.starts_with(": *** ") {
            return LineKind::Make;
        }
        if rest.starts_with(": error:")
            || rest.starts_with(": fatal error:")
            || rest.starts_with(": Error: ")
            || rest.starts_with(": undefined reference to ")
        {
            kind = LineKind::Error;
        } else if kind == LineKind::Other
            && (rest.starts_with(": warning:") || rest.starts_with(": Warning: "))
        {
            kind = LineKind::Warning;
        }
    }
    if kind == LineKind::Other {
        if line.starts_with("error:")
            || line.starts_with("fatal error:")
            || line.starts_with("ERROR:")
        {
            kind = LineKind::Error;
        } else if line.starts_with("warning:") || line.starts_with("WARNING:") {
            kind = LineKind::Warning;
        }
    }
    kind
}

/// Lines of context kept before an error line.
const CONTEXT_BEFORE: usize = 2;
/// Lines of context kept after an error line.
const CONTEXT_AFTER: usize = 4;
/// Error blocks (an error line with its context) kept per stream.
const MAX_ERROR_BLOCKS: usize = 3;
/// Upper bound on excerpt lines per stream.
const MAX_EXCERPT_LINES: usize = 40;
/// make `***` lines kept per stream.
const MAX_MAKE_LINES: usize = 20;
/// Last lines kept per stream.
const TAIL_LINES: usize = 12;
/// Longest line kept in a report (a `V=1` command line can be kilobytes long).
const MAX_REPORT_LINE: usize = 600;

/// `text`, cut at [`MAX_REPORT_LINE`] bytes (on a character boundary) with a marker.
pub(crate) fn report_line(text: &str) -> String {
    if text.len() <= MAX_REPORT_LINE {
        return text.to_owned();
    }
    let mut end = MAX_REPORT_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} […{} more bytes]", &text[..end], text.len() - end)
}

/// The order of every line read, across both streams of every run: the cause detector keeps
/// the earliest cause by it.
static LINE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// What one stream's reader keeps for the outcome and the failure report.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub lines: u64,
    pub warnings: u64,
    pub errors: u64,
    /// Error lines with context, blocks separated by `...`.
    pub excerpt: Vec<String>,
    pub make_errors: Vec<String>,
    pub tail: VecDeque<String>,
    pub captured: Vec<String>,
    /// Cause detectors: one per stream (two after [`Collected::merge`]).
    pub detectors: Vec<crate::cause::Detector>,
    error_blocks: usize,
    after_remaining: usize,
}

impl Collected {
    fn push(&mut self, text: &str, kind: LineKind, capture: bool) {
        self.lines += 1;
        if self.detectors.is_empty() {
            self.detectors.push(crate::cause::Detector::default());
        }
        let seq = LINE_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        self.detectors[0].push(seq, text, kind, &self.tail);
        if capture {
            self.captured.push(text.to_owned());
        }
        match kind {
            LineKind::Error => {
                self.errors += 1;
                if self.after_remaining > 0 {
                    if self.excerpt.len() < MAX_EXCERPT_LINES {
                        self.excerpt.push(report_line(text));
                    }
                    self.after_remaining = CONTEXT_AFTER;
                } else if self.error_blocks < MAX_ERROR_BLOCKS
                    && self.excerpt.len() < MAX_EXCERPT_LINES
                {
                    if !self.excerpt.is_empty() {
                        self.excerpt.push("...".to_owned());
                    }
                    let skip = self.tail.len().saturating_sub(CONTEXT_BEFORE);
                    for before in self.tail.iter().skip(skip) {
                        if classify(before) != LineKind::Make {
                            self.excerpt.push(report_line(before));
                        }
                    }
                    self.excerpt.push(report_line(text));
                    self.error_blocks += 1;
                    self.after_remaining = CONTEXT_AFTER;
                }
            }
            LineKind::Make => {
                if self.make_errors.len() < MAX_MAKE_LINES {
                    self.make_errors.push(report_line(text));
                }
            }
            LineKind::Warning => {
                self.warnings += 1;
                self.push_context(text);
            }
            LineKind::Other => self.push_context(text),
        }
        // Keep the tail, reusing the allocation of the oldest line.
        if self.tail.len() == TAIL_LINES {
            if let Some(mut oldest) = self.tail.pop_front() {
                oldest.clear();
                oldest.push_str(text);
                self.tail.push_back(oldest);
            }
        } else {
            self.tail.push_back(text.to_owned());
        }
    }

    fn push_context(&mut self, text: &str) {
        if self.after_remaining > 0 {
            if self.excerpt.len() < MAX_EXCERPT_LINES {
                self.excerpt.push(report_line(text));
            }
            self.after_remaining -= 1;
        }
    }

    /// Merge stdout's and stderr's collections (stdout first).
    pub fn merge(mut self, other: Collected) -> Collected {
        self.lines += other.lines;
        self.warnings += other.warnings;
        self.errors += other.errors;
        if !other.excerpt.is_empty() {
            if !self.excerpt.is_empty() {
                self.excerpt.push("...".to_owned());
            }
            self.excerpt.extend(other.excerpt);
        }
        self.make_errors.extend(other.make_errors);
        self.tail.extend(other.tail);
        self.captured.extend(other.captured);
        self.detectors.extend(other.detectors);
        self
    }
}

/// The log file, shared by both reader threads. Buffered; never synced per line.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    writer: BufWriter<File>,
    error: Option<io::Error>,
}

/// A shared handle to the log file.
pub(crate) type SharedLog = Arc<Mutex<LogFile>>;

impl LogFile {
    /// Create (truncate) the log file, creating its parent directories.
    pub fn create(path: &Path) -> io::Result<LogFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(path)?;
        Ok(LogFile {
            path: path.to_owned(),
            writer: BufWriter::with_capacity(128 * 1024, file),
            error: None,
        })
    }

    /// Write one line (a newline is appended). The first write error is kept and later
    /// writes are skipped.
    pub fn write_line(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let result = self
            .writer
            .write_all(bytes)
            .and_then(|()| self.writer.write_all(b"\n"));
        if let Err(err) = result {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot write the build log");
            self.error = Some(err);
        }
    }

    /// Flush the buffer and return the first error seen, if any.
    pub fn finish(&mut self) -> Result<(), io::Error> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        self.writer.flush()
    }
}

/// Everything a reader thread needs besides its pipe.
pub(crate) struct ReaderContext {
    pub log: Option<SharedLog>,
    pub on_line: Option<LineCallback>,
    pub capture_stdout: bool,
    pub span: tracing::Span,
    /// The spawning thread's subscriber, so events from the reader threads reach it even when
    /// it was set per thread (`tracing::subscriber::with_default`).
    pub dispatch: tracing::Dispatch,
}

/// Read `pipe` to its end, line by line, dispatching each line. Runs on its own thread.
///
/// What is kept for the report goes into `collected` line by line, so that a reader abandoned
/// while a stray process holds its pipe has still delivered everything read so far.
pub(crate) fn read_lines(
    pipe: impl Read,
    stream: Stream,
    ctx: &ReaderContext,
    collected: &Mutex<Collected>,
) {
    tracing::dispatcher::with_default(&ctx.dispatch, || {
        let _entered = ctx.span.enter();
        read_lines_in_span(pipe, stream, ctx, collected);
    });
}

fn read_lines_in_span(
    pipe: impl Read,
    stream: Stream,
    ctx: &ReaderContext,
    collected: &Mutex<Collected>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut buf = Vec::with_capacity(512);
    let capture = ctx.capture_stdout && stream == Stream::Stdout;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::warn!(?stream, error = %err, "cannot read build output");
                break;
            }
        }
        let mut end = buf.len();
        if end > 0 && buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && buf[end - 1] == b'\r' {
            end -= 1;
        }
        let raw = &buf[..end];
        if let Some(log) = &ctx.log {
            match log.lock() {
                Ok(mut log) => log.write_line(raw),
                Err(poisoned) => poisoned.into_inner().write_line(raw),
            }
        }
        let text = String::from_utf8_lossy(raw);
        let kind = classify(&text);
        match kind {
            LineKind::Error | LineKind::Make => tracing::error!(?stream, "{text}"),
            LineKind::Warning => tracing::warn!(?stream, "{text}"),
            LineKind::Other => match stream {
                Stream::Stdout => tracing::debug!("{text}"),
                Stream::Stderr => tracing::debug!(?stream, "{text}"),
            },
        }
        if let Some(on_line) = &ctx.on_line {
            on_line(&Line {
                stream,
                kind,
                text: &text,
            });
        }
        match collected.lock() {
            Ok(mut c) => c.push(&text, kind, capture),
            Err(poisoned) => poisoned.into_inner().push(&text, kind, capture),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_compiler_linker_and_make_lines() {
        assert_eq!(
            classify("t.c:1:20: fatal error: nope.h: No such file or directory"),
            LineKind::Error
        );
        assert_eq!(
            classify("ld: t.o: in function `main': undefined reference to `f'"),
            LineKind::Error
        );
        assert_eq!(
            classify("collect2: error: ld returned 1 exit status"),
            LineKind::Error
        );
        assert_eq!(classify("configure: error: no C compiler"), LineKind::Error);
        assert_eq!(classify("ERROR: unknown option --foo"), LineKind::Error);
        assert_eq!(
            classify("arch/x86/entry.S:12: Error: no such instruction: `foo'"),
            LineKind::Error
        );
        assert_eq!(
            classify("WARNING: modpost: missing MODULE_LICENSE() in foo.o"),
            LineKind::Warning
        );
        assert_eq!(
            classify("make: *** No rule to make target 'x'.  Stop."),
            LineKind::Make
        );
        assert_eq!(
            classify("Makefile:3: *** missing separator.  Stop."),
            LineKind::Make
        );
        assert_eq!(
            classify("gcc -Werror=implicit-int -c -o a.o a.c"),
            LineKind::Other
        );
        assert_eq!(classify("t.c: In function 'main':"), LineKind::Other);
    }

    #[test]
    fn excerpt_keeps_context_around_the_first_errors() {
        let mut c = Collected::default();
        let lines = [
            "gcc -c a.c",
            "a.c: In function 'main':",
            "a.c:3:5: error: 'x' undeclared",
            "    3 |     x = 1;",
            "      |     ^",
            "a.c:3:5: note: each undeclared identifier is reported only once",
            "make: *** [Makefile:2: a.o] Error 1",
            "unrelated 1",
            "unrelated 2",
            "unrelated 3",
        ];
        for l in lines {
            c.push(l, classify(l), false);
        }
        assert_eq!(c.errors, 1);
        assert_eq!(
            c.excerpt,
            vec![
                "gcc -c a.c",
                "a.c: In function 'main':",
                "a.c:3:5: error: 'x' undeclared",
                "    3 |     x = 1;",
                "      |     ^",
                "a.c:3:5: note: each undeclared identifier is reported only once",
                "unrelated 1",
            ]
        );
        assert_eq!(c.make_errors, vec!["make: *** [Makefile:2: a.o] Error 1"]);
    }

    #[test]
    fn report_lines_are_cut() {
        let long = format!("gcc {}", "é".repeat(1000));
        let cut = report_line(&long);
        assert!(cut.len() < 700 && cut.ends_with("more bytes]"), "{cut}");
        assert_eq!(report_line("short"), "short");
    }

    #[test]
    fn excerpt_is_bounded() {
        let mut c = Collected::default();
        for i in 0..1000 {
            let l = format!("f.c:{i}:1: error: e{i}");
            c.push(&l, classify(&l), false);
            c.push("ctx", LineKind::Other, false);
            c.push("ctx", LineKind::Other, false);
            c.push("ctx", LineKind::Other, false);
            c.push("ctx", LineKind::Other, false);
            c.push("ctx", LineKind::Other, false);
        }
        assert_eq!(c.errors, 1000);
        assert!(c.excerpt.len() <= MAX_EXCERPT_LINES);
        assert_eq!(c.excerpt.iter().filter(|l| l.contains("error:")).count(), 3);
        assert_eq!(c.tail.len(), TAIL_LINES);
    }
}
