//! The Kconfig model: symbols, properties, expressions and the menu tree, stored in arenas and
//! addressed by typed ids.
//!
//! The parser fills a [`Model`] in file order; [`finalize`](super::finalize) then propagates the
//! dependencies of menus, `if` blocks and choices into every property (what the kernel's
//! `menu_finalize` does), fills [`Symbol::dir_dep`], [`Symbol::rev_dep`] and
//! [`Symbol::implied`], and marks the members of every choice. Every definition, property and
//! menu node keeps its [`Loc`] (file and line) and the expression as it was written, so that an
//! explanation can point at the source.
//!
//! Constants are symbols too, as in the kernel: `y`, `m` and `n` are the three tristate
//! constants ([`Model::yes`], [`Model::module`], [`Model::no`]); every quoted string or number
//! used in an expression is an interned constant symbol whose name is its value.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::sync::Arc;

/// Index of a [`Symbol`] in [`Model::symbols`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SymbolId(pub u32);

/// Index of a [`Menu`] node in [`Model::menus`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MenuId(pub u32);

/// Index of a [`Property`] in [`Model::props`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PropId(pub u32);

/// Index of a [`SourceFile`] in [`Model::files`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FileId(pub u32);

/// A place in the Kconfig sources: a file and a 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Loc {
    /// The file.
    pub file: FileId,
    /// The line, counted from 1.
    pub line: u32,
}

/// A Kconfig file that was read, with the name the kernel's tools print for it (relative to the
/// source tree, e.g. `arch/x86/Kconfig`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// The name as printed in messages (the path given to `source`, after macro expansion).
    pub name: String,
    /// Where the file was sourced from, or `None` for the top file.
    pub included_from: Option<Loc>,
}

/// A tristate value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Tristate {
    /// `n`
    No = 0,
    /// `m`
    Mod = 1,
    /// `y`
    Yes = 2,
}

impl Tristate {
    /// Logical and (the minimum).
    pub fn and(self, other: Tristate) -> Tristate {
        self.min(other)
    }
    /// Logical or (the maximum).
    pub fn or(self, other: Tristate) -> Tristate {
        self.max(other)
    }
    /// Logical not (`2 - x`).
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Tristate {
        match self {
            Tristate::No => Tristate::Yes,
            Tristate::Mod => Tristate::Mod,
            Tristate::Yes => Tristate::No,
        }
    }
    /// `n`, `m` or `y`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tristate::No => "n",
            Tristate::Mod => "m",
            Tristate::Yes => "y",
        }
    }
}

impl fmt::Display for Tristate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SymbolType {
    /// Not declared with a type (yet); also the type of constants.
    Unknown,
    /// `bool` (or `boolean`, `def_bool`).
    Bool,
    /// `tristate` (or `def_tristate`).
    Tristate,
    /// `int`
    Int,
    /// `hex`
    Hex,
    /// `string`
    String,
}

impl SymbolType {
    /// The keyword used in Kconfig files (`unknown` for [`SymbolType::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolType::Unknown => "unknown",
            SymbolType::Bool => "bool",
            SymbolType::Tristate => "tristate",
            SymbolType::Int => "int",
            SymbolType::Hex => "hex",
            SymbolType::String => "string",
        }
    }
}

/// A comparison operator in an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
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
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// An expression over symbols. Operands are symbols (constants included). Sub-expressions are
/// shared (`Arc`): finalize and-s the same enclosing dependencies into thousands of properties.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// A symbol's (tristate) value.
    Symbol(SymbolId),
    /// `!e`
    Not(#[serde(with = "shared")] Arc<Expr>),
    /// `a && b`
    And(
        #[serde(with = "shared")] Arc<Expr>,
        #[serde(with = "shared")] Arc<Expr>,
    ),
    /// `a || b`
    Or(
        #[serde(with = "shared")] Arc<Expr>,
        #[serde(with = "shared")] Arc<Expr>,
    ),
    /// `a = b`, `a != b`, `a < b`, …
    Compare(CmpOp, SymbolId, SymbolId),
}

/// Serialization of shared sub-expressions: inside [`shared::Sharing::run`], a sub-expression
/// met again is written as a reference to the first copy and read back as the same `Arc`, so a
/// stored model keeps its sharing (and its size). Outside, every copy is written in full.
pub(crate) mod shared {
    use super::Expr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Arc;

    thread_local! {
        static WRITTEN: RefCell<Option<HashMap<*const Expr, u32>>> = const { RefCell::new(None) };
        static READ: RefCell<Option<Vec<Arc<Expr>>>> = const { RefCell::new(None) };
    }

    #[derive(Serialize)]
    enum Out<'a> {
        Def(&'a Expr),
        Ref(u32),
    }

    #[derive(Deserialize)]
    enum In {
        Def(Expr),
        Ref(u32),
    }

    /// Runs `f` (one serialization or deserialization) with the tables of shared
    /// sub-expressions.
    pub(crate) struct Sharing;

    impl Sharing {
        pub(crate) fn run<T>(f: impl FnOnce() -> T) -> T {
            struct Reset;
            impl Drop for Reset {
                fn drop(&mut self) {
                    WRITTEN.with(|w| *w.borrow_mut() = None);
                    READ.with(|r| *r.borrow_mut() = None);
                }
            }
            WRITTEN.with(|w| *w.borrow_mut() = Some(HashMap::new()));
            READ.with(|r| *r.borrow_mut() = Some(Vec::new()));
            let _reset = Reset;
            f()
        }
    }

    pub(crate) fn serialize<S: Serializer>(e: &Arc<Expr>, s: S) -> Result<S::Ok, S::Error> {
        let ptr = Arc::as_ptr(e);
        let (active, seen) = WRITTEN.with(|w| {
            let w = w.borrow();
            (w.is_some(), w.as_ref().and_then(|t| t.get(&ptr).copied()))
        });
        if let Some(i) = seen {
            return Out::Ref(i).serialize(s);
        }
        // Children first; this node's number is given when it is complete (as on reading).
        let r = Out::Def(e).serialize(s)?;
        if active {
            WRITTEN.with(|w| {
                if let Some(t) = w.borrow_mut().as_mut() {
                    let next = t.len() as u32;
                    t.insert(ptr, next);
                }
            });
        }
        Ok(r)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Expr>, D::Error> {
        match In::deserialize(d)? {
            In::Def(e) => {
                let e = Arc::new(e);
                READ.with(|r| {
                    if let Some(t) = r.borrow_mut().as_mut() {
                        t.push(e.clone());
                    }
                });
                Ok(e)
            }
            In::Ref(i) => READ
                .with(|r| r.borrow().as_ref().and_then(|t| t.get(i as usize).cloned()))
                .ok_or_else(|| serde::de::Error::custom("reference to an unknown expression")),
        }
    }
}

impl Expr {
    /// `a && b`
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Arc::new(a), Arc::new(b))
    }
    /// `a || b`
    pub fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Arc::new(a), Arc::new(b))
    }
    /// `!e`
    #[allow(clippy::should_implement_trait)]
    pub fn not(e: Expr) -> Expr {
        Expr::Not(Arc::new(e))
    }
}

/// What a property says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PropKind {
    /// `prompt "text"` (or the prompt of a type line, `menu`, `comment`, `choice`).
    Prompt(String),
    /// `default expr` (also from `def_bool`/`def_tristate`).
    Default(Expr),
    /// `select SYM`
    Select(SymbolId),
    /// `imply SYM`
    Imply(SymbolId),
    /// `range LOW HIGH`
    Range(SymbolId, SymbolId),
    /// The symbol's link to its choice: on a choice member, the choice symbol (added by
    /// finalize).
    Choice(SymbolId),
    /// `option env="VAR"` of pre-4.18 kernels: the value comes from the environment variable.
    Env(String),
}

/// A property of a symbol or a menu node, as written and as finalized.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Property {
    /// What it says.
    pub kind: PropKind,
    /// The `if …` condition as written on the property line.
    pub cond: Option<Expr>,
    /// The effective condition after [`finalize`](super::finalize): the written condition and
    /// the dependencies of the entry and every enclosing menu, `if` and choice (`None` before
    /// finalize, or when always true).
    pub visible: Option<Expr>,
    /// The symbol it belongs to (`None` for a `menu`/`comment` prompt).
    pub sym: Option<SymbolId>,
    /// The menu node (entry) it was written in.
    pub menu: MenuId,
    /// Where it was written.
    pub loc: Loc,
}

/// Flags of a symbol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SymbolFlags {
    /// A constant (`y`, `m`, `n`, a string or number in an expression).
    pub constant: bool,
    /// The symbol of a `choice` block.
    pub choice: bool,
    /// A member of a choice (set by finalize).
    pub choice_value: bool,
    /// `optional` on a choice.
    pub optional: bool,
    /// `option allnoconfig_y`
    pub allnoconfig_y: bool,
    /// `option defconfig_list`
    pub defconfig_list: bool,
    /// `option modules` or the `modules` keyword: this is the modules symbol.
    pub modules: bool,
    /// `transitional` (6.18): read from an old `.config`, never written.
    pub transitional: bool,
    /// Set automatically by older kernels' `option env=` and `option defconfig_list` (the
    /// kernel's `SYMBOL_AUTO`): never written to `.config` nor to a savedefconfig file.
    pub auto: bool,
    /// Defined by at least one `config`/`menuconfig`/`choice` entry.
    pub defined: bool,
}

/// A symbol: a config option, a choice, or a constant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Symbol {
    /// The name without `CONFIG_`; for constants, the value; empty for an unnamed choice.
    pub name: String,
    /// The declared type ([`SymbolType::Unknown`] until declared).
    pub ty: SymbolType,
    /// Flags.
    pub flags: SymbolFlags,
    /// Every property, in file order across all definitions.
    pub props: Vec<PropId>,
    /// The menu nodes (entries) that define the symbol, in file order.
    pub definitions: Vec<MenuId>,
    /// Direct dependencies after finalize: the or of the dependencies of every definition.
    pub dir_dep: Option<Expr>,
    /// Reverse dependencies after finalize: the or of `SELECTOR && cond` for every `select`.
    pub rev_dep: Option<Expr>,
    /// Weak reverse dependencies after finalize: the or of `IMPLIER && cond` for every `imply`.
    pub implied: Option<Expr>,
    /// For a choice member: its choice (set by finalize).
    pub choice: Option<SymbolId>,
    /// For a choice: its members in order (set by finalize).
    pub choice_members: Vec<SymbolId>,
}

impl Symbol {
    /// A fresh symbol with no type and no properties.
    pub fn new(name: impl Into<String>) -> Symbol {
        Symbol {
            name: name.into(),
            ty: SymbolType::Unknown,
            flags: SymbolFlags::default(),
            props: Vec::new(),
            definitions: Vec::new(),
            dir_dep: None,
            rev_dep: None,
            implied: None,
            choice: None,
            choice_members: Vec::new(),
        }
    }
}

/// The kind of a node in the menu tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MenuKind {
    /// The root (the `mainmenu`).
    Root,
    /// `config SYM`
    Config(SymbolId),
    /// `menuconfig SYM`
    MenuConfig(SymbolId),
    /// `choice` (the choice symbol).
    Choice(SymbolId),
    /// `menu "…"`
    Menu,
    /// `comment "…"`
    Comment,
    /// `if EXPR`
    If,
}

/// A node of the menu tree, one per entry, in file order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Menu {
    /// What the node is.
    pub kind: MenuKind,
    /// The enclosing node (`None` for the root).
    pub parent: Option<MenuId>,
    /// The nodes inside it, in order. Finalize moves the entries that depend on a `config`
    /// symbol under it (as the kernel does), so this is the tree after finalize.
    pub children: Vec<MenuId>,
    /// The prompt property, if any.
    pub prompt: Option<PropId>,
    /// `depends on` lines of the entry as written (and-ed in order), or the `if` condition.
    pub depends: Option<Expr>,
    /// `visible if` of a `menu`, as written.
    pub visibility: Option<Expr>,
    /// The entry's direct dependency after finalize (its own and every enclosing one).
    pub dir_dep: Option<Expr>,
    /// Help text with indentation removed, one `\n` after each line.
    pub help: Option<String>,
    /// Line of the `help` keyword.
    pub help_loc: Option<Loc>,
    /// Where the entry starts.
    pub loc: Loc,
}

impl Menu {
    /// A fresh node.
    pub fn new(kind: MenuKind, parent: Option<MenuId>, loc: Loc) -> Menu {
        Menu {
            kind,
            parent,
            children: Vec::new(),
            prompt: None,
            depends: None,
            visibility: None,
            dir_dep: None,
            help: None,
            help_loc: None,
            loc,
        }
    }

    /// The symbol of a `config`, `menuconfig` or `choice` node.
    pub fn sym(&self) -> Option<SymbolId> {
        match self.kind {
            MenuKind::Config(s) | MenuKind::MenuConfig(s) | MenuKind::Choice(s) => Some(s),
            _ => None,
        }
    }
}

/// A whole parsed Kconfig tree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Model {
    /// Every symbol; the first three are `n`, `m`, `y`.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub symbols: Vec<Symbol>,
    /// Every property.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub props: Vec<Property>,
    /// Every menu node; the first is the root.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub menus: Vec<Menu>,
    /// Every file read, the top file first.
    #[serde(deserialize_with = "super::prealloc::vec")]
    pub files: Vec<SourceFile>,
    /// The `mainmenu` title, if one was given.
    pub mainmenu: Option<String>,
    /// The modules symbol (`option modules` / `modules`), if any.
    pub modules_sym: Option<SymbolId>,
    /// The symbol with `option defconfig_list`, if any.
    pub defconfig_list: Option<SymbolId>,
    names: HashMap<String, SymbolId>,
    consts: HashMap<String, SymbolId>,
    choices: HashMap<String, SymbolId>,
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Model {
    /// An empty model holding the constants `n`, `m`, `y` and a root menu.
    pub fn new() -> Model {
        let mut m = Model {
            symbols: Vec::new(),
            props: Vec::new(),
            menus: Vec::new(),
            files: Vec::new(),
            mainmenu: None,
            modules_sym: None,
            defconfig_list: None,
            names: HashMap::default(),
            consts: HashMap::default(),
            choices: HashMap::default(),
        };
        for (name, ty) in [
            ("n", SymbolType::Tristate),
            ("m", SymbolType::Tristate),
            ("y", SymbolType::Tristate),
        ] {
            let id = m.const_sym(name);
            m.symbols[id.0 as usize].ty = ty;
        }
        m.menus.push(Menu::new(
            MenuKind::Root,
            None,
            Loc {
                file: FileId(0),
                line: 0,
            },
        ));
        m
    }

    /// The constant `n`.
    pub fn no(&self) -> SymbolId {
        SymbolId(0)
    }
    /// The constant `m`.
    pub fn module(&self) -> SymbolId {
        SymbolId(1)
    }
    /// The constant `y`.
    pub fn yes(&self) -> SymbolId {
        SymbolId(2)
    }
    /// The root menu node.
    pub fn root(&self) -> MenuId {
        MenuId(0)
    }

    /// Reserves room for about `symbols` symbols (and menus and properties in proportion).
    pub fn reserve(&mut self, symbols: usize) {
        self.symbols.reserve(symbols);
        self.names.reserve(symbols);
        self.menus.reserve(symbols);
        self.props.reserve(symbols * 2);
    }

    /// The named (non-constant) symbol `name`, creating it if it does not exist. As in the
    /// kernel, `y`, `m` and `n` always name the constants.
    pub fn sym(&mut self, name: &str) -> SymbolId {
        if let Some(id) = Self::tristate_const(name) {
            return id;
        }
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = SymbolId(self.symbols.len() as u32);
        self.symbols.push(Symbol::new(name));
        self.names.insert(name.to_owned(), id);
        id
    }

    fn tristate_const(name: &str) -> Option<SymbolId> {
        match name {
            "n" => Some(SymbolId(0)),
            "m" => Some(SymbolId(1)),
            "y" => Some(SymbolId(2)),
            _ => None,
        }
    }

    /// The symbol of the choice named `name` (choice names are a separate namespace), creating
    /// it if it does not exist.
    pub fn choice_sym(&mut self, name: &str) -> SymbolId {
        if let Some(&id) = self.choices.get(name) {
            return id;
        }
        let id = SymbolId(self.symbols.len() as u32);
        let mut s = Symbol::new(name);
        s.flags.choice = true;
        self.symbols.push(s);
        self.choices.insert(name.to_owned(), id);
        id
    }

    /// The constant symbol whose value is `value`, creating it if it does not exist.
    pub fn const_sym(&mut self, value: &str) -> SymbolId {
        if self.symbols.len() >= 3
            && let Some(id) = Self::tristate_const(value)
        {
            return id;
        }
        if let Some(&id) = self.consts.get(value) {
            return id;
        }
        let id = SymbolId(self.symbols.len() as u32);
        let mut s = Symbol::new(value);
        s.flags.constant = true;
        self.symbols.push(s);
        self.consts.insert(value.to_owned(), id);
        id
    }

    /// A new unnamed choice symbol (an anonymous `choice`).
    pub fn anon_choice(&mut self) -> SymbolId {
        let id = SymbolId(self.symbols.len() as u32);
        let mut s = Symbol::new(String::new());
        s.flags.choice = true;
        self.symbols.push(s);
        id
    }

    /// The named symbol `name`, if it was ever mentioned.
    pub fn lookup(&self, name: &str) -> Option<SymbolId> {
        self.names.get(name).copied()
    }

    /// The symbol.
    pub fn symbol(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.0 as usize]
    }
    /// The symbol, mutably.
    pub fn symbol_mut(&mut self, id: SymbolId) -> &mut Symbol {
        &mut self.symbols[id.0 as usize]
    }
    /// The menu node.
    pub fn menu(&self, id: MenuId) -> &Menu {
        &self.menus[id.0 as usize]
    }
    /// The menu node, mutably.
    pub fn menu_mut(&mut self, id: MenuId) -> &mut Menu {
        &mut self.menus[id.0 as usize]
    }
    /// The property.
    pub fn prop(&self, id: PropId) -> &Property {
        &self.props[id.0 as usize]
    }
    /// The property, mutably.
    pub fn prop_mut(&mut self, id: PropId) -> &mut Property {
        &mut self.props[id.0 as usize]
    }
    /// The file.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Adds a menu node as the last child of `parent`.
    pub fn add_menu(&mut self, kind: MenuKind, parent: MenuId, loc: Loc) -> MenuId {
        let id = MenuId(self.menus.len() as u32);
        self.menus.push(Menu::new(kind, Some(parent), loc));
        self.menus[parent.0 as usize].children.push(id);
        id
    }

    /// Adds a property written in `menu` for `sym` (appended to the symbol's list).
    pub fn add_prop(
        &mut self,
        kind: PropKind,
        cond: Option<Expr>,
        sym: Option<SymbolId>,
        menu: MenuId,
        loc: Loc,
    ) -> PropId {
        let id = PropId(self.props.len() as u32);
        self.props.push(Property {
            kind,
            cond,
            visible: None,
            sym,
            menu,
            loc,
        });
        if let Some(s) = sym {
            self.symbols[s.0 as usize].props.push(id);
        }
        id
    }

    /// The properties of `sym`, in order.
    pub fn props_of(&self, sym: SymbolId) -> impl Iterator<Item = &Property> + '_ {
        self.symbol(sym).props.iter().map(move |&p| self.prop(p))
    }

    /// Config symbols (neither constants nor choices) in creation order. Writers walk the menu
    /// tree instead; this order carries no meaning.
    pub fn named_symbols(&self) -> impl Iterator<Item = SymbolId> + '_ {
        self.symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.flags.constant && !s.flags.choice)
            .map(|(i, _)| SymbolId(i as u32))
    }

    /// `file:line` as the kernel prints it.
    pub fn loc_string(&self, loc: Loc) -> String {
        match self.files.get(loc.file.0 as usize) {
            Some(f) => format!("{}:{}", f.name, loc.line),
            None => format!("<unknown>:{}", loc.line),
        }
    }

    /// Writes `e` the way the kernel prints expressions (`A && (B || !C)`).
    pub fn expr_string(&self, e: &Expr) -> String {
        let mut s = String::new();
        write_expr_with(&mut s, e, &|id| self.operand_name(id));
        s
    }

    /// How an operand is written in an expression: its name, a quoted constant, or `<choice>`.
    pub fn operand_name(&self, id: SymbolId) -> String {
        let s = self.symbol(id);
        if s.flags.constant && !matches!(id.0, 0..=2) {
            format!("\"{}\"", s.name)
        } else if s.name.is_empty() {
            "<choice>".to_owned()
        } else {
            s.name.clone()
        }
    }
}

/// Writes `e` the way the kernel prints expressions (`A && (B || !C)`: `&&` binds tighter than
/// `||`, parentheses only where needed), each operand as `operand` writes it.
pub fn write_expr_with(out: &mut String, e: &Expr, operand: &dyn Fn(SymbolId) -> String) {
    write_expr_prec(out, e, 0, operand);
}

fn write_expr_prec(
    out: &mut String,
    e: &Expr,
    parent_prec: u8,
    operand: &dyn Fn(SymbolId) -> String,
) {
    match e {
        Expr::Symbol(id) => out.push_str(&operand(*id)),
        Expr::Compare(op, a, b) => {
            out.push_str(&operand(*a));
            out.push_str(op.as_str());
            out.push_str(&operand(*b));
        }
        Expr::Not(inner) => {
            out.push('!');
            write_expr_prec(out, inner, 3, operand);
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            let (prec, op) = if matches!(e, Expr::And(..)) {
                (2, " && ")
            } else {
                (1, " || ")
            };
            let paren = prec < parent_prec;
            if paren {
                out.push('(');
            }
            write_expr_prec(out, a, prec, operand);
            out.push_str(op);
            write_expr_prec(out, b, prec, operand);
            if paren {
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_interned_and_distinct_from_names() {
        let mut m = Model::new();
        assert_eq!(m.const_sym("y"), m.yes());
        assert_eq!(m.sym("y"), m.yes(), "y, m, n always name the constants");
        let c = m.choice_sym("A");
        let a = m.sym("A");
        assert_ne!(c, a);
        assert_eq!(m.sym("A"), a);
        assert_eq!(m.lookup("A"), Some(a));
        let b = m.sym("B");
        let e = Expr::and(
            Expr::Symbol(a),
            Expr::or(Expr::Symbol(b), Expr::not(Expr::Symbol(a))),
        );
        assert_eq!(m.expr_string(&e), "A && (B || !A)");
    }
}
