//! The Kconfig language: parsing, the macro language, finalizing and evaluation.

pub mod ast;
