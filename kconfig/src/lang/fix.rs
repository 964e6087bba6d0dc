//! Fix proposals: the extra configuration lines that make every requested value land, found
//! from the root causes and checked by resolving the configuration again.
//!
//! [`propose`] resolves `base + requested`, asks [`Explainer::root_causes`] what stands in the
//! way of each value that did not land, adds a line for every cause a user can set, and
//! resolves again, until every requested value lands or the remaining causes are facts (the
//! architecture, the compiler, a `select` from another requested symbol). The returned
//! [`Proposal`] was resolved with its lines before it is returned: [`Proposal::complete`] says
//! whether every requested value lands with it, and [`Proposal::changes`] lists what else the
//! lines change.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Kconfig;
use super::ast::SymbolType;
use super::explain::{Cause, CauseKind, Explainer, Need};
use super::ops::Resolved;

/// How many rounds of "add the causes' lines, resolve again" are tried.
const MAX_ROUNDS: usize = 24;

/// One requested value: a symbol (without `CONFIG_`) and the text after `=` (`y`, `m`, `n`, a
/// number, a quoted string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Request {
    /// The symbol.
    pub name: String,
    /// The value, as written in a `.config` line.
    pub value: String,
}

impl Request {
    /// A request for `name=value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Request {
        Request {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The `.config` line for it.
    pub fn line(&self) -> String {
        if self.value == "n" {
            format!("# CONFIG_{} is not set", self.name)
        } else {
            format!("CONFIG_{}={}", self.name, self.value)
        }
    }
}

/// An extra line of a proposal and why it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FixLine {
    /// The symbol and value.
    #[serde(flatten)]
    pub request: Request,
    /// The requested symbols this line is for.
    pub for_symbols: Vec<String>,
    /// Why: the chain from the requested symbol to this one.
    pub because: Vec<String>,
}

/// What became of one requested value.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Outcome {
    /// The request.
    #[serde(flatten)]
    pub request: Request,
    /// Its value without the proposal's lines.
    pub value_before: String,
    /// Its value with them.
    pub value_after: String,
    /// Whether it lands with the proposal.
    pub lands: bool,
    /// What stood in the way without the proposal's lines.
    pub causes: Vec<Cause>,
    /// What still stands in the way with them (facts a user cannot change, conflicts).
    pub blocked_by: Vec<Cause>,
}

impl Outcome {
    /// Whether the value cannot land: something that no configuration line can change stands
    /// in the way.
    pub fn impossible(&self) -> bool {
        !self.lands && self.blocked_by.iter().any(|c| !c.kind.is_settable())
    }

    /// One line saying why it cannot land (empty when it lands).
    pub fn reason(&self) -> String {
        if self.lands {
            return String::new();
        }
        let facts: Vec<String> = self.blocked_by.iter().map(|c| format!("{c}")).collect();
        if facts.is_empty() {
            "no combination of extra lines found".into()
        } else {
            facts.join("; ")
        }
    }
}

/// A symbol whose value the proposal's lines change, besides the requested and proposed ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// The symbol.
    pub name: String,
    /// Its value without the proposal (`n` if not written).
    pub from: String,
    /// Its value with it.
    pub to: String,
}

/// The extra lines that make requested values land, checked by resolving again.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Proposal {
    /// The lines to add, in the order they were found.
    pub lines: Vec<FixLine>,
    /// Every requested value and what becomes of it.
    pub outcomes: Vec<Outcome>,
    /// Other symbols the lines change.
    pub changes: Vec<Change>,
    /// Whether every requested value lands with the lines.
    pub complete: bool,
    /// The `.config` resolved with the lines (what `make olddefconfig` writes).
    #[serde(skip)]
    pub resolved_config: String,
}

impl Proposal {
    /// The lines as a configuration fragment (one assignment a line, with a comment naming
    /// what each is for).
    pub fn fragment(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&format!(
                "# for {}\n{}\n",
                l.for_symbols.join(", "),
                l.request.line()
            ));
        }
        s
    }

    /// Requested values that do not land even with the lines.
    pub fn not_landing(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| !o.lands)
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lines.is_empty() && self.complete {
            return writeln!(f, "every requested value lands; nothing to add");
        }
        for l in &self.lines {
            writeln!(
                f,
                "{}    # for {}",
                l.request.line(),
                l.for_symbols.join(", ")
            )?;
        }
        for o in self.not_landing() {
            writeln!(f, "cannot land {}: {}", o.request.line(), o.reason())?;
        }
        if !self.changes.is_empty() {
            let shown: Vec<String> = self
                .changes
                .iter()
                .take(12)
                .map(|c| format!("{} {}->{}", c.name, c.from, c.to))
                .collect();
            let more = self.changes.len().saturating_sub(12);
            write!(f, "also changes: {}", shown.join(", "))?;
            if more > 0 {
                write!(f, " and {more} more")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The value of `name` as a `.config` would carry it, `n` when off or undefined.
fn value_in(r: &Resolved, name: &str) -> (String, Option<SymbolType>) {
    match r.value(name) {
        Some(v) => (v.value.clone(), Some(v.ty)),
        None => ("n".into(), None),
    }
}

/// Whether `want` (text after `=`) is what `r` has for `name`.
pub fn lands(r: &Resolved, name: &str, want: &str) -> bool {
    let (have, ty) = value_in(r, name);
    match ty {
        None => want == "n",
        Some(SymbolType::String) => {
            let w = want
                .strip_prefix('"')
                .and_then(super::confdata::unescape)
                .unwrap_or_else(|| want.to_owned());
            have == w
        }
        Some(SymbolType::Int | SymbolType::Hex) => have == want || numbers_equal(&have, want),
        Some(_) => have == want,
    }
}

fn numbers_equal(a: &str, b: &str) -> bool {
    let p = |s: &str| -> Option<i128> {
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => i128::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        }
    };
    matches!((p(a), p(b)), (Some(x), Some(y)) if x == y)
}

/// The configuration text of `base` followed by `lines`.
fn compose(base: &[u8], lines: &[Request]) -> Vec<u8> {
    let mut text = base.to_vec();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    for l in lines {
        text.extend_from_slice(l.line().as_bytes());
        text.push(b'\n');
    }
    text
}

/// The configuration line value that meets `need` for `sym`, if one value does.
fn value_for(k: &Kconfig, sym: &str, need: &Need) -> Option<String> {
    let m = k.model();
    let ty = m.lookup(sym).map(|id| m.symbol(id).ty)?;
    match (need, ty) {
        (Need::AtLeast(v), SymbolType::Tristate) if v == "m" => Some("m".into()),
        (Need::AtLeast(_), _) => Some("y".into()),
        (Need::AtMost(v), SymbolType::Tristate) if v == "m" => Some("m".into()),
        (Need::AtMost(_), _) => Some("n".into()),
        (Need::Equal(v), _) if v.starts_with(['<', '>', '!', '=']) => None,
        (Need::Equal(v), SymbolType::String) => Some(format!(
            "\"{}\"",
            v.replace('\\', "\\\\").replace('"', "\\\"")
        )),
        (Need::Equal(v), _) => Some(v.clone()),
        (Need::NotEqual(_), _) => None,
    }
}

/// The smallest set of extra lines found that makes every value of `requested` land on top of
/// the configuration `base` (the text of a `.config`; the requested lines are appended to it
/// as a fragment would be), verified by resolving `base + requested + lines`.
pub fn propose(kconfig: &Kconfig, base: &[u8], requested: &[Request]) -> Proposal {
    let first_text = compose(base, requested);
    let first = kconfig.olddefconfig_bytes(&first_text, ".config");
    let mut first_causes: BTreeMap<String, Vec<Cause>> = BTreeMap::new();
    {
        let mut ex = Explainer::new(kconfig, &first, Some(&first_text));
        for r in requested {
            if !lands(&first, &r.name, &r.value) {
                first_causes.insert(r.name.clone(), ex.root_causes(&r.name, &r.value));
            }
        }
    }
    let mut extra: Vec<FixLine> = Vec::new();
    let mut blocked: BTreeMap<String, Vec<Cause>> = BTreeMap::new();
    let mut current = first.clone();
    for _ in 0..MAX_ROUNDS {
        let mut all: Vec<Request> = requested.to_vec();
        all.extend(extra.iter().map(|l| l.request.clone()));
        let text = compose(base, &all);
        current = kconfig.olddefconfig_bytes(&text, ".config");
        let missing: Vec<&Request> = requested
            .iter()
            .filter(|r| !lands(&current, &r.name, &r.value))
            .collect();
        blocked.clear();
        if missing.is_empty() {
            break;
        }
        let mut ex = Explainer::new(kconfig, &current, Some(&text));
        for r in &all {
            ex.pin(r.name.clone(), r.value.clone());
        }
        let mut added = false;
        for r in missing {
            for c in ex.root_causes(&r.name, &r.value) {
                if !c.kind.is_settable() {
                    blocked.entry(r.name.clone()).or_default().push(c);
                    continue;
                }
                let Some(value) = value_for(kconfig, &c.symbol, &c.need) else {
                    blocked.entry(r.name.clone()).or_default().push(c);
                    continue;
                };
                // A requested symbol must keep its requested value.
                if let Some(req) = requested.iter().find(|q| q.name == c.symbol) {
                    if req.value != value {
                        let mut c = c;
                        c.kind = CauseKind::Conflict;
                        c.via
                            .push(format!("{} is requested as {}", req.name, req.line()));
                        blocked.entry(r.name.clone()).or_default().push(c);
                    }
                    continue;
                }
                match extra.iter_mut().find(|l| l.request.name == c.symbol) {
                    Some(l) if l.request.value == value => {
                        if !l.for_symbols.contains(&r.name) {
                            l.for_symbols.push(r.name.clone());
                        }
                    }
                    Some(l) => {
                        // Two requests pull the same symbol both ways.
                        let mut c = c;
                        c.kind = CauseKind::Conflict;
                        c.via.push(format!(
                            "{} is needed as {} for {}",
                            l.request.name,
                            l.request.value,
                            l.for_symbols.join(", ")
                        ));
                        blocked.entry(r.name.clone()).or_default().push(c);
                    }
                    None => {
                        added = true;
                        extra.push(FixLine {
                            request: Request::new(c.symbol.clone(), value),
                            for_symbols: vec![r.name.clone()],
                            because: c.via.clone(),
                        });
                    }
                }
            }
        }
        if !added {
            break;
        }
    }
    // Drop lines that turn out not to be needed: each one is tried without, last first.
    let mut i = extra.len();
    while i > 0 {
        i -= 1;
        let mut all: Vec<Request> = requested.to_vec();
        all.extend(
            extra
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, l)| l.request.clone()),
        );
        let r = kconfig.olddefconfig_bytes(&compose(base, &all), ".config");
        let before = requested
            .iter()
            .filter(|q| lands(&current, &q.name, &q.value))
            .count();
        let without = requested
            .iter()
            .filter(|q| lands(&r, &q.name, &q.value))
            .count();
        if without >= before {
            extra.remove(i);
            current = r;
        }
    }
    let outcomes: Vec<Outcome> = requested
        .iter()
        .map(|r| {
            let lands_now = lands(&current, &r.name, &r.value);
            Outcome {
                request: r.clone(),
                value_before: value_in(&first, &r.name).0,
                value_after: value_in(&current, &r.name).0,
                lands: lands_now,
                causes: first_causes.get(&r.name).cloned().unwrap_or_default(),
                blocked_by: if lands_now {
                    Vec::new()
                } else {
                    blocked.get(&r.name).cloned().unwrap_or_default()
                },
            }
        })
        .collect();
    let mut changes = Vec::new();
    if !extra.is_empty() {
        let m = kconfig.model();
        for id in m.named_symbols() {
            let name = &m.symbol(id).name;
            if requested.iter().any(|r| &r.name == name)
                || extra.iter().any(|l| &l.request.name == name)
            {
                continue;
            }
            let (Some(a), Some(b)) = (first.value(name), current.value(name)) else {
                continue;
            };
            let from = if a.written { a.value } else { "n".into() };
            let to = if b.written { b.value } else { "n".into() };
            if from != to {
                changes.push(Change {
                    name: name.clone(),
                    from,
                    to,
                });
            }
        }
    }
    Proposal {
        complete: outcomes.iter().all(|o| o.lands),
        lines: extra,
        outcomes,
        changes,
        resolved_config: current.to_config_string(),
    }
}
