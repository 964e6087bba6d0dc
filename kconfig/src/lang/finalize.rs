//! What the kernel's `menu_finalize` does after parsing: dependencies of menus, `if` blocks and
//! choices are pushed down into every entry and property; `m` in conditions becomes
//! `m && MODULES`; entries that depend on the config right before them become its children
//! (automatic submenus), `if` blocks and prompt-less entries are flattened into their parent;
//! choice members are found and typed; `select`/`imply` fill the reverse dependencies; every
//! definition's dependency is or-ed into the symbol's direct dependency.

use super::ast::{CmpOp, Expr, MenuId, MenuKind, Model, PropKind, SymbolId, SymbolType};
use super::parser::{ParseWarning, and_opt, or_opt};
use simplify::{Ctx, E, from_expr, to_expr};

/// Finalizes `model` in place; returns the warnings the kernel prints while doing so.
pub fn finalize(model: &mut Model) -> Vec<ParseWarning> {
    let pre_visible = model.props.iter().map(|p| p.visible.clone()).collect();
    let n_menus = model.menus.len();
    let mut f = Finalizer {
        m: model,
        warnings: Vec::new(),
        warned: Vec::new(),
        pre_visible,
        prop_parent: vec![None; n_menus],
        cdep: vec![None; n_menus],
        cprompt: vec![None; n_menus],
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
    /// Each property's condition as parsed (before propagation).
    pre_visible: Vec<Option<Expr>>,
    /// The node each menu node got its dependencies from.
    prop_parent: Vec<Option<MenuId>>,
    /// Simplified (kernel-form) dependency and prompt condition of menu nodes, computed on
    /// demand for the automatic submenu test.
    cdep: Vec<Option<Option<E>>>,
    cprompt: Vec<Option<Option<E>>>,
}

fn contains_symbol(e: &Expr, sym: SymbolId) -> bool {
    match e {
        Expr::Symbol(s) => *s == sym,
        Expr::Compare(_, a, b) => *a == sym || *b == sym,
        Expr::Not(a) => contains_symbol(a, sym),
        Expr::And(a, b) | Expr::Or(a, b) => contains_symbol(a, sym) || contains_symbol(b, sym),
    }
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
        let modules = self.modules();
        for c in self.children(parent) {
            self.prop_parent[c.0 as usize] = Some(parent);
            // As the kernel: the entry's own dependency (m -> m && MODULES, simplified) and-ed
            // after the parent's, duplicates eliminated; the same for each property.
            let base_c = self.cdep(c);
            let basedep = if self.m.menu(c).depends.is_none() {
                parentdep.clone()
            } else {
                base_c.as_ref().map(to_expr)
            };
            self.m.menu_mut(c).dir_dep = basedep.clone();
            let props: Vec<_> = match self.m.menu(c).sym() {
                Some(s) => self.m.symbol(s).props.clone(),
                None => self.m.menu(c).prompt.into_iter().collect(),
            };
            for p in props {
                if self.m.prop(p).menu != c {
                    continue;
                }
                let dep = match self.pre_visible.get(p.0 as usize).and_then(Option::as_ref) {
                    None => basedep.clone(),
                    Some(pre) => {
                        let ctx = Ctx { m: self.m };
                        let own = ctx.transform(ctx.rewrite_m(from_expr(pre), modules));
                        ctx.dups_and(base_c.clone(), Some(own))
                            .as_ref()
                            .map(to_expr)
                    }
                };
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

    /// The kernel-form dependency of a menu node (`menu->dep` after finalize).
    fn cdep(&mut self, menu: MenuId) -> Option<E> {
        if let Some(d) = &self.cdep[menu.0 as usize] {
            return d.clone();
        }
        let parentdep = match self.prop_parent[menu.0 as usize] {
            None => None,
            Some(p) => match self.choice_sym(p) {
                Some(cs) => Some(E::Sym(cs)),
                None => self.cdep(p),
            },
        };
        let modules = self.modules();
        let ctx = Ctx { m: self.m };
        let own = self
            .m
            .menu(menu)
            .depends
            .as_ref()
            .map(|e| ctx.transform(ctx.rewrite_m(from_expr(e), modules)));
        let d = ctx.dups_and(parentdep, own);
        self.cdep[menu.0 as usize] = Some(d.clone());
        d
    }

    /// The kernel-form condition of a menu node's prompt (`prompt->visible.expr`).
    fn cprompt(&mut self, menu: MenuId) -> Option<E> {
        if let Some(d) = &self.cprompt[menu.0 as usize] {
            return d.clone();
        }
        let base = self.cdep(menu);
        let modules = self.modules();
        let p = self.m.menu(menu).prompt;
        let ctx = Ctx { m: self.m };
        let own = p
            .and_then(|p| self.pre_visible.get(p.0 as usize).and_then(Option::as_ref))
            .map(|e| ctx.transform(ctx.rewrite_m(from_expr(e), modules)));
        let d = ctx.dups_and(base, own);
        self.cprompt[menu.0 as usize] = Some(d.clone());
        d
    }

    /// Moves the entries after `node` that depend on `sym` under it (decided on the kernel's
    /// simplified forms of the conditions, as `menu_finalize` does).
    fn auto_submenu(&mut self, parent: MenuId, idx: usize, node: MenuId, sym: SymbolId) {
        let mut basedep: Option<E> = None;
        let mut k = idx + 1;
        while k < self.m.menu(parent).children.len() {
            let cand = self.m.menu(parent).children[k];
            let cm = self.m.menu(cand);
            let written = match cm.prompt {
                Some(p) => self.m.prop(p).visible.as_ref(),
                None => cm.dir_dep.as_ref(),
            };
            // Simplification never adds a symbol: no mention, no dependency.
            if !written.is_some_and(|e| contains_symbol(e, sym)) {
                break;
            }
            let dep = if cm.prompt.is_some() {
                self.cprompt(cand)
            } else {
                self.cdep(cand)
            };
            let Some(dep) = dep else { break };
            let ctx = Ctx { m: self.m };
            if !ctx.contains(&dep, sym) {
                break;
            }
            if !ctx.depends(&dep, sym) {
                if basedep.is_none() {
                    let b = if self.m.menu(node).prompt.is_some() {
                        self.cprompt(node)
                    } else {
                        None
                    };
                    let ctx = Ctx { m: self.m };
                    let no = self.m.no();
                    basedep =
                        Some(ctx.dups(ctx.transform(ctx.trans_compare(b.as_ref(), false, no))));
                }
                let ctx = Ctx { m: self.m };
                let no = self.m.no();
                let mut d = ctx.dups(ctx.transform(ctx.trans_compare(Some(&dep), false, no)));
                let mut d2 = basedep.clone().unwrap_or(E::Sym(self.m.yes()));
                ctx.eliminate_eq(&mut d, &mut d2);
                if !ctx.is_yes(Some(&d2)) {
                    break;
                }
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

/// The kernel's in-place expression simplifications (`expr_transform`,
/// `expr_eliminate_dups`, `expr_eliminate_eq`, `expr_trans_compare`), used to decide the menu
/// structure exactly as `menu_finalize` does: whether an entry depends on the config before it
/// is decided on these simplified forms (`BOOL = m` becomes `n`, `!(A = B)` becomes `A != B`,
/// …). The model keeps the expressions as written and propagated; these forms are internal.
mod simplify {
    use super::super::ast::{CmpOp, Expr, Model, SymbolId, SymbolType};

    /// An owned, mutable expression.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum E {
        Sym(SymbolId),
        Not(Box<E>),
        And(Box<E>, Box<E>),
        Or(Box<E>, Box<E>),
        Cmp(CmpOp, SymbolId, SymbolId),
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Level {
        And,
        Or,
    }

    pub(super) fn from_expr(e: &Expr) -> E {
        match e {
            Expr::Symbol(s) => E::Sym(*s),
            Expr::Not(a) => E::Not(Box::new(from_expr(a))),
            Expr::And(a, b) => E::And(Box::new(from_expr(a)), Box::new(from_expr(b))),
            Expr::Or(a, b) => E::Or(Box::new(from_expr(a)), Box::new(from_expr(b))),
            Expr::Compare(op, a, b) => E::Cmp(*op, *a, *b),
        }
    }

    pub(super) fn to_expr(e: &E) -> Expr {
        match e {
            E::Sym(s) => Expr::Symbol(*s),
            E::Not(a) => Expr::not(to_expr(a)),
            E::And(a, b) => Expr::and(to_expr(a), to_expr(b)),
            E::Or(a, b) => Expr::or(to_expr(a), to_expr(b)),
            E::Cmp(op, a, b) => Expr::Compare(*op, *a, *b),
        }
    }

    fn level(e: &E) -> Option<Level> {
        match e {
            E::And(..) => Some(Level::And),
            E::Or(..) => Some(Level::Or),
            _ => None,
        }
    }

    fn two(l: Level, a: E, b: E) -> E {
        match l {
            Level::And => E::And(Box::new(a), Box::new(b)),
            Level::Or => E::Or(Box::new(a), Box::new(b)),
        }
    }

    fn not(e: E) -> E {
        E::Not(Box::new(e))
    }

    /// Symbol facts the simplifications need.
    pub(super) struct Ctx<'m> {
        pub m: &'m Model,
    }

    impl Ctx<'_> {
        fn yes(&self) -> SymbolId {
            self.m.yes()
        }
        fn no(&self) -> SymbolId {
            self.m.no()
        }
        fn module(&self) -> SymbolId {
            self.m.module()
        }
        fn ty(&self, s: SymbolId) -> SymbolType {
            self.m.symbol(s).ty
        }
        fn is_const(&self, s: SymbolId) -> bool {
            self.m.symbol(s).flags.constant
        }

        pub(super) fn is_yes(&self, e: Option<&E>) -> bool {
            match e {
                None => true,
                Some(E::Sym(s)) => *s == self.yes(),
                _ => false,
            }
        }

        /// `expr_alloc_and` with `None` as "yes".
        pub(super) fn and(&self, a: Option<E>, b: Option<E>) -> Option<E> {
            match (a, b) {
                (None, b) => b,
                (a, None) => a,
                (Some(a), Some(b)) => Some(two(Level::And, a, b)),
            }
        }

        pub(super) fn rewrite_m(&self, e: E, modules: SymbolId) -> E {
            match e {
                E::Not(a) => not(self.rewrite_m(*a, modules)),
                E::And(a, b) => two(
                    Level::And,
                    self.rewrite_m(*a, modules),
                    self.rewrite_m(*b, modules),
                ),
                E::Or(a, b) => two(
                    Level::Or,
                    self.rewrite_m(*a, modules),
                    self.rewrite_m(*b, modules),
                ),
                E::Sym(s) if s == self.module() => two(Level::And, E::Sym(s), E::Sym(modules)),
                other => other,
            }
        }

        /// `expr_transform`.
        pub(super) fn transform(&self, e: E) -> E {
            let e = match e {
                E::Not(a) => E::Not(Box::new(self.transform(*a))),
                E::And(a, b) => two(Level::And, self.transform(*a), self.transform(*b)),
                E::Or(a, b) => two(Level::Or, self.transform(*a), self.transform(*b)),
                other => other,
            };
            let (yes, no, module) = (self.yes(), self.no(), self.module());
            match e {
                E::Cmp(CmpOp::Eq, a, b) if self.ty(a) == SymbolType::Bool => {
                    if b == no {
                        not(E::Sym(a))
                    } else if b == module {
                        E::Sym(no)
                    } else if b == yes {
                        E::Sym(a)
                    } else {
                        E::Cmp(CmpOp::Eq, a, b)
                    }
                }
                E::Cmp(CmpOp::Ne, a, b) if self.ty(a) == SymbolType::Bool => {
                    if b == no {
                        E::Sym(a)
                    } else if b == module {
                        E::Sym(yes)
                    } else if b == yes {
                        not(E::Sym(a))
                    } else {
                        E::Cmp(CmpOp::Ne, a, b)
                    }
                }
                E::Not(inner) => match *inner {
                    E::Not(x) => self.transform(*x),
                    E::Cmp(op, a, b) => {
                        let op = match op {
                            CmpOp::Eq => CmpOp::Ne,
                            CmpOp::Ne => CmpOp::Eq,
                            CmpOp::Le => CmpOp::Gt,
                            CmpOp::Ge => CmpOp::Lt,
                            CmpOp::Lt => CmpOp::Ge,
                            CmpOp::Gt => CmpOp::Le,
                        };
                        E::Cmp(op, a, b)
                    }
                    E::Or(l, r) => self.transform(two(Level::And, not(*l), not(*r))),
                    E::And(l, r) => self.transform(two(Level::Or, not(*l), not(*r))),
                    E::Sym(s) if s == yes => E::Sym(no),
                    E::Sym(s) if s == module => E::Sym(module),
                    E::Sym(s) if s == no => E::Sym(yes),
                    other => not(other),
                },
                other => other,
            }
        }

        /// `expr_trans_compare`.
        pub(super) fn trans_compare(&self, e: Option<&E>, eq: bool, sym: SymbolId) -> E {
            let (yes, no, module) = (self.yes(), self.no(), self.module());
            let Some(e) = e else {
                let s = E::Sym(sym);
                return if eq { s } else { not(s) };
            };
            match e {
                E::And(a, b) | E::Or(a, b) => {
                    let e1 = self.trans_compare(Some(a), true, sym);
                    let e2 = self.trans_compare(Some(b), true, sym);
                    let is_and = matches!(e, E::And(..));
                    let mut r = if sym == yes {
                        Some(two(
                            if is_and { Level::And } else { Level::Or },
                            e1.clone(),
                            e2.clone(),
                        ))
                    } else {
                        None
                    };
                    if sym == no {
                        r = Some(two(if is_and { Level::Or } else { Level::And }, e1, e2));
                    }
                    // conf leaves the node as it was for any other constant.
                    let r = r.unwrap_or_else(|| e.clone());
                    if eq { r } else { not(r) }
                }
                E::Not(a) => self.trans_compare(Some(a), !eq, sym),
                E::Cmp(..) => {
                    if eq {
                        if sym == yes {
                            e.clone()
                        } else if sym == module {
                            E::Sym(no)
                        } else {
                            not(e.clone())
                        }
                    } else if sym == yes {
                        not(e.clone())
                    } else if sym == module {
                        E::Sym(yes)
                    } else {
                        e.clone()
                    }
                }
                E::Sym(s) => E::Cmp(if eq { CmpOp::Eq } else { CmpOp::Ne }, *s, sym),
            }
        }

        /// `expr_eliminate_yn`.
        pub(super) fn yn(&self, e: E) -> E {
            let (yes, no) = (self.yes(), self.no());
            match e {
                E::And(a, b) => {
                    let (a, b) = (self.yn(*a), self.yn(*b));
                    match (&a, &b) {
                        (E::Sym(s), _) if *s == no => E::Sym(no),
                        (E::Sym(s), _) if *s == yes => b,
                        (_, E::Sym(s)) if *s == no => E::Sym(no),
                        (_, E::Sym(s)) if *s == yes => a,
                        _ => two(Level::And, a, b),
                    }
                }
                E::Or(a, b) => {
                    let (a, b) = (self.yn(*a), self.yn(*b));
                    match (&a, &b) {
                        (E::Sym(s), _) if *s == no => b,
                        (E::Sym(s), _) if *s == yes => E::Sym(yes),
                        (_, E::Sym(s)) if *s == no => a,
                        (_, E::Sym(s)) if *s == yes => E::Sym(yes),
                        _ => two(Level::Or, a, b),
                    }
                }
                other => other,
            }
        }

        /// `expr_eq`.
        pub(super) fn eq(&self, a: &E, b: &E) -> bool {
            match (a, b) {
                (E::Cmp(o1, a1, b1), E::Cmp(o2, a2, b2)) => o1 == o2 && a1 == a2 && b1 == b2,
                (E::Sym(x), E::Sym(y)) => x == y,
                (E::Not(x), E::Not(y)) => self.eq(x, y),
                (E::And(..), E::And(..)) | (E::Or(..), E::Or(..)) => {
                    if a == b {
                        return true;
                    }
                    let (mut x, mut y) = (a.clone(), b.clone());
                    self.eliminate_eq(&mut x, &mut y);
                    matches!((&x, &y), (E::Sym(p), E::Sym(q)) if p == q)
                }
                _ => false,
            }
        }

        fn elim(&self, l: Level, e1: &mut E, e2: &mut E) {
            if level(e1) == Some(l) {
                if let E::And(a, b) | E::Or(a, b) = e1 {
                    self.elim(l, a, e2);
                    self.elim(l, b, e2);
                }
                return;
            }
            if level(e2) == Some(l) {
                if let E::And(a, b) | E::Or(a, b) = e2 {
                    self.elim(l, e1, a);
                    self.elim(l, e1, b);
                }
                return;
            }
            if let (E::Sym(x), E::Sym(y)) = (&*e1, &*e2)
                && x == y
                && (*x == self.yes() || *x == self.no())
            {
                return;
            }
            if !self.eq(e1, e2) {
                return;
            }
            let v = if l == Level::Or {
                self.no()
            } else {
                self.yes()
            };
            *e1 = E::Sym(v);
            *e2 = E::Sym(v);
        }

        /// `expr_eliminate_eq`.
        pub(super) fn eliminate_eq(&self, e1: &mut E, e2: &mut E) {
            if let Some(l) = level(e1) {
                self.elim(l, e1, e2);
            }
            if std::mem::discriminant(&*e1) != std::mem::discriminant(&*e2)
                && let Some(l) = level(e2)
            {
                self.elim(l, e1, e2);
            }
            let a = std::mem::replace(e1, E::Sym(self.yes()));
            *e1 = self.yn(a);
            let b = std::mem::replace(e2, E::Sym(self.yes()));
            *e2 = self.yn(b);
        }

        fn join(&self, l: Level, e1: &E, e2: &E) -> Option<E> {
            if self.eq(e1, e2) {
                return Some(e1.clone());
            }
            let simple =
                |e: &E| matches!(e, E::Cmp(CmpOp::Eq | CmpOp::Ne, ..) | E::Sym(_) | E::Not(_));
            if !simple(e1) || !simple(e2) {
                return None;
            }
            let left = |e: &E| match e {
                E::Cmp(_, a, _) | E::Sym(a) => Some(*a),
                _ => None,
            };
            let sym1 = match e1 {
                E::Not(t) => match &**t {
                    E::Cmp(CmpOp::Eq | CmpOp::Ne, ..) | E::Sym(_) => left(t),
                    _ => return None,
                },
                e => left(e),
            }?;
            let sym2 = match e2 {
                E::Not(t) => match &**t {
                    E::Sym(s) => Some(*s),
                    _ => return None,
                },
                e => left(e),
            }?;
            if sym1 != sym2 {
                return None;
            }
            let ty = self.ty(sym1);
            if ty != SymbolType::Bool && ty != SymbolType::Tristate {
                return None;
            }
            let (yes, no, module) = (self.yes(), self.no(), self.module());
            let rhs = |e: &E| match e {
                E::Cmp(_, _, b) => Some(*b),
                _ => None,
            };
            let (r1, r2) = (rhs(e1), rhs(e2));
            let is = |e: &E, op: CmpOp| matches!(e, E::Cmp(o, ..) if *o == op);
            let is_sym = |e: &E| matches!(e, E::Sym(_));
            let pair = |x: SymbolId, y: SymbolId| {
                (r1 == Some(x) && r2 == Some(y)) || (r1 == Some(y) && r2 == Some(x))
            };
            match l {
                Level::Or => {
                    if ty == SymbolType::Tristate && is(e1, CmpOp::Eq) && is(e2, CmpOp::Eq) {
                        if pair(yes, module) {
                            return Some(E::Cmp(CmpOp::Ne, sym1, no));
                        }
                        if pair(yes, no) {
                            return Some(E::Cmp(CmpOp::Ne, sym1, module));
                        }
                        if pair(module, no) {
                            return Some(E::Cmp(CmpOp::Ne, sym1, yes));
                        }
                    }
                    if ty == SymbolType::Bool {
                        let not_sym = |e: &E| matches!(e, E::Not(t) if matches!(**t, E::Sym(_)));
                        if (not_sym(e1) && is_sym(e2)) || (not_sym(e2) && is_sym(e1)) {
                            return Some(E::Sym(yes));
                        }
                    }
                    None
                }
                Level::And => {
                    let sym_and = |a: &E, b: &E, op: CmpOp, r: SymbolId| {
                        is_sym(a) && is(b, op) && rhs(b) == Some(r)
                    };
                    if sym_and(e1, e2, CmpOp::Eq, yes) || sym_and(e2, e1, CmpOp::Eq, yes) {
                        return Some(E::Cmp(CmpOp::Eq, sym1, yes));
                    }
                    if sym_and(e1, e2, CmpOp::Ne, no) || sym_and(e2, e1, CmpOp::Ne, no) {
                        return Some(E::Sym(sym1));
                    }
                    if sym_and(e1, e2, CmpOp::Ne, module) || sym_and(e2, e1, CmpOp::Ne, module) {
                        return Some(E::Cmp(CmpOp::Eq, sym1, yes));
                    }
                    if ty == SymbolType::Tristate {
                        if let (E::Cmp(CmpOp::Eq, _, s2), E::Cmp(CmpOp::Ne, _, r))
                        | (E::Cmp(CmpOp::Ne, _, r), E::Cmp(CmpOp::Eq, _, s2)) = (e1, e2)
                            && self.is_const(*r)
                            && self.is_const(*s2)
                        {
                            return Some(if s2 != r {
                                E::Cmp(CmpOp::Eq, sym1, *s2)
                            } else {
                                E::Sym(no)
                            });
                        }
                        if is(e1, CmpOp::Ne) && is(e2, CmpOp::Ne) {
                            if pair(yes, no) {
                                return Some(E::Cmp(CmpOp::Eq, sym1, module));
                            }
                            if pair(yes, module) {
                                return Some(E::Cmp(CmpOp::Eq, sym1, no));
                            }
                            if pair(module, no) {
                                return Some(E::Cmp(CmpOp::Eq, sym1, yes));
                            }
                        }
                    }
                    None
                }
            }
        }

        fn flatten(e: E, l: Level, out: &mut Vec<E>) {
            match (l, e) {
                (Level::And, E::And(a, b)) | (Level::Or, E::Or(a, b)) => {
                    Self::flatten(*a, l, out);
                    Self::flatten(*b, l, out);
                }
                (_, other) => out.push(other),
            }
        }

        fn rebuild(l: Level, leaves: Vec<E>) -> Option<E> {
            leaves.into_iter().reduce(|a, b| two(l, a, b))
        }

        fn dups_level(&self, l: Level, leaves: &mut [E], count: &mut u32) {
            let n = leaves.len();
            for i in 0..n {
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    if let Some(nl) = level(&leaves[i]) {
                        let e = std::mem::replace(&mut leaves[i], E::Sym(self.yes()));
                        let mut sub = Vec::new();
                        Self::flatten(e, nl, &mut sub);
                        self.dups_level(nl, &mut sub, count);
                        if let Some(r) = Self::rebuild(nl, sub) {
                            leaves[i] = r;
                        }
                    }
                    if let Some(t) = self.join(l, &leaves[i], &leaves[j]) {
                        leaves[i] = E::Sym(if l == Level::Or {
                            self.no()
                        } else {
                            self.yes()
                        });
                        leaves[j] = t;
                        *count += 1;
                    }
                }
            }
        }

        /// `expr_eliminate_dups`.
        pub(super) fn dups(&self, mut e: E) -> E {
            loop {
                let mut count = 0;
                if let Some(l) = level(&e) {
                    let mut leaves = Vec::new();
                    Self::flatten(e, l, &mut leaves);
                    self.dups_level(l, &mut leaves, &mut count);
                    e = Self::rebuild(l, leaves).unwrap_or(E::Sym(self.yes()));
                }
                if count == 0 {
                    return e;
                }
                e = self.yn(e);
            }
        }

        /// `dups(base && own)` where `base` is already free of duplicates: when no operand of
        /// `own` joins with any other operand, nothing can change (two operands of `base`
        /// could only join after one of them changed), so the full quadratic pass is skipped.
        pub(super) fn dups_and(&self, base: Option<E>, own: Option<E>) -> Option<E> {
            let (Some(b), Some(o)) = (&base, &own) else {
                return self.and(base, own).map(|e| self.dups(e));
            };
            let mut bl = Vec::new();
            let mut ol = Vec::new();
            Self::flatten(b.clone(), Level::And, &mut bl);
            Self::flatten(o.clone(), Level::And, &mut ol);
            let quiet = ol.iter().all(|x| {
                let Some(nl) = level(x) else { return true };
                let mut sub = Vec::new();
                Self::flatten(x.clone(), nl, &mut sub);
                let mut count = 0;
                self.dups_level(nl, &mut sub, &mut count);
                count == 0
            }) && ol.iter().enumerate().all(|(i, x)| {
                bl.iter().all(|y| {
                    self.join(Level::And, x, y).is_none() && self.join(Level::And, y, x).is_none()
                }) && ol
                    .iter()
                    .enumerate()
                    .all(|(j, y)| i == j || self.join(Level::And, x, y).is_none())
            });
            let e = self.and(base, own);
            if quiet { e } else { e.map(|e| self.dups(e)) }
        }

        pub(super) fn contains(&self, e: &E, sym: SymbolId) -> bool {
            match e {
                E::And(a, b) | E::Or(a, b) => self.contains(a, sym) || self.contains(b, sym),
                E::Sym(s) => *s == sym,
                E::Cmp(_, a, b) => *a == sym || *b == sym,
                E::Not(a) => self.contains(a, sym),
            }
        }

        pub(super) fn depends(&self, e: &E, sym: SymbolId) -> bool {
            match e {
                E::And(a, b) => self.depends(a, sym) || self.depends(b, sym),
                E::Sym(s) => *s == sym,
                E::Cmp(CmpOp::Eq, a, b) => *a == sym && (*b == self.yes() || *b == self.module()),
                E::Cmp(CmpOp::Ne, a, b) => *a == sym && *b == self.no(),
                _ => false,
            }
        }
    }
}
