//! The Kconfig macro language (Linux 4.18+): variables (`:=` simple, `=` recursive, `+=`),
//! user functions (`$(1)`, `$(2)`, … inside a recursive variable), the built-in functions
//! `shell`, `info`, `warning-if`, `error-if`, `filename`, `lineno` and `if`, and environment
//! variables.
//!
//! Expansion follows the kernel's rules: a reference always starts with `$(`; a `$` not followed
//! by `(` stands for itself; arguments are split at top-level commas; a name is looked up as a
//! variable, then as a built-in function, then (without arguments) as an environment variable;
//! anything else expands to nothing. Every environment variable read is recorded with its value
//! (what the kernel writes to `include/config/auto.conf.cmd`).

use std::collections::{BTreeMap, HashMap};

/// How a variable was assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `=`: expanded each time it is referenced.
    Recursive,
    /// `:=`: expanded once, when assigned.
    Simple,
    /// `+=`: appends, keeping the variable's flavor (recursive for a new variable).
    Append,
}

/// A message printed by `$(info,…)` or `$(warning-if,…)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MacroMessage {
    /// `info` (standard output in the kernel's tools) or `warning` (standard error).
    pub kind: MacroMessageKind,
    /// The file being read when the function was expanded.
    pub file: String,
    /// The line being read.
    pub line: u32,
    /// The text.
    pub text: String,
}

/// The kind of a [`MacroMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MacroMessageKind {
    /// `$(info,…)`
    Info,
    /// `$(warning-if,y,…)`
    Warning,
}

/// Where an expansion happens (for `$(filename)`, `$(lineno)` and messages).
#[derive(Debug, Clone, Copy)]
pub struct MacroPos<'a> {
    /// The file name as printed.
    pub file: &'a str,
    /// The current line.
    pub line: u32,
}

/// Runs `$(shell,…)` commands.
pub trait ShellRunner {
    /// Runs `command` with `/bin/sh -c` and returns its standard output (the kernel's
    /// post-processing is applied by the caller), or a message saying why it could not run.
    fn run(&mut self, command: &str, pos: MacroPos<'_>) -> Result<Vec<u8>, String>;

    /// Called with `true` before the value of a simply expanded variable (`:=`) is expanded
    /// and with `false` after: the output of commands run in between is kept for later use.
    fn value_kept(&mut self, _kept: bool) {}
}

#[derive(Debug, Clone)]
struct Variable {
    value: Vec<u8>,
    flavor: Flavor,
    expanding: u32,
}

/// The state of the macro language while a tree is read.
pub struct Preprocessor<'e> {
    env: &'e BTreeMap<String, String>,
    vars: HashMap<Vec<u8>, Variable>,
    env_read: Vec<(String, String)>,
    env_seen: HashMap<String, usize>,
    env_unset: Vec<String>,
    messages: Vec<MacroMessage>,
    shell: Box<dyn ShellRunner + 'e>,
    if_function: bool,
}

impl std::fmt::Debug for Preprocessor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preprocessor")
            .field("vars", &self.vars.len())
            .field("env_read", &self.env_read)
            .finish_non_exhaustive()
    }
}

const MAX_ARGS: usize = 16;

impl<'e> Preprocessor<'e> {
    /// A preprocessor reading environment variables from `env` and running shell commands with
    /// `shell`.
    pub fn new(env: &'e BTreeMap<String, String>, shell: Box<dyn ShellRunner + 'e>) -> Self {
        Preprocessor {
            env,
            vars: HashMap::new(),
            env_read: Vec::new(),
            env_seen: HashMap::new(),
            env_unset: Vec::new(),
            messages: Vec::new(),
            shell,
            if_function: false,
        }
    }

    /// Whether `$(if,cond,then[,else])` is a built-in function. The kernel's `conf` up to at
    /// least 6.1 has no such function (`$(if,…)` then expands as an undefined variable, to
    /// nothing); [`tree_has_if_function`] tells whether a tree's own `conf` has it.
    pub fn set_if_function(&mut self, on: bool) {
        self.if_function = on;
    }

    /// Environment variables read so far, with their values, in the order first read.
    #[cfg(test)]
    pub fn env_read(&self) -> &[(String, String)] {
        &self.env_read
    }

    /// Messages from `$(info,…)` and `$(warning-if,…)`, in order.
    #[cfg(test)]
    pub fn messages(&self) -> &[MacroMessage] {
        &self.messages
    }

    /// Environment variables looked up and not set, in the order first looked up.
    pub fn env_unset(&self) -> &[String] {
        &self.env_unset
    }

    /// Takes the recorded environment reads and messages.
    pub fn into_records(self) -> (Vec<(String, String)>, Vec<MacroMessage>) {
        (self.env_read, self.messages)
    }

    /// Reads an environment variable, recording it (a variable that is not set is not recorded,
    /// as in the kernel).
    pub fn env_var(&mut self, name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        if let Some(&i) = self.env_seen.get(name) {
            return Some(self.env_read[i].1.clone());
        }
        let Some(value) = self.env.get(name).cloned() else {
            if !self.env_unset.iter().any(|n| n == name) {
                self.env_unset.push(name.to_owned());
            }
            return None;
        };
        self.env_seen.insert(name.to_owned(), self.env_read.len());
        self.env_read.push((name.to_owned(), value.clone()));
        Some(value)
    }

    /// Assigns a variable (`NAME = value`, `:=`, `+=`).
    pub fn assign(
        &mut self,
        name: &[u8],
        value: &[u8],
        flavor: Flavor,
        pos: MacroPos<'_>,
    ) -> Result<(), String> {
        let (flavor, append) = match (self.vars.get(name), flavor) {
            (Some(v), Flavor::Append) => (v.flavor, true),
            (None, Flavor::Append) => (Flavor::Recursive, false),
            (_, f) => (f, false),
        };
        let new_value = if flavor == Flavor::Simple {
            self.shell.value_kept(true);
            let v = self.expand_all(value, &[], pos);
            self.shell.value_kept(false);
            v?
        } else {
            value.to_vec()
        };
        match self.vars.get_mut(name) {
            Some(v) if append => {
                v.value.push(b' ');
                v.value.extend_from_slice(&new_value);
                v.flavor = flavor;
            }
            Some(v) => {
                v.value = new_value;
                v.flavor = flavor;
            }
            None => {
                self.vars.insert(
                    name.to_vec(),
                    Variable {
                        value: new_value,
                        flavor,
                        expanding: 0,
                    },
                );
            }
        }
        Ok(())
    }

    /// Expands every reference in `input`.
    #[cfg(test)]
    pub fn expand_str(&mut self, input: &[u8], pos: MacroPos<'_>) -> Result<Vec<u8>, String> {
        self.expand_all(input, &[], pos)
    }

    /// Expands the reference that follows a `$` (`input` starts after the `$`); returns the
    /// expansion and how many bytes of `input` it used. A `$` not followed by `(` expands to
    /// itself and uses nothing.
    pub fn expand_dollar(
        &mut self,
        input: &[u8],
        pos: MacroPos<'_>,
    ) -> Result<(Vec<u8>, usize), String> {
        self.dollar(input, &[], pos)
    }

    /// Expands one token of the lexer: characters `[A-Za-z0-9_-]` and references, stopping at
    /// the first other character outside a reference. Returns the expansion and the bytes used.
    pub fn expand_token(
        &mut self,
        input: &[u8],
        pos: MacroPos<'_>,
    ) -> Result<(Vec<u8>, usize), String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let c = input[i];
            if c == b'$' {
                let (exp, used) = self.dollar(&input[i + 1..], &[], pos)?;
                out.extend_from_slice(&exp);
                i += 1 + used;
            } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
                out.push(c);
                i += 1;
            } else {
                break;
            }
        }
        Ok((out, i))
    }

    fn expand_all(
        &mut self,
        input: &[u8],
        args: &[Vec<u8>],
        pos: MacroPos<'_>,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            if input[i] == b'$' {
                let (exp, used) = self.dollar(&input[i + 1..], args, pos)?;
                out.extend_from_slice(&exp);
                i += 1 + used;
            } else {
                // Copy the run up to the next `$` at once.
                let next = input[i..]
                    .iter()
                    .position(|&c| c == b'$')
                    .map_or(input.len(), |p| i + p);
                out.extend_from_slice(&input[i..next]);
                i = next;
            }
        }
        Ok(out)
    }

    fn dollar(
        &mut self,
        input: &[u8],
        args: &[Vec<u8>],
        pos: MacroPos<'_>,
    ) -> Result<(Vec<u8>, usize), String> {
        if input.first() != Some(&b'(') {
            return Ok((b"$".to_vec(), 0));
        }
        let mut nest = 0i32;
        let mut end = None;
        for (k, &c) in input.iter().enumerate().skip(1) {
            if c == b'(' {
                nest += 1;
            } else if c == b')' {
                if nest == 0 {
                    end = Some(k);
                    break;
                }
                nest -= 1;
            }
        }
        let Some(end) = end else {
            return Err(format!(
                "unterminated reference to '{}': missing ')'",
                String::from_utf8_lossy(&input[1..])
            ));
        };
        let res = self.eval_clause(&input[1..end], args, pos)?;
        Ok((res, end + 1))
    }

    fn eval_clause(
        &mut self,
        clause: &[u8],
        args: &[Vec<u8>],
        pos: MacroPos<'_>,
    ) -> Result<Vec<u8>, String> {
        // `$(1)`, `$(2)`: an argument of the user function being expanded.
        if !clause.is_empty()
            && clause.iter().all(u8::is_ascii_digit)
            && let Ok(n) = std::str::from_utf8(clause).unwrap_or("0").parse::<usize>()
            && n > 0
            && n <= args.len()
        {
            return Ok(args[n - 1].clone());
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut nest = 0i32;
        let mut start = 0;
        for (k, &c) in clause.iter().enumerate() {
            if nest == 0 && c == b',' {
                if parts.len() >= MAX_ARGS {
                    return Err("too many function arguments".to_owned());
                }
                parts.push(&clause[start..k]);
                start = k + 1;
            } else if c == b'(' {
                nest += 1;
            } else if c == b')' {
                nest -= 1;
            }
        }
        if parts.len() >= MAX_ARGS {
            return Err("too many function arguments".to_owned());
        }
        parts.push(&clause[start..]);
        let name = self.expand_all(parts[0], args, pos)?;
        let mut new_args = Vec::with_capacity(parts.len() - 1);
        for p in &parts[1..] {
            new_args.push(self.expand_all(p, args, pos)?);
        }

        if let Some(v) = self.vars.get_mut(&name) {
            if new_args.is_empty() && v.expanding > 0 {
                return Err(format!(
                    "Recursive variable '{}' references itself (eventually)",
                    String::from_utf8_lossy(&name)
                ));
            }
            if v.expanding > 1000 {
                return Err("Too deep recursive expansion".to_owned());
            }
            v.expanding += 1;
            let value = v.value.clone();
            let recursive = v.flavor == Flavor::Recursive;
            let res = if recursive {
                self.expand_all(&value, &new_args, pos)
            } else {
                Ok(value)
            };
            if let Some(v) = self.vars.get_mut(&name) {
                v.expanding -= 1;
            }
            return res;
        }
        if let Some(res) = self.builtin(&name, &new_args, pos)? {
            return Ok(res);
        }
        if new_args.is_empty()
            && let Ok(n) = std::str::from_utf8(&name)
            && let Some(v) = self.env_var(n)
        {
            return Ok(v.into_bytes());
        }
        Ok(Vec::new())
    }

    fn builtin(
        &mut self,
        name: &[u8],
        args: &[Vec<u8>],
        pos: MacroPos<'_>,
    ) -> Result<Option<Vec<u8>>, String> {
        let (min, max) = match name {
            b"error-if" | b"warning-if" => (2, 2),
            b"filename" | b"lineno" => (0, 0),
            b"info" | b"shell" => (1, 1),
            b"if" if self.if_function => (2, 3),
            _ => return Ok(None),
        };
        let fname = String::from_utf8_lossy(name);
        if args.len() < min {
            return Err(format!("too few function arguments passed to '{fname}'"));
        }
        if args.len() > max {
            return Err(format!("too many function arguments passed to '{fname}'"));
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let out = match name {
            b"error-if" => {
                if args[0] == b"y" {
                    return Err(text(&args[1]));
                }
                Vec::new()
            }
            b"warning-if" => {
                if args[0] == b"y" {
                    self.messages.push(MacroMessage {
                        kind: MacroMessageKind::Warning,
                        file: pos.file.to_owned(),
                        line: pos.line,
                        text: text(&args[1]),
                    });
                }
                Vec::new()
            }
            b"info" => {
                self.messages.push(MacroMessage {
                    kind: MacroMessageKind::Info,
                    file: pos.file.to_owned(),
                    line: pos.line,
                    text: text(&args[0]),
                });
                Vec::new()
            }
            b"filename" => pos.file.as_bytes().to_vec(),
            b"lineno" => pos.line.to_string().into_bytes(),
            b"if" => {
                if args[0].iter().any(|c| !c.is_ascii_whitespace()) {
                    args[1].clone()
                } else {
                    args.get(2).cloned().unwrap_or_default()
                }
            }
            _ => {
                let cmd = text(&args[0]);
                let raw = self.shell.run(&cmd, pos)?;
                shell_output(raw)
            }
        };
        Ok(Some(out))
    }
}

/// The files of a tree [`tree_has_if_function`] reads.
pub const IF_FUNCTION_SOURCES: [&str; 2] =
    ["scripts/kconfig/preprocess.c", "tools/kconfig/preprocess.c"];

/// Whether the `conf` of the tree at `srctree` knows `$(if,…)`: its macro table
/// (`scripts/kconfig/preprocess.c`, or Xen's `tools/kconfig/preprocess.c`) lists an `"if"`
/// function. A tree without that file gets the behaviour of Linux 6.1 (no `if`).
pub fn tree_has_if_function(srctree: &std::path::Path) -> bool {
    IF_FUNCTION_SOURCES
        .iter()
        .filter_map(|rel| std::fs::read_to_string(srctree.join(rel)).ok())
        .any(|c| c.contains("{ \"if\",") || c.contains("{\"if\","))
}

#[cfg(test)]
mod if_detection_tests {
    use super::tree_has_if_function;

    #[test]
    fn the_tree_s_own_macro_table_decides() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            !tree_has_if_function(dir.path()),
            "no preprocess.c: 6.1 rules"
        );
        let kc = dir.path().join("scripts/kconfig");
        std::fs::create_dir_all(&kc).expect("mkdir");
        let table = "static const struct function function_table[] = {\n\t{ \"error-if\",\t2,\t2,\tdo_error_if },\n";
        std::fs::write(kc.join("preprocess.c"), table).expect("write");
        assert!(!tree_has_if_function(dir.path()));
        std::fs::write(
            kc.join("preprocess.c"),
            format!("{table}\t{{ \"if\",\t2,\t3,\tdo_if }},\n"),
        )
        .expect("write");
        assert!(tree_has_if_function(dir.path()));
    }
}

/// The kernel's treatment of `$(shell,…)` output: at most 4095 bytes, trailing newlines removed,
/// other newlines replaced by spaces.
pub fn shell_output(mut out: Vec<u8>) -> Vec<u8> {
    out.truncate(4095);
    while out.last() == Some(&b'\n') {
        out.pop();
    }
    for c in &mut out {
        if *c == b'\n' {
            *c = b' ';
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<String>);
    impl ShellRunner for Echo {
        fn run(&mut self, command: &str, _pos: MacroPos<'_>) -> Result<Vec<u8>, String> {
            self.0.push(command.to_owned());
            Ok(format!("ran[{command}]\n\n").into_bytes())
        }
    }

    const POS: MacroPos<'static> = MacroPos {
        file: "Kconfig",
        line: 7,
    };

    fn pp(env: &BTreeMap<String, String>) -> Preprocessor<'_> {
        Preprocessor::new(env, Box::new(Echo(Vec::new())))
    }

    fn exp(p: &mut Preprocessor<'_>, s: &str) -> String {
        String::from_utf8(p.expand_str(s.as_bytes(), POS).unwrap()).unwrap()
    }

    #[test]
    fn simple_recursive_and_append() {
        let env = BTreeMap::new();
        let mut p = pp(&env);
        p.assign(b"A", b"1", Flavor::Simple, POS).unwrap();
        p.assign(b"R", b"$(A)", Flavor::Recursive, POS).unwrap();
        p.assign(b"S", b"$(A)", Flavor::Simple, POS).unwrap();
        p.assign(b"A", b"2", Flavor::Simple, POS).unwrap();
        assert_eq!(exp(&mut p, "$(R) $(S)"), "2 1");
        p.assign(b"S", b"$(A)", Flavor::Append, POS).unwrap();
        assert_eq!(exp(&mut p, "$(S)"), "1 2");
        p.assign(b"N", b"$(A)", Flavor::Append, POS).unwrap();
        p.assign(b"A", b"3", Flavor::Simple, POS).unwrap();
        assert_eq!(
            exp(&mut p, "$(N)"),
            "3",
            "+= on a new variable is recursive"
        );
    }

    #[test]
    fn user_functions_and_builtins() {
        let mut env = BTreeMap::new();
        env.insert("CC".to_owned(), "gcc".to_owned());
        let mut p = pp(&env);
        p.assign(b"comma", b",", Flavor::Simple, POS).unwrap();
        p.assign(
            b"if-success",
            b"$(shell,{ $(1); } && echo \"$(2)\" || echo \"$(3)\")",
            Flavor::Recursive,
            POS,
        )
        .unwrap();
        p.assign(
            b"success",
            b"$(if-success,$(1),y,n)",
            Flavor::Recursive,
            POS,
        )
        .unwrap();
        assert_eq!(
            exp(&mut p, "$(success,$(CC) -v)"),
            "ran[{ gcc -v; } && echo \"y\" || echo \"n\"]"
        );
        assert_eq!(exp(&mut p, "$(filename):$(lineno)"), "Kconfig:7");
        assert_eq!(exp(&mut p, "a$(comma)b $ $x"), "a,b $ $x");
        // Linux 6.1's conf has no `if`: an undefined variable, so nothing.
        assert_eq!(exp(&mut p, "[$(if,,yes,no)]"), "[]");
        p.set_if_function(true);
        assert_eq!(exp(&mut p, "$(if,,yes,no)$(if, x ,yes,no)"), "noyes");
        p.set_if_function(false);
        assert_eq!(exp(&mut p, "[$(UNSET)]"), "[]");
        assert_eq!(p.env_read(), &[("CC".to_owned(), "gcc".to_owned())]);
        exp(&mut p, "$(info,hello)$(warning-if,n,no)$(warning-if,y,yes)");
        assert_eq!(p.messages().len(), 2);
        assert_eq!(p.messages()[1].kind, MacroMessageKind::Warning);
        let e = p.expand_str(b"$(error-if,y,stop here)", POS).unwrap_err();
        assert_eq!(e, "stop here");
        let e = p.expand_str(b"$(info,a,b)", POS).unwrap_err();
        assert!(e.contains("too many"), "{e}");
        let e = p.expand_str(b"$(info,a", POS).unwrap_err();
        assert!(e.contains("missing ')'"), "{e}");
    }

    #[test]
    fn self_reference_is_an_error_not_a_hang() {
        let env = BTreeMap::new();
        let mut p = pp(&env);
        p.assign(b"X", b"$(X)", Flavor::Recursive, POS).unwrap();
        assert!(
            p.expand_str(b"$(X)", POS)
                .unwrap_err()
                .contains("references itself")
        );
        // A function calling itself with arguments stops at the depth limit (the parser runs
        // on a thread with a stack for it).
        let e = crate::lang::parser::parse_str("K", "F = $(F,a)\nX := $(F,a)\n", &env).unwrap_err();
        assert_eq!(e.to_string(), "K:2: Too deep recursive expansion");
    }

    #[test]
    fn token_expansion_stops_at_separators() {
        let env = BTreeMap::new();
        let mut p = pp(&env);
        p.assign(b"V", b"a b", Flavor::Simple, POS).unwrap();
        let (t, used) = p.expand_token(b"X$(V)_Y if Z", POS).unwrap();
        assert_eq!((t.as_slice(), used), (&b"Xa b_Y"[..], 7));
    }

    #[test]
    fn shell_output_is_post_processed() {
        assert_eq!(shell_output(b"a\nb\n\n".to_vec()), b"a b");
        assert_eq!(shell_output(vec![b'x'; 5000]).len(), 4095);
    }
}
