//! The error of a composed run: what the flow was doing, with the library error as its source.

use std::path::PathBuf;

/// Why a step (or the run around it) failed.
///
/// The message says what the flow was doing; the underlying library error is the
/// [`source()`](std::error::Error::source), never repeated in the message, so a caller that
/// prints the cause chain prints each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A library operation failed while the flow was doing `context`.
    #[error("{context}")]
    Operation {
        /// What the flow was doing (`fetching the kernel archive https://…`).
        context: String,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A library operation failed; its error says everything.
    #[error(transparent)]
    Library(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was tried (`write`, `create the directory`).
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The flow refused to go on: what, where and how to fix it.
    #[error("{message}")]
    Refused {
        /// The explanation.
        message: String,
    },
    /// The run's interrupt flag was raised (Ctrl-C) during the step `step`.
    #[error("interrupted during the step {step}")]
    Interrupted {
        /// The step that was running.
        step: String,
    },
}

impl Error {
    /// A refusal with its explanation (what, where, how to fix).
    pub fn refused(message: impl Into<String>) -> Error {
        Error::Refused {
            message: message.into(),
        }
    }

    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Whether the run stopped because its interrupt flag was raised (here, or in the library
    /// operation that failed).
    pub fn is_interrupted(&self) -> bool {
        let source: &(dyn std::error::Error + 'static) = match self {
            Error::Interrupted { .. } => return true,
            Error::Operation { source, .. } | Error::Library(source) => source.as_ref(),
            _ => return false,
        };
        library_interrupted(source)
    }
}

/// Attach what the flow was doing to a library error.
pub trait Context<T> {
    /// `self`'s error becomes the source of an [`Error::Operation`] saying `context`.
    fn context(self, context: impl Into<String>) -> Result<T, Error>;
    /// [`Context::context`] with a message built only on failure.
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T, Error>;
}

impl<T, E> Context<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: impl Into<String>) -> Result<T, Error> {
        self.map_err(|source| Error::Operation {
            context: context.into(),
            source: Box::new(source),
        })
    }

    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T, Error> {
        self.map_err(|source| Error::Operation {
            context: context().into(),
            source: Box::new(source),
        })
    }
}

macro_rules! library_errors {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(err: $ty) -> Error {
                Error::Library(Box::new(err))
            }
        })*
    };
}

library_errors!(
    kforge_fetch::Error,
    kforge_fetch::hg::Error,
    kforge_kbuild::make::Error,
    kforge_kbuild::configure::Error,
    kforge_kbuild::kernel::Error,
    kforge_kbuild::OpenError,
    kforge_kbuild::CleanError,
    kforge_kconfig::ReadError,
    kforge_kconfig::WriteError,
    kforge_kconfig::InstallError,
    kforge_kconfig::RunningError,
    kforge_toolchain::discover::Error,
    kforge_toolchain::select::Error,
    kforge_toolchain::wrapper::Error,
    crate::boot::Error,
    crate::boot::initramfs::Error,
);

/// Whether `err` (or a cause of it) is a library error that says the interrupt flag stopped it.
fn library_interrupted(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        let interrupted = e
            .downcast_ref::<kforge_fetch::Error>()
            .is_some_and(kforge_fetch::Error::is_interrupted)
            || e.downcast_ref::<kforge_fetch::hg::Error>()
                .is_some_and(|e| matches!(e, kforge_fetch::hg::Error::Interrupted))
            || e.downcast_ref::<kforge_kbuild::make::Error>()
                .is_some_and(kforge_kbuild::make::Error::is_interrupted)
            || e.downcast_ref::<kforge_kbuild::configure::Error>()
                .is_some_and(kforge_kbuild::configure::Error::is_interrupted)
            || e.downcast_ref::<kforge_kbuild::kernel::Error>()
                .is_some_and(kforge_kbuild::kernel::Error::is_interrupted)
            || e.downcast_ref::<kforge_toolchain::discover::Error>()
                .is_some_and(kforge_toolchain::discover::Error::is_interrupted)
            || e.downcast_ref::<crate::boot::Error>()
                .is_some_and(crate::boot::Error::is_interrupted);
        if interrupted {
            return true;
        }
        current = e.source();
    }
    false
}
