//! Evaluated explanations for [`Verification`]: each lost value gets its [`Explanation`], its
//! root causes and the proposed fix, and each unrequested change what gave its new value, all
//! computed with the Kconfig evaluator ([`crate::lang`]).

use std::fmt;

use crate::lang::Kconfig;
use crate::lang::explain::Explainer;
use crate::lang::fix::{Request, propose};
use crate::merge::Requested;
use crate::value::Value;
use crate::verify::{Lost, Verification};

fn request_text(v: &Value) -> String {
    match v {
        Value::No => "n".into(),
        other => other.to_config_text(),
    }
}

impl Verification {
    /// Explains the result with the kernel's Kconfig files loaded in `kconfig`: `base` is the
    /// configuration the fragments were merged onto (the final `.config` itself when there
    /// was none), `requested` what the fragments asked for. Each lost value gets its
    /// explanation, root causes and the lines that make it land (or why none do); each
    /// unrequested change what gave its new value; [`Verification::fix`] the whole proposal,
    /// checked by resolving `base + fragments + fix` again.
    pub fn explain_with_kconfig(&mut self, kconfig: &Kconfig, requested: &Requested, base: &[u8]) {
        let requests: Vec<Request> = requested
            .iter()
            .map(|a| Request::new(a.symbol.clone(), request_text(&a.value)))
            .collect();
        let mut input = base.to_vec();
        if !input.is_empty() && !input.ends_with(b"\n") {
            input.push(b'\n');
        }
        for r in &requests {
            input.extend_from_slice(r.line().as_bytes());
            input.push(b'\n');
        }
        let resolved = kconfig.olddefconfig_bytes(&input, ".config");
        let mut ex = Explainer::new(kconfig, &resolved, Some(&input));
        for lost in &mut self.lost {
            let want = request_text(&lost.requested);
            lost.explanation = Some(Box::new(ex.explain(&lost.symbol)));
            lost.root_causes = ex.root_causes(&lost.symbol, &want);
        }
        for change in &mut self.unrequested {
            let e = ex.explain(&change.symbol);
            if e.defined {
                change.cause = Some(e.source.to_string());
            }
        }
        if self.lost.is_empty() {
            return;
        }
        let proposal = propose(kconfig, base, &requests);
        for lost in &mut self.lost {
            lost.fix = proposal
                .lines
                .iter()
                .filter(|l| l.for_symbols.contains(&lost.symbol))
                .map(|l| l.request.line())
                .collect();
            if let Some(o) = proposal
                .outcomes
                .iter()
                .find(|o| o.request.name == lost.symbol)
                && !o.lands
            {
                lost.cannot_land = Some(o.reason());
            }
        }
        self.fix = Some(proposal);
    }

    /// The evaluated cause and fix of one lost value: one line each, or the whole chain in
    /// the alternate form (`{:#}`).
    pub(crate) fn write_evaluated(
        &self,
        f: &mut fmt::Formatter<'_>,
        lost: &Lost,
        width: usize,
    ) -> fmt::Result {
        let pad = "";
        if let Some(e) = &lost.explanation
            && let Some(d) = e.definitions.first()
        {
            match &e.depends_on {
                Some(dep) => writeln!(
                    f,
                    "  {pad:<width$}  defined at {}: depends on {dep}",
                    d.location
                )?,
                None => writeln!(f, "  {pad:<width$}  defined at {}", d.location)?,
            }
        }
        match lost.root_causes.first() {
            Some(c) => {
                let more = lost.root_causes.len() - 1;
                write!(f, "  {pad:<width$}  cause: {c}")?;
                if more > 0 && !f.alternate() {
                    write!(f, " (and {more} more; --all for every one)")?;
                }
                writeln!(f)?;
            }
            None => writeln!(
                f,
                "  {pad:<width$}  cause: {}",
                lost.explanation
                    .as_ref()
                    .map(|e| e.source.to_string())
                    .unwrap_or_default()
            )?,
        }
        match (&lost.cannot_land, lost.fix.is_empty()) {
            (Some(why), _) => writeln!(f, "  {pad:<width$}  fix: none; {why}")?,
            (None, false) => writeln!(f, "  {pad:<width$}  fix: add {}", lost.fix.join(", "))?,
            (None, true) => {}
        }
        if f.alternate() {
            for c in lost.root_causes.iter().skip(1) {
                writeln!(f, "  {pad:<width$}  cause: {c}")?;
            }
            for c in &lost.root_causes {
                for v in &c.via {
                    writeln!(f, "  {pad:<width$}    via {v}")?;
                }
            }
            if let Some(e) = &lost.explanation {
                for line in e.to_text().lines() {
                    writeln!(f, "  {pad:<width$}  {line}")?;
                }
            }
        }
        Ok(())
    }
}
