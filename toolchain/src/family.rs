//! Compiler families.

use std::fmt;

/// The family of a C compiler, told apart by its predefined macros (`__clang__` wins over
/// `__GNUC__`, which clang also defines for compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The GNU Compiler Collection (`gcc`, `gcc-12`, `x86_64-linux-gnu-gcc-12`).
    Gcc,
    /// LLVM's C front end (`clang`, `clang-14`).
    Clang,
}

impl Family {
    /// The driver's base name: `gcc` or `clang`.
    pub fn driver_name(self) -> &'static str {
        match self {
            Family::Gcc => "gcc",
            Family::Clang => "clang",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Gcc => "GCC",
            Family::Clang => "Clang",
        })
    }
}
