//! The flows as the tests call them: the library's `kforge::flows`, run with a silent
//! observer; a passing run returns its summary, a failing one its error with the cause chain
//! in `{err:#}`.

#[allow(unused_imports)]
pub use kforge::reproduce::archive_stem;

/// A failed flow: the library error, shown with its causes.
pub struct Failed(pub kforge::Error);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kforge::steps::error_chain(&self.0))
    }
}

impl std::fmt::Debug for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

fn summary(finished: Result<kforge::flows::Finished, kforge::Error>) -> Result<String, Failed> {
    match finished.map_err(Failed)? {
        kforge::flows::Finished::Ran(record) => {
            Ok(std::fs::read_to_string(record.out.join("summary.txt")).expect("summary.txt"))
        }
        kforge::flows::Finished::Planned(text) => Ok(text),
        other => panic!("unexpected {other:?}"),
    }
}

pub mod kvm {
    pub use kforge::flows::kvm::*;

    /// Run the KVM flow silently.
    pub fn run(args: Args) -> Result<String, super::Failed> {
        super::summary(kforge::flows::kvm::run(
            &args,
            std::sync::Arc::new(kforge::observe::Silent),
            None,
        ))
    }
}

pub mod xen {
    pub use kforge::flows::xen::*;

    /// Run the Xen flow silently.
    pub fn run(args: Args) -> Result<String, super::Failed> {
        super::summary(kforge::flows::xen::run(
            &args,
            std::sync::Arc::new(kforge::observe::Silent),
            None,
        ))
    }
}
