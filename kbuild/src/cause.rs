//! The first real cause of a failed build, found in its output the way a person reading the
//! log would: the first failing recipe's own lines, not whatever else ran beside it under `-j`.
//!
//! Every output line passes through a detector (one per stream, on the reader thread) that
//! recognises the start of a cause — a compiler or linker error, a missing header, an unknown
//! command-line option, a Python or Perl error with its whole traceback, a tool that is not
//! installed, make's `No rule to make target`, a Makefile syntax error, `configure: error:`,
//! a meson error, a ninja `FAILED:` block, a Kconfig error — and follows that block to its end,
//! skipping lines that cannot belong to it (another target's output interleaved by `-j`).
//! Every line carries a sequence number shared by both streams, so the earliest cause wins.
//! make's own `*** [file:line: target] Error N` lines name the target whose recipe failed; the
//! first of them after the cause is matched back to it ([`Cause::target`]).
//!
//! ```
//! use kforge_kbuild::{CauseKind, find_cause};
//! let log = [
//!     "noise line 1",
//!     "Traceback (most recent call last):",
//!     "noise line 2",
//!     "  File \"gen.py\", line 7, in <module>",
//!     "    main()",
//!     "ValueError: no such register",
//!     "make: *** [Makefile:4: gen.h] Error 1",
//! ];
//! let cause = find_cause(log).expect("a cause");
//! assert!(matches!(cause.kind, CauseKind::Traceback { .. }));
//! assert_eq!(cause.excerpt.first().map(String::as_str), Some("Traceback (most recent call last):"));
//! assert_eq!(cause.excerpt.last().map(String::as_str), Some("ValueError: no such register"));
//! assert_eq!(cause.target.as_deref(), Some("gen.h"));
//! ```

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::output::LineKind;

/// Lines kept in one cause's excerpt.
const MAX_BLOCK_LINES: usize = 40;
/// Foreign lines skipped inside an open block before it is closed as it stands.
const MAX_FOREIGN_LINES: usize = 200;
/// Causes kept per stream (the earliest ones).
const MAX_CAUSES: usize = 4;
/// Recent lines looked at for the context before a compiler error.
const RECENT_LINES: usize = 6;

/// The scripting language of a [`CauseKind::Traceback`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Language {
    /// Python (`Traceback (most recent call last):` … `Error: message`).
    Python,
    /// Perl (`message at script.pl line N.`).
    Perl,
}

/// What kind of failure a [`Cause`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CauseKind {
    /// A compiler error (`a.c:3:5: error: …`), or an assembler error.
    Compile,
    /// A header the compiler could not find (`fatal error: X.h: No such file or directory`).
    MissingHeader {
        /// The header as written in the `#include`.
        header: String,
    },
    /// A compiler option the compiler does not know (`unrecognized command-line option '-mX'`).
    UnknownOption {
        /// The option.
        option: String,
    },
    /// A linker error (`undefined reference to`, `multiple definition of`, `cannot find -lX`).
    Link {
        /// The symbol or library named, when there is one.
        symbol: Option<String>,
    },
    /// A script's error: a Python traceback (whole, ending with the exception line) or a Perl
    /// `die`/compile error.
    Traceback {
        /// The language.
        language: Language,
        /// The exception line (`ValueError: …`) or Perl's message.
        exception: String,
    },
    /// A program a recipe runs is not installed (`sh: 1: hg: not found`,
    /// `make: python2: No such file or directory`, `/usr/bin/env: 'python': No such file …`).
    ToolNotFound {
        /// The program.
        tool: String,
    },
    /// `No rule to make target 'X', needed by 'Y'`: a missing file or prerequisite.
    NoRule {
        /// The file make could not make.
        missing: String,
        /// The target that needed it, when make said.
        needed_by: Option<String>,
    },
    /// make could not read a Makefile (`Makefile:3: *** missing separator.  Stop.`).
    Makefile,
    /// `configure: error: …`.
    Configure,
    /// A meson error (`meson.build:3:0: ERROR: …`).
    Meson,
    /// A ninja `FAILED:` block whose output held no more specific cause.
    Ninja,
    /// A Kconfig error (`arch/x86/Kconfig:5: syntax error`).
    Kconfig,
    /// Another line the output classifies as an error (`ERROR: modpost: …`).
    Other,
}

impl CauseKind {
    /// A short name for the kind (`compile error`, `missing header`, …).
    pub fn describe(&self) -> &'static str {
        match self {
            CauseKind::Compile => "compile error",
            CauseKind::MissingHeader { .. } => "missing header",
            CauseKind::UnknownOption { .. } => "unknown compiler option",
            CauseKind::Link { .. } => "link error",
            CauseKind::Traceback {
                language: Language::Python,
                ..
            } => "Python error",
            CauseKind::Traceback {
                language: Language::Perl,
                ..
            } => "Perl error",
            CauseKind::ToolNotFound { .. } => "tool not found",
            CauseKind::NoRule { .. } => "no rule to make a file",
            CauseKind::Makefile => "Makefile error",
            CauseKind::Configure => "configure error",
            CauseKind::Meson => "meson error",
            CauseKind::Ninja => "ninja step failed",
            CauseKind::Kconfig => "Kconfig error",
            CauseKind::Other => "error",
        }
    }
}

/// A place in a source file, as a tool reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The file, as the tool wrote it (often relative to the tool's directory).
    pub file: String,
    /// The line (1-based).
    pub line: u32,
    /// The column, when the tool gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// The first real cause of a failure: what went wrong, where, in which tool, for which target,
/// with the failing recipe's own output lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// What kind of failure.
    #[serde(flatten)]
    pub kind: CauseKind,
    /// The line that states it (`a.c:3:5: error: 'x' undeclared`, `ValueError: …`).
    pub message: String,
    /// Where, when the tool said (the innermost frame of a traceback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The tool that reported it (`gcc`, `ld`, `python`, `perl`, `make`, `configure`, `meson`,
    /// `ninja`, `sh`), when the output tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The target whose recipe failed: from make's first `*** [… target] Error N` line after
    /// the cause, or ninja's `FAILED:` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The failing recipe's own lines, first line first (a whole traceback, a ninja block, a
    /// compiler error with its context); lines of other targets are left out.
    pub excerpt: Vec<String>,
    /// One line saying what to install or which flag to pass, when the cause is a missing or
    /// too-new tool of a recognisable era.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Cause {
    /// One line: kind, location, tool, target and message
    /// (`Python error at gen.py:7 (python, target gen.h): ValueError: no such register`).
    pub fn headline(&self) -> String {
        let mut text = self.kind.describe().to_string();
        if let Some(location) = &self.location {
            text.push_str(&format!(" at {location}"));
        }
        let mut details = Vec::new();
        if let Some(tool) = &self.tool {
            details.push(tool.clone());
        }
        if let Some(target) = &self.target {
            details.push(format!("target {target}"));
        }
        if !details.is_empty() {
            text.push_str(&format!(" ({})", details.join(", ")));
        }
        text.push_str(": ");
        text.push_str(&self.message);
        text
    }
}

/// Find the first cause in a complete log, one line per item (for a saved log file, or output
/// collected elsewhere). A running make is classified as it runs; this is the same analysis.
pub fn find_cause<I, S>(lines: I) -> Option<Cause>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut detector = Detector::default();
    let mut recent: VecDeque<String> = VecDeque::with_capacity(RECENT_LINES + 1);
    for (seq, line) in lines.into_iter().enumerate() {
        let line = line.as_ref();
        detector.push(seq as u64, line, crate::output::classify(line), &recent);
        // Keep the recent lines, reusing the allocation of the oldest.
        match recent.len() == RECENT_LINES {
            true => {
                if let Some(mut oldest) = recent.pop_front() {
                    oldest.clear();
                    oldest.push_str(line);
                    recent.push_back(oldest);
                }
            }
            false => recent.push_back(line.to_owned()),
        }
    }
    first_cause([detector])
}

/// The earliest cause over the detectors of both streams, with make's failed target matched
/// back to it.
pub(crate) fn first_cause(detectors: impl IntoIterator<Item = Detector>) -> Option<Cause> {
    let mut found: Vec<Found> = Vec::new();
    let mut targets: Vec<(u64, String)> = Vec::new();
    for mut detector in detectors {
        detector.close();
        found.extend(detector.found);
        targets.extend(detector.failed_targets);
    }
    let first = found.into_iter().min_by_key(|f| f.seq)?;
    let mut cause = first.cause;
    if cause.target.is_none() {
        targets.sort_by_key(|(seq, _)| *seq);
        cause.target = targets
            .iter()
            .find(|(seq, _)| *seq >= first.seq)
            .or_else(|| targets.first())
            .map(|(_, t)| t.clone());
    }
    cause.hint = hint(&cause);
    Some(cause)
}

/// A cause found, with the sequence number of its first line.
#[derive(Debug)]
struct Found {
    seq: u64,
    cause: Cause,
}

/// A block being followed.
#[derive(Debug)]
enum Open {
    /// A Python traceback (or a bare `File "x", line N` block of a SyntaxError).
    Python { seq: u64, lines: Vec<String> },
    /// A ninja `FAILED:` block.
    Ninja {
        seq: u64,
        target: String,
        lines: Vec<String>,
        inner: Option<Cause>,
    },
    /// A compiler or linker error and the lines that belong to it.
    Tool {
        seq: u64,
        cause: Cause,
        /// Context lines still accepted after the last error line.
        context_left: usize,
    },
}

/// Follows one stream's lines and keeps the first causes in it.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    open: Option<Open>,
    foreign: usize,
    found: Vec<Found>,
    /// `(seq, target)` of make's `*** [… target] Error N` lines.
    failed_targets: Vec<(u64, String)>,
    /// The sequence number of make's last line in this stream: an ignored failure can only
    /// take back a cause found after it.
    last_make_line: Option<u64>,
}

impl Detector {
    /// Take one line, with its classification by [`crate::output::classify`] and the lines
    /// just before it in the same stream (oldest first; the context of a compiler error).
    pub(crate) fn push(&mut self, seq: u64, line: &str, kind: LineKind, recent: &VecDeque<String>) {
        // `-fdiagnostics-color=always` (meson's default) colours compiler messages; every
        // coloured message starts with an escape (`ESC[01m` before the location or the tool).
        let plain;
        let (line, kind) = if line.starts_with('\x1b') {
            plain = strip_ansi(line);
            (plain.as_str(), crate::output::classify(&plain))
        } else {
            (line, kind)
        };
        if kind == LineKind::Make
            && self.failed_targets.len() < 8
            && let Some(target) = make_failed_target(line)
        {
            self.failed_targets.push((seq, target));
        }
        // `make: [Makefile:3: x] Error 1 (ignored)`: the failure just before did not stop the
        // build (`-cmd`, `-i`), so it is not the cause.
        if line.ends_with(" (ignored)") && line.starts_with("make") && line.contains(": [") {
            self.close();
            if self
                .found
                .last()
                .is_some_and(|f| self.last_make_line.is_none_or(|m| f.seq > m))
            {
                self.found.pop();
            }
            self.last_make_line = Some(seq);
            return;
        }
        if kind == LineKind::Make {
            self.last_make_line = Some(seq);
        }
        let mut consumed = false;
        if self.open.is_some() {
            consumed = self.continue_open(line);
            if !consumed && self.open.is_some() {
                self.foreign += 1;
                if self.foreign > MAX_FOREIGN_LINES {
                    self.close();
                }
            }
        }
        if !consumed
            && self.open.is_none()
            && self.found.len() < MAX_CAUSES
            && worth_a_look(line, kind)
        {
            self.start(seq, line, recent);
        }
    }

    /// Feed `line` to the open block. Returns false for a line that does not belong to it
    /// (it may still start something new, once the block is closed). Closes the block when
    /// `line` ends it.
    fn continue_open(&mut self, line: &str) -> bool {
        let Some(open) = &mut self.open else {
            return false;
        };
        match open {
            Open::Python { lines, .. } => {
                // A frame (`  File "x", line N, in f`), its code and carets (4 spaces), or a
                // blank line; kbuild's `  CC      x.o` and other two-space lines are not.
                if line.starts_with("  File \"")
                    || line.starts_with("    ")
                    || line.starts_with('\t')
                    || line.is_empty()
                {
                    push_bounded(lines, line);
                    self.foreign = 0;
                    true
                } else if line.starts_with("Traceback (most recent call last):")
                    || line.starts_with("During handling of the above exception")
                    || line.starts_with("The above exception was the direct cause")
                {
                    push_bounded(lines, line);
                    true
                } else if is_exception_line(line) {
                    push_bounded(lines, line);
                    self.close();
                    true
                } else {
                    false
                }
            }
            Open::Ninja { lines, inner, .. } => {
                if line.starts_with("ninja: ")
                    || line.starts_with("FAILED: ")
                    || is_ninja_progress(line)
                {
                    self.close();
                    // The line may start the next block: the caller looks at it again.
                    return false;
                }
                push_bounded(lines, line);
                if inner.is_none() {
                    *inner = single_line_cause(line);
                }
                true
            }
            Open::Tool {
                cause,
                context_left,
                ..
            } => {
                let linker = matches!(cause.kind, CauseKind::Link { .. });
                if linker && is_linker_line(line) {
                    push_bounded(&mut cause.excerpt, line);
                    true
                } else if *context_left > 0 && is_compiler_context(line) {
                    push_bounded(&mut cause.excerpt, line);
                    *context_left -= 1;
                    true
                } else {
                    self.close();
                    false
                }
            }
        }
    }

    /// Look for the start of a cause at `line`.
    fn start(&mut self, seq: u64, line: &str, recent: &VecDeque<String>) {
        self.foreign = 0;
        if line.starts_with("Traceback (most recent call last):") {
            self.open = Some(Open::Python {
                seq,
                lines: vec![line.to_owned()],
            });
            return;
        }
        if python_frame(line).is_some() {
            // A SyntaxError in the main script has no "Traceback" header.
            self.open = Some(Open::Python {
                seq,
                lines: vec![line.to_owned()],
            });
            return;
        }
        if let Some(target) = line.strip_prefix("FAILED: ") {
            let target = target
                .split_whitespace()
                .next()
                .unwrap_or(target)
                .to_owned();
            self.open = Some(Open::Ninja {
                seq,
                target,
                lines: vec![line.to_owned()],
                inner: None,
            });
            return;
        }
        let Some(mut cause) = single_line_cause(line) else {
            return;
        };
        match cause.kind {
            CauseKind::Compile
            | CauseKind::MissingHeader { .. }
            | CauseKind::UnknownOption { .. }
            | CauseKind::Link { .. } => {
                // The lines just before that belong to it: `In function`, `In file included
                // from`, and for a linker error its `ld: a.o: in function` line.
                // Another target's lines may sit in between under -j: skip them, and take
                // only this file's `In function` line.
                let file = cause.location.as_ref().map(|l| l.file.as_str());
                let mut before: Vec<String> = Vec::new();
                for recent in recent.iter().rev().take(RECENT_LINES) {
                    let in_function =
                        recent.contains(": In function") || recent.contains(": In member function");
                    let belongs = (in_function
                        && file.is_none_or(|f| recent.starts_with(&format!("{f}: "))))
                        || recent.starts_with("In file included from")
                        || recent.starts_with("                 from ")
                        || (matches!(cause.kind, CauseKind::Link { .. })
                            && recent.contains(": in function "));
                    if belongs {
                        before.insert(0, recent.clone());
                    }
                    if in_function {
                        break;
                    }
                }
                before.append(&mut cause.excerpt);
                cause.excerpt = before;
                self.open = Some(Open::Tool {
                    seq,
                    cause,
                    context_left: 6,
                });
            }
            _ => self.found.push(Found { seq, cause }),
        }
    }

    /// Close the open block, keeping what it found.
    fn close(&mut self) {
        self.foreign = 0;
        let Some(open) = self.open.take() else {
            return;
        };
        let found = match open {
            Open::Python { seq, lines } => python_cause(lines).map(|cause| Found { seq, cause }),
            Open::Ninja {
                seq,
                target,
                lines,
                inner,
            } => {
                let cause = match inner {
                    Some(inner) => Cause {
                        tool: inner.tool.or_else(|| Some("ninja".into())),
                        target: Some(target),
                        excerpt: lines,
                        ..inner
                    },
                    None => Cause {
                        kind: CauseKind::Ninja,
                        message: lines.first().cloned().unwrap_or_default(),
                        location: None,
                        tool: Some("ninja".into()),
                        target: Some(target),
                        excerpt: lines,
                        hint: None,
                    },
                };
                Some(Found { seq, cause })
            }
            Open::Tool { seq, cause, .. } => Some(Found { seq, cause }),
        };
        if let Some(found) = found
            && self.found.len() < MAX_CAUSES
        {
            self.found.push(found);
        }
    }
}

/// `text` without ANSI CSI sequences (`ESC [ … letter`) and other escapes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Whether `line` can start a cause: cheap tests on its ends and on what precedes its first
/// colon, so that ordinary lines (progress, `V=1` command lines, warnings) cost little.
fn worth_a_look(line: &str, kind: LineKind) -> bool {
    if matches!(kind, LineKind::Error | LineKind::Make) {
        return true;
    }
    if line.starts_with("Traceback")
        || line.starts_with("Console input/output is redirected")
        || line.starts_with("  File \"")
        || line.starts_with("FAILED: ")
        || line.ends_with("not found")
        || line.ends_with("No such file or directory")
        || (line.ends_with('.') && line.contains(" line "))
    {
        return true;
    }
    // `ld: cannot find`, `multiple definition of`; Kconfig's and meson's `file:line:` errors.
    // Tool names and paths before the first colon are short: look at the first 160 bytes.
    let start = line.get(..160).unwrap_or(line);
    let head = match start.find(':') {
        Some(colon) => &line[..colon],
        None => return false,
    };
    head.ends_with("ld")
        || head.ends_with("ld.bfd")
        || head.ends_with("ld.gold")
        || head.ends_with("ld.lld")
        || head.contains("Kconfig")
        || head.contains("meson")
}

fn push_bounded(lines: &mut Vec<String>, line: &str) {
    if lines.len() >= MAX_BLOCK_LINES {
        // Keep the head (where it started) and the newest lines (where it ends).
        lines.remove(3.min(lines.len() - 1));
    }
    lines.push(crate::output::report_line(line));
}

/// The target in make's `make[1]: *** [Makefile:5: a.o] Error 1` (make 4) or
/// `make: *** [a.o] Error 1` (make 3.81).
fn make_failed_target(line: &str) -> Option<String> {
    let start = line.find(": *** [")? + ": *** [".len();
    let rest = &line[start..];
    let end = rest.rfind("] ")?;
    if !rest[end..].contains("Error") && !rest[end..].contains("Killed") {
        return None;
    }
    let inside = &rest[..end];
    // make 4: `Makefile:5: a.o`; make 3.81: `a.o`.
    let target = match inside.rsplit_once(": ") {
        Some((place, target)) if place.contains(':') => target,
        _ => inside,
    };
    Some(target.to_owned())
}

fn is_ninja_progress(line: &str) -> bool {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(inside, _)| {
            inside.split_once('/').is_some_and(|(a, b)| {
                a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
            })
        })
}

/// `ValueError: message`, `KeyboardInterrupt`, `subprocess.CalledProcessError: …`: a class
/// name (its last dotted part capitalised, or an `…error` such as `socket.error`), then `: ` or
/// the end of the line. `noise: still working` is not one.
fn is_exception_line(line: &str) -> bool {
    let (name, rest) = match line.split_once(':') {
        Some((name, rest)) => (name, Some(rest)),
        None => (line, None),
    };
    if rest.is_some_and(|r| !r.is_empty() && !r.starts_with(' ')) {
        return false;
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let class = name.rsplit('.').next().unwrap_or(name);
    valid
        && (class.starts_with(|c: char| c.is_ascii_uppercase())
            || class.ends_with("error")
            || class.ends_with("Error"))
}

/// `  File "gen.py", line 7, in <module>` -> (`gen.py`, 7).
fn python_frame(line: &str) -> Option<(String, u32)> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    if !line.starts_with("  ") {
        return None;
    }
    let (file, rest) = rest.split_once("\", line ")?;
    let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((file.to_owned(), number.parse().ok()?))
}

fn python_cause(lines: Vec<String>) -> Option<Cause> {
    let last = lines.last()?;
    if !is_exception_line(last) {
        // A traceback cut off (the script was killed): no exception line to lead with.
        return None;
    }
    let location = lines
        .iter()
        .rev()
        .find_map(|l| python_frame(l))
        .map(|(file, line)| Location {
            file,
            line,
            column: None,
        });
    Some(Cause {
        kind: CauseKind::Traceback {
            language: Language::Python,
            exception: last.clone(),
        },
        message: last.clone(),
        location,
        tool: Some("python".into()),
        target: None,
        excerpt: lines,
        hint: None,
    })
}

/// A line of a compiler error's context: the quoted source and caret, notes, further errors
/// in the same block.
fn is_compiler_context(line: &str) -> bool {
    (line.starts_with(' ') && !is_kbuild_progress(line))
        || line.starts_with('\t')
        || line.contains(": note: ")
        || line.contains(": error: ")
        || line.contains(": fatal error: ")
        || line.starts_with("compilation terminated.")
        || line.contains(": In function")
}

/// kbuild's quiet progress lines (`  CC      init/main.o`), which belong to other targets.
fn is_kbuild_progress(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let word: &str = rest.split(' ').next().unwrap_or("");
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && rest[word.len()..].starts_with(' ')
}

/// A line of a linker error block.
fn is_linker_line(line: &str) -> bool {
    line.contains("undefined reference to ")
        || line.contains("multiple definition of ")
        || line.contains(": in function ")
        || line.contains("first defined here")
        || line.starts_with("collect2: ")
        || line.contains("ld returned ")
        || line.starts_with("clang: error: linker command failed")
        || line.contains("ld: ")
}

/// `file:line[:col]: ` at the start of `text`, returning the location and the rest.
fn leading_location(text: &str) -> Option<(Location, &str)> {
    let mut parts = text.splitn(4, ':');
    let file = parts.next()?;
    if file.is_empty() || file.contains(' ') && !file.contains('/') {
        return None;
    }
    let line: u32 = parts.next()?.parse().ok()?;
    let third = parts.next()?;
    let (column, rest) = match third.parse::<u32>() {
        Ok(column) => (Some(column), parts.next().unwrap_or("")),
        Err(_) => {
            // `file:line: message`: the rest is `third[:…]`.
            let offset = file.len() + 1 + line.to_string().len() + 1;
            (None, text.get(offset..).unwrap_or(""))
        }
    };
    Some((
        Location {
            file: file.to_owned(),
            line,
            column,
        },
        rest.strip_prefix(' ').unwrap_or(rest),
    ))
}

fn quoted(text: &str) -> Option<String> {
    let start = text.find(['\'', '`', '‘', '"'])?;
    let open = text[start..].chars().next()?;
    let rest = &text[start + open.len_utf8()..];
    let end = rest.find(['\'', '’', '"'])?;
    Some(rest[..end].to_owned())
}

fn cause(kind: CauseKind, line: &str, location: Option<Location>, tool: Option<&str>) -> Cause {
    Cause {
        kind,
        message: crate::output::report_line(line),
        location,
        tool: tool.map(str::to_owned),
        target: None,
        excerpt: vec![crate::output::report_line(line)],
        hint: None,
    }
}

/// A cause stated by one line (it may be followed by context lines).
fn single_line_cause(line: &str) -> Option<Cause> {
    // Kconfig's conf asked a question with stdin closed (2.6-era `oldconfig`).
    if line.starts_with("Console input/output is redirected") {
        return Some(cause(CauseKind::Kconfig, line, None, Some("kconfig")));
    }
    // Fast path: every form below contains a colon, except Perl's `… at x.pl line N.`.
    if !line.contains(':') {
        return perl_error(line);
    }
    // make's own messages.
    if let Some(i) = line.find(": *** ") {
        let message = &line[i + ": *** ".len()..];
        if let Some(rest) = message.strip_prefix("No rule to make target ") {
            let missing = quoted(rest)?;
            let needed_by = rest.find("needed by ").and_then(|j| quoted(&rest[j..]));
            return Some(cause(
                CauseKind::NoRule { missing, needed_by },
                line,
                None,
                Some("make"),
            ));
        }
        if !message.starts_with('[')
            && !message.starts_with("Waiting for unfinished")
            && !message.starts_with("Deleting ")
        {
            // `Makefile:3: *** missing separator.  Stop.` or a Makefile's own $(error …).
            let location = leading_location(line).map(|(l, _)| l);
            return Some(cause(CauseKind::Makefile, line, location, Some("make")));
        }
        return None;
    }
    // A tool that is not installed.
    if let Some(tool) = missing_tool(line) {
        let shell = if line.starts_with("make") {
            "make"
        } else {
            "sh"
        };
        return Some(cause(
            CauseKind::ToolNotFound { tool },
            line,
            None,
            Some(shell),
        ));
    }
    if let Some(message) = line.strip_prefix("configure: error: ") {
        let _ = message;
        return Some(cause(CauseKind::Configure, line, None, Some("configure")));
    }
    // Compiler drivers' own errors: `gcc: error: unrecognized command-line option '-mfoo'`,
    // `cc1: error: …`, `clang: error: unknown argument: '-mfoo'`.
    if let Some((tool, message)) = driver_error(line) {
        if message.contains("unrecognized command-line option")
            || message.contains("unrecognized command line option")
            || message.contains("unknown argument")
            || message.contains("unrecognized argument in option")
            || message.contains("unsupported option")
        {
            let option = quoted(message).unwrap_or_else(|| message.to_owned());
            return Some(cause(
                CauseKind::UnknownOption { option },
                line,
                None,
                Some(tool),
            ));
        }
        if tool == "collect2" || message.starts_with("linker command failed") {
            return Some(cause(
                CauseKind::Link { symbol: None },
                line,
                None,
                Some("ld"),
            ));
        }
        return Some(cause(CauseKind::Compile, line, None, Some(tool)));
    }
    // The linker.
    if let Some(j) = line.find("undefined reference to ") {
        let symbol = quoted(&line[j..]);
        return Some(cause(CauseKind::Link { symbol }, line, None, Some("ld")));
    }
    if let Some(j) = line.find("multiple definition of ") {
        let symbol = quoted(&line[j..]);
        return Some(cause(CauseKind::Link { symbol }, line, None, Some("ld")));
    }
    if let Some(j) = line.find("ld: cannot find ") {
        let symbol = line[j + "ld: cannot find ".len()..]
            .split_whitespace()
            .next()
            .map(str::to_owned);
        return Some(cause(CauseKind::Link { symbol }, line, None, Some("ld")));
    }
    // Perl: `message at script.pl line N.` (die, compile errors, removed syntax).
    if let Some(found) = perl_error(line) {
        return Some(found);
    }
    // `file:line[:col]: (fatal )?error: …` from compilers, meson, Kconfig.
    if let Some((location, rest)) = leading_location(line) {
        let lower = rest.to_ascii_lowercase();
        if let Some(message) = rest
            .strip_prefix("fatal error: ")
            .or_else(|| rest.strip_prefix("error: "))
        {
            if let Some(header) = message.strip_suffix(": No such file or directory") {
                return Some(cause(
                    CauseKind::MissingHeader {
                        header: header.to_owned(),
                    },
                    line,
                    Some(location),
                    Some("cc"),
                ));
            }
            if location.file.ends_with(".o") || location.file.contains(".o:") {
                return Some(cause(
                    CauseKind::Link { symbol: None },
                    line,
                    None,
                    Some("ld"),
                ));
            }
            return Some(cause(CauseKind::Compile, line, Some(location), Some("cc")));
        }
        if rest.starts_with("ERROR: ") {
            let kind = if location.file.contains("meson") {
                CauseKind::Meson
            } else {
                CauseKind::Other
            };
            let tool = matches!(kind, CauseKind::Meson).then_some("meson");
            return Some(cause(kind, line, Some(location), tool));
        }
        if rest.starts_with("Error: ") {
            return Some(cause(CauseKind::Compile, line, Some(location), Some("as")));
        }
        if location.file.contains("Kconfig")
            && (lower.starts_with("syntax error")
                || lower.starts_with("unknown ")
                || lower.starts_with("invalid ")
                || lower.starts_with("can't open")
                || lower.starts_with("error"))
        {
            return Some(cause(
                CauseKind::Kconfig,
                line,
                Some(location),
                Some("kconfig"),
            ));
        }
    }
    if line.starts_with("ERROR: ") || line.starts_with("error: ") {
        let tool = line
            .strip_prefix("ERROR: ")
            .and_then(|r| r.split_once(": "))
            .filter(|(t, _)| !t.contains(' '))
            .map(|(t, _)| t.to_owned());
        let mut c = cause(CauseKind::Other, line, None, None);
        c.tool = tool;
        return Some(c);
    }
    None
}

/// `gcc: error: …`, `cc1: error: …`, `x86_64-linux-gnu-gcc-12: fatal error: …`,
/// `clang: error: …`, `collect2: error: …`.
fn driver_error(line: &str) -> Option<(&str, &str)> {
    let (tool, rest) = line.split_once(": ")?;
    let message = rest
        .strip_prefix("error: ")
        .or_else(|| rest.strip_prefix("fatal error: "))?;
    let name = tool.rsplit('/').next().unwrap_or(tool);
    let is_driver = !name.is_empty()
        && !name.contains(['.', ' ', ':'])
        && (name.contains("gcc")
            || name.contains("clang")
            || name.starts_with("cc")
            || name.contains("g++")
            || name == "collect2"
            || name == "as"
            || name.ends_with("-as"));
    is_driver.then_some((name, message))
}

/// The program a shell, make or env could not find.
fn missing_tool(line: &str) -> Option<String> {
    let trimmed = line.trim_end();
    // /usr/bin/env: 'python': No such file or directory
    if let Some(rest) = trimmed
        .strip_prefix("/usr/bin/env: ")
        .or_else(|| trimmed.strip_prefix("env: "))
    {
        let name = rest.strip_suffix(": No such file or directory")?;
        return Some(name.trim_matches(['\'', '‘', '’', '"', '`']).to_owned());
    }
    // sh: 1: hg: not found | /bin/sh: line 1: hg: command not found | bash: hg: command not found
    let shell = trimmed
        .split_once(": ")
        .filter(|(s, _)| {
            let s = s.rsplit('/').next().unwrap_or(s);
            matches!(s, "sh" | "bash" | "dash")
        })
        .map(|(_, rest)| rest);
    if let Some(rest) = shell {
        let body = rest
            .strip_suffix(": command not found")
            .or_else(|| rest.strip_suffix(": not found"))
            .or_else(|| rest.strip_suffix(": No such file or directory"))?;
        // Drop `1: ` or `line 1: `.
        let name = body.rsplit(": ").next().unwrap_or(body);
        return (!name.is_empty()).then(|| name.to_owned());
    }
    // make: python2: No such file or directory | make: hg: Command not found
    let rest = trimmed.strip_prefix("make")?;
    let rest = rest.split_once(": ")?.1;
    let name = rest
        .strip_suffix(": No such file or directory")
        .or_else(|| rest.strip_suffix(": Command not found"))?;
    (!name.contains(' ') && !name.is_empty()).then(|| name.to_owned())
}

/// `Can't locate Foo.pm in @INC … at script.pl line 3.`, `syntax error at x.pl line 5, near …`.
fn perl_error(line: &str) -> Option<Cause> {
    let at = line.rfind(" at ")?;
    let rest = &line[at + 4..];
    let (file, after) = rest.split_once(" line ")?;
    if !(file.ends_with(".pl") || file.ends_with(".pm") || file == "-e") || file.contains(' ') {
        return None;
    }
    let number: String = after.chars().take_while(char::is_ascii_digit).collect();
    let tail = &after[number.len()..];
    if !(tail.starts_with('.') || tail.starts_with(',')) {
        return None;
    }
    let line_no = number.parse().ok()?;
    let mut c = cause(
        CauseKind::Traceback {
            language: Language::Perl,
            exception: line.to_owned(),
        },
        line,
        Some(Location {
            file: file.to_owned(),
            line: line_no,
            column: None,
        }),
        Some("perl"),
    );
    c.excerpt = vec![crate::output::report_line(line)];
    Some(c)
}

/// The one-line advice for causes that a tool of another era explains.
fn hint(cause: &Cause) -> Option<String> {
    let text = cause.excerpt.join("\n");
    match &cause.kind {
        CauseKind::ToolNotFound { tool } => tool_hint(tool),
        CauseKind::Traceback {
            language: Language::Python,
            exception,
        } => {
            let python2 = exception.contains("Missing parentheses in call to 'print'")
                || (exception.starts_with("SyntaxError")
                    && (text.contains("print \"")
                        || text.contains("print '")
                        || text.contains("except ") && text.contains(", e:")
                        || text.contains("0777")
                        || text.contains("ur\"")))
                || exception.starts_with("ModuleNotFoundError: No module named")
                    && [
                        "'sets'",
                        "'commands'",
                        "'md5'",
                        "'sha'",
                        "'popen2'",
                        "'string'",
                        "'urllib2'",
                        "'StringIO'",
                        "'cPickle'",
                    ]
                    .iter()
                    .any(|m| exception.ends_with(m))
                || exception.contains("has no attribute 'has_key'")
                || exception.contains("name 'xrange' is not defined")
                || exception.contains("name 'unicode' is not defined");
            python2.then(|| {
                "this script is Python 2 (the era's helper scripts predate Python 3): install \
                 Python 2.7 (Debian 12 no longer packages it; pyenv or a source build) and pass \
                 PYTHON=python2.7 to make"
                    .to_owned()
            })
        }
        CauseKind::Traceback {
            language: Language::Perl,
            ..
        } if text.contains("defined(@") => Some(
            "this Perl script uses defined(@array), removed in Perl 5.22: use the tree's later \
             fix for the script (the kernel's timeconst.pl was fixed in 3.7) or a Perl older \
             than 5.22"
                .to_owned(),
        ),
        CauseKind::MissingHeader { header } => header_hint(header),
        CauseKind::UnknownOption { option } => Some(format!(
            "the compiler does not know {option}: the tree expects another compiler version \
             (or target); pass one that has it (CC=gcc-N on make's command line)"
        )),
        CauseKind::Link { symbol } if text.contains("multiple definition of") => Some(format!(
            "multiple definitions{}: gcc 10 and later default to -fno-common, which trees from \
             before 2020 predate; use an older gcc (CC=gcc-9 HOSTCC=gcc-9) or add -fcommon \
             (HOSTCFLAGS=-fcommon for host tools)",
            symbol
                .as_ref()
                .map(|s| format!(" of `{s}`"))
                .unwrap_or_default()
        )),
        CauseKind::Link { .. }
            if text.contains("cannot find -lgcc")
                || text.contains("cannot find crt1.o")
                || text.contains("skipping incompatible") =>
        {
            Some("the 32-bit C library or libgcc is missing: apt-get install gcc-multilib".into())
        }
        CauseKind::Kconfig
            if cause
                .message
                .starts_with("Console input/output is redirected") =>
        {
            Some(
                "Kconfig asked a question with stdin closed: answer every prompt with its \
                 default (`yes \"\" | make oldconfig`, Make::answer_prompts_with_defaults) or use \
                 olddefconfig where the kernel has it (3.7+; oldnoconfig 2.6.36-3.6)"
                    .into(),
            )
        }
        CauseKind::Makefile if cause.message.contains("mixed implicit and normal rules") => Some(
            "this Makefile predates GNU make 3.82, which rejects mixed implicit and normal \
             rules: run it with make 3.81 (Make::program) or apply the tree's later Makefile fix"
                .into(),
        ),
        _ => None,
    }
}

fn tool_hint(tool: &str) -> Option<String> {
    let name = tool.rsplit('/').next().unwrap_or(tool);
    let package = match name {
        "hg" => "mercurial",
        "flex" | "lex" => "flex",
        "bison" | "yacc" => "bison",
        "bc" => "bc",
        "perl" => "perl",
        "gawk" | "awk" => "gawk",
        "python3" => "python3",
        "python" => {
            return Some(
                "`python` is not installed: apt-get install python-is-python3 (for Python 2 \
                 helper scripts of 2008-era trees, install Python 2.7 and pass PYTHON=python2.7)"
                    .into(),
            );
        }
        "python2" | "python2.7" | "python2.6" | "python2.5" | "python2.4" => {
            return Some(format!(
                "{name} is not installed (Debian 12 no longer packages Python 2): install \
                 Python 2.7 (pyenv or a source build) and put it on PATH as {name}, or pass \
                 PYTHON=<path> to make"
            ));
        }
        "makeinfo" => "texinfo",
        "mkimage" => "u-boot-tools",
        "ninja" => "ninja-build",
        "meson" => "meson",
        "pkg-config" => "pkg-config",
        "cpio" => "cpio",
        "rsync" => "rsync",
        "dtc" => "device-tree-compiler",
        "iasl" => "acpica-tools",
        "xxd" => "xxd",
        name if name.starts_with("gcc-") || name.starts_with("g++-") => name,
        _ => return None,
    };
    Some(format!(
        "{name} is not installed: apt-get install {package}"
    ))
}

fn header_hint(header: &str) -> Option<String> {
    // linux/compiler-gcc12.h: a kernel older than the compiler (2.6.x–4.x kept one header per
    // gcc major version).
    if let Some(major) = header
        .strip_prefix("linux/compiler-gcc")
        .and_then(|rest| rest.strip_suffix(".h"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "this kernel predates gcc {major} (it has no {header}): build it with a gcc of its \
             era, e.g. CC=gcc-4.9 HOSTCC=gcc-4.9 (a toolchain requirement such as `gcc <{major}`)"
        ));
    }
    let package = match header {
        "gnu/stubs-32.h" | "bits/libc-header-start.h" | "asm/errno.h" => "gcc-multilib",
        "gelf.h" | "libelf.h" => "libelf-dev",
        h if h.starts_with("openssl/") => "libssl-dev",
        "zlib.h" => "zlib1g-dev",
        "ncurses.h" | "curses.h" => "libncurses-dev",
        "uuid/uuid.h" => "uuid-dev",
        "glib.h" => "libglib2.0-dev",
        "pixman.h" => "libpixman-1-dev",
        "libfdt.h" => "libfdt-dev",
        "Python.h" => "python3-dev",
        _ => return None,
    };
    Some(format!("{header} is missing: apt-get install {package}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(lines: &[&str]) -> Cause {
        find_cause(lines.iter().copied()).expect("a cause")
    }

    #[test]
    fn compiler_error_with_context_and_target() {
        let c = first(&[
            "  CC      a.o",
            "a.c: In function 'main':",
            "a.c:3:5: error: 'x' undeclared (first use in this function)",
            "    3 |     x = 1;",
            "      |     ^",
            "a.c:3:5: note: each undeclared identifier is reported only once",
            "  CC      b.o",
            "make: *** [Makefile:2: a.o] Error 1",
        ]);
        assert_eq!(c.kind, CauseKind::Compile);
        assert_eq!(c.excerpt[0], "a.c: In function 'main':");
        assert_eq!(c.excerpt.len(), 5, "{:?}", c.excerpt);
        assert_eq!(
            c.location.as_ref().map(ToString::to_string).as_deref(),
            Some("a.c:3:5")
        );
        assert_eq!(c.target.as_deref(), Some("a.o"));
    }

    #[test]
    fn tools_not_found() {
        for (line, tool) in [
            ("/bin/sh: 1: hg: not found", "hg"),
            ("sh: line 1: bison: command not found", "bison"),
            ("bash: flex: command not found", "flex"),
            ("make: python2: No such file or directory", "python2"),
            ("make: hg: Command not found", "hg"),
            (
                "/usr/bin/env: 'python': No such file or directory",
                "python",
            ),
            (
                "/usr/bin/env: ‘python’: No such file or directory",
                "python",
            ),
        ] {
            let c = first(&[line]);
            assert_eq!(
                c.kind,
                CauseKind::ToolNotFound { tool: tool.into() },
                "{line}"
            );
            assert!(c.hint.is_some(), "{line}");
        }
    }

    #[test]
    fn make_forms() {
        let c = first(&["make: *** No rule to make target 'foo.h', needed by 'a.o'.  Stop."]);
        assert_eq!(
            c.kind,
            CauseKind::NoRule {
                missing: "foo.h".into(),
                needed_by: Some("a.o".into())
            }
        );
        let c = first(&["make: *** No rule to make target `foo.h', needed by `a.o'.  Stop."]);
        assert!(matches!(c.kind, CauseKind::NoRule { .. }));
        let c = first(&["Makefile:416: *** mixed implicit and normal rules.  Stop."]);
        assert_eq!(c.kind, CauseKind::Makefile);
        assert_eq!(c.location.unwrap().line, 416);
        assert!(c.hint.unwrap().contains("3.81"));
        assert_eq!(
            make_failed_target("make[2]: *** [scripts/Makefile.build:250: init/main.o] Error 1")
                .as_deref(),
            Some("init/main.o")
        );
        assert_eq!(
            make_failed_target("make: *** [gen.h] Error 1").as_deref(),
            Some("gen.h")
        );
        assert!(find_cause(["make: *** Waiting for unfinished jobs...."]).is_none());
    }

    #[test]
    fn python_syntax_error_of_python2_code() {
        let c = first(&[
            "  File \"/src/tools/mkhdr.py\", line 3",
            "    print \"#define X 1\"",
            "    ^^^^^^^^^^^^^^^^^^^^",
            "SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?",
        ]);
        assert!(matches!(
            c.kind,
            CauseKind::Traceback {
                language: Language::Python,
                ..
            }
        ));
        assert_eq!(c.location.as_ref().unwrap().line, 3);
        assert!(c.hint.unwrap().contains("Python 2"));
    }

    #[test]
    fn a_kernel_older_than_the_compiler() {
        let c = first(&[
            "include/linux/compiler-gcc.h:86:30: fatal error: linux/compiler-gcc12.h: No such file or directory",
        ]);
        assert_eq!(
            c.kind,
            CauseKind::MissingHeader {
                header: "linux/compiler-gcc12.h".into()
            }
        );
        assert!(c.hint.unwrap().contains("predates gcc 12"));
    }

    #[test]
    fn meson_errors_and_serialization() {
        let c = first(&[
            "The Meson build system",
            "../meson.build:2:0: ERROR: Dependency \"glib-2.0\" not found, tried pkgconfig",
        ]);
        assert_eq!(c.kind, CauseKind::Meson);
        assert_eq!(
            c.location.as_ref().unwrap().to_string(),
            "../meson.build:2:0"
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "meson");
        assert_eq!(json["location"]["line"], 2);
        let back: Cause = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let c = first(&["drivers/Kconfig:3: can't open file \"drivers/foo/Kconfig\""]);
        assert_eq!(c.kind, CauseKind::Kconfig);
    }

    #[test]
    fn ignored_failures_and_make_chatter_are_not_causes() {
        let c = first(&[
            "rm: cannot remove 'x': No such file or directory",
            "/bin/sh: 1: optional-tool: not found",
            "make: [Makefile:3: clean-extra] Error 127 (ignored)",
            "a.c:1:1: error: expected ';'",
            "make[1]: *** Deleting file 'a.o'",
            "make[1]: *** [Makefile:5: a.o] Error 1",
        ]);
        assert_eq!(c.kind, CauseKind::Compile);
        assert_eq!(c.target.as_deref(), Some("a.o"));
        assert!(find_cause(["make[1]: *** Deleting file 'a.o'"]).is_none());
    }

    /// Under `-k` or `-j`, a recipe failing silently with `-` after another target's real error
    /// takes nothing back: the error was already followed by make's own line.
    #[test]
    fn an_ignored_failure_keeps_an_earlier_targets_cause() {
        let c = first(&[
            "a.c:1:1: error: expected ';'",
            "make: *** [Makefile:2: a.o] Error 1",
            "make: [Makefile:5: b] Error 1 (ignored)",
            "make: Target 'all' not remade because of errors.",
        ]);
        assert_eq!(c.kind, CauseKind::Compile);
        assert_eq!(c.target.as_deref(), Some("a.o"));
    }

    #[test]
    fn a_traceback_skips_interleaved_lines() {
        let c = first(&[
            "Traceback (most recent call last):",
            "  CC      drivers/noise.o",
            "  File \"gen.py\", line 3, in <module>",
            "noise.c:1:1: warning: unused thing",
            "    main()",
            "  LD      vmlinux.o",
            "  File \"gen.py\", line 2, in main",
            "    raise ValueError('x')",
            "ValueError: x",
        ]);
        assert_eq!(
            c.excerpt,
            [
                "Traceback (most recent call last):",
                "  File \"gen.py\", line 3, in <module>",
                "    main()",
                "  File \"gen.py\", line 2, in main",
                "    raise ValueError('x')",
                "ValueError: x",
            ]
        );
        assert_eq!(c.location.unwrap().line, 2);
    }

    #[test]
    fn a_prompt_with_stdin_closed() {
        let c = first(&[
            "*",
            "Restart config...",
            "aborted!",
            "",
            "Console input/output is redirected. Run 'make oldconfig' to update configuration.",
            "make[2]: *** [scripts/kconfig/Makefile:36: silentoldconfig] Error 1",
        ]);
        assert_eq!(c.kind, CauseKind::Kconfig);
        assert_eq!(c.target.as_deref(), Some("silentoldconfig"));
        assert!(c.hint.unwrap().contains("yes \"\" | make oldconfig"));
    }

    #[test]
    fn exception_lines() {
        for yes in [
            "ValueError: bad",
            "KeyboardInterrupt",
            "subprocess.CalledProcessError: Command 'x' returned non-zero exit status 1.",
            "socket.error: [Errno 111] Connection refused",
            "SystemExit: 2",
        ] {
            assert!(is_exception_line(yes), "{yes}");
        }
        for no in [
            "noise: still working (39)",
            "make: *** [x] Error 1",
            "gen.py: pass 2",
            "http://x",
        ] {
            assert!(!is_exception_line(no), "{no}");
        }
    }

    #[test]
    fn perl_errors() {
        let c = first(&[
            "Can't use 'defined(@array)' (Maybe you should just omit the defined()?) at kernel/timeconst.pl line 373.",
        ]);
        assert_eq!(c.location.as_ref().unwrap().file, "kernel/timeconst.pl");
        assert!(c.hint.unwrap().contains("5.22"));
    }

    #[test]
    fn link_errors_keep_the_in_function_line() {
        let c = first(&[
            "gcc -o prog main.o",
            "/usr/bin/ld: main.o: in function `main':",
            "main.c:(.text+0x5): undefined reference to `missing_function'",
            "collect2: error: ld returned 1 exit status",
            "make: *** [Makefile:3: prog] Error 1",
        ]);
        assert_eq!(
            c.kind,
            CauseKind::Link {
                symbol: Some("missing_function".into())
            }
        );
        assert_eq!(c.excerpt[0], "/usr/bin/ld: main.o: in function `main':");
        assert_eq!(c.excerpt.len(), 3);
    }

    #[test]
    fn unknown_option_and_kconfig_and_configure() {
        let c = first(&["gcc: error: unrecognized command-line option '-mno-such-thing'"]);
        assert_eq!(
            c.kind,
            CauseKind::UnknownOption {
                option: "-mno-such-thing".into()
            }
        );
        assert_eq!(c.tool.as_deref(), Some("gcc"));
        let c = first(&["arch/x86/Kconfig:12: syntax error"]);
        assert_eq!(c.kind, CauseKind::Kconfig);
        let c = first(&[
            "checking for gcc... gcc",
            "configure: error: C compiler cannot create executables",
        ]);
        assert_eq!(c.kind, CauseKind::Configure);
    }

    #[test]
    fn colours_are_ignored() {
        let c = first(&[
            "\x1b[01m\x1b[Ka.c:3:5:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'x' undeclared",
        ]);
        assert_eq!(c.message, "a.c:3:5: error: 'x' undeclared");
        assert_eq!(c.kind, CauseKind::Compile);
    }

    #[test]
    fn nothing_in_ordinary_output() {
        assert!(
            find_cause([
                "  CC      init/main.o",
                "a.c:1:1: warning: unused",
                "make[1]: Leaving directory '/x'",
                "note: see above"
            ])
            .is_none()
        );
    }
}
