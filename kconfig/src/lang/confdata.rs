//! Reading a `.config` into user values (with the warnings `conf` prints, as typed diagnostics)
//! and writing `.config` and minimal defconfig text exactly as `conf` writes them.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::ast::{Expr, MenuId, MenuKind, PropKind, SymbolId, SymbolType, Tristate};
use super::eval::{DEF_USER, Eval, VALID, WRITE, WRITTEN, string_valid};

/// A warning about the input, located at `file:line`: what `conf` prints while reading a
/// `.config` or computing values, plus the value resets it performs silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The file: the `.config` or defconfig read, or the Kconfig file defining the symbol.
    pub file: String,
    /// The line, counted from 1.
    pub line: u32,
    /// What is wrong.
    pub kind: DiagnosticKind,
}

/// What a [`Diagnostic`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A line that is neither an assignment, a comment nor empty.
    UnexpectedData {
        /// The line, without its end.
        text: String,
    },
    /// `CONFIG_NAME` is not a symbol of this Kconfig tree (`conf` only prints this with
    /// `KCONFIG_WARN_UNKNOWN_SYMBOLS`); the line is ignored.
    UnknownSymbol {
        /// The name without `CONFIG_`.
        name: String,
    },
    /// The value does not suit the symbol's type; the line is ignored.
    InvalidValue {
        /// The symbol.
        name: String,
        /// The value as written.
        value: String,
    },
    /// A string value without its closing quote; the line is ignored.
    InvalidString {
        /// The symbol.
        name: String,
    },
    /// The symbol was already assigned earlier in the file; the later value wins.
    Reassigned {
        /// The symbol.
        name: String,
    },
    /// A second member of a choice was set to `y`; the later one wins.
    ChoiceOverride {
        /// The member set to `y`.
        name: String,
    },
    /// A member of a choice set to `m` while another is `y`.
    InconsistentChoice {
        /// The member set to `m`.
        name: String,
    },
    /// An int/hex value outside the symbol's active `range`: it was dropped and the symbol
    /// takes its default.
    OutOfRange {
        /// The symbol.
        name: String,
        /// The value as written.
        value: String,
        /// The range, as `conf` computed it.
        low: i64,
        /// The upper end.
        high: i64,
    },
    /// A symbol is selected (`select`) although its own dependencies are not met; it is set
    /// anyway, as `conf` does. Located at the symbol's first definition.
    UnmetDependencies {
        /// The selected symbol.
        name: String,
        /// Its direct dependencies as written after propagation, and their value.
        depends_on: String,
        /// `n` or `m`.
        depends_value: String,
        /// The selecting terms whose value is `y` or `m`, with that value.
        selected_by: Vec<(String, String)>,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:warning: ", self.file, self.line)?;
        match &self.kind {
            DiagnosticKind::UnexpectedData { text } => write!(f, "unexpected data: {text}"),
            DiagnosticKind::UnknownSymbol { name } => write!(f, "unknown symbol: {name}"),
            DiagnosticKind::InvalidValue { name, value } => {
                write!(f, "symbol value '{value}' invalid for {name}")
            }
            DiagnosticKind::InvalidString { .. } => write!(f, "invalid string found"),
            DiagnosticKind::Reassigned { name } => {
                write!(f, "override: reassigning to symbol {name}")
            }
            DiagnosticKind::ChoiceOverride { name } => {
                write!(f, "override: {name} changes choice state")
            }
            DiagnosticKind::InconsistentChoice { name } => {
                write!(f, "{name} creates inconsistent choice state")
            }
            DiagnosticKind::OutOfRange {
                name,
                value,
                low,
                high,
            } => write!(
                f,
                "value '{value}' for {name} is outside its range [{low}, {high}]; using the default"
            ),
            DiagnosticKind::UnmetDependencies {
                name,
                depends_on,
                depends_value,
                selected_by,
            } => {
                write!(
                    f,
                    "unmet direct dependencies detected for {name}: depends on [{depends_value}] {depends_on}; selected by"
                )?;
                for (i, (term, v)) in selected_by.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{term} [{v}]")?;
                }
                Ok(())
            }
        }
    }
}

/// The `CONFIG_` prefix of `.config` lines.
const PREFIX: &str = "CONFIG_";

impl Eval<'_> {
    /// `conf_read_simple(name, S_DEF_USER)`: loads user values from `.config` text. `file` is the
    /// name used in diagnostics.
    pub(crate) fn read_user_values(
        &mut self,
        text: &[u8],
        file: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> usize {
        let m = self.m;
        let mut warnings = 0;
        for (i, st) in self.s.syms.iter_mut().enumerate().skip(3) {
            st.flags &= !(DEF_USER | VALID);
            if m.symbols[i].flags.choice {
                st.flags |= DEF_USER;
            }
            st.user_val = None;
            st.user_tri = Tristate::No;
            st.user_choice = None;
            st.user_line = 0;
        }
        let mut warn = |diags: &mut Vec<Diagnostic>, line: u32, kind: DiagnosticKind| {
            warnings += 1;
            diags.push(Diagnostic {
                file: file.to_owned(),
                line,
                kind,
            });
        };
        let mut lineno = 0u32;
        let mut rest = text;
        while !rest.is_empty() {
            let (raw, terminated) = match rest.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    let l = &rest[..p];
                    rest = &rest[p + 1..];
                    (l, true)
                }
                None => {
                    let l = rest;
                    rest = &[];
                    (l, false)
                }
            };
            lineno += 1;
            // C string functions stop at a NUL byte.
            let raw = match raw.iter().position(|&b| b == 0) {
                Some(p) => &raw[..p],
                None => raw,
            };
            let line = String::from_utf8_lossy(raw);
            let (name, value): (&str, String) = if let Some(after) = line.strip_prefix('#') {
                let Some(p) = after.strip_prefix(' ') else {
                    continue;
                };
                let Some(n) = p.strip_prefix(PREFIX) else {
                    continue;
                };
                let Some((name, tail)) = n.split_once(' ') else {
                    continue;
                };
                if !tail.starts_with("is not set") {
                    continue;
                }
                (name, "n".to_owned())
            } else if let Some(n) = line.strip_prefix(PREFIX) {
                let Some((name, v)) = n.split_once('=') else {
                    continue;
                };
                let mut v = v;
                if terminated {
                    v = v.strip_suffix('\r').unwrap_or(v);
                }
                (name, v.to_owned())
            } else {
                if !line.is_empty() && !line.starts_with('\r') {
                    let text = line.split(['\r', '\n']).next().unwrap_or("").to_owned();
                    warn(diags, lineno, DiagnosticKind::UnexpectedData { text });
                }
                continue;
            };
            let sym = match name {
                // `sym_find` maps the one-letter names to the constants: nothing to record.
                "y" | "m" | "n" => continue,
                _ => m.lookup(name),
            };
            let Some(sym) = sym else {
                diags.push(Diagnostic {
                    file: file.to_owned(),
                    line: lineno,
                    kind: DiagnosticKind::UnknownSymbol {
                        name: name.to_owned(),
                    },
                });
                self.s.changed = true;
                continue;
            };
            if self.has_flag(sym, DEF_USER) {
                warn(
                    diags,
                    lineno,
                    DiagnosticKind::Reassigned {
                        name: name.to_owned(),
                    },
                );
            }
            let ty = self.raw_type(sym);
            let first = value.as_bytes().first().copied();
            match ty {
                SymbolType::Tristate | SymbolType::Bool => {
                    let t = match first {
                        Some(b'm') if ty == SymbolType::Tristate => Some(Tristate::Mod),
                        Some(b'y') => Some(Tristate::Yes),
                        Some(b'n') => Some(Tristate::No),
                        _ => None,
                    };
                    match t {
                        Some(t) => {
                            let st = &mut self.s.syms[sym.0 as usize];
                            st.user_tri = t;
                            st.flags |= DEF_USER;
                            st.user_line = lineno;
                        }
                        None => {
                            warn(
                                diags,
                                lineno,
                                DiagnosticKind::InvalidValue {
                                    name: name.to_owned(),
                                    value,
                                },
                            );
                            continue;
                        }
                    }
                }
                SymbolType::String | SymbolType::Int | SymbolType::Hex => {
                    let v = if ty == SymbolType::String {
                        let Some(body) = value.strip_prefix('"') else {
                            // conf silently ignores an unquoted string.
                            continue;
                        };
                        match unescape(body) {
                            Some(v) => v,
                            None => {
                                warn(
                                    diags,
                                    lineno,
                                    DiagnosticKind::InvalidString {
                                        name: name.to_owned(),
                                    },
                                );
                                continue;
                            }
                        }
                    } else {
                        value.clone()
                    };
                    if string_valid(ty, &v) {
                        let st = &mut self.s.syms[sym.0 as usize];
                        st.user_val = Some(Arc::from(v.as_str()));
                        st.flags |= DEF_USER;
                        st.user_line = lineno;
                    } else {
                        warn(
                            diags,
                            lineno,
                            DiagnosticKind::InvalidValue {
                                name: name.to_owned(),
                                value: v,
                            },
                        );
                        continue;
                    }
                }
                SymbolType::Unknown => {}
            }
            if let Some(cs) = self.choice_of(sym) {
                let t = self.s.syms[sym.0 as usize].user_tri;
                match t {
                    Tristate::No => {}
                    Tristate::Mod => {
                        if self.s.syms[cs.0 as usize].user_tri == Tristate::Yes {
                            warn(
                                diags,
                                lineno,
                                DiagnosticKind::InconsistentChoice {
                                    name: name.to_owned(),
                                },
                            );
                            self.s.syms[cs.0 as usize].flags &= !DEF_USER;
                        }
                    }
                    Tristate::Yes => {
                        if self.s.syms[cs.0 as usize].user_tri != Tristate::No {
                            warn(
                                diags,
                                lineno,
                                DiagnosticKind::ChoiceOverride {
                                    name: name.to_owned(),
                                },
                            );
                        }
                        self.s.syms[cs.0 as usize].user_choice = Some(sym);
                    }
                }
                let c = &mut self.s.syms[cs.0 as usize];
                c.user_tri = c.user_tri.or(t);
            }
        }
        warnings
    }

    /// `conf_read`: user values from a `.config`, every value computed, user values of invisible
    /// symbols forgotten and out-of-range numbers reset, as `conf` does before any target.
    pub(crate) fn read_config(&mut self, text: &[u8], file: &str, diags: &mut Vec<Diagnostic>) {
        self.s.changed = false;
        let warnings = self.read_user_values(text, file, diags);
        if let Some(ms) = self.modules_sym() {
            self.calc_value(ms);
        }
        let ix = self.ix;
        let mut unsaved = 0usize;
        for &s in &ix.table_order {
            self.calc_value(s);
            if self.is_choice(s) {
                continue;
            }
            let has = self.has_value(s);
            let write = self.has_flag(s, WRITE);
            if has && write {
                let st = &self.s.syms[s.0 as usize];
                let same = match self.raw_type(s) {
                    SymbolType::Bool | SymbolType::Tristate => st.user_tri == st.tri,
                    _ => st.user_val.as_deref() == Some(&*st.val),
                };
                if same {
                    continue;
                }
            } else if !has && !write {
                continue;
            }
            unsaved += 1;
        }
        let unsaved_before = unsaved;
        for &s in &ix.table_order {
            if !self.has_value(s) || self.is_choice_value(s) {
                continue;
            }
            if self.visible(s) == Tristate::No && unsaved_before == 0 {
                self.s.syms[s.0 as usize].flags &= !DEF_USER;
            }
            let ty = self.raw_type(s);
            if matches!(ty, SymbolType::String | SymbolType::Int | SymbolType::Hex) {
                let v = self.s.syms[s.0 as usize]
                    .user_val
                    .clone()
                    .unwrap_or_else(|| Arc::from(""));
                if self.string_within_range(s, &v) {
                    continue;
                }
                let base = if ty == SymbolType::Hex { 16 } else { 10 };
                let (low, high) = self.active_range(s, base).unwrap_or((0, 0));
                let line = self.s.syms[s.0 as usize].user_line;
                self.s.syms[s.0 as usize].flags &= !(VALID | DEF_USER);
                unsaved += 1;
                diags.push(Diagnostic {
                    file: file.to_owned(),
                    line,
                    kind: DiagnosticKind::OutOfRange {
                        name: self.m.symbol(s).name.clone(),
                        value: v.to_string(),
                        low,
                        high,
                    },
                });
            }
        }
        if warnings > 0 || unsaved > 0 {
            self.s.changed = true;
        }
    }

    /// `menu_is_visible` for a node without a symbol (`menu`, `comment`).
    fn plain_menu_visible(&mut self, id: MenuId) -> bool {
        let menu = self.m.menu(id);
        let Some(p) = menu.prompt else {
            return false;
        };
        if menu.visibility.is_some()
            && self.node(self.ix.menu_visibility[id.0 as usize]) == Tristate::No
        {
            return false;
        }
        self.node(self.ix.prop_visible[p.0 as usize]) != Tristate::No
    }

    fn prompt_text(&self, id: MenuId) -> &str {
        let menu = self.m.menu(id);
        if let Some(p) = menu.prompt
            && let PropKind::Prompt(t) = &self.m.prop(p).kind
        {
            return t;
        }
        ""
    }

    /// One `.config` line for a symbol, as `print_symbol_for_dotconfig` writes it.
    fn print_symbol(&self, out: &mut String, s: SymbolId) {
        let ty = self.raw_type(s);
        if ty == SymbolType::Unknown {
            return;
        }
        let name = &self.m.symbol(s).name;
        let val = self.string_value(s);
        if matches!(ty, SymbolType::Bool | SymbolType::Tristate) && val.starts_with('n') {
            out.push_str("# ");
            out.push_str(PREFIX);
            out.push_str(name);
            out.push_str(" is not set\n");
            return;
        }
        out.push_str(PREFIX);
        out.push_str(name);
        out.push('=');
        if ty == SymbolType::String {
            out.push('"');
            for c in val.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(&val);
        }
        out.push('\n');
    }

    /// `conf_write`: the whole `.config` text.
    pub(crate) fn write_config(&mut self) -> String {
        let m = self.m;
        let mut out = String::with_capacity(256 * 1024);
        out.push_str("#\n# Automatically generated file; DO NOT EDIT.\n# ");
        out.push_str(m.mainmenu.as_deref().unwrap_or("Main menu"));
        out.push_str("\n#\n");
        if !self.s.changed {
            self.clear_all_valid();
        }
        let mut need_newline = false;
        let root = m.root();
        // Iterative pre-order walk; on leaving a node, print "# end of" for visible menus.
        let mut stack: Vec<(MenuId, usize)> = vec![(root, 0)];
        while let Some(&mut (id, ref mut next_child)) = stack.last_mut() {
            if *next_child == 0 && id != root {
                // Entering the node.
                let menu = m.menu(id);
                match menu.sym() {
                    None => {
                        if self.plain_menu_visible(id) {
                            let text = self.prompt_text(id).to_owned();
                            out.push_str("\n#\n# ");
                            out.push_str(&text);
                            out.push_str("\n#\n");
                            need_newline = false;
                        }
                    }
                    Some(s) => {
                        if !self.is_choice(s) && !self.has_flag(s, WRITTEN) {
                            self.calc_value(s);
                            if self.has_flag(s, WRITE) {
                                if need_newline {
                                    out.push('\n');
                                    need_newline = false;
                                }
                                self.s.syms[s.0 as usize].flags |= WRITTEN;
                                self.print_symbol(&mut out, s);
                            }
                        }
                    }
                }
            }
            let menu = m.menu(id);
            if let Some(&child) = menu.children.get(*next_child) {
                *next_child += 1;
                stack.push((child, 0));
                continue;
            }
            // Leaving the node.
            stack.pop();
            if id != root
                && menu.sym().is_none()
                && matches!(menu.kind, MenuKind::Menu)
                && self.plain_menu_visible(id)
            {
                out.push_str("# end of ");
                out.push_str(self.prompt_text(id));
                out.push('\n');
                need_newline = true;
            }
        }
        for st in &mut self.s.syms {
            st.flags &= !WRITTEN;
        }
        out
    }

    /// `conf_write_defconfig`: the minimal configuration `make savedefconfig` writes.
    pub(crate) fn write_defconfig(&mut self) -> String {
        let m = self.m;
        let mut out = String::new();
        self.clear_all_valid();
        let mut stack: Vec<MenuId> = vec![m.root()];
        let mut order = Vec::with_capacity(m.menus.len());
        while let Some(id) = stack.pop() {
            order.push(id);
            for &c in m.menu(id).children.iter().rev() {
                stack.push(c);
            }
        }
        for id in order.into_iter().skip(1) {
            let Some(s) = m.menu(id).sym() else {
                // `menu_is_visible` of a plain menu has no effect here; the walk goes on.
                continue;
            };
            if self.is_choice(s) {
                continue;
            }
            self.calc_value(s);
            if !self.has_flag(s, WRITE) {
                continue;
            }
            self.s.syms[s.0 as usize].flags &= !WRITE;
            if !self.is_changeable(s) {
                continue;
            }
            let cur = self.string_value(s);
            let def = self.string_default(s);
            if cur == def {
                continue;
            }
            if let Some(cs) = self.choice_of(s) {
                let ds = self.choice_default(cs);
                if !m.symbol(cs).flags.optional
                    && ds == Some(s)
                    && self.raw_type(s) == SymbolType::Bool
                    && self.tri(s) == Tristate::Yes
                {
                    continue;
                }
            }
            self.print_symbol(&mut out, s);
        }
        out
    }

    /// Diagnostics for symbols selected past unmet dependencies, located at their definition.
    pub(crate) fn unmet_diagnostics(&mut self) -> Vec<Diagnostic> {
        let m = self.m;
        let unmet = std::mem::take(&mut self.s.unmet);
        let mut out = Vec::new();
        for &s in &unmet {
            let sym = m.symbol(s);
            let (file, line) = match sym.definitions.first() {
                Some(&d) => {
                    let loc = m.menu(d).loc;
                    (m.file(loc.file).name.clone(), loc.line)
                }
                None => (String::new(), 0),
            };
            let depends_on = sym
                .dir_dep
                .as_ref()
                .map(|e| m.expr_string(e))
                .unwrap_or_else(|| "y".into());
            let mut terms = Vec::new();
            if let Some(e) = &sym.rev_dep {
                or_terms(e, &mut terms);
            }
            let mut selected_by = Vec::new();
            for t in terms {
                let v = self.expr(Some(t));
                if v != Tristate::No {
                    selected_by.push((m.expr_string(t), v.as_str().to_owned()));
                }
            }
            out.push(Diagnostic {
                file,
                line,
                kind: DiagnosticKind::UnmetDependencies {
                    name: sym.name.clone(),
                    depends_on,
                    depends_value: self.s.syms[s.0 as usize].dir_dep.as_str().to_owned(),
                    selected_by,
                },
            });
        }
        self.s.unmet = unmet;
        out
    }
}

fn or_terms<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Or(a, b) => {
            or_terms(a, out);
            or_terms(b, out);
        }
        other => out.push(other),
    }
}

/// The body of a quoted `.config` string after its opening quote: backslash escapes removed, up
/// to the closing quote (`None` when there is none).
pub(crate) fn unescape(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next() {
                // The escaped character is kept, even a quote.
                Some(n) => out.push(n),
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_like_conf() {
        assert_eq!(
            unescape(r#"a\"b\\c" trailing"#).as_deref(),
            Some(r#"a"b\c"#)
        );
        assert_eq!(unescape("abc"), None);
        assert_eq!(unescape(r#"abc\"#), None);
        assert_eq!(unescape(r#"""#).as_deref(), Some(""));
    }
}
