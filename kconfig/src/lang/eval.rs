//! Symbol values: tristate logic, visibility, defaults, `select`/`imply`, choices, ranges and the
//! modules symbol, computed the way the kernel's `conf` computes them.
//!
//! Values are computed lazily and memoized per symbol, like the C tool: a symbol is marked valid
//! before its value is computed, so a dependency loop reads the value being computed instead of
//! recursing forever, and operations that change user values invalidate every symbol and let the
//! next read recompute. Keeping the same evaluation discipline (including which values are reused
//! after a reset) is what makes the written `.config` identical to `conf`'s.

use std::sync::Arc;

use super::ast::{CmpOp, Expr, Model, PropId, PropKind, SymbolId, SymbolType, Tristate};

pub(crate) const VALID: u8 = 1;
pub(crate) const WRITE: u8 = 2;
pub(crate) const DEF_USER: u8 = 4;
pub(crate) const NEED_SET_CHOICE_VALUES: u8 = 8;
pub(crate) const WRITTEN: u8 = 16;
pub(crate) const WARNED_UNMET: u8 = 32;

/// Per-symbol lookups computed once per loaded model.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Index {
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub prompts: Vec<Vec<PropId>>,
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub defaults: Vec<Vec<PropId>>,
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub ranges: Vec<Vec<PropId>>,
    /// For a choice member, its choice.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub choice_of: Vec<Option<SymbolId>>,
    /// For a choice, its members in menu order.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub members: Vec<Vec<SymbolId>>,
    /// Every symbol of the kernel's symbol table, in the order its `for_all_symbols` visits them.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub table_order: Vec<SymbolId>,
    /// Every expression the evaluator reads, flattened (children before parents).
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub nodes: Vec<Node>,
    /// Per property: its effective condition.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub prop_visible: Vec<Option<u32>>,
    /// Per property: the expression of a `default`.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub prop_default: Vec<Option<u32>>,
    /// Per symbol: direct dependencies, reverse dependencies (`select`), `imply`.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub sym_dir: Vec<Option<u32>>,
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub sym_rev: Vec<Option<u32>>,
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub sym_implied: Vec<Option<u32>>,
    /// Per menu node: its `visible if`.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub menu_visibility: Vec<Option<u32>>,
    /// Per symbol: never written to `.config` (`option env=`, `option defconfig_list`: the
    /// kernel's `SYMBOL_AUTO`; `transitional`).
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub no_write: Vec<bool>,
}

/// A node of a flattened expression.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) enum Node {
    Sym(SymbolId),
    Not(u32),
    And(u32, u32),
    Or(u32, u32),
    Cmp(CmpOp, SymbolId, SymbolId),
}

/// Flattens `e`. With `transformed`, applies the one rewrite of the kernel's `expr_transform`
/// that changes what is evaluated: a bool symbol compared with `m` is the constant `n` (`=`) or
/// `y` (`!=`) and the symbol is not computed there. The kernel applies it to dependencies and
/// conditions (not to `default` values or `visible if`), and which symbols get computed first
/// decides which values a lazy evaluation reuses.
fn compile(nodes: &mut Vec<Node>, m: &Model, e: &Expr, transformed: bool) -> u32 {
    let n = match e {
        Expr::Symbol(s) => Node::Sym(*s),
        Expr::Not(a) => Node::Not(compile(nodes, m, a, transformed)),
        Expr::And(a, b) => {
            let x = compile(nodes, m, a, transformed);
            Node::And(x, compile(nodes, m, b, transformed))
        }
        Expr::Or(a, b) => {
            let x = compile(nodes, m, a, transformed);
            Node::Or(x, compile(nodes, m, b, transformed))
        }
        Expr::Compare(op @ (CmpOp::Eq | CmpOp::Ne), a, b)
            if transformed && *b == m.module() && m.symbol(*a).ty == SymbolType::Bool =>
        {
            Node::Sym(if *op == CmpOp::Eq { m.no() } else { m.yes() })
        }
        Expr::Compare(op, a, b) => Node::Cmp(*op, *a, *b),
    };
    nodes.push(n);
    (nodes.len() - 1) as u32
}

impl Index {
    pub fn build(m: &Model) -> Index {
        let n = m.symbols.len();
        let mut ix = Index {
            prompts: vec![Vec::new(); n],
            defaults: vec![Vec::new(); n],
            ranges: vec![Vec::new(); n],
            choice_of: vec![None; n],
            members: vec![Vec::new(); n],
            table_order: Vec::new(),
            nodes: Vec::new(),
            prop_visible: Vec::with_capacity(m.props.len()),
            prop_default: Vec::with_capacity(m.props.len()),
            sym_dir: Vec::with_capacity(n),
            sym_rev: Vec::with_capacity(n),
            sym_implied: Vec::with_capacity(n),
            menu_visibility: Vec::with_capacity(m.menus.len()),
            no_write: m
                .symbols
                .iter()
                .map(|s| {
                    s.flags.auto
                        || s.flags.defconfig_list
                        || s.flags.transitional
                        || s.props
                            .iter()
                            .any(|&p| matches!(m.prop(p).kind, PropKind::Env(_)))
                })
                .collect(),
        };
        let nodes = &mut ix.nodes;
        // About 14 nodes per property and 16 per symbol on Linux 6.1: one allocation.
        nodes.reserve(m.props.len() * 8 + m.symbols.len() * 16);
        for p in &m.props {
            ix.prop_visible
                .push(p.visible.as_ref().map(|e| compile(nodes, m, e, true)));
            ix.prop_default.push(match &p.kind {
                PropKind::Default(e) => Some(compile(nodes, m, e, false)),
                _ => None,
            });
        }
        for s in &m.symbols {
            ix.sym_dir
                .push(s.dir_dep.as_ref().map(|e| compile(nodes, m, e, true)));
            ix.sym_rev
                .push(s.rev_dep.as_ref().map(|e| compile(nodes, m, e, true)));
            ix.sym_implied
                .push(s.implied.as_ref().map(|e| compile(nodes, m, e, true)));
        }
        for menu in &m.menus {
            ix.menu_visibility.push(
                menu.visibility
                    .as_ref()
                    .map(|e| compile(nodes, m, e, false)),
            );
        }
        for (i, s) in m.symbols.iter().enumerate() {
            for &p in &s.props {
                match &m.prop(p).kind {
                    PropKind::Prompt(_) => ix.prompts[i].push(p),
                    PropKind::Default(_) => ix.defaults[i].push(p),
                    PropKind::Range(..) => ix.ranges[i].push(p),
                    PropKind::Choice(c) if s.flags.choice_value && ix.choice_of[i].is_none() => {
                        ix.choice_of[i] = Some(*c)
                    }
                    _ => {}
                }
            }
        }
        // Members in the order finalize met them: the direct children of every choice node.
        for menu in &m.menus {
            if let super::ast::MenuKind::Choice(c) = menu.kind {
                for &child in &menu.children {
                    if let Some(s) = m.menu(child).sym()
                        && ix.choice_of[s.0 as usize] == Some(c)
                        && !ix.members[c.0 as usize].contains(&s)
                    {
                        ix.members[c.0 as usize].push(s);
                    }
                }
            }
        }
        ix.table_order = table_order(m);
        ix
    }
}

/// The kernel's symbol table is a hash table of 9973 buckets (FNV-1a of the name); each bucket
/// lists its symbols newest first. `y`, `m` and `n` are not in it.
fn table_order(m: &Model) -> Vec<SymbolId> {
    const BUCKETS: u32 = 9973;
    let mut keyed: Vec<(u32, std::cmp::Reverse<u32>)> = m
        .symbols
        .iter()
        .enumerate()
        .skip(3)
        .map(|(i, s)| {
            let h = if s.name.is_empty() && s.flags.choice {
                0
            } else {
                let mut h: u32 = 2166136261;
                for &b in s.name.as_bytes() {
                    // The C code hashes `char` values, which are signed on x86.
                    h = (h ^ (b as i8 as i32 as u32)).wrapping_mul(0x01000193);
                }
                h % BUCKETS
            };
            (h, std::cmp::Reverse(i as u32))
        })
        .collect();
    keyed.sort_unstable();
    keyed
        .into_iter()
        .map(|(_, std::cmp::Reverse(i))| SymbolId(i))
        .collect()
}

/// The evaluation state of one symbol.
#[derive(Debug, Clone)]
pub(crate) struct SymState {
    pub flags: u8,
    pub tri: Tristate,
    pub val: Arc<str>,
    /// The selected member, for a choice.
    pub choice: Option<SymbolId>,
    pub visible: Tristate,
    pub dir_dep: Tristate,
    pub rev_dep: Tristate,
    pub implied: Tristate,
    pub user_tri: Tristate,
    pub user_val: Option<Arc<str>>,
    pub user_choice: Option<SymbolId>,
    /// Line of the `.config` that gave the user value (0 when none).
    pub user_line: u32,
}

/// The evaluation state of every symbol.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub syms: Vec<SymState>,
    pub modules_val: Tristate,
    /// `conf_get_changed()`: whether the configuration differs from the file read.
    pub changed: bool,
    /// Symbols whose unmet dependencies were found (in order), with selectors.
    pub unmet: Vec<SymbolId>,
    /// Shared texts: "", "n", "m", "y".
    texts: [Arc<str>; 4],
}

impl State {
    pub fn new(m: &Model) -> State {
        let empty: Arc<str> = Arc::from("");
        let syms = m
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut st = SymState {
                    flags: 0,
                    tri: Tristate::No,
                    val: empty.clone(),
                    choice: None,
                    visible: Tristate::No,
                    dir_dep: Tristate::No,
                    rev_dep: Tristate::No,
                    implied: Tristate::No,
                    user_tri: Tristate::No,
                    user_val: None,
                    user_choice: None,
                    user_line: 0,
                };
                if s.ty == SymbolType::Unknown {
                    st.val = Arc::from(s.name.as_str());
                }
                if i < 3 {
                    st.flags = VALID;
                    st.tri = [Tristate::No, Tristate::Mod, Tristate::Yes][i];
                    st.val = Arc::from(s.name.as_str());
                }
                st
            })
            .collect();
        State {
            syms,
            modules_val: Tristate::No,
            changed: false,
            unmet: Vec::new(),
            texts: [empty, Arc::from("n"), Arc::from("m"), Arc::from("y")],
        }
    }
}

/// An evaluator over one model and one state.
pub(crate) struct Eval<'a> {
    pub m: &'a Model,
    pub ix: &'a Index,
    pub s: &'a mut State,
}

/// Kinds of numbers in comparisons (the kernel's `string_value_kind`).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Signed(i64),
    Unsigned(u64),
}

impl<'a> Eval<'a> {
    fn st(&self, s: SymbolId) -> &SymState {
        &self.s.syms[s.0 as usize]
    }
    fn st_mut(&mut self, s: SymbolId) -> &mut SymState {
        &mut self.s.syms[s.0 as usize]
    }
    pub fn has_flag(&self, s: SymbolId, f: u8) -> bool {
        self.st(s).flags & f != 0
    }
    fn set_flag(&mut self, s: SymbolId, f: u8) {
        self.st_mut(s).flags |= f;
    }
    fn clear_flag(&mut self, s: SymbolId, f: u8) {
        self.st_mut(s).flags &= !f;
    }
    pub fn is_choice(&self, s: SymbolId) -> bool {
        self.m.symbol(s).flags.choice
    }
    pub fn is_choice_value(&self, s: SymbolId) -> bool {
        self.ix.choice_of[s.0 as usize].is_some()
    }
    pub fn choice_of(&self, s: SymbolId) -> Option<SymbolId> {
        self.ix.choice_of[s.0 as usize]
    }
    pub fn raw_type(&self, s: SymbolId) -> SymbolType {
        self.m.symbol(s).ty
    }
    pub fn has_value(&self, s: SymbolId) -> bool {
        self.has_flag(s, DEF_USER)
    }
    pub fn tri(&self, s: SymbolId) -> Tristate {
        self.st(s).tri
    }
    pub fn visible(&self, s: SymbolId) -> Tristate {
        self.st(s).visible
    }
    pub fn modules_sym(&self) -> Option<SymbolId> {
        self.m.modules_sym
    }

    /// `sym_get_type`: tristate demoted to bool when modules are off or for a visible member of
    /// a choice in `y` mode.
    pub fn get_type(&self, s: SymbolId) -> SymbolType {
        let ty = self.raw_type(s);
        if ty == SymbolType::Tristate
            && ((self.is_choice_value(s) && self.st(s).visible == Tristate::Yes)
                || self.s.modules_val == Tristate::No)
        {
            return SymbolType::Bool;
        }
        ty
    }

    /// `sym_get_string_value`.
    pub fn string_value(&self, s: SymbolId) -> Arc<str> {
        match self.raw_type(s) {
            SymbolType::Bool | SymbolType::Tristate => self.tri_text(self.st(s).tri),
            _ => self.st(s).val.clone(),
        }
    }

    fn tri_text(&self, t: Tristate) -> Arc<str> {
        self.s.texts[t as usize + 1].clone()
    }

    /// `expr_calc_value`.
    pub fn expr(&mut self, e: Option<&Expr>) -> Tristate {
        match e {
            None => Tristate::Yes,
            Some(e) => self.calc_expr(e),
        }
    }

    /// `expr_calc_value` of a flattened expression (`None` is `y`).
    pub fn node(&mut self, i: Option<u32>) -> Tristate {
        match i {
            None => Tristate::Yes,
            Some(i) => self.calc_node(i),
        }
    }

    fn calc_node(&mut self, i: u32) -> Tristate {
        match self.ix.nodes[i as usize] {
            Node::Sym(s) => {
                self.calc_value(s);
                self.st(s).tri
            }
            Node::And(a, b) => {
                let x = self.calc_node(a);
                let y = self.calc_node(b);
                x.and(y)
            }
            Node::Or(a, b) => {
                let x = self.calc_node(a);
                let y = self.calc_node(b);
                x.or(y)
            }
            Node::Not(a) => self.calc_node(a).not(),
            Node::Cmp(op, a, b) => self.compare(op, a, b),
        }
    }

    fn calc_expr(&mut self, e: &Expr) -> Tristate {
        match e {
            Expr::Symbol(s) => {
                self.calc_value(*s);
                self.st(*s).tri
            }
            Expr::And(a, b) => {
                let x = self.calc_expr(a);
                let y = self.calc_expr(b);
                x.and(y)
            }
            Expr::Or(a, b) => {
                let x = self.calc_expr(a);
                let y = self.calc_expr(b);
                x.or(y)
            }
            Expr::Not(a) => self.calc_expr(a).not(),
            Expr::Compare(op, a, b) => self.compare(*op, *a, *b),
        }
    }

    fn compare(&mut self, op: CmpOp, a: SymbolId, b: SymbolId) -> Tristate {
        self.calc_value(a);
        self.calc_value(b);
        let sa = self.string_value(a);
        let sb = self.string_value(b);
        let ta = self.raw_type(a);
        let tb = self.raw_type(b);
        let (ka, kb) = if ta != SymbolType::String || tb != SymbolType::String {
            (parse_kind(&sa, ta), parse_kind(&sb, tb))
        } else {
            (Kind::Str, Kind::Str)
        };
        let ord = match (ka, kb) {
            (Kind::Str, _) | (_, Kind::Str) => sa.as_bytes().cmp(sb.as_bytes()),
            (Kind::Unsigned(_), _) | (_, Kind::Unsigned(_)) => as_u64(ka).cmp(&as_u64(kb)),
            (Kind::Signed(x), Kind::Signed(y)) => x.cmp(&y),
        };
        use std::cmp::Ordering::*;
        let r = match op {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        };
        if r { Tristate::Yes } else { Tristate::No }
    }

    /// `sym_calc_visibility`.
    pub fn calc_visibility(&mut self, s: SymbolId) {
        let ix = self.ix;
        let ty = self.raw_type(s);
        let choice_sym = self.choice_of(s);
        let mut tri = Tristate::No;
        for &p in &ix.prompts[s.0 as usize] {
            let mut v = self.node(ix.prop_visible[p.0 as usize]);
            if let Some(c) = choice_sym
                && ty == SymbolType::Tristate
                && v == Tristate::Mod
                && self.st(c).tri == Tristate::Yes
            {
                v = Tristate::No;
            }
            tri = tri.or(v);
        }
        if tri == Tristate::Mod
            && (ty != SymbolType::Tristate || self.s.modules_val == Tristate::No)
        {
            tri = Tristate::Yes;
        }
        self.st_mut(s).visible = tri;
        if choice_sym.is_some() {
            return;
        }
        let mut dir = self.node(ix.sym_dir[s.0 as usize]);
        if dir == Tristate::Mod && self.get_type(s) == SymbolType::Bool {
            dir = Tristate::Yes;
        }
        self.st_mut(s).dir_dep = dir;
        let mut rev = match ix.sym_rev[s.0 as usize] {
            Some(e) => self.calc_node(e),
            None => Tristate::No,
        };
        if rev == Tristate::Mod && self.get_type(s) == SymbolType::Bool {
            rev = Tristate::Yes;
        }
        self.st_mut(s).rev_dep = rev;
        let mut imp = match ix.sym_implied[s.0 as usize] {
            Some(e) => self.calc_node(e),
            None => Tristate::No,
        };
        if imp == Tristate::Mod && self.get_type(s) == SymbolType::Bool {
            imp = Tristate::Yes;
        }
        self.st_mut(s).implied = imp;
    }

    /// The first `default` whose condition is not `n` (`sym_get_default_prop`).
    fn default_prop(&mut self, s: SymbolId) -> Option<(PropId, Tristate)> {
        let ix = self.ix;
        for &p in &ix.defaults[s.0 as usize] {
            let v = self.node(ix.prop_visible[p.0 as usize]);
            if v != Tristate::No {
                return Some((p, v));
            }
        }
        None
    }

    fn range_prop(&mut self, s: SymbolId) -> Option<(SymbolId, SymbolId)> {
        let ix = self.ix;
        for &p in &ix.ranges[s.0 as usize] {
            let prop = self.m.prop(p);
            let v = self.node(ix.prop_visible[p.0 as usize]);
            if v != Tristate::No
                && let PropKind::Range(lo, hi) = prop.kind
            {
                return Some((lo, hi));
            }
        }
        None
    }

    /// The symbol of a `default SYM` (`prop_get_symbol`), `None` for other expressions.
    fn prop_symbol(&self, p: PropId) -> Option<SymbolId> {
        match &self.m.prop(p).kind {
            PropKind::Default(Expr::Symbol(s)) => Some(*s),
            _ => None,
        }
    }

    /// `sym_choice_default`: the first visible `default` of the choice, else its first visible
    /// member.
    pub fn choice_default(&mut self, c: SymbolId) -> Option<SymbolId> {
        let ix = self.ix;
        for &p in &ix.defaults[c.0 as usize] {
            let v = self.node(ix.prop_visible[p.0 as usize]);
            if v == Tristate::No {
                continue;
            }
            if let Some(d) = self.prop_symbol(p)
                && self.st(d).visible != Tristate::No
            {
                return Some(d);
            }
        }
        ix.members[c.0 as usize]
            .iter()
            .copied()
            .find(|&d| self.st(d).visible != Tristate::No)
    }

    fn calc_choice(&mut self, c: SymbolId) -> Option<SymbolId> {
        let ix = self.ix;
        let mut all_user = true;
        for &d in &ix.members[c.0 as usize] {
            self.calc_visibility(d);
            if self.st(d).visible != Tristate::No && !self.has_flag(d, DEF_USER) {
                all_user = false;
            }
        }
        if !all_user {
            self.clear_flag(c, DEF_USER);
        }
        if let Some(d) = self.st(c).user_choice
            && self.st(d).visible != Tristate::No
        {
            return Some(d);
        }
        let d = self.choice_default(c);
        if d.is_none() {
            self.st_mut(c).tri = Tristate::No;
        }
        d
    }

    /// `sym_calc_value`.
    pub fn calc_value(&mut self, s: SymbolId) {
        if self.has_flag(s, VALID) {
            return;
        }
        let ix = self.ix;
        if let Some(c) = self.choice_of(s)
            && self.has_flag(s, NEED_SET_CHOICE_VALUES)
        {
            self.clear_flag(s, NEED_SET_CHOICE_VALUES);
            self.calc_value(c);
        }
        self.set_flag(s, VALID);
        let is_modules = self.modules_sym() == Some(s);
        let old = is_modules.then(|| (self.st(s).tri, self.st(s).val.clone(), self.st(s).choice));
        let ty = self.raw_type(s);
        match ty {
            SymbolType::Int | SymbolType::Hex | SymbolType::String => {}
            SymbolType::Bool | SymbolType::Tristate => {}
            SymbolType::Unknown => {
                // The value of an untyped symbol (constants included) is its name, set once in
                // `State::new`.
                self.st_mut(s).tri = Tristate::No;
                return;
            }
        }
        self.clear_flag(s, WRITE);
        self.calc_visibility(s);
        if self.st(s).visible != Tristate::No {
            self.set_flag(s, WRITE);
        }
        // Like the C tool, a bool/tristate keeps the text "n" as its string value whatever its
        // tristate value (visible through `default BOOL_SYM` on a string symbol).
        let initial: Arc<str> = match ty {
            SymbolType::Bool | SymbolType::Tristate => self.s.texts[1].clone(),
            _ => self.s.texts[0].clone(),
        };
        {
            let st = self.st_mut(s);
            st.tri = Tristate::No;
            st.val = initial.clone();
            st.choice = None;
        }
        let mut new_tri = Tristate::No;
        let mut new_val = initial;
        match self.get_type(s) {
            SymbolType::Bool | SymbolType::Tristate => {
                let visible = self.st(s).visible;
                if let (Some(c), Tristate::Yes) = (self.choice_of(s), visible) {
                    new_tri = if self.st(c).choice == Some(s) {
                        Tristate::Yes
                    } else {
                        Tristate::No
                    };
                } else {
                    let mut from_user = false;
                    if visible != Tristate::No && self.has_value(s) {
                        new_tri = self.st(s).user_tri.and(visible);
                        from_user = true;
                    }
                    if !from_user {
                        if self.st(s).rev_dep != Tristate::No {
                            self.set_flag(s, WRITE);
                        }
                        if !self.is_choice(s) {
                            if let Some((p, pv)) = self.default_prop(s) {
                                new_tri = self.node(ix.prop_default[p.0 as usize]).and(pv);
                                if new_tri != Tristate::No {
                                    self.set_flag(s, WRITE);
                                }
                            }
                            let implied = self.st(s).implied;
                            if implied != Tristate::No {
                                self.set_flag(s, WRITE);
                                new_tri = new_tri.or(implied).and(self.st(s).dir_dep);
                            }
                        }
                    }
                    let (dir, rev) = (self.st(s).dir_dep, self.st(s).rev_dep);
                    if dir < rev && !self.has_flag(s, WARNED_UNMET) {
                        self.set_flag(s, WARNED_UNMET);
                        self.s.unmet.push(s);
                    }
                    new_tri = new_tri.or(rev);
                }
                if new_tri == Tristate::Mod && self.get_type(s) == SymbolType::Bool {
                    new_tri = Tristate::Yes;
                }
            }
            SymbolType::Int | SymbolType::Hex | SymbolType::String => {
                if self.st(s).visible != Tristate::No && self.has_value(s) {
                    if let Some(v) = &self.st(s).user_val {
                        new_val = v.clone();
                    }
                } else if let Some((p, _)) = self.default_prop(s)
                    && let Some(ds) = self.prop_symbol(p)
                {
                    self.set_flag(s, WRITE);
                    self.calc_value(ds);
                    new_val = self.st(ds).val.clone();
                }
            }
            SymbolType::Unknown => {}
        }
        {
            let st = self.st_mut(s);
            st.tri = new_tri;
            st.val = new_val;
            st.choice = None;
        }
        if self.is_choice(s) && new_tri == Tristate::Yes {
            let chosen = self.calc_choice(s);
            self.st_mut(s).choice = chosen;
        }
        self.validate_range(s);

        if let Some(old) = old {
            let st = self.st(s);
            if old.0 != st.tri || *old.1 != *st.val || old.2 != st.choice {
                self.s.modules_val = st.tri;
            }
        }
        if self.is_choice(s) {
            let write = self.has_flag(s, WRITE);
            for &d in &ix.members[s.0 as usize] {
                if write && self.st(d).visible != Tristate::No {
                    self.set_flag(d, WRITE);
                }
            }
            // Choices are never written themselves.
            self.clear_flag(s, WRITE);
        }
        if ix.no_write[s.0 as usize] {
            self.clear_flag(s, WRITE);
        }
        if self.has_flag(s, NEED_SET_CHOICE_VALUES) {
            self.set_all_choice_values(s);
        }
    }

    /// `set_all_choice_values`: members without a user value become `n`, the choice gets a user
    /// value and is recomputed on the next read.
    pub fn set_all_choice_values(&mut self, c: SymbolId) {
        let ix = self.ix;
        for &d in &ix.members[c.0 as usize] {
            if !self.has_value(d) {
                self.st_mut(d).user_tri = Tristate::No;
            }
        }
        self.set_flag(c, DEF_USER);
        self.clear_flag(c, VALID | NEED_SET_CHOICE_VALUES);
    }

    fn validate_range(&mut self, s: SymbolId) {
        let base = match self.raw_type(s) {
            SymbolType::Int => 10,
            SymbolType::Hex => 16,
            _ => return,
        };
        let Some((lo, hi)) = self.range_prop(s) else {
            return;
        };
        let val = strtoll(&self.st(s).val, base).0;
        let mut bound = lo;
        if val >= self.range_val(lo, base) {
            bound = hi;
            if val <= self.range_val(hi, base) {
                return;
            }
        }
        let v = self.st(bound).val.clone();
        self.st_mut(s).val = v;
    }

    /// `sym_get_range_val`.
    pub fn range_val(&mut self, s: SymbolId, base: u32) -> i64 {
        self.calc_value(s);
        let base = match self.raw_type(s) {
            SymbolType::Int => 10,
            SymbolType::Hex => 16,
            _ => base,
        };
        strtoll(&self.st(s).val, base).0
    }

    /// The active range of an int/hex symbol, as numbers, if any.
    pub fn active_range(&mut self, s: SymbolId, base: u32) -> Option<(i64, i64)> {
        let (lo, hi) = self.range_prop(s)?;
        Some((self.range_val(lo, base), self.range_val(hi, base)))
    }

    /// `sym_clear_all_valid`.
    pub fn clear_all_valid(&mut self) {
        for st in self.s.syms.iter_mut().skip(3) {
            st.flags &= !VALID;
        }
        self.s.changed = true;
        if let Some(ms) = self.modules_sym() {
            self.calc_value(ms);
        }
    }

    /// `sym_is_changeable`.
    pub fn is_changeable(&self, s: SymbolId) -> bool {
        self.st(s).visible > self.st(s).rev_dep
    }

    /// `sym_string_within_range` for int/hex/string symbols.
    pub fn string_within_range(&mut self, s: SymbolId, v: &str) -> bool {
        let ty = self.raw_type(s);
        match ty {
            SymbolType::String => true,
            SymbolType::Int | SymbolType::Hex => {
                if !string_valid(ty, v) {
                    return false;
                }
                let base = if ty == SymbolType::Int { 10 } else { 16 };
                match self.range_prop(s) {
                    None => true,
                    Some((lo, hi)) => {
                        let x = strtoll(v, base).0;
                        x >= self.range_val(lo, base) && x <= self.range_val(hi, base)
                    }
                }
            }
            _ => false,
        }
    }

    /// `sym_get_string_default`.
    pub fn string_default(&mut self, s: SymbolId) -> Arc<str> {
        self.calc_visibility(s);
        if let Some(ms) = self.modules_sym() {
            self.calc_value(ms);
        }
        let ty = self.raw_type(s);
        let mut val = Tristate::No;
        let mut text: Arc<str> = self.s.texts[0].clone();
        if let Some((p, pv)) = self.default_prop(s) {
            match ty {
                SymbolType::Bool | SymbolType::Tristate => {
                    val = self.node(self.ix.prop_default[p.0 as usize]).and(pv);
                }
                _ => {
                    if let Some(ds) = self.prop_symbol(p) {
                        self.calc_value(ds);
                        text = self.st(ds).val.clone();
                    }
                }
            }
        }
        val = val.or(self.st(s).rev_dep);
        if val == Tristate::Mod && !self.is_choice_value(s) {
            let modules_off = match self.modules_sym() {
                Some(ms) => self.st(ms).tri == Tristate::No,
                None => true,
            };
            if modules_off {
                val = Tristate::Yes;
            }
        }
        if ty == SymbolType::Bool && val == Tristate::Mod {
            val = Tristate::Yes;
        }
        if val < self.st(s).implied {
            val = self.st(s).implied;
        }
        match ty {
            SymbolType::Bool | SymbolType::Tristate => self.tri_text(val),
            SymbolType::Unknown => self.s.texts[0].clone(),
            _ => text,
        }
    }
}

fn as_u64(k: Kind) -> u64 {
    match k {
        Kind::Signed(x) => x as u64,
        Kind::Unsigned(x) => x,
        Kind::Str => 0,
    }
}

/// `expr_parse_string`.
fn parse_kind(s: &str, ty: SymbolType) -> Kind {
    match ty {
        SymbolType::Bool | SymbolType::Tristate => Kind::Signed(match s {
            "n" => 0,
            "m" => 1,
            "y" => 2,
            _ => -1,
        }),
        _ => {
            let (r, end, overflow) = match ty {
                SymbolType::Int => {
                    let (v, end, o) = strtoll(s, 10);
                    (Kind::Signed(v), end, o)
                }
                SymbolType::Hex => {
                    let (v, end, o) = strtoull(s, 16);
                    (Kind::Unsigned(v), end, o)
                }
                _ => {
                    let (v, end, o) = strtoll(s, 0);
                    (Kind::Signed(v), end, o)
                }
            };
            let b = s.as_bytes();
            if !overflow && end == b.len() && end > 0 && b[end - 1].is_ascii_hexdigit() {
                r
            } else {
                Kind::Str
            }
        }
    }
}

/// Parses the digits of a C `strtol`-family number: `(magnitude, end, overflowed, negative)`.
fn strto_digits(s: &str, base: u32) -> (u64, usize, bool, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let hex_prefix = b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
    if (base == 16 || base == 0) && hex_prefix {
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if i < b.len() && b[i] == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut acc: u64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(36) {
            Some(d) if d < base => d as u64,
            _ => break,
        };
        match acc.checked_mul(base as u64).and_then(|x| x.checked_add(d)) {
            Some(x) => acc = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        // No digits: nothing is consumed (a "0x" prefix without digits was not taken).
        return (0, 0, false, false);
    }
    (acc, i, overflow, neg)
}

/// C's `strtoll`: value (saturated), end index, whether it overflowed.
pub(crate) fn strtoll(s: &str, base: u32) -> (i64, usize, bool) {
    let (mag, end, overflow, neg) = strto_digits(s, base);
    if overflow {
        return (if neg { i64::MIN } else { i64::MAX }, end, true);
    }
    if neg {
        if mag > i64::MAX as u64 + 1 {
            (i64::MIN, end, true)
        } else {
            ((mag as i128).wrapping_neg() as i64, end, false)
        }
    } else if mag > i64::MAX as u64 {
        (i64::MAX, end, true)
    } else {
        (mag as i64, end, false)
    }
}

/// C's `strtoull`.
fn strtoull(s: &str, base: u32) -> (u64, usize, bool) {
    let (mag, end, overflow, neg) = strto_digits(s, base);
    if overflow {
        return (u64::MAX, end, true);
    }
    (if neg { mag.wrapping_neg() } else { mag }, end, false)
}

/// `sym_string_valid`.
pub(crate) fn string_valid(ty: SymbolType, s: &str) -> bool {
    let b = s.as_bytes();
    match ty {
        SymbolType::String => true,
        SymbolType::Int => {
            let mut i = 0;
            if b.first() == Some(&b'-') {
                i = 1;
            }
            let Some(&c) = b.get(i) else { return false };
            if !c.is_ascii_digit() {
                return false;
            }
            if c == b'0' && i + 1 < b.len() {
                return false;
            }
            b[i + 1..].iter().all(u8::is_ascii_digit)
        }
        SymbolType::Hex => {
            let rest = if b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
                &b[2..]
            } else {
                b
            };
            !rest.is_empty() && rest.iter().all(u8::is_ascii_hexdigit)
        }
        SymbolType::Bool | SymbolType::Tristate => {
            matches!(b.first(), Some(b'y' | b'Y' | b'm' | b'M' | b'n' | b'N'))
        }
        SymbolType::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoll_like_c() {
        assert_eq!(strtoll("0x10", 16).0, 16);
        assert_eq!(strtoll("10", 16).0, 16);
        assert_eq!(strtoll("", 10), (0, 0, false));
        assert_eq!(strtoll("-5", 10).0, -5);
        assert_eq!(strtoll("012", 0).0, 10);
        assert_eq!(strtoll("0x", 0), (0, 1, false));
        assert_eq!(strtoll("99999999999999999999", 10).0, i64::MAX);
        assert_eq!(strtoull("ffffffffffffffff", 16).0, u64::MAX);
    }

    #[test]
    fn string_validity_like_c() {
        assert!(string_valid(SymbolType::Int, "0"));
        assert!(!string_valid(SymbolType::Int, "01"));
        assert!(string_valid(SymbolType::Int, "-12"));
        assert!(!string_valid(SymbolType::Int, ""));
        assert!(string_valid(SymbolType::Hex, "0x1f"));
        assert!(string_valid(SymbolType::Hex, "1f"));
        assert!(!string_valid(SymbolType::Hex, "0x"));
        assert!(!string_valid(SymbolType::Hex, ""));
    }

    #[test]
    fn compare_kinds() {
        assert!(matches!(
            parse_kind("0x10", SymbolType::Hex),
            Kind::Unsigned(16)
        ));
        assert!(matches!(parse_kind("abc", SymbolType::Int), Kind::Str));
        assert!(matches!(parse_kind("", SymbolType::Int), Kind::Str));
        assert!(matches!(
            parse_kind("m", SymbolType::Tristate),
            Kind::Signed(1)
        ));
    }
}
