//! Tokens of a Kconfig file, with macro references expanded as the kernel's lexer does.
//!
//! The lexer works on the bytes of one file. Words (`[A-Za-z0-9_-]+`) containing `$(…)` are
//! expanded and yield one word (or nothing when the expansion is empty); `$(…)` inside quoted
//! strings is expanded into the string; the value of an assignment (`NAME = …`, `:=`, `+=`) is
//! the raw rest of the line. Help text is read by [`Lexer::help_text`], which ends the text by
//! indentation only, never by a keyword.

use std::borrow::Cow;

use super::preprocess::{MacroPos, Preprocessor};

/// A token; words borrow from the file's text when they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'s> {
    /// End of a line (statement terminator).
    Eol,
    /// End of the file.
    Eof,
    /// A word; `plain` is false when it came from a macro expansion (never a keyword then).
    Word {
        /// The text.
        text: Cow<'s, str>,
        /// Written literally in the file (it may be a keyword).
        plain: bool,
        /// Written literally and spelled like a keyword of the current language: never a
        /// symbol name.
        keyword: bool,
    },
    /// A quoted string, unquoted and expanded.
    Quote(String),
    /// The raw value of an assignment.
    AssignVal(Vec<u8>),
    /// `||`
    Or,
    /// `&&`
    And,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `!`
    Not,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:=`
    ColonEq,
    /// `+=`
    PlusEq,
}

impl Tok<'_> {
    /// How the token is shown in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Eol => "end of line".to_owned(),
            Tok::Eof => "end of file".to_owned(),
            Tok::Word { text, .. } => format!("'{text}'"),
            Tok::Quote(s) => format!("\"{s}\""),
            Tok::AssignVal(_) => "a value".to_owned(),
            Tok::Or => "'||'".to_owned(),
            Tok::And => "'&&'".to_owned(),
            Tok::Eq => "'='".to_owned(),
            Tok::Ne => "'!='".to_owned(),
            Tok::Lt => "'<'".to_owned(),
            Tok::Le => "'<='".to_owned(),
            Tok::Gt => "'>'".to_owned(),
            Tok::Ge => "'>='".to_owned(),
            Tok::Not => "'!'".to_owned(),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::ColonEq => "':='".to_owned(),
            Tok::PlusEq => "'+='".to_owned(),
        }
    }
}

/// A token and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'s> {
    /// The token.
    pub tok: Tok<'s>,
    /// Its line (1-based).
    pub line: u32,
}

/// Whether a plain word is a keyword of the current language (then it is never a symbol
/// name).
pub fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "bool"
            | "choice"
            | "comment"
            | "config"
            | "def_bool"
            | "def_tristate"
            | "default"
            | "depends"
            | "endchoice"
            | "endif"
            | "endmenu"
            | "help"
            | "hex"
            | "if"
            | "imply"
            | "int"
            | "mainmenu"
            | "menu"
            | "menuconfig"
            | "modules"
            | "on"
            | "optional"
            | "prompt"
            | "range"
            | "select"
            | "source"
            | "string"
            | "tristate"
            | "visible"
    )
}

/// A warning from the lexer (the kernel prints these and goes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexWarning {
    /// The line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    Eol,
    Help,
    Word,
    Other,
}

/// The lexer of one file.
#[derive(Debug)]
pub struct Lexer<'s> {
    src: &'s [u8],
    /// `src` as text when it is valid UTF-8 (words are sliced from it without checks).
    text: Option<&'s str>,
    name: &'s str,
    pos: usize,
    line: u32,
    prev: Prev,
    prev_prev: Prev,
    assign_next: bool,
    eof_eol_sent: bool,
    warnings: Vec<LexWarning>,
}

/// UTF-8 text as is (no copy); other bytes replaced, as a lossy conversion does.
fn bytes_to_string(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl<'s> Lexer<'s> {
    /// A lexer over `src`, a file printed as `name`.
    pub fn new(src: &'s [u8], name: &'s str) -> Self {
        Lexer {
            src,
            text: std::str::from_utf8(src).ok(),
            name,
            pos: 0,
            line: 1,
            prev: Prev::Eol,
            prev_prev: Prev::Eol,
            assign_next: false,
            eof_eol_sent: false,
            warnings: Vec::new(),
        }
    }

    /// Warnings so far.
    pub fn take_warnings(&mut self) -> Vec<LexWarning> {
        std::mem::take(&mut self.warnings)
    }

    fn line_end(&self) -> usize {
        self.src[self.pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.src.len(), |p| self.pos + p)
    }

    fn macro_pos(&self) -> MacroPos<'s> {
        MacroPos {
            file: self.name,
            line: self.line,
        }
    }

    /// The next token; a macro error comes back as `Err((line, message))`.
    pub fn next(&mut self, pp: &mut Preprocessor<'_>) -> Result<Token<'s>, (u32, String)> {
        let tok = self.next_raw(pp)?;
        let kind = match &tok.tok {
            Tok::Eol => Prev::Eol,
            Tok::Word { keyword, .. } => {
                if *keyword {
                    Prev::Other
                } else {
                    Prev::Word
                }
            }
            _ => Prev::Other,
        };
        if self.prev_prev == Prev::Eol
            && self.prev == Prev::Word
            && matches!(tok.tok, Tok::Eq | Tok::ColonEq | Tok::PlusEq)
        {
            self.assign_next = true;
        }
        self.prev_prev = self.prev;
        self.prev = kind;
        Ok(tok)
    }

    fn next_raw(&mut self, pp: &mut Preprocessor<'_>) -> Result<Token<'s>, (u32, String)> {
        if self.assign_next {
            self.assign_next = false;
            while self.pos < self.src.len() && matches!(self.src[self.pos], b' ' | b'\t') {
                self.pos += 1;
            }
            let end = self.line_end();
            if end > self.pos {
                let v = self.src[self.pos..end].to_vec();
                self.pos = end;
                return Ok(Token {
                    tok: Tok::AssignVal(v),
                    line: self.line,
                });
            }
        }
        loop {
            let line = self.line;
            let Some(&c) = self.src.get(self.pos) else {
                if !self.eof_eol_sent {
                    self.eof_eol_sent = true;
                    if !matches!(self.prev, Prev::Eol | Prev::Help) {
                        self.warnings.push(LexWarning {
                            line,
                            message: "no new line at end of file".to_owned(),
                        });
                    }
                    return Ok(Token {
                        tok: Tok::Eol,
                        line,
                    });
                }
                return Ok(Token {
                    tok: Tok::Eof,
                    line,
                });
            };
            let next = self.src.get(self.pos + 1).copied();
            let two = |t: Tok<'s>, me: &mut Self| {
                me.pos += 2;
                Ok(Token { tok: t, line })
            };
            let one = |t: Tok<'s>, me: &mut Self| {
                me.pos += 1;
                Ok(Token { tok: t, line })
            };
            match c {
                b'#' => self.pos = self.line_end(),
                b' ' | b'\t' => self.pos += 1,
                b'\\' if next == Some(b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(Token {
                        tok: Tok::Eol,
                        line,
                    });
                }
                b'"' | b'\'' => return self.string(c, pp),
                b'|' if next == Some(b'|') => return two(Tok::Or, self),
                b'&' if next == Some(b'&') => return two(Tok::And, self),
                b'!' if next == Some(b'=') => return two(Tok::Ne, self),
                b'<' if next == Some(b'=') => return two(Tok::Le, self),
                b'>' if next == Some(b'=') => return two(Tok::Ge, self),
                b':' if next == Some(b'=') => return two(Tok::ColonEq, self),
                b'+' if next == Some(b'=') => return two(Tok::PlusEq, self),
                b'=' => return one(Tok::Eq, self),
                b'<' => return one(Tok::Lt, self),
                b'>' => return one(Tok::Gt, self),
                b'!' => return one(Tok::Not, self),
                b'(' => return one(Tok::LParen, self),
                b')' => return one(Tok::RParen, self),
                c if is_word_byte(c) || c == b'$' => {
                    let start = self.pos;
                    let mut end = start;
                    let mut dollar = false;
                    while end < self.src.len()
                        && (is_word_byte(self.src[end]) || self.src[end] == b'$')
                    {
                        dollar |= self.src[end] == b'$';
                        end += 1;
                    }
                    if !dollar {
                        self.pos = end;
                        // Word bytes are ASCII.
                        let text = match self.text {
                            Some(t) => t.get(start..end).unwrap_or(""),
                            None => std::str::from_utf8(&self.src[start..end]).unwrap_or(""),
                        };
                        return Ok(Token {
                            tok: Tok::Word {
                                text: Cow::Borrowed(text),
                                plain: true,
                                keyword: is_keyword(text),
                            },
                            line,
                        });
                    }
                    let line_end = self.line_end();
                    let mpos = self.macro_pos();
                    let (text, used) = pp
                        .expand_token(&self.src[start..line_end], mpos)
                        .map_err(|m| (line, m))?;
                    self.pos = start + used.max(1);
                    if !text.is_empty() {
                        return Ok(Token {
                            tok: Tok::Word {
                                text: Cow::Owned(String::from_utf8_lossy(&text).into_owned()),
                                plain: false,
                                keyword: false,
                            },
                            line,
                        });
                    }
                }
                other => {
                    self.warnings.push(LexWarning {
                        line,
                        message: format!(
                            "ignoring unsupported character '{}'",
                            String::from_utf8_lossy(&[other])
                        ),
                    });
                    self.pos += 1;
                }
            }
        }
    }

    fn string(&mut self, quote: u8, pp: &mut Preprocessor<'_>) -> Result<Token<'s>, (u32, String)> {
        let line = self.line;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        while let Some(&c) = self.src.get(self.pos) {
            match c {
                b'\n' => {
                    self.warnings.push(LexWarning {
                        line: self.line,
                        message: "multi-line strings not supported".to_owned(),
                    });
                    break;
                }
                b'$' => {
                    let end = self.line_end();
                    let mpos = self.macro_pos();
                    let (exp, used) = pp
                        .expand_dollar(&self.src[self.pos + 1..end], mpos)
                        .map_err(|m| (self.line, m))?;
                    out.extend_from_slice(&exp);
                    self.pos += 1 + used;
                }
                b'\\' => match self.src.get(self.pos + 1) {
                    Some(&n) if n != b'\n' => {
                        out.push(n);
                        self.pos += 2;
                    }
                    _ => self.pos += 1,
                },
                c if c == quote => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    // Copy the run of ordinary bytes at once.
                    let run = self.src[self.pos..]
                        .iter()
                        .position(|&b| matches!(b, b'\n' | b'$' | b'\\' | b'"' | b'\''))
                        .map_or(self.src.len(), |p| self.pos + p);
                    let run = run.max(self.pos + 1);
                    out.extend_from_slice(&self.src[self.pos..run]);
                    self.pos = run;
                }
            }
        }
        Ok(Token {
            tok: Tok::Quote(bytes_to_string(out)),
            line,
        })
    }

    /// Reads help text; call it right after the `help` line's end-of-line token. The text ends
    /// at the first non-blank line indented less than its first line (or not indented at all);
    /// lines keep their indentation beyond the first line's, trailing blanks are removed.
    pub fn help_text(&mut self) -> String {
        let mut out: Vec<u8> = Vec::new();
        let mut first_ts = 0usize;
        let mut last_ts = 0usize;
        loop {
            if self.pos >= self.src.len() {
                break;
            }
            let mut w = self.pos;
            while w < self.src.len() && matches!(self.src[w], b' ' | b'\t') {
                w += 1;
            }
            if w < self.src.len() && self.src[w] == b'\n' {
                // A blank line: it ends the text when the next line starts with a non-blank.
                let after = self.src.get(w + 1).copied();
                self.pos = w + 1;
                self.line += 1;
                match after {
                    Some(c) if !matches!(c, b' ' | b'\t' | b'\n') => break,
                    _ => out.push(b'\n'),
                }
                continue;
            }
            if w > self.pos {
                let mut ts = 0usize;
                for &c in &self.src[self.pos..w] {
                    if c == b'\t' {
                        ts = (ts & !7) + 8;
                    } else {
                        ts += 1;
                    }
                }
                last_ts = ts;
                self.pos = w;
                if first_ts != 0 {
                    if ts < first_ts {
                        break;
                    }
                    let extra = ts - first_ts;
                    out.resize(out.len() + extra, b' ');
                }
                if w >= self.src.len() {
                    break;
                }
            }
            // Text up to the end of the line, without trailing blanks.
            let end = self.line_end();
            let mut t = end;
            while t > self.pos && matches!(self.src[t - 1], b' ' | b'\t') {
                t -= 1;
            }
            out.extend_from_slice(&self.src[self.pos..t]);
            if first_ts == 0 {
                first_ts = last_ts;
            }
            self.pos = end;
        }
        self.prev_prev = self.prev;
        self.prev = Prev::Help;
        bytes_to_string(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::preprocess::{MacroPos, ShellRunner};
    use std::collections::BTreeMap;

    struct NoShell;
    impl ShellRunner for NoShell {
        fn run(&mut self, c: &str, _: MacroPos<'_>) -> Result<Vec<u8>, String> {
            Ok(format!("<{c}>").into_bytes())
        }
    }

    fn toks(src: &str) -> Vec<Tok<'_>> {
        let env = BTreeMap::from([("ARCH".to_owned(), "x86".to_owned())]);
        let mut pp = Preprocessor::new(&env, Box::new(NoShell));
        let mut lx = Lexer::new(src.as_bytes(), "K");
        let mut v = Vec::new();
        loop {
            let t = lx.next(&mut pp).unwrap();
            if t.tok == Tok::Eof {
                return v;
            }
            v.push(t.tok);
        }
    }

    fn w(s: &str) -> Tok<'_> {
        Tok::Word {
            text: s.into(),
            plain: true,
            keyword: is_keyword(s),
        }
    }

    #[test]
    fn operators_words_strings_comments() {
        assert_eq!(
            toks("depends on A&&!(B||C)!=D # c\n"),
            vec![
                w("depends"),
                w("on"),
                w("A"),
                Tok::And,
                Tok::Not,
                Tok::LParen,
                w("B"),
                Tok::Or,
                w("C"),
                Tok::RParen,
                Tok::Ne,
                w("D"),
                Tok::Eol,
                Tok::Eol
            ]
        );
        assert_eq!(
            toks("prompt \"a \\\"q\\\" 'b' $(ARCH) $x\" if \\\n X"),
            vec![
                w("prompt"),
                Tok::Quote("a \"q\" 'b' x86 $x".to_owned()),
                w("if"),
                w("X"),
                Tok::Eol
            ]
        );
    }

    #[test]
    fn macro_words_and_assignments() {
        let t = toks("X := $(shell,echo a b) c\ndef_bool $(ARCH)_64\n$(info,x)\n");
        assert_eq!(t[0], w("X"));
        assert_eq!(t[1], Tok::ColonEq);
        assert_eq!(t[2], Tok::AssignVal(b"$(shell,echo a b) c".to_vec()));
        assert_eq!(
            t[5],
            Tok::Word {
                text: "x86_64".into(),
                plain: false,
                keyword: false
            }
        );
        // The empty expansion on the last line leaves only its end of line.
        assert_eq!(&t[6..], &[Tok::Eol, Tok::Eol, Tok::Eol]);
        // An assignment only at the start of a line.
        assert_eq!(toks("default A = B\n")[1..4], [w("A"), Tok::Eq, w("B")]);
    }

    #[test]
    fn help_ends_by_indentation_only() {
        let src = "help\n  first\n    if depends on\n\n  config X\nconfig Y\n";
        let env = BTreeMap::new();
        let mut pp = Preprocessor::new(&env, Box::new(NoShell));
        let mut lx = Lexer::new(src.as_bytes(), "K");
        assert_eq!(lx.next(&mut pp).unwrap().tok, w("help"));
        assert_eq!(lx.next(&mut pp).unwrap().tok, Tok::Eol);
        assert_eq!(lx.help_text(), "first\n  if depends on\n\nconfig X");
        let t = lx.next(&mut pp).unwrap();
        assert_eq!((t.tok, t.line), (w("config"), 6));
        // Tabs count to the next multiple of 8; a less indented line ends the text.
        let src = "\thelp\n\t  a\n\t    b\n\tdefault y\n";
        let mut lx = Lexer::new(src.as_bytes(), "K");
        lx.next(&mut pp).unwrap();
        lx.next(&mut pp).unwrap();
        assert_eq!(lx.help_text(), "a\n  b\n");
        let t = lx.next(&mut pp).unwrap();
        assert_eq!((t.tok, t.line), (w("default"), 4));
    }

    #[test]
    fn odd_bytes_do_not_panic() {
        for src in ["\"abc", "'\\", "$(", "a$(x", "\x00\x7f\u{e9}", "help", "\\"] {
            let env = BTreeMap::new();
            let mut pp = Preprocessor::new(&env, Box::new(NoShell));
            let mut lx = Lexer::new(src.as_bytes(), "K");
            for _ in 0..20 {
                match lx.next(&mut pp) {
                    Ok(Token { tok: Tok::Eof, .. }) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            lx.help_text();
        }
    }
}
