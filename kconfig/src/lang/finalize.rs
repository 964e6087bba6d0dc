//! What the kernel's `menu_finalize` does after parsing: dependencies of menus, `if` blocks and
//! choices are pushed down into every entry and property; `m` in conditions becomes
//! `m && MODULES`; entries that depend on the config right before them become its children
//! (automatic submenus), `if` blocks and prompt-less entries are flattened into their parent;
//! choice members are found and typed; `select`/`imply` fill the reverse dependencies; every
//! definition's dependency is or-ed into the symbol's direct dependency.

use super::ast::{CmpOp, Expr, MenuId, MenuKind, Model, PropKind, SymbolId, SymbolType};
use super::parser::{ParseWarning, and_opt, or_opt};

/// Finalizes `model` in place; returns the warnings the kernel prints while doing so.
pub fn finalize(model: &mut Model) -> Vec<ParseWarning> {
    let mut f = Finalizer {
        m: model,
        warnings: Vec::new(),
        warned: Vec::new(),
    };
    let n = f.m.symbols.len();
    f.warned = vec![false; n];
    let root = f.m.root();
    f.finalize_node(None, root);
    f.warnings
}

struct Finalizer<'m> {
    m: &'m mut Model,
    warnings: Vec<ParseWarning>,
    warned: Vec<bool>,
}

fn rewrite_m(e: Option<Expr>, modules: SymbolId, m: SymbolId) -> Option<Expr> {
    fn has_m(e: &Expr, m: SymbolId) -> bool {
        match e {
            Expr::Symbol(s) => *s == m,
            Expr::Compare(..) => false,
            Expr::Not(a) => has_m(a, m),
            Expr::And(a, b) | Expr::Or(a, b) => has_m(a, m) || has_m(b, m),
        }
    }
    fn go(e: &Expr, modules: SymbolId, m: SymbolId) -> Expr {
        if !has_m(e, m) {
            return e.clone();
        }
        match e {
            Expr::Not(a) => Expr::not(go(a, modules, m)),
            Expr::And(a, b) => Expr::and(go(a, modules, m), go(b, modules, m)),
            Expr::Or(a, b) => Expr::or(go(a, modules, m), go(b, modules, m)),
            Expr::Symbol(s) => Expr::and(Expr::Symbol(*s), Expr::Symbol(modules)),
            other => other.clone(),
        }
    }
    e.map(|e| go(&e, modules, m))
}

fn contains_symbol(e: &Expr, sym: SymbolId) -> bool {
    match e {
        Expr::Symbol(s) => *s == sym,
        Expr::Compare(_, a, b) => *a == sym || *b == sym,
        Expr::Not(a) => contains_symbol(a, sym),
        Expr::And(a, b) | Expr::Or(a, b) => contains_symbol(a, sym) || contains_symbol(b, sym),
    }
}

/// Whether `e` can only be true when `sym` is (the kernel's `expr_depends_symbol`).
fn depends_symbol(e: &Expr, sym: SymbolId, yes: SymbolId, module: SymbolId, no: SymbolId) -> bool {
    match e {
        Expr::And(a, b) => {
            depends_symbol(a, sym, yes, module, no) || depends_symbol(b, sym, yes, module, no)
        }
        Expr::Symbol(s) => *s == sym,
        Expr::Compare(CmpOp::Eq, a, b) => *a == sym && (*b == yes || *b == module),
        Expr::Compare(CmpOp::Ne, a, b) => *a == sym && *b == no,
        _ => false,
    }
}

/// A light normal form for comparing leaves: `X != n` is `X`, `!!X` is `X`.
fn normal(e: &Expr, no: SymbolId) -> Expr {
    match e {
        Expr::Compare(CmpOp::Ne, a, b) if *b == no => Expr::Symbol(*a),
        Expr::Not(a) => match &**a {
            Expr::Not(b) => normal(b, no),
            other => Expr::not(normal(other, no)),
        },
        Expr::And(a, b) => Expr::and(normal(a, no), normal(b, no)),
        Expr::Or(a, b) => Expr::or(normal(a, no), normal(b, no)),
        other => other.clone(),
    }
}

fn and_terms<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(a, b) => {
            and_terms(a, out);
            and_terms(b, out);
        }
        other => out.push(other),
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

/// Equality up to the order of operands of `&&` and `||` (the kernel's `expr_eq`).
fn expr_eq(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Symbol(x), Expr::Symbol(y)) => x == y,
        (Expr::Compare(o1, a1, b1), Expr::Compare(o2, a2, b2)) => o1 == o2 && a1 == a2 && b1 == b2,
        (Expr::Not(x), Expr::Not(y)) => expr_eq(x, y),
        (Expr::And(..), Expr::And(..)) | (Expr::Or(..), Expr::Or(..)) => {
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            if matches!(a, Expr::And(..)) {
                and_terms(a, &mut ta);
                and_terms(b, &mut tb);
            } else {
                or_terms(a, &mut ta);
                or_terms(b, &mut tb);
            }
            same_set(&ta, &tb)
        }
        _ => false,
    }
}

fn same_set(a: &[&Expr], b: &[&Expr]) -> bool {
    a.iter().all(|x| b.iter().any(|y| expr_eq(x, y)))
        && b.iter().all(|y| a.iter().any(|x| expr_eq(x, y)))
}

/// Whether every and-term of `base` is an and-term of `dep` (the "superset" test of the
/// automatic submenu creation).
fn superset(dep: &Expr, base: Option<&Expr>, no: SymbolId) -> bool {
    let Some(base) = base else {
        return true;
    };
    let (dep, base) = (normal(dep, no), normal(base, no));
    let (mut td, mut tb) = (Vec::new(), Vec::new());
    and_terms(&dep, &mut td);
    and_terms(&base, &mut tb);
    tb.iter().all(|b| td.iter().any(|d| expr_eq(b, d)))
}

impl Finalizer<'_> {
    fn warn(&mut self, menu: MenuId, message: String) {
        let loc = self.m.menu(menu).loc;
        self.warnings.push(ParseWarning {
            file: self.m.file(loc.file).name.clone(),
            line: loc.line,
            message,
        });
    }

    fn modules(&self) -> SymbolId {
        self.m.modules_sym.unwrap_or(self.m.no())
    }

    fn children(&self, id: MenuId) -> Vec<MenuId> {
        self.m.menu(id).children.clone()
    }

    fn choice_sym(&self, id: MenuId) -> Option<SymbolId> {
        match self.m.menu(id).kind {
            MenuKind::Choice(s) => Some(s),
            _ => None,
        }
    }

    /// Finalizes the node `owner.children[idx]` (or the root when `owner` is `None`).
    fn finalize_node(&mut self, owner: Option<(MenuId, usize)>, node: MenuId) {
        let sym = self.m.menu(node).sym();
        if !self.m.menu(node).children.is_empty() {
            self.propagate(node);
            let mut i = 0;
            while i < self.m.menu(node).children.len() {
                let c = self.m.menu(node).children[i];
                self.finalize_node(Some((node, i)), c);
                i += 1;
            }
        } else if let (Some(sym), Some((parent, idx))) = (sym, owner) {
            self.auto_submenu(parent, idx, node, sym);
        }
        self.last_pass(node, sym);
    }

    /// Pushes the dependencies of `parent` into its children and their properties.
    fn propagate(&mut self, parent: MenuId) {
        let choice = self.choice_sym(parent);
        if let Some(cs) = choice {
            if self.m.symbol(cs).ty == SymbolType::Unknown {
                let first = self
                    .m
                    .menu(parent)
                    .children
                    .iter()
                    .filter_map(|&c| self.m.menu(c).sym())
                    .map(|s| self.m.symbol(s).ty)
                    .find(|t| *t != SymbolType::Unknown);
                if let Some(t) = first {
                    self.m.symbol_mut(cs).ty = t;
                }
            }
            let ty = self.m.symbol(cs).ty;
            for c in self.children(parent) {
                if let Some(s) = self.m.menu(c).sym()
                    && self.m.symbol(s).ty == SymbolType::Unknown
                {
                    self.m.symbol_mut(s).ty = ty;
                }
            }
        }
        let parentdep = match choice {
            Some(cs) => Some(Expr::Symbol(cs)),
            None => self.m.menu(parent).dir_dep.clone(),
        };
        let (modules, m) = (self.modules(), self.m.module());
        for c in self.children(parent) {
            let own = rewrite_m(self.m.menu(c).depends.clone(), modules, m);
            let basedep = and_opt(parentdep.clone(), own);
            self.m.menu_mut(c).dir_dep = basedep.clone();
            let props: Vec<_> = match self.m.menu(c).sym() {
                Some(s) => self.m.symbol(s).props.clone(),
                None => self.m.menu(c).prompt.into_iter().collect(),
            };
            for p in props {
                if self.m.prop(p).menu != c {
                    continue;
                }
                let vis = rewrite_m(self.m.prop(p).visible.clone(), modules, m);
                let dep = and_opt(basedep.clone(), vis);
                self.m.prop_mut(p).visible = dep.clone();
                let Some(me) = self.m.menu(c).sym() else {
                    continue;
                };
                match self.m.prop(p).kind {
                    PropKind::Select(t) => {
                        let e = and_opt(Some(Expr::Symbol(me)), dep);
                        let ts = self.m.symbol_mut(t);
                        ts.rev_dep = or_opt(ts.rev_dep.take(), e);
                    }
                    PropKind::Imply(t) => {
                        let e = and_opt(Some(Expr::Symbol(me)), dep);
                        let ts = self.m.symbol_mut(t);
                        ts.implied = or_opt(ts.implied.take(), e);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Moves the entries after `node` that depend on `sym` under it.
    fn auto_submenu(&mut self, parent: MenuId, idx: usize, node: MenuId, sym: SymbolId) {
        let basedep = self
            .m
            .menu(node)
            .prompt
            .and_then(|p| self.m.prop(p).visible.clone());
        let (yes, module, no) = (self.m.yes(), self.m.module(), self.m.no());
        let mut k = idx + 1;
        while k < self.m.menu(parent).children.len() {
            let cand = self.m.menu(parent).children[k];
            let cm = self.m.menu(cand);
            let dep = match cm.prompt {
                Some(p) => self.m.prop(p).visible.clone(),
                None => cm.dir_dep.clone(),
            };
            let Some(dep) = dep else { break };
            if !contains_symbol(&dep, sym) {
                break;
            }
            if !depends_symbol(&dep, sym, yes, module, no) && !superset(&dep, basedep.as_ref(), no)
            {
                break;
            }
            self.finalize_node(Some((parent, k)), cand);
            k += 1;
        }
        if k > idx + 1 {
            let moved: Vec<MenuId> = self.m.menu_mut(parent).children.drain(idx + 1..k).collect();
            for &c in &moved {
                self.m.menu_mut(c).parent = Some(node);
            }
            self.m.menu_mut(node).children = moved;
        }
        let dep = self.m.menu(node).dir_dep.clone();
        let s = self.m.symbol_mut(sym);
        s.dir_dep = or_opt(s.dir_dep.take(), dep);
    }

    /// Choice members, flattening, checks and the choice's own reverse dependency.
    fn last_pass(&mut self, parent: MenuId, sym: Option<SymbolId>) {
        let choice = self.choice_sym(parent);
        let mut i = 0;
        while i < self.m.menu(parent).children.len() {
            let c = self.m.menu(parent).children[i];
            if let (Some(cs), Some(ms)) = (choice, self.m.menu(c).sym())
                && !self.m.symbol(ms).flags.choice_value
            {
                self.choice_member(cs, c, ms);
            }
            let cm = self.m.menu(c);
            if !cm.children.is_empty() && cm.prompt.is_none() {
                let grand = std::mem::take(&mut self.m.menu_mut(c).children);
                for &g in &grand {
                    self.m.menu_mut(g).parent = Some(parent);
                }
                self.m.menu_mut(parent).children.splice(i + 1..i + 1, grand);
            }
            i += 1;
        }
        if let Some(s) = sym {
            if !self.warned[s.0 as usize] {
                self.warned[s.0 as usize] = true;
                if self.m.symbol(s).ty == SymbolType::Unknown {
                    self.warn(parent, "config symbol defined without type".to_owned());
                }
                if choice.is_some() && self.m.menu(parent).prompt.is_none() {
                    self.warn(parent, "choice must have a prompt".to_owned());
                }
            }
            let prompt = self.m.menu(parent).prompt;
            if let (Some(cs), Some(p)) = (choice, prompt)
                && !self.m.symbol(cs).flags.optional
            {
                let e = and_opt(
                    self.m.prop(p).visible.clone(),
                    Some(Expr::Symbol(self.m.module())),
                );
                let s = self.m.symbol_mut(cs);
                s.rev_dep = or_opt(s.rev_dep.take(), e);
            }
        }
    }

    fn choice_member(&mut self, cs: SymbolId, menu: MenuId, ms: SymbolId) {
        self.m.symbol_mut(ms).flags.choice_value = true;
        if self.m.menu(menu).prompt.is_none() {
            self.warn(menu, "choice value must have a prompt".to_owned());
        }
        let has_default = self
            .m
            .props_of(ms)
            .any(|p| matches!(p.kind, PropKind::Default(_)));
        if has_default {
            self.warn(menu, "defaults for choice values not supported".to_owned());
        }
        if self.m.symbol(cs).ty == SymbolType::Tristate
            && self.m.symbol(ms).ty != SymbolType::Tristate
        {
            let basedep = Expr::Compare(CmpOp::Eq, cs, self.m.yes());
            let mm = self.m.menu_mut(menu);
            mm.dir_dep = and_opt(Some(basedep.clone()), mm.dir_dep.take());
            for p in self.m.symbol(ms).props.clone() {
                if self.m.prop(p).menu != menu {
                    continue;
                }
                let pp = self.m.prop_mut(p);
                pp.visible = and_opt(Some(basedep.clone()), pp.visible.take());
            }
        }
        let loc = self.m.menu(menu).loc;
        self.m
            .add_prop(PropKind::Choice(cs), None, Some(ms), menu, loc);
        self.m.symbol_mut(ms).choice = Some(cs);
        self.m.symbol_mut(cs).choice_members.push(ms);
    }
}
