//! Probes: does a flag work, what assembly does a snippet compile to, which macros are predefined.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::command::{self, CommandFailure};
use crate::compiler::Compiler;
use crate::family::Family;
use crate::identify;

/// Why [`Compiler::supports_flag`] could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlagError {
    /// The compiler cannot compile an empty file even without the flag, so the probe says nothing
    /// about the flag.
    #[error("cannot probe {flag:?}: the compiler fails even without it: {failure}")]
    CompilerBroken {
        /// The flag that was probed.
        flag: String,
        /// The run without the flag.
        failure: CommandFailure,
    },
    /// The compiler could not be run (missing, timed out).
    #[error("cannot probe {flag:?}: {failure}")]
    Run {
        /// The flag that was probed.
        flag: String,
        /// What happened.
        failure: CommandFailure,
    },
    /// No temporary directory for the object file.
    #[error("cannot create a temporary directory for the probe's object file: {0}")]
    TempDir(#[source] std::io::Error),
}

/// Why [`Compiler::compile_to_asm`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsmError {
    /// The compiler rejected the source or the flags.
    #[error("compiling to assembly failed: {0}")]
    Compile(CommandFailure),
    /// The compiler could not be run (missing, timed out).
    #[error("could not run the compiler: {0}")]
    Run(CommandFailure),
    /// The output was not text.
    #[error("`{command}` printed assembly that is not UTF-8")]
    NotText {
        /// The command that ran.
        command: String,
    },
}

/// Why [`Compiler::links_program`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The compiler or the linker rejected the program with these flags (for `-m32` on an
    /// x86_64 host without the 32-bit C library: `gnu/stubs-32.h` or `-lgcc` missing).
    #[error("compiling and linking a trivial program failed: {0}")]
    Build(CommandFailure),
    /// The compiler could not be run (missing, timed out).
    #[error("could not run the compiler: {0}")]
    Run(CommandFailure),
    /// No temporary directory for the program.
    #[error("cannot create a temporary directory for the probe's program: {0}")]
    TempDir(#[source] std::io::Error),
}

/// Why [`Compiler::predefined_macros`] failed.
#[derive(Debug, thiserror::Error)]
#[error("could not read the predefined macros: {0}")]
pub struct MacrosError(pub CommandFailure);

/// Clang only warns about some options it ignores; the kernel's `CLANG_FLAGS` turns those
/// warnings into errors so `cc-option` rejects the option. GCC already errors on unknown options.
const CLANG_STRICT: [&str; 4] = [
    "-Werror=unknown-warning-option",
    "-Werror=ignored-optimization-argument",
    "-Werror=option-ignored",
    "-Werror=unused-command-line-argument",
];

impl Compiler {
    fn strict_args(&self) -> Vec<OsString> {
        let mut args = vec![OsString::from("-Werror")];
        if self.family == Family::Clang {
            args.extend(CLANG_STRICT.iter().map(OsString::from));
        }
        args
    }

    /// Whether the compiler accepts `flag`, with the semantics of the kernel's `cc-option`:
    /// compile an empty C file with `-Werror <flag> -c -x c /dev/null -o <tmp>`; success means
    /// supported. A warning about an unknown or ignored option is therefore a "no" (Clang also gets
    /// the kernel's `-Werror=unknown-warning-option` family). GCC accepts any `-Wno-<x>` silently,
    /// so, like the kernel's `cc-disable-warning`, `-Wno-<x>` is probed as `-W<x>`.
    ///
    /// When the flag is rejected the probe runs once more without it: if that fails too, the
    /// answer is [`FlagError::CompilerBroken`] rather than a misleading `false`.
    pub fn supports_flag(&self, flag: &str) -> Result<bool, FlagError> {
        let _span = tracing::debug_span!("supports_flag", compiler = %self.command, flag).entered();
        let dir = tempfile::Builder::new()
            .prefix("kforge-cc-option")
            .tempdir()
            .map_err(FlagError::TempDir)?;
        let object = dir.path().join("probe.o");
        let probed = match flag.strip_prefix("-Wno-") {
            Some(warning) => format!("-W{warning}"),
            None => flag.to_string(),
        };
        let build = |extra: Option<&str>| {
            let mut args = self.strict_args();
            args.extend(extra.map(OsString::from));
            args.extend(["-c", "-x", "c", "/dev/null", "-o"].map(OsString::from));
            args.push(object.clone().into_os_string());
            args
        };
        let args = build(Some(&probed));
        let shown = command::display_command(&self.path, &args);
        let out =
            command::run(&self.path, &args, None, self.timeout).map_err(|e| FlagError::Run {
                flag: flag.to_string(),
                failure: e.failure(shown.clone()),
            })?;
        if out.status.success() {
            tracing::debug!("supported");
            return Ok(true);
        }
        let baseline = build(None);
        let shown = command::display_command(&self.path, &baseline);
        let base = command::run(&self.path, &baseline, None, self.timeout).map_err(|e| {
            FlagError::Run {
                flag: flag.to_string(),
                failure: e.failure(shown.clone()),
            }
        })?;
        if !base.status.success() {
            return Err(FlagError::CompilerBroken {
                flag: flag.to_string(),
                failure: base.failure(shown),
            });
        }
        tracing::debug!(stderr = %String::from_utf8_lossy(&out.stderr).trim(), "not supported");
        Ok(false)
    }

    /// Compile C `source` to assembly (`-S <flags> -x c - -o -`) and return the assembly text.
    ///
    /// The HOWTO's recipe is `compile_to_asm(src, &["-O"])`, or `&["-O", "-m32"]` for 32-bit x86.
    pub fn compile_to_asm(&self, source: &str, flags: &[&str]) -> Result<String, AsmError> {
        let mut args = vec![OsString::from("-S")];
        args.extend(flags.iter().map(OsString::from));
        args.extend(["-x", "c", "-", "-o", "-"].map(OsString::from));
        let shown = command::display_command(&self.path, &args);
        let _span = tracing::debug_span!("compile_to_asm", command = %shown).entered();
        let out = command::run(&self.path, &args, Some(source.as_bytes()), self.timeout)
            .map_err(|e| AsmError::Run(e.failure(shown.clone())))?;
        if !out.status.success() {
            return Err(AsmError::Compile(out.failure(shown)));
        }
        String::from_utf8(out.stdout).map_err(|_| AsmError::NotText { command: shown })
    }

    /// Whether the compiler compiles **and links** a trivial C program (including `<stdio.h>`)
    /// with `flags`: `links_program(&["-m32"])` is the check that a 64-bit host can build
    /// 32-bit x86 code (Debian: `gcc-multilib`), which compiling alone does not show.
    pub fn links_program(&self, flags: &[&str]) -> Result<(), LinkError> {
        let dir = tempfile::Builder::new()
            .prefix("kforge-link-probe")
            .tempdir()
            .map_err(LinkError::TempDir)?;
        let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
        args.extend(["-x", "c", "-", "-o"].map(OsString::from));
        args.push(dir.path().join("probe").into_os_string());
        let shown = command::display_command(&self.path, &args);
        let _span = tracing::debug_span!("links_program", command = %shown).entered();
        let source = "#include <stdio.h>\nint main(void) { return puts(\"\") < 0; }\n";
        let out = command::run(&self.path, &args, Some(source.as_bytes()), self.timeout)
            .map_err(|e| LinkError::Run(e.failure(shown.clone())))?;
        if !out.status.success() {
            return Err(LinkError::Build(out.failure(shown)));
        }
        Ok(())
    }

    /// The compiler's predefined macros (`-dM -E` on an empty file): name → value
    /// (`__GNUC__` → `12`, `__x86_64__` → `1`).
    pub fn predefined_macros(&self) -> Result<BTreeMap<String, String>, MacrosError> {
        identify::read_macros(&self.path, self.timeout, None)
            .map(|(_, macros, _)| macros)
            .map_err(MacrosError)
    }
}
