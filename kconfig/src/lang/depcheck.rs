//! The kernel's check for recursive dependencies (`sym_check_deps` in
//! `scripts/kconfig/symbol.c`), run after finalizing: a symbol whose value would depend on
//! itself through `depends on`, `select`, `imply`, a `default` value or a property's condition
//! makes `conf` print each cycle it finds and stop without writing a configuration. This module
//! walks the finalized model in the same order as `conf` (its symbol table order, then
//! dependencies, reverse dependencies, implies, then each property), so the cycles found and
//! the lines describing them are `conf`'s.

use std::fmt;

use super::ast::{Loc, MenuId, Model, PropId, PropKind, SymbolId};
use super::eval::{Index, Node};

/// The tree has recursive dependencies: what `conf` prints for each cycle it finds (and then
/// refuses the tree).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct RecursiveDependencyError {
    /// Every cycle reported, in `conf`'s order.
    pub cycles: Vec<Cycle>,
}

impl fmt::Display for RecursiveDependencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.cycles.iter().enumerate() {
            if i > 0 {
                // conf ends each report with an empty line.
                f.write_str("\n\n")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// One recursive dependency, as `conf` explains it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Cycle {
    /// Where `conf` reports the error (the file of the property, or the definition, that
    /// closes the cycle).
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The links of the cycle, from the symbol where it was detected back to it. Empty when
    /// `conf` could not explain the cycle (it then prints "unexpected recursive dependency
    /// error").
    pub steps: Vec<CycleStep>,
}

/// One link of a [`Cycle`]: `symbol` needs `next` (the next step's symbol, or the first one
/// for the last step).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CycleStep {
    /// Where the link is written.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The symbol (`<choice>` for an unnamed choice).
    pub symbol: String,
    /// How it needs `next`.
    pub link: CycleLink,
    /// The symbol it needs.
    pub next: String,
}

/// How one symbol of a cycle needs the next.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CycleLink {
    /// `depends on` (its own or an enclosing menu's, `if`'s or choice's).
    DependsOn,
    /// `select` by the next symbol.
    SelectedBy,
    /// `imply` by the next symbol.
    ImpliedBy,
    /// The value of a `default` names the next symbol.
    DefaultValue,
    /// The condition of a property (`prompt`, `default`, `range`, or the definition itself:
    /// `symbol`) names the next symbol.
    VisibleDependingOn {
        /// The kind of property, as `conf` names it.
        property: String,
    },
    /// A choice and one of its members.
    ChoiceContains,
    /// A member and its choice.
    PartOfChoice,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("unexpected recursive dependency error");
        }
        writeln!(
            f,
            "{}:{}:error: recursive dependency detected!",
            self.file, self.line
        )?;
        for s in &self.steps {
            write!(f, "{}:{}:\t", s.file, s.line)?;
            let (sym, next) = (&s.symbol, &s.next);
            match &s.link {
                CycleLink::ChoiceContains => write!(f, "choice {sym} contains symbol {next}")?,
                CycleLink::PartOfChoice => write!(f, "symbol {sym} is part of choice {next}")?,
                CycleLink::DependsOn => write!(f, "symbol {sym} depends on {next}")?,
                CycleLink::SelectedBy => write!(f, "symbol {sym} is selected by {next}")?,
                CycleLink::ImpliedBy => write!(f, "symbol {sym} is implied by {next}")?,
                CycleLink::DefaultValue => write!(f, "symbol {sym} default value contains {next}")?,
                CycleLink::VisibleDependingOn { property } => {
                    write!(f, "symbol {sym} {property} is visible depending on {next}")?
                }
            }
            f.write_str("\n")?;
        }
        f.write_str(
            "For a resolution refer to Documentation/kbuild/kconfig-language.rst\n\
             subsection \"Kconfig recursive dependency limitations\"",
        )
    }
}

/// Checks the finalized `model` for recursive dependencies as `conf` does after parsing
/// ([`parser::parse`](super::parser::parse) and [`Kconfig::load`](super::Kconfig::load) run
/// it already).
pub fn check(model: &Model) -> Result<(), RecursiveDependencyError> {
    // Deep dependency chains and long `select` lists recurse deeply.
    super::ops::with_big_stack(|| check_indexed(model, &Index::build(model)))
}

/// [`check`] with the evaluator's index of `model` (its flattened expressions and symbol
/// table order), on the caller's thread: it needs a large stack.
pub(crate) fn check_indexed(model: &Model, index: &Index) -> Result<(), RecursiveDependencyError> {
    let mut c = Checker {
        m: model,
        ix: index,
        flags: vec![0; model.symbols.len()],
        stack: Vec::new(),
        cycles: Vec::new(),
    };
    for &s in &index.table_order {
        c.check_deps(s);
    }
    if c.cycles.is_empty() {
        Ok(())
    } else {
        Err(RecursiveDependencyError { cycles: c.cycles })
    }
}

const CHECK: u8 = 1;
const CHECKED: u8 = 2;

/// An entry of a symbol's property list as `conf` has it: the definition itself (`P_SYMBOL`,
/// conditioned on the entry's dependencies, first in the list) or a property written in it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConfProp {
    Symbol(MenuId),
    Prop(PropId),
}

/// Which expression of a symbol the check is in (the kernel's `dep_stack.expr`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    DirDep,
    RevDep,
    Implied,
    DefaultValue,
}

struct Frame {
    sym: SymbolId,
    prop: Option<ConfProp>,
    slot: Slot,
}

struct Checker<'m> {
    m: &'m Model,
    flags: Vec<u8>,
    /// The expressions, flattened; with the kernel's rewrite of a bool compared with `m`
    /// (a constant) where the kernel applies it.
    ix: &'m Index,
    stack: Vec<Frame>,
    cycles: Vec<Cycle>,
}

impl Checker<'_> {
    fn is_choice(&self, s: SymbolId) -> bool {
        self.m.symbol(s).flags.choice
    }

    /// The choice of a choice member.
    fn choice_of(&self, s: SymbolId) -> Option<SymbolId> {
        let sym = self.m.symbol(s);
        if sym.flags.choice_value {
            sym.choice
        } else {
            None
        }
    }

    fn flag(&self, s: SymbolId) -> &u8 {
        &self.flags[s.0 as usize]
    }

    fn flags_mut(&mut self, s: SymbolId) -> &mut u8 {
        &mut self.flags[s.0 as usize]
    }

    fn push(&mut self, sym: SymbolId) -> usize {
        self.stack.push(Frame {
            sym,
            prop: None,
            slot: Slot::None,
        });
        self.stack.len() - 1
    }

    fn first_prop(&self, s: SymbolId) -> Option<ConfProp> {
        let sym = self.m.symbol(s);
        match sym.definitions.first() {
            Some(&d) => Some(ConfProp::Symbol(d)),
            None => sym.props.first().map(|&p| ConfProp::Prop(p)),
        }
    }

    fn prop_loc(&self, p: ConfProp) -> Loc {
        match p {
            ConfProp::Symbol(menu) => self.m.menu(menu).loc,
            ConfProp::Prop(p) => self.m.prop(p).loc,
        }
    }

    fn prop_menu_loc(&self, p: ConfProp) -> Loc {
        match p {
            ConfProp::Symbol(menu) => self.m.menu(menu).loc,
            ConfProp::Prop(p) => self.m.menu(self.m.prop(p).menu).loc,
        }
    }

    fn prop_type_name(&self, p: ConfProp) -> &'static str {
        match p {
            ConfProp::Symbol(_) => "symbol",
            ConfProp::Prop(p) => match self.m.prop(p).kind {
                PropKind::Prompt(_) => "prompt",
                PropKind::Default(_) => "default",
                PropKind::Select(_) => "select",
                PropKind::Imply(_) => "imply",
                PropKind::Range(..) => "range",
                PropKind::Choice(_) => "choice",
                PropKind::Env(_) => "env",
            },
        }
    }

    /// `sym_check_deps`
    fn check_deps(&mut self, s: SymbolId) -> Option<SymbolId> {
        if self.flag(s) & CHECK != 0 {
            self.print_recursive(s);
            return Some(s);
        }
        if self.flag(s) & CHECKED != 0 {
            return None;
        }
        if let Some(cs) = self.choice_of(s) {
            // A choice group is checked from its choice.
            self.push(s);
            let r = self.check_deps(cs);
            self.stack.pop();
            r
        } else if self.is_choice(s) {
            self.check_choice_deps(s)
        } else {
            *self.flags_mut(s) |= CHECK | CHECKED;
            let r = self.check_sym_deps(s);
            *self.flags_mut(s) &= !CHECK;
            r
        }
    }

    /// `sym_check_expr_deps` of the flattened expression `node`.
    fn check_expr(&mut self, node: Option<u32>) -> Option<SymbolId> {
        match self.ix.nodes[node? as usize] {
            Node::And(a, b) | Node::Or(a, b) => self
                .check_expr(Some(a))
                .or_else(|| self.check_expr(Some(b))),
            Node::Not(a) => self.check_expr(Some(a)),
            Node::Cmp(_, a, b) => self.check_deps(a).or_else(|| self.check_deps(b)),
            Node::Sym(s) => self.check_deps(s),
        }
    }

    /// `sym_check_sym_deps`
    fn check_sym_deps(&mut self, s: SymbolId) -> Option<SymbolId> {
        let (m, ix) = (self.m, self.ix);
        let i = s.0 as usize;
        let top = self.push(s);
        let r = 'out: {
            self.stack[top].slot = Slot::DirDep;
            if let Some(r) = self.check_expr(ix.sym_dir[i]) {
                break 'out Some(r);
            }
            self.stack[top].slot = Slot::RevDep;
            if let Some(r) = self.check_expr(ix.sym_rev[i]) {
                break 'out Some(r);
            }
            self.stack[top].slot = Slot::Implied;
            if let Some(r) = self.check_expr(ix.sym_implied[i]) {
                break 'out Some(r);
            }
            self.stack[top].slot = Slot::None;
            let is_choice = m.symbol(s).flags.choice;
            // The kernel also walks the condition of each definition (`P_SYMBOL`, the
            // entry's dependencies): every symbol in it is in the direct dependencies walked
            // above without finding a cycle, so it cannot find one; skipped.
            for &p in &m.symbol(s).props {
                let prop = m.prop(p);
                if matches!(
                    prop.kind,
                    PropKind::Choice(_) | PropKind::Select(_) | PropKind::Imply(_)
                ) {
                    continue;
                }
                self.stack[top].prop = Some(ConfProp::Prop(p));
                if let Some(r) = self.check_expr(ix.prop_visible[p.0 as usize]) {
                    break 'out Some(r);
                }
                let value = ix.prop_default[p.0 as usize];
                if value.is_none() || is_choice {
                    continue;
                }
                self.stack[top].slot = Slot::DefaultValue;
                if let Some(r) = self.check_expr(value) {
                    break 'out Some(r);
                }
                self.stack[top].slot = Slot::None;
            }
            None
        };
        self.stack.pop();
        r
    }

    /// `sym_check_choice_deps`
    fn check_choice_deps(&mut self, choice: SymbolId) -> Option<SymbolId> {
        let m = self.m;
        self.push(choice);
        let members = &m.symbol(choice).choice_members;
        for &s in members {
            *self.flags_mut(s) |= CHECK | CHECKED;
        }
        *self.flags_mut(choice) |= CHECK | CHECKED;
        let mut r = self.check_sym_deps(choice);
        *self.flags_mut(choice) &= !CHECK;
        if r.is_none() {
            for &s in members {
                r = self.check_sym_deps(s);
                if r.is_some() {
                    break;
                }
            }
        }
        for &s in members {
            *self.flags_mut(s) &= !CHECK;
        }
        if let Some(found) = r
            && self.choice_of(found) == Some(choice)
        {
            r = Some(choice);
        }
        self.stack.pop();
        r
    }

    fn name(&self, s: SymbolId) -> String {
        let name = &self.m.symbol(s).name;
        if name.is_empty() {
            "<choice>".to_owned()
        } else {
            name.clone()
        }
    }

    /// `sym_check_print_recursive`: records the cycle that ends at `last`.
    fn print_recursive(&mut self, last: SymbolId) {
        let mut last = last;
        let mut member_frame = false;
        if let Some(cs) = self.choice_of(last) {
            self.push(last);
            member_frame = true;
            last = cs;
        }
        let file_of = |m: &Model, loc: Loc| m.file(loc.file).name.clone();
        let mut cycle = Cycle {
            file: String::new(),
            line: 0,
            steps: Vec::new(),
        };
        if let Some(start) = self.stack.iter().rposition(|f| f.sym == last) {
            for j in start..self.stack.len() {
                let f = &self.stack[j];
                let sym = f.sym;
                let next = self.stack.get(j + 1).map_or(last, |n| n.sym);
                let slot = f.slot;
                let mut prop = f.prop.or_else(|| self.first_prop(sym));
                let group = self.is_choice(sym) || self.choice_of(sym).is_some();
                if group {
                    prop = self.first_prop(sym);
                }
                let Some(prop) = prop else { continue };
                let loc = self.prop_loc(prop);
                if sym == last {
                    cycle.file = file_of(self.m, loc);
                    cycle.line = loc.line;
                }
                let (link, at) = if self.is_choice(sym) {
                    (CycleLink::ChoiceContains, self.prop_menu_loc(prop))
                } else if group {
                    (CycleLink::PartOfChoice, self.prop_menu_loc(prop))
                } else {
                    let link = match slot {
                        Slot::DirDep => CycleLink::DependsOn,
                        Slot::RevDep => CycleLink::SelectedBy,
                        Slot::Implied => CycleLink::ImpliedBy,
                        Slot::DefaultValue => CycleLink::DefaultValue,
                        Slot::None => CycleLink::VisibleDependingOn {
                            property: self.prop_type_name(prop).to_owned(),
                        },
                    };
                    (link, loc)
                };
                cycle.steps.push(CycleStep {
                    file: file_of(self.m, at),
                    line: at.line,
                    symbol: self.name(sym),
                    link,
                    next: self.name(next),
                });
            }
        }
        self.cycles.push(cycle);
        if member_frame {
            self.stack.pop();
        }
    }
}
