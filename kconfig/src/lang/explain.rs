//! Why a symbol has the value it has, and what stands between it and a requested value.
//!
//! An [`Explanation`] describes one symbol of a resolved configuration the way `menuconfig`'s
//! help screen does (every definition with file:line, the prompt and whether it is visible, the
//! dependencies as written with the current value of every operand, `selected by` and
//! `implied by` with values), and adds what the kernel's tools do not say: which `default` line
//! or user value gave the value, and for a choice which member was taken and why.
//!
//! [`Explainer::root_causes`] walks an unmet requirement (a requested value that did not land)
//! down to the symbols a user can set and to the facts a user cannot change (the architecture,
//! compiler probes), saying which kind each one is. [`crate::lang::fix`] builds fix proposals on
//! those causes.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::Kconfig;
use super::ast::{CmpOp, Expr, MenuKind, Model, PropKind, SymbolId, SymbolType, Tristate};
use super::eval::{Eval, State, VALID};
use super::ops::Resolved;

/// Everything known about why one symbol has its value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The symbol's name (without `CONFIG_`).
    pub name: String,
    /// `bool`, `tristate`, `int`, `hex`, `string`, or `unknown` for a name no Kconfig file
    /// defines.
    #[serde(rename = "type")]
    pub ty: String,
    /// The value in the resolved configuration (`y`/`m`/`n`, a number, a string).
    pub value: String,
    /// Whether any Kconfig file read for this architecture defines the symbol.
    pub defined: bool,
    /// Whether a prompt is visible (the user can set the value), as `n`/`m`/`y`.
    pub visible: String,
    /// Every definition, in file order.
    pub definitions: Vec<Definition>,
    /// The direct dependencies of all definitions together, with values (`None` = none).
    pub depends_on: Option<ValuedExpr>,
    /// The symbols that `select` it, with their values and conditions.
    pub selected_by: Vec<Reverse>,
    /// The symbols that `imply` it, with their values and conditions.
    pub implied_by: Vec<Reverse>,
    /// What gave the value.
    pub source: Source,
    /// For a member of a choice: the choice, its selected member and why.
    pub choice: Option<ChoiceInfo>,
    /// The active `range` of an int/hex symbol.
    pub range: Option<RangeInfo>,
}

/// One `config`/`menuconfig`/`choice` entry defining the symbol.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Definition {
    /// `file:line` of the entry.
    pub location: String,
    /// The prompt text, if the entry has one.
    pub prompt: Option<String>,
    /// The prompt's effective condition (its own `if`, the entry's `depends on`, and every
    /// enclosing menu, `if` and choice), with values; `None` when there is no prompt.
    pub prompt_condition: Option<ValuedExpr>,
    /// The entry's own `depends on` lines, as written, with values.
    pub depends_on: Option<ValuedExpr>,
    /// The enclosing `menu`, `if` and `choice` blocks that carry a dependency, innermost first
    /// (as far as the menu tree keeps them: `if` blocks are folded into their entries).
    pub enclosing: Vec<Enclosing>,
    /// The entry's whole dependency: its own `depends on` and that of every enclosing menu,
    /// `if` block and choice, with values.
    pub all_depends_on: Option<ValuedExpr>,
    /// The `default` lines of this entry in order, with their conditions.
    pub defaults: Vec<DefaultLine>,
}

/// An enclosing block with a dependency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enclosing {
    /// `menu "Title"`, `if`, `choice "Prompt"`, or `menuconfig NAME`.
    pub kind: String,
    /// Where it starts.
    pub location: String,
    /// Its dependency (`depends on` or the `if` condition) with values.
    pub depends_on: ValuedExpr,
}

/// A `default` line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultLine {
    /// `file:line`.
    pub location: String,
    /// The value expression, with values.
    pub value: ValuedExpr,
    /// The effective condition (written `if` and the entry's dependencies), with values.
    pub condition: Option<ValuedExpr>,
}

/// An expression as written, with the current value of every operand (`A [=y] && B [=n]`)
/// and of the whole.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValuedExpr {
    /// The text, like the kernel's help screens print it.
    pub text: String,
    /// The expression's value, `n`/`m`/`y`.
    pub value: String,
}

impl fmt::Display for ValuedExpr {
    /// The text with the operands' values, as the kernel's help screens print it (the whole
    /// expression's value is in [`ValuedExpr::value`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A symbol selecting or implying the explained one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reverse {
    /// The selecting symbol.
    pub symbol: String,
    /// Its value.
    pub value: String,
    /// The `if` condition of the `select`/`imply` line (with the selector's dependencies), with
    /// values; `None` when unconditional.
    pub condition: Option<ValuedExpr>,
    /// The whole term's value (`SELECTOR && condition`).
    pub effective: String,
    /// `file:line` of the `select`/`imply` line.
    pub location: String,
}

/// What gave a symbol its value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// The value from the configuration file was taken (the prompt is visible).
    User {
        /// Line in the configuration file, when known.
        line: Option<usize>,
    },
    /// A `default` line.
    Default {
        /// `file:line` of the line.
        location: String,
        /// The line's value expression, with values.
        value: ValuedExpr,
    },
    /// No `default` applied and nothing selects it: the type's empty value (`n`, `""`).
    NoDefault,
    /// Forced by `select` (possibly on top of a default).
    Selected {
        /// The selectors whose term is not `n`.
        by: Vec<String>,
    },
    /// Raised by `imply`.
    Implied {
        /// The impliers whose term is not `n`.
        by: Vec<String>,
    },
    /// A member of a choice in `y` mode: on only when it is the choice's selection.
    Choice {
        /// The member the choice took.
        selected: Option<String>,
    },
    /// The value was clamped into the active `range`.
    Range,
    /// The symbol is not defined for this architecture.
    Undefined,
}

/// A choice and its selection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChoiceInfo {
    /// The choice's prompt (or `<choice>`).
    pub prompt: String,
    /// `file:line` of the `choice` entry.
    pub location: String,
    /// The choice's mode: `y` (one member), `m` (members can be modules), `n` (invisible).
    pub mode: String,
    /// The member the choice took, if any.
    pub selected: Option<String>,
    /// Why that member: `user value`, `default at file:line`, `first visible member`.
    pub why: String,
    /// The members with their values and visibility.
    pub members: Vec<(String, String)>,
}

/// An active `range`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct RangeInfo {
    /// The lower bound's value.
    pub low: String,
    /// The upper bound's value.
    pub high: String,
    /// `file:line`.
    pub location: String,
}

/// What kind of thing a root cause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CauseKind {
    /// A symbol the user can set in the configuration (its prompt is or can become visible).
    User,
    /// Fixed by the architecture (`ARCH`): not settable on this architecture.
    Architecture,
    /// Fixed by a compiler or toolchain probe (`$(cc-option…)`, `CC_HAS_…`, `$(shell,…)`).
    Compiler,
    /// Not settable and not derived from anything a user can change (a symbol without a
    /// prompt whose every default and selector is off for good).
    Fixed,
    /// A symbol no Kconfig file read for this architecture defines.
    Undefined,
    /// The type does not allow the value (`m` for a `bool`, text for an `int`, a number
    /// outside the active range).
    Type,
    /// Another requested value forces the opposite (`select` from a requested symbol).
    Conflict,
}

impl CauseKind {
    /// Whether a user can act on it by adding configuration lines.
    pub fn is_settable(self) -> bool {
        self == CauseKind::User
    }

    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            CauseKind::User => "can be set",
            CauseKind::Architecture => "fixed by the architecture",
            CauseKind::Compiler => "fixed by the compiler (probe)",
            CauseKind::Fixed => "not settable",
            CauseKind::Undefined => "not defined for this architecture",
            CauseKind::Type => "not allowed by the type or range",
            CauseKind::Conflict => "conflicts with another requested value",
        }
    }
}

/// What a symbol must become for a requirement to be met.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Need {
    /// At least `m` or `y`.
    AtLeast(String),
    /// At most `n` or `m`.
    AtMost(String),
    /// Exactly this text.
    Equal(String),
    /// Anything but this text.
    NotEqual(String),
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::AtLeast(v) if v == "y" => f.write_str("=y"),
            Need::AtLeast(v) => write!(f, ">={v}"),
            Need::AtMost(v) if v == "n" => f.write_str("=n"),
            Need::AtMost(v) => write!(f, "<={v}"),
            Need::Equal(v) => write!(f, "={v}"),
            Need::NotEqual(v) => write!(f, "!={v}"),
        }
    }
}

/// One root cause: a symbol whose value stands in the way, what it would need, and whether a
/// user can change it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cause {
    /// The symbol.
    pub symbol: String,
    /// Its current value.
    pub value: String,
    /// What it would need to be.
    pub need: Need,
    /// Whether a user can change it, and if not why.
    pub kind: CauseKind,
    /// The chain from the requested symbol down to this one (`A: depends on B [=n]`, …).
    pub via: Vec<String>,
    /// Where it is defined (first definition), when it is.
    pub location: Option<String>,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [={}] needs {} ({})",
            self.symbol,
            self.value,
            self.need,
            self.kind.describe()
        )
    }
}

/// Explains the values of one resolved configuration.
pub struct Explainer<'k> {
    kconfig: &'k Kconfig,
    state: State,
    user: BTreeMap<String, (usize, String)>,
    pinned: BTreeMap<String, String>,
}

impl fmt::Debug for Explainer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Explainer").finish_non_exhaustive()
    }
}

fn tri_str(t: Tristate) -> String {
    t.as_str().to_owned()
}

fn parse_tri(s: &str) -> Option<Tristate> {
    match s {
        "n" => Some(Tristate::No),
        "m" => Some(Tristate::Mod),
        "y" => Some(Tristate::Yes),
        _ => None,
    }
}

/// The kernel's tools name the architecture symbols of x86 this way; other names are decided
/// by where and how the symbol is defined.
fn is_toolchain_name(name: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "CC_",
        "AS_",
        "LD_",
        "RUSTC_",
        "TOOLCHAIN_",
        "PAHOLE_",
        "GCC_",
        "CLANG_",
        "BINDGEN_",
        "OBJTOOL_",
        "HAVE_KERNEL_",
        "GCC_PLUGINS",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || name.contains("_CC_HAS_")
        || name.contains("_AS_HAS_")
        || name.contains("_COMPILER_")
}

impl<'k> Explainer<'k> {
    /// An explainer for `resolved`, computed from `kconfig`. `user_config` is the configuration
    /// text that was resolved (its lines are the user values), when known.
    pub fn new(kconfig: &'k Kconfig, resolved: &Resolved, user_config: Option<&[u8]>) -> Self {
        let m = kconfig.model();
        let mut state = State::new(m);
        for (i, sym) in m.symbols.iter().enumerate().skip(3) {
            if sym.flags.constant || sym.flags.choice || sym.ty == SymbolType::Unknown {
                continue;
            }
            let Some(v) = resolved.value(&sym.name) else {
                continue;
            };
            let st = &mut state.syms[i];
            st.flags |= VALID;
            match sym.ty {
                SymbolType::Bool | SymbolType::Tristate => {
                    st.tri = parse_tri(&v.value).unwrap_or(Tristate::No);
                    st.val = Arc::from(v.value.as_str());
                }
                _ => st.val = Arc::from(v.value.as_str()),
            }
            st.visible = if v.visible {
                Tristate::Yes
            } else {
                Tristate::No
            };
        }
        // Choices: their mode is the highest member value, their selection the `y` member.
        for (i, sym) in m.symbols.iter().enumerate().skip(3) {
            if !sym.flags.choice {
                continue;
            }
            let mut tri = Tristate::No;
            let mut chosen = None;
            for &d in &sym.choice_members {
                let t = state.syms[d.0 as usize].tri;
                tri = tri.or(t);
                if t == Tristate::Yes {
                    chosen = Some(d);
                }
            }
            let st = &mut state.syms[i];
            st.flags |= VALID;
            st.tri = tri;
            st.choice = chosen;
        }
        if let Some(ms) = m.modules_sym {
            state.modules_val = state.syms[ms.0 as usize].tri;
        }
        let mut user = BTreeMap::new();
        if let Some(text) = user_config {
            for (n, line) in String::from_utf8_lossy(text).lines().enumerate() {
                let line = line.trim();
                let entry = if let Some(rest) = line.strip_prefix("# CONFIG_") {
                    rest.strip_suffix(" is not set").map(|n| (n, "n"))
                } else {
                    line.strip_prefix("CONFIG_").and_then(|r| r.split_once('='))
                };
                if let Some((name, value)) = entry {
                    user.insert(name.to_owned(), (n + 1, value.trim().to_owned()));
                }
            }
        }
        let mut ex = Explainer {
            kconfig,
            state,
            user,
            pinned: BTreeMap::new(),
        };
        // Visibility as a tristate (the value's `visible` is only a yes/no).
        for (i, sym) in m.symbols.iter().enumerate().skip(3) {
            if sym.flags.constant || sym.ty == SymbolType::Unknown {
                continue;
            }
            let v = ex.prompt_visibility(SymbolId(i as u32));
            ex.state.syms[i].visible = v;
        }
        ex
    }

    fn model(&self) -> &'k Model {
        self.kconfig.model()
    }

    fn eval(&mut self, e: Option<&Expr>) -> Tristate {
        let loaded = &self.kconfig.inner;
        let mut ev = Eval {
            m: &loaded.model,
            ix: &loaded.index,
            s: &mut self.state,
        };
        ev.expr(e)
    }

    fn tri(&self, s: SymbolId) -> Tristate {
        self.state.syms[s.0 as usize].tri
    }

    fn value_text(&self, s: SymbolId) -> String {
        let sym = self.model().symbol(s);
        if !sym.flags.defined && !sym.flags.constant && !sym.flags.choice {
            // A name no Kconfig file defines: `n` as a tristate.
            return "n".into();
        }
        match sym.ty {
            SymbolType::Bool | SymbolType::Tristate => tri_str(self.tri(s)),
            _ if sym.flags.choice => tri_str(self.tri(s)),
            _ => self.state.syms[s.0 as usize].val.to_string(),
        }
    }

    /// The or of every prompt's effective condition (what `sym_calc_visibility` computes,
    /// without the choice-mode adjustment).
    fn prompt_visibility(&mut self, s: SymbolId) -> Tristate {
        let m = self.model();
        let mut tri = Tristate::No;
        let mut any = false;
        for p in m.symbol(s).props.clone() {
            let prop = m.prop(p);
            if let PropKind::Prompt(_) = prop.kind {
                any = true;
                tri = tri.or(self.eval(prop.visible.as_ref()));
            }
        }
        if !any {
            return Tristate::No;
        }
        if tri == Tristate::Mod
            && (m.symbol(s).ty != SymbolType::Tristate || self.state.modules_val == Tristate::No)
        {
            tri = Tristate::Yes;
        }
        tri
    }

    /// `expr` as the kernel prints it, with ` [=value]` after every symbol operand.
    pub fn valued(&mut self, e: &Expr) -> ValuedExpr {
        let mut text = String::new();
        crate::lang::ast::write_expr_with(&mut text, e, &|id| self.operand(id));
        let value = tri_str(self.eval(Some(e)));
        ValuedExpr { text, value }
    }

    fn operand(&self, id: SymbolId) -> String {
        let s = self.model().symbol(id);
        if s.flags.constant {
            if matches!(id.0, 0..=2) {
                s.name.clone()
            } else {
                format!("\"{}\"", s.name)
            }
        } else if s.ty == SymbolType::Unknown && !s.flags.defined {
            // An undefined name: its value is its name (or n as a tristate).
            format!("{} [=n]", s.name)
        } else {
            format!("{} [={}]", self.display_name(id), self.value_text(id))
        }
    }

    /// The explanation of `name`.
    pub fn explain(&mut self, name: &str) -> Explanation {
        let m = self.model();
        let id = m.lookup(name).filter(|&id| m.symbol(id).flags.defined);
        let Some(id) = id else {
            return Explanation {
                name: name.to_owned(),
                ty: "unknown".into(),
                value: "n".into(),
                defined: false,
                visible: "n".into(),
                definitions: Vec::new(),
                depends_on: None,
                selected_by: Vec::new(),
                implied_by: Vec::new(),
                source: Source::Undefined,
                choice: None,
                range: None,
            };
        };
        let sym = m.symbol(id);
        let definitions = sym
            .definitions
            .iter()
            .map(|&menu| self.definition(id, menu))
            .collect();
        let depends_on = sym.dir_dep.as_ref().map(|e| self.valued(e));
        let (selected_by, implied_by) = self.reverse(id);
        let choice = sym.choice.map(|c| self.choice_info(c));
        let range = self.range_info(id);
        let source = self.source(id, &selected_by, &implied_by, &choice, &range);
        Explanation {
            name: name.to_owned(),
            ty: sym.ty.as_str().to_owned(),
            value: self.value_text(id),
            defined: true,
            visible: tri_str(self.state.syms[id.0 as usize].visible),
            definitions,
            depends_on,
            selected_by,
            implied_by,
            source,
            choice,
            range,
        }
    }

    fn definition(&mut self, id: SymbolId, menu: super::ast::MenuId) -> Definition {
        let m = self.model();
        let node = m.menu(menu);
        let mut prompt = None;
        let mut prompt_condition = None;
        let mut defaults = Vec::new();
        for &p in &m.symbol(id).props {
            let prop = m.prop(p);
            if prop.menu != menu {
                continue;
            }
            match &prop.kind {
                PropKind::Prompt(text) if prompt.is_none() => {
                    prompt = Some(text.clone());
                    prompt_condition = prop.visible.as_ref().map(|e| self.valued(e));
                    if prompt_condition.is_none() {
                        prompt_condition = Some(ValuedExpr {
                            text: "y".into(),
                            value: "y".into(),
                        });
                    }
                }
                PropKind::Default(e) => defaults.push(DefaultLine {
                    location: m.loc_string(prop.loc),
                    value: self.valued(e),
                    condition: prop.visible.as_ref().map(|c| self.valued(c)),
                }),
                _ => {}
            }
        }
        let depends_on = node.depends.as_ref().map(|e| self.valued(e));
        let all_depends_on = node.dir_dep.as_ref().map(|e| self.valued(e));
        let mut enclosing = Vec::new();
        let mut cur = node.parent;
        while let Some(p) = cur {
            let pn = m.menu(p);
            let kind = match pn.kind {
                MenuKind::Menu => Some(format!(
                    "menu \"{}\"",
                    pn.prompt
                        .and_then(|pp| match &m.prop(pp).kind {
                            PropKind::Prompt(t) => Some(t.clone()),
                            _ => None,
                        })
                        .unwrap_or_default()
                )),
                MenuKind::If => Some("if".to_owned()),
                MenuKind::Choice(c) => Some(format!("choice \"{}\"", self.choice_prompt(c))),
                MenuKind::MenuConfig(s) => Some(format!("menuconfig {}", m.symbol(s).name)),
                _ => None,
            };
            if let (Some(kind), Some(dep)) = (kind, pn.depends.as_ref()) {
                enclosing.push(Enclosing {
                    kind,
                    location: m.loc_string(pn.loc),
                    depends_on: self.valued(dep),
                });
            }
            cur = pn.parent;
        }
        Definition {
            location: m.loc_string(node.loc),
            prompt,
            prompt_condition,
            depends_on,
            enclosing,
            all_depends_on,
            defaults,
        }
    }

    /// The name used in reports: the symbol's name, or `<choice "Prompt">` for a choice.
    fn display_name(&self, id: SymbolId) -> String {
        let sym = self.model().symbol(id);
        if sym.flags.choice {
            format!("<choice \"{}\">", self.choice_prompt(id))
        } else {
            sym.name.clone()
        }
    }

    fn choice_prompt(&self, c: SymbolId) -> String {
        let m = self.model();
        m.props_of(c)
            .find_map(|p| match &p.kind {
                PropKind::Prompt(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "<choice>".into())
    }

    /// `select`/`imply` lines naming `id`, with the selector's value and the condition.
    fn reverse(&mut self, id: SymbolId) -> (Vec<Reverse>, Vec<Reverse>) {
        let m = self.model();
        let mut sel = Vec::new();
        let mut imp = Vec::new();
        for prop in &m.props {
            let (target, is_select) = match prop.kind {
                PropKind::Select(t) => (t, true),
                PropKind::Imply(t) => (t, false),
                _ => continue,
            };
            if target != id {
                continue;
            }
            let Some(selector) = prop.sym else { continue };
            let condition = prop.visible.as_ref().map(|e| self.valued(e));
            let cond_val = condition
                .as_ref()
                .and_then(|c| parse_tri(&c.value))
                .unwrap_or(Tristate::Yes);
            let r = Reverse {
                symbol: m.symbol(selector).name.clone(),
                value: self.value_text(selector),
                condition,
                effective: tri_str(self.tri(selector).and(cond_val)),
                location: m.loc_string(prop.loc),
            };
            if is_select {
                sel.push(r);
            } else {
                imp.push(r);
            }
        }
        (sel, imp)
    }

    fn choice_info(&mut self, c: SymbolId) -> ChoiceInfo {
        let m = self.model();
        let csym = m.symbol(c);
        let location = csym
            .definitions
            .first()
            .map(|&d| m.loc_string(m.menu(d).loc))
            .unwrap_or_default();
        let selected = self.state.syms[c.0 as usize].choice;
        let mut why = "no member is visible".to_owned();
        if let Some(sel) = selected {
            let sname = &m.symbol(sel).name;
            if self.user.contains_key(sname) {
                why = "user value".into();
            } else {
                why = "first visible member".into();
                for &p in &csym.props {
                    let prop = m.prop(p);
                    if let PropKind::Default(Expr::Symbol(d)) = prop.kind
                        && self.eval(prop.visible.as_ref()) != Tristate::No
                        && self.state.syms[d.0 as usize].visible != Tristate::No
                    {
                        if d == sel {
                            why = format!("default at {}", m.loc_string(prop.loc));
                        }
                        break;
                    }
                }
            }
        } else if self.tri(c) == Tristate::Mod {
            why = "the choice is in m mode: every member can be a module".into();
        }
        let members = csym
            .choice_members
            .iter()
            .map(|&d| (m.symbol(d).name.clone(), self.value_text(d)))
            .collect();
        ChoiceInfo {
            prompt: self.choice_prompt(c),
            location,
            mode: tri_str(self.tri(c)),
            selected: selected.map(|s| m.symbol(s).name.clone()),
            why,
            members,
        }
    }

    fn range_info(&mut self, id: SymbolId) -> Option<RangeInfo> {
        let m = self.model();
        if !matches!(m.symbol(id).ty, SymbolType::Int | SymbolType::Hex) {
            return None;
        }
        for &p in &m.symbol(id).props {
            let prop = m.prop(p);
            if let PropKind::Range(lo, hi) = prop.kind
                && self.eval(prop.visible.as_ref()) != Tristate::No
            {
                return Some(RangeInfo {
                    low: self.state.syms[lo.0 as usize].val.to_string(),
                    high: self.state.syms[hi.0 as usize].val.to_string(),
                    location: m.loc_string(prop.loc),
                });
            }
        }
        None
    }

    fn source(
        &mut self,
        id: SymbolId,
        selected_by: &[Reverse],
        implied_by: &[Reverse],
        choice: &Option<ChoiceInfo>,
        range: &Option<RangeInfo>,
    ) -> Source {
        let m = self.model();
        let sym = m.symbol(id);
        let visible = self.state.syms[id.0 as usize].visible;
        if let Some(ci) = choice
            && visible == Tristate::Yes
            && ci.mode == "y"
        {
            return Source::Choice {
                selected: ci.selected.clone(),
            };
        }
        let user = self.user.get(&sym.name).cloned();
        let user_line = user.as_ref().map(|u| u.0);
        let is_tri = matches!(sym.ty, SymbolType::Bool | SymbolType::Tristate);
        let user_taken = match &user {
            Some((_, v)) if is_tri => parse_tri(v).is_some_and(|u| u.and(visible) == self.tri(id)),
            Some(_) => true,
            None => false,
        };
        if visible != Tristate::No && user_taken {
            // The user value is taken unless it was invalid; a clamped number is reported as
            // the range's doing.
            if range.is_some() && !self.user_value_in_range(id) {
                return Source::Range;
            }
            return Source::User { line: user_line };
        }
        let value = self.tri(id);
        if is_tri {
            let on: Vec<String> = selected_by
                .iter()
                .filter(|r| r.effective != "n")
                .map(|r| r.symbol.clone())
                .collect();
            let rev = on.iter().fold(Tristate::No, |acc, n| {
                acc.or(selected_by
                    .iter()
                    .find(|r| &r.symbol == n)
                    .and_then(|r| parse_tri(&r.effective))
                    .unwrap_or(Tristate::No))
            });
            let def = self.default_line(id);
            let def_val = match &def {
                Some((_, v)) => parse_tri(&v.value).unwrap_or(Tristate::No),
                None => Tristate::No,
            };
            if !on.is_empty() && rev >= def_val && rev >= value.min(Tristate::Mod) {
                return Source::Selected { by: on };
            }
            let implied: Vec<String> = implied_by
                .iter()
                .filter(|r| r.effective != "n")
                .map(|r| r.symbol.clone())
                .collect();
            if !implied.is_empty() && def_val < value {
                return Source::Implied { by: implied };
            }
            return match def {
                Some((location, value)) => Source::Default { location, value },
                None => Source::NoDefault,
            };
        }
        match self.default_line(id) {
            Some((location, value)) => {
                if range.is_some() && self.value_text(id) != self.default_text(id) {
                    return Source::Range;
                }
                Source::Default { location, value }
            }
            None => Source::NoDefault,
        }
    }

    fn user_value_in_range(&self, _id: SymbolId) -> bool {
        true
    }

    fn default_text(&mut self, id: SymbolId) -> String {
        let m = self.model();
        for &p in &m.symbol(id).props {
            let prop = m.prop(p);
            if let PropKind::Default(e) = &prop.kind
                && self.eval(prop.visible.as_ref()) != Tristate::No
            {
                if let Expr::Symbol(d) = e {
                    return self.state.syms[d.0 as usize].val.to_string();
                }
                return String::new();
            }
        }
        String::new()
    }

    /// The first `default` whose condition is not `n`, with the value of its expression and'ed
    /// with the condition (for bool/tristate).
    fn default_line(&mut self, id: SymbolId) -> Option<(String, ValuedExpr)> {
        let m = self.model();
        for &p in &m.symbol(id).props {
            let prop = m.prop(p);
            if let PropKind::Default(e) = &prop.kind {
                let cond = self.eval(prop.visible.as_ref());
                if cond == Tristate::No {
                    continue;
                }
                let mut v = self.valued(e);
                if let Some(t) = parse_tri(&v.value) {
                    v.value = tri_str(t.and(cond));
                }
                return Some((m.loc_string(prop.loc), v));
            }
        }
        None
    }

    /// Marks `name` as fixed at `value` (a value the user already asked for): root causes that
    /// would need another value of it are reported as [`CauseKind::Conflict`].
    pub fn pin(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pinned.insert(name.into(), value.into());
    }

    /// The current value of `name` in this configuration (`n` for an undefined symbol).
    pub fn value_of(&self, name: &str) -> String {
        match self.model().lookup(name) {
            Some(id) if self.model().symbol(id).flags.defined => self.value_text(id),
            _ => "n".into(),
        }
    }

    /// What stands between `name` and the value `want` (as written after `=` in a `.config`
    /// line: `y`, `m`, `n`, a number, a quoted string): the root causes, deepest first within
    /// each chain. Empty when the value is what the configuration has.
    pub fn root_causes(&mut self, name: &str, want: &str) -> Vec<Cause> {
        let m = self.model();
        let Some(id) = m.lookup(name).filter(|&id| m.symbol(id).flags.defined) else {
            if want == "n" {
                return Vec::new();
            }
            return vec![Cause {
                symbol: name.to_owned(),
                value: "n".into(),
                need: Need::Equal(want.to_owned()),
                kind: CauseKind::Undefined,
                via: Vec::new(),
                location: None,
            }];
        };
        let need = match (m.symbol(id).ty, want) {
            (SymbolType::Bool | SymbolType::Tristate, "n") => Need::AtMost("n".into()),
            (SymbolType::Bool | SymbolType::Tristate, "m") => Need::Equal("m".into()),
            (SymbolType::Bool | SymbolType::Tristate, "y") => Need::AtLeast("y".into()),
            (SymbolType::String, w) => Need::Equal(
                w.strip_prefix('"')
                    .and_then(|w| w.strip_suffix('"'))
                    .unwrap_or(w)
                    .to_owned(),
            ),
            (_, w) => Need::Equal(w.to_owned()),
        };
        let mut w = Walk {
            causes: Vec::new(),
            seen: HashSet::new(),
        };
        self.need_symbol(&mut w, id, &need, &mut Vec::new(), true);
        w.causes
    }

    fn location_of(&self, id: SymbolId) -> Option<String> {
        let m = self.model();
        m.symbol(id)
            .definitions
            .first()
            .map(|&d| m.loc_string(m.menu(d).loc))
    }

    fn cause(&self, id: SymbolId, need: Need, kind: CauseKind, via: &[String]) -> Cause {
        Cause {
            symbol: self.display_name(id),
            value: self.value_text(id),
            need,
            kind,
            via: via.to_vec(),
            location: self.location_of(id),
        }
    }

    /// Whether `id` has a prompt whose condition is not constant `n` (a user can set it once
    /// its dependencies are met).
    fn has_usable_prompt(&mut self, id: SymbolId) -> bool {
        let m = self.model();
        for &p in &m.symbol(id).props {
            let prop = m.prop(p);
            if let PropKind::Prompt(_) = prop.kind {
                match &prop.visible {
                    None => return true,
                    Some(e) => {
                        if !only_constants(m, e) || self.eval(Some(e)) != Tristate::No {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// The kind of a fact that no route can change: a compiler probe or a prompt hidden by an
    /// architecture test. `None` when the symbol may still be derived from settable ones.
    fn definitive_fact(&mut self, id: SymbolId) -> Option<CauseKind> {
        if self.has_usable_prompt(id) {
            return None;
        }
        let kind = self.fixed_kind(id);
        let m = self.model();
        let arch_prompt = m.props_of(id).any(|p| {
            matches!(p.kind, PropKind::Prompt(_))
                && p.cond.as_ref().is_some_and(|c| only_constants(m, c))
        });
        match kind {
            CauseKind::Compiler => Some(kind),
            CauseKind::Architecture if arch_prompt => Some(kind),
            _ => None,
        }
    }

    /// The kind of a symbol that cannot be set by the user.
    fn fixed_kind(&self, id: SymbolId) -> CauseKind {
        let m = self.model();
        let sym = m.symbol(id);
        if is_toolchain_name(&sym.name) {
            return CauseKind::Compiler;
        }
        // A property written on a line where the macro language ran a probe.
        for p in m.props_of(id) {
            let loc = m.loc_string(p.loc);
            if self
                .kconfig
                .probes()
                .iter()
                .any(|r| format!("{}:{}", r.file, r.line) == loc)
            {
                return CauseKind::Compiler;
            }
        }
        let in_arch = sym.definitions.iter().any(|&d| {
            let f = &m.file(m.menu(d).loc.file).name;
            f.starts_with("arch/")
        });
        // A prompt hidden by a constant comparison is a `"$(ARCH)" = "…"` test.
        let arch_prompt = m.props_of(id).any(|p| {
            matches!(p.kind, PropKind::Prompt(_))
                && p.cond.as_ref().is_some_and(|c| only_constants(m, c))
        });
        if in_arch || arch_prompt {
            CauseKind::Architecture
        } else {
            CauseKind::Fixed
        }
    }

    fn need_symbol(
        &mut self,
        w: &mut Walk,
        id: SymbolId,
        need: &Need,
        via: &mut Vec<String>,
        top: bool,
    ) {
        let m = self.model();
        if satisfied(&self.value_text(id), need) {
            return;
        }
        if m.symbol(id).flags.constant {
            // A written constant (`default m`) that cannot give the value.
            w.causes.push(Cause {
                symbol: self.operand(id),
                value: self.value_text(id),
                need: need.clone(),
                kind: CauseKind::Fixed,
                via: via.clone(),
                location: None,
            });
            return;
        }
        if !w.seen.insert((id, need.clone())) || via.len() > 24 {
            return;
        }
        if let Some(p) = self.pinned.get(&m.symbol(id).name)
            && !satisfied(p.trim_matches('"'), need)
        {
            via.push(format!("{} is asked for as {p}", m.symbol(id).name));
            w.causes
                .push(self.cause(id, need.clone(), CauseKind::Conflict, via));
            via.pop();
            return;
        }
        let sym = m.symbol(id);
        let name = self.display_name(id);
        if sym.flags.choice {
            // A choice is no configuration line: its prompt's condition must hold.
            let vis = self.state.syms[id.0 as usize].visible;
            if vis == Tristate::No {
                self.need_prompt(w, id, Tristate::Yes, via);
            }
            return;
        }
        if !sym.flags.defined {
            w.causes
                .push(self.cause(id, need.clone(), CauseKind::Undefined, via));
            return;
        }
        let is_tri = matches!(sym.ty, SymbolType::Bool | SymbolType::Tristate);
        if let Some(kind) = self.definitive_fact(id) {
            w.causes.push(self.cause(id, need.clone(), kind, via));
            return;
        }
        let settable = self.has_usable_prompt(id);
        match need {
            Need::AtLeast(_) | Need::Equal(_) if is_tri => {
                let mut want = match need {
                    Need::AtLeast(v) | Need::Equal(v) => parse_tri(v).unwrap_or(Tristate::Yes),
                    _ => Tristate::Yes,
                };
                // A bool meets "at least m" by being y.
                if matches!(need, Need::AtLeast(_))
                    && want == Tristate::Mod
                    && (sym.ty == SymbolType::Bool || self.state.modules_val == Tristate::No)
                {
                    want = Tristate::Yes;
                }
                if want == Tristate::Mod && sym.ty == SymbolType::Bool {
                    w.causes
                        .push(self.cause(id, need.clone(), CauseKind::Type, via));
                    return;
                }
                if want == Tristate::Mod && self.state.modules_val == Tristate::No {
                    if let Some(ms) = m.modules_sym {
                        via.push(format!(
                            "{name}: =m needs modules ({} [=n])",
                            m.symbol(ms).name
                        ));
                        self.need_symbol(w, ms, &Need::AtLeast("y".into()), via, false);
                        via.pop();
                    } else {
                        w.causes
                            .push(self.cause(id, need.clone(), CauseKind::Type, via));
                    }
                    return;
                }
                if want == Tristate::Mod && self.tri(id) == Tristate::Yes {
                    // Forced to y: by a select at y, or a choice in y mode.
                    self.forced_on(w, id, Tristate::Mod, via, top);
                    return;
                }
                if settable {
                    let vis = self.state.syms[id.0 as usize].visible;
                    if vis < want {
                        let mut prompt = Walk {
                            causes: Vec::new(),
                            seen: w.seen.clone(),
                        };
                        self.need_prompt(&mut prompt, id, want, via);
                        // A default (or select) may give the value with the prompt hidden,
                        // for less: then no line for the symbol itself is needed.
                        let (hidden, _) = self.best_route(w, id, want, via);
                        if let Some(h) = hidden
                            && h.iter().all(|c| c.kind.is_settable())
                            && score(&h) < score(&prompt.causes) + 1
                        {
                            w.causes.extend(h);
                            return;
                        }
                        w.causes.extend(prompt.causes);
                        w.seen.extend(prompt.seen);
                    }
                    if !top || vis >= want {
                        w.causes
                            .push(self.cause(id, need.clone(), CauseKind::User, via));
                    }
                    return;
                }
                // No prompt: a default, a select or an imply has to give it.
                self.need_hidden_on(w, id, want, need, via);
            }
            Need::AtMost(v) if is_tri => {
                let limit = parse_tri(v).unwrap_or(Tristate::No);
                self.forced_on(w, id, limit, via, top);
            }
            _ => {
                // int/hex/string (or a tristate compared with text).
                if settable {
                    let vis = self.state.syms[id.0 as usize].visible;
                    if vis == Tristate::No {
                        self.need_prompt(w, id, Tristate::Yes, via);
                    }
                    if let (Need::Equal(v), Some(r)) = (need, self.range_info(id))
                        && !self.fits_range(id, v)
                    {
                        via.push(format!(
                            "{name}: range {} {} at {}",
                            r.low, r.high, r.location
                        ));
                        // Another `range` line whose bounds admit the value may be switched on.
                        if !self.other_range(w, id, v, via) {
                            w.causes
                                .push(self.cause(id, need.clone(), CauseKind::Type, via));
                        }
                        via.pop();
                        if !top {
                            w.causes
                                .push(self.cause(id, need.clone(), CauseKind::User, via));
                        }
                        return;
                    }
                    if !top || vis != Tristate::No {
                        w.causes
                            .push(self.cause(id, need.clone(), CauseKind::User, via));
                    }
                } else {
                    let kind = self.fixed_kind(id);
                    w.causes.push(self.cause(id, need.clone(), kind, via));
                }
            }
        }
    }

    /// Looks for a `range` line, off now, whose bounds admit `v`; walks its condition.
    fn other_range(&mut self, w: &mut Walk, id: SymbolId, v: &str, via: &mut Vec<String>) -> bool {
        let m = self.model();
        let Some(x) = parse_number(v) else {
            return false;
        };
        for p in m.props_of(id) {
            if let PropKind::Range(lo, hi) = p.kind
                && let Some(cond) = &p.visible
                && self.eval(Some(cond)) == Tristate::No
            {
                let (Some(l), Some(h)) = (
                    parse_number(&self.state.syms[lo.0 as usize].val),
                    parse_number(&self.state.syms[hi.0 as usize].val),
                ) else {
                    continue;
                };
                if l <= x && x <= h {
                    let mut sub = Walk {
                        causes: Vec::new(),
                        seen: w.seen.clone(),
                    };
                    let cond_text = self.valued(cond);
                    via.push(format!(
                        "{}: range {} {} at {} if {}",
                        m.symbol(id).name,
                        self.state.syms[lo.0 as usize].val,
                        self.state.syms[hi.0 as usize].val,
                        m.loc_string(p.loc),
                        cond_text
                    ));
                    self.need_expr(&mut sub, cond, Tristate::Yes, via);
                    via.pop();
                    if !sub.causes.is_empty() && sub.causes.iter().all(|c| c.kind.is_settable()) {
                        w.causes.extend(sub.causes);
                        return true;
                    }
                }
            }
        }
        // The active range's bound may be a symbol whose other `default` admits the value.
        let Some((lo, hi)) = self.active_range_syms(id) else {
            return false;
        };
        let (bound, upper) = match (
            parse_number(&self.state.syms[lo.0 as usize].val),
            parse_number(&self.state.syms[hi.0 as usize].val),
        ) {
            (_, Some(h)) if x > h => (hi, true),
            (Some(l), _) if x < l => (lo, false),
            _ => return false,
        };
        if m.symbol(bound).flags.constant || !m.symbol(bound).flags.defined {
            return false;
        }
        let defaults: Vec<(Option<Expr>, Option<i128>, String)> = m
            .props_of(bound)
            .filter_map(|p| match &p.kind {
                PropKind::Default(Expr::Symbol(c)) => Some((
                    p.visible.clone(),
                    parse_number(&m.symbol(*c).name),
                    m.loc_string(p.loc),
                )),
                _ => None,
            })
            .collect();
        for (i, (cond, value, loc)) in defaults.iter().enumerate() {
            let Some(value) = value else { continue };
            let admits = if upper { *value >= x } else { *value <= x };
            if !admits {
                continue;
            }
            let mut sub = Walk {
                causes: Vec::new(),
                seen: w.seen.clone(),
            };
            via.push(format!(
                "{}: bound {} takes {value} from the default at {loc}",
                m.symbol(id).name,
                m.symbol(bound).name
            ));
            // Earlier defaults that apply now must stop applying.
            for (earlier, _, _) in &defaults[..i] {
                if let Some(e) = earlier {
                    self.need_expr_at_most(&mut sub, e, Tristate::No, via);
                }
            }
            if let Some(c) = cond {
                self.need_expr(&mut sub, c, Tristate::Yes, via);
            }
            via.pop();
            if !sub.causes.is_empty() && sub.causes.iter().all(|c| c.kind.is_settable()) {
                w.causes.extend(sub.causes);
                return true;
            }
        }
        false
    }

    /// The bounds of the first `range` whose condition holds.
    fn active_range_syms(&mut self, id: SymbolId) -> Option<(SymbolId, SymbolId)> {
        let m = self.model();
        for p in m.props_of(id) {
            if let PropKind::Range(lo, hi) = p.kind
                && self.eval(p.visible.as_ref()) != Tristate::No
            {
                return Some((lo, hi));
            }
        }
        None
    }

    fn fits_range(&mut self, id: SymbolId, v: &str) -> bool {
        let loaded = &self.kconfig.inner;
        let mut ev = Eval {
            m: &loaded.model,
            ix: &loaded.index,
            s: &mut self.state,
        };
        ev.string_within_range(id, v)
    }

    /// The prompt of `id` must become visible at `want`.
    fn need_prompt(&mut self, w: &mut Walk, id: SymbolId, want: Tristate, via: &mut Vec<String>) {
        let m = self.model();
        let name = self.display_name(id);
        // Prefer the first prompt whose condition is not constant.
        let conds: Vec<Option<Expr>> = m
            .props_of(id)
            .filter(|p| matches!(p.kind, PropKind::Prompt(_)))
            .map(|p| p.visible.clone())
            .collect();
        let Some(Some(cond)) = conds
            .iter()
            .find(|c| c.as_ref().is_some_and(|e| !only_constants(m, e)))
            .or_else(|| conds.first())
            .cloned()
        else {
            return;
        };
        let v = self.valued(&cond);
        via.push(format!("{name}: depends on {}", v.text));
        self.need_expr(w, &cond, want, via);
        via.pop();
    }

    /// A symbol without a prompt must become at least `want`.
    fn need_hidden_on(
        &mut self,
        w: &mut Walk,
        id: SymbolId,
        want: Tristate,
        need: &Need,
        via: &mut Vec<String>,
    ) {
        let (best, routes) = self.best_route(w, id, want, via);
        match best {
            Some(c) if c.iter().all(|c| c.kind.is_settable()) || routes == 1 => w.causes.extend(c),
            Some(c) => {
                // No route is open to the user: the symbol itself is a fact.
                let kind = self.fixed_kind(id);
                if kind == CauseKind::Fixed {
                    w.causes.extend(c);
                } else {
                    w.causes.push(self.cause(id, need.clone(), kind, via));
                }
            }
            None => {
                let kind = self.fixed_kind(id);
                w.causes.push(self.cause(id, need.clone(), kind, via));
            }
        }
    }

    /// The cheapest way for a default, `select` or `imply` to give `id` at least `want`: its
    /// causes (empty when the way is already asked for), and how many ways there are.
    fn best_route(
        &mut self,
        w: &Walk,
        id: SymbolId,
        want: Tristate,
        via: &mut Vec<String>,
    ) -> (Option<Vec<Cause>>, usize) {
        let m = self.model();
        let name = self.display_name(id);
        // Routes: each default (condition && value), each select, each imply; the cheapest
        // that has only settable causes wins.
        let mut routes: Vec<(String, Expr)> = Vec::new();
        for p in m.props_of(id) {
            if let PropKind::Default(e) = &p.kind {
                let full = match &p.visible {
                    Some(c) => Expr::and(c.clone(), e.clone()),
                    None => e.clone(),
                };
                routes.push((format!("{name}: default at {}", m.loc_string(p.loc)), full));
            }
        }
        for prop in &m.props {
            if let (PropKind::Select(t) | PropKind::Imply(t), Some(s)) = (&prop.kind, prop.sym)
                && *t == id
            {
                let mut term = Expr::Symbol(s);
                if let Some(c) = &prop.visible {
                    term = Expr::and(term, c.clone());
                }
                let kw = if matches!(prop.kind, PropKind::Select(_)) {
                    "selected by"
                } else {
                    "implied by"
                };
                let route = if matches!(prop.kind, PropKind::Imply(_)) {
                    match &m.symbol(id).dir_dep {
                        Some(d) => Expr::and(term, d.clone()),
                        None => term,
                    }
                } else {
                    term
                };
                routes.push((
                    format!(
                        "{name}: {kw} {} at {}",
                        m.symbol(s).name,
                        m.loc_string(prop.loc)
                    ),
                    route,
                ));
            }
        }
        let mut best: Option<Vec<Cause>> = None;
        for (label, e) in &routes {
            let mut sub = Walk {
                causes: Vec::new(),
                seen: w.seen.clone(),
            };
            via.push(label.clone());
            self.need_expr(&mut sub, e, want, via);
            via.pop();
            if sub.causes.is_empty() {
                // Everything this route needs is already asked for on the way here.
                return (Some(Vec::new()), routes.len());
            }
            let better = match &best {
                None => true,
                Some(b) => score(&sub.causes) < score(b),
            };
            if better {
                best = Some(sub.causes);
            }
        }
        (best, routes.len())
    }

    /// `id` must come down to at most `limit`: whatever keeps it up must go.
    fn forced_on(
        &mut self,
        w: &mut Walk,
        id: SymbolId,
        limit: Tristate,
        via: &mut Vec<String>,
        top: bool,
    ) {
        let m = self.model();
        let name = self.display_name(id);
        let mut any = false;
        // Selects first: they win over everything.
        for prop in &m.props {
            if let (PropKind::Select(t), Some(s)) = (&prop.kind, prop.sym)
                && *t == id
            {
                let mut term = Expr::Symbol(s);
                if let Some(c) = &prop.visible {
                    term = Expr::and(term, c.clone());
                }
                if self.eval(Some(&term)) <= limit {
                    continue;
                }
                any = true;
                via.push(format!(
                    "{name}: selected by {} [={}] at {}",
                    m.symbol(s).name,
                    self.value_text(s),
                    m.loc_string(prop.loc)
                ));
                self.need_expr_at_most(w, &term, limit, via);
                via.pop();
            }
        }
        if let Some(c) = m.symbol(id).choice
            && self.tri(c) == Tristate::Yes
            && self.tri(id) == Tristate::Yes
            && !any
        {
            via.push(format!("{name}: member of a choice in y mode"));
            // Another visible member taken instead turns this one off; nothing makes it m.
            let other = m
                .symbol(c)
                .choice_members
                .iter()
                .copied()
                .find(|&d| d != id && self.state.syms[d.0 as usize].visible != Tristate::No);
            match other {
                Some(d) if limit == Tristate::No => {
                    w.causes
                        .push(self.cause(d, Need::AtLeast("y".into()), CauseKind::User, via))
                }
                _ => w.causes.push(self.cause(
                    id,
                    Need::AtMost(tri_str(limit)),
                    CauseKind::Type,
                    via,
                )),
            }
            via.pop();
            return;
        }
        let settable = self.has_usable_prompt(id);
        let vis = self.state.syms[id.0 as usize].visible;
        if settable && vis != Tristate::No {
            if !top || any {
                w.causes
                    .push(self.cause(id, Need::AtMost(tri_str(limit)), CauseKind::User, via));
            }
            return;
        }
        if any {
            return;
        }
        // Hidden and on by a default: making the prompt visible lets the user turn it off.
        if settable {
            let mut prompt = Walk {
                causes: Vec::new(),
                seen: w.seen.clone(),
            };
            self.need_prompt(&mut prompt, id, Tristate::Yes, via);
            if prompt.causes.iter().all(|c| c.kind.is_settable()) {
                w.causes.extend(prompt.causes);
                w.seen.extend(prompt.seen);
                w.causes
                    .push(self.cause(id, Need::AtMost(tri_str(limit)), CauseKind::User, via));
                return;
            }
        }
        // Hidden and on by a default or imply: the default's condition must go.
        if let Some((loc, _)) = self.default_line(id) {
            for p in m.props_of(id) {
                if let PropKind::Default(e) = &p.kind
                    && m.loc_string(p.loc) == loc
                {
                    let full = match &p.visible {
                        Some(c) => Expr::and(c.clone(), e.clone()),
                        None => e.clone(),
                    };
                    via.push(format!("{name}: default at {loc}"));
                    self.need_expr_at_most(w, &full, limit, via);
                    via.pop();
                    return;
                }
            }
        }
        let kind = self.fixed_kind(id);
        w.causes
            .push(self.cause(id, Need::AtMost(tri_str(limit)), kind, via));
    }

    /// `e` must become at least `want`.
    fn need_expr(&mut self, w: &mut Walk, e: &Expr, want: Tristate, via: &mut Vec<String>) {
        if self.eval(Some(e)) >= want {
            return;
        }
        match e {
            Expr::Symbol(s) => {
                self.need_symbol(w, *s, &Need::AtLeast(tri_str(want)), via, false);
            }
            Expr::And(a, b) => {
                self.need_expr(w, a, want, via);
                self.need_expr(w, b, want, via);
            }
            Expr::Or(a, b) => {
                let mut best: Option<Walk> = None;
                for side in [a, b] {
                    let mut sub = Walk {
                        causes: Vec::new(),
                        seen: w.seen.clone(),
                    };
                    self.need_expr(&mut sub, side, want, via);
                    if best
                        .as_ref()
                        .is_none_or(|b| score(&sub.causes) < score(&b.causes))
                    {
                        best = Some(sub);
                    }
                }
                if let Some(b) = best {
                    w.causes.extend(b.causes);
                    w.seen.extend(b.seen);
                }
            }
            Expr::Not(inner) => self.need_expr_at_most(w, inner, want.not(), via),
            Expr::Compare(op, a, b) => self.need_compare(w, *op, *a, *b, via),
        }
    }

    /// `e` must come down to at most `limit`.
    fn need_expr_at_most(
        &mut self,
        w: &mut Walk,
        e: &Expr,
        limit: Tristate,
        via: &mut Vec<String>,
    ) {
        if self.eval(Some(e)) <= limit {
            return;
        }
        match e {
            Expr::Symbol(s) => {
                self.need_symbol(w, *s, &Need::AtMost(tri_str(limit)), via, false);
            }
            Expr::Or(a, b) => {
                self.need_expr_at_most(w, a, limit, via);
                self.need_expr_at_most(w, b, limit, via);
            }
            Expr::And(a, b) => {
                let mut best: Option<Walk> = None;
                for side in [a, b] {
                    let mut sub = Walk {
                        causes: Vec::new(),
                        seen: w.seen.clone(),
                    };
                    self.need_expr_at_most(&mut sub, side, limit, via);
                    if best
                        .as_ref()
                        .is_none_or(|b| score(&sub.causes) < score(&b.causes))
                    {
                        best = Some(sub);
                    }
                }
                if let Some(b) = best {
                    w.causes.extend(b.causes);
                    w.seen.extend(b.seen);
                }
            }
            Expr::Not(inner) => self.need_expr(w, inner, limit.not(), via),
            Expr::Compare(op, a, b) => {
                let negated = match op {
                    CmpOp::Eq => CmpOp::Ne,
                    CmpOp::Ne => CmpOp::Eq,
                    CmpOp::Lt => CmpOp::Ge,
                    CmpOp::Le => CmpOp::Gt,
                    CmpOp::Gt => CmpOp::Le,
                    CmpOp::Ge => CmpOp::Lt,
                };
                self.need_compare(w, negated, *a, *b, via)
            }
        }
    }

    /// The comparison `a op b` must become true.
    fn need_compare(
        &mut self,
        w: &mut Walk,
        op: CmpOp,
        a: SymbolId,
        b: SymbolId,
        via: &mut Vec<String>,
    ) {
        let m = self.model();
        let (var, other) = if m.symbol(a).flags.constant || !m.symbol(a).flags.defined {
            (b, a)
        } else {
            (a, b)
        };
        let target = self.value_text(other);
        let var_sym = m.symbol(var);
        if var_sym.flags.constant || !var_sym.flags.defined {
            // Two constants: a fact of the architecture or the environment.
            w.causes.push(Cause {
                symbol: format!("{}{}{}", self.operand(a), op.as_str(), self.operand(b)),
                value: "n".into(),
                need: Need::Equal("y".into()),
                kind: CauseKind::Architecture,
                via: via.clone(),
                location: None,
            });
            return;
        }
        let flipped = var != a;
        let op = if flipped {
            match op {
                CmpOp::Lt => CmpOp::Gt,
                CmpOp::Le => CmpOp::Ge,
                CmpOp::Gt => CmpOp::Lt,
                CmpOp::Ge => CmpOp::Le,
                o => o,
            }
        } else {
            op
        };
        let is_tri = matches!(var_sym.ty, SymbolType::Bool | SymbolType::Tristate);
        let need = match op {
            CmpOp::Eq if is_tri && target == "n" => Need::AtMost("n".into()),
            CmpOp::Eq if is_tri && target == "y" => Need::AtLeast("y".into()),
            CmpOp::Eq => Need::Equal(target),
            CmpOp::Ne if is_tri && target == "n" => Need::AtLeast("m".into()),
            CmpOp::Ne if is_tri && target == "y" => Need::AtMost("m".into()),
            CmpOp::Ne => Need::NotEqual(target),
            CmpOp::Ge | CmpOp::Gt | CmpOp::Le | CmpOp::Lt if is_tri => {
                let t = parse_tri(&target).unwrap_or(Tristate::No);
                match op {
                    CmpOp::Ge => Need::AtLeast(tri_str(t)),
                    CmpOp::Gt if t < Tristate::Yes => {
                        Need::AtLeast(tri_str(if t == Tristate::No {
                            Tristate::Mod
                        } else {
                            Tristate::Yes
                        }))
                    }
                    CmpOp::Le => Need::AtMost(tri_str(t)),
                    CmpOp::Lt if t > Tristate::No => Need::AtMost(tri_str(if t == Tristate::Yes {
                        Tristate::Mod
                    } else {
                        Tristate::No
                    })),
                    _ => Need::Equal(target),
                }
            }
            _ => {
                // A numeric comparison: name the bound.
                Need::Equal(format!("{}{target}", op.as_str()))
            }
        };
        self.need_symbol(w, var, &need, via, false);
    }
}

struct Walk {
    causes: Vec<Cause>,
    seen: HashSet<(SymbolId, Need)>,
}

/// Lower is better: every unsettable cause counts a lot, each settable one a little.
fn score(causes: &[Cause]) -> usize {
    causes
        .iter()
        .map(|c| if c.kind.is_settable() { 1 } else { 1000 })
        .sum()
}

fn satisfied(value: &str, need: &Need) -> bool {
    match need {
        Need::AtLeast(v) => match (parse_tri(value), parse_tri(v)) {
            (Some(a), Some(b)) => a >= b,
            _ => false,
        },
        Need::AtMost(v) => match (parse_tri(value), parse_tri(v)) {
            (Some(a), Some(b)) => a <= b,
            _ => false,
        },
        Need::Equal(v) => value == v || same_number(value, v),
        Need::NotEqual(v) => value != v,
    }
}

fn parse_number(s: &str) -> Option<i128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn same_number(a: &str, b: &str) -> bool {
    matches!((parse_number(a), parse_number(b)), (Some(x), Some(y)) if x == y)
}

/// Whether `e` mentions only constants (`"x86_64" = "x86"`, `y`, `n`).
fn only_constants(m: &Model, e: &Expr) -> bool {
    let c = |s: &SymbolId| m.symbol(*s).flags.constant;
    match e {
        Expr::Symbol(s) => c(s),
        Expr::Not(a) => only_constants(m, a),
        Expr::And(a, b) | Expr::Or(a, b) => only_constants(m, a) && only_constants(m, b),
        Expr::Compare(_, a, b) => c(a) && c(b),
    }
}

impl Explanation {
    /// The full text, like `menuconfig`'s help screen plus the value's source.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        use fmt::Write as _;
        if !self.defined {
            let _ = writeln!(
                s,
                "{}: not defined by any Kconfig file read for this architecture",
                self.name
            );
            return s;
        }
        let _ = writeln!(
            s,
            "{} ({}) = {}  [visible: {}]",
            self.name, self.ty, self.value, self.visible
        );
        let _ = writeln!(s, "  value from: {}", self.source);
        for d in &self.definitions {
            let _ = writeln!(s, "  defined at {}", d.location);
            if let Some(p) = &d.prompt {
                let cond = d
                    .prompt_condition
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                let _ = writeln!(s, "    prompt \"{p}\" visible if {cond}");
            }
            if let Some(dep) = &d.depends_on {
                let _ = writeln!(s, "    depends on {dep}");
            }
            if let Some(dep) = &d.all_depends_on
                && d.depends_on.as_ref() != Some(dep)
            {
                let _ = writeln!(s, "    with enclosing blocks: {dep}");
            }
            for e in &d.enclosing {
                let _ = writeln!(
                    s,
                    "    inside {} at {}: depends on {}",
                    e.kind, e.location, e.depends_on
                );
            }
            for def in &d.defaults {
                match &def.condition {
                    Some(c) => {
                        let _ = writeln!(
                            s,
                            "    default {} if {} ({})",
                            def.value.text, c, def.location
                        );
                    }
                    None => {
                        let _ = writeln!(s, "    default {} ({})", def.value.text, def.location);
                    }
                }
            }
        }
        if let Some(d) = &self.depends_on {
            let _ = writeln!(s, "  Depends on: {d}");
        }
        for (label, list) in [
            ("Selected by", &self.selected_by),
            ("Implied by", &self.implied_by),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  {label}:");
            for r in list {
                match &r.condition {
                    Some(c) => {
                        let _ = writeln!(
                            s,
                            "  - {} [={}] && {} ({})",
                            r.symbol, r.value, c, r.location
                        );
                    }
                    None => {
                        let _ = writeln!(s, "  - {} [={}] ({})", r.symbol, r.value, r.location);
                    }
                }
            }
        }
        if let Some(c) = &self.choice {
            let _ = writeln!(
                s,
                "  in choice \"{}\" ({}), mode {}: selected {} ({})",
                c.prompt,
                c.location,
                c.mode,
                c.selected.as_deref().unwrap_or("nothing"),
                c.why
            );
        }
        if let Some(r) = &self.range {
            let _ = writeln!(s, "  range {} {} ({})", r.low, r.high, r.location);
        }
        s
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::User { line: Some(l) } => write!(f, "the configuration (line {l})"),
            Source::User { line: None } => f.write_str("the configuration"),
            Source::Default { location, value } => write!(f, "default {value} at {location}"),
            Source::NoDefault => f.write_str("no default applies and nothing selects it"),
            Source::Selected { by } => write!(f, "selected by {}", by.join(", ")),
            Source::Implied { by } => write!(f, "implied by {}", by.join(", ")),
            Source::Choice { selected: Some(s) } => write!(f, "the choice took {s}"),
            Source::Choice { selected: None } => f.write_str("the choice took no member"),
            Source::Range => f.write_str("clamped into its range"),
            Source::Undefined => f.write_str("not defined for this architecture"),
        }
    }
}
