//! Blocking network reads on a helper thread, delivered through a small bounded channel.
//!
//! A request to a silent server blocks in the HTTP client until its read timeout; running the
//! exchange on a helper thread lets the caller look at the interrupt flag every [`POLL`]
//! instead. The channel holds a few chunks only, so a body is never held in memory whole, and
//! the helper thread stops at its next send once the caller drops the [`Channel`].

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// How often a waiting caller looks at the interrupt flag.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Messages in flight between the helper thread and the caller.
const CAPACITY: usize = 4;

/// The caller's end of a helper thread's messages.
pub(crate) struct Channel<T> {
    rx: Receiver<T>,
}

/// What [`Channel::recv`] got.
pub(crate) enum Recv<T> {
    /// The next message.
    Item(T),
    /// The interrupt flag was raised first.
    Interrupted,
    /// The helper thread ended without a further message.
    Closed,
}

/// Run `work` on a thread named `name`; what it sends arrives through the returned channel.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce(SyncSender<T>) + Send + 'static,
) -> io::Result<Channel<T>> {
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || work(tx))?;
    Ok(Channel { rx })
}

impl<T> Channel<T> {
    /// Wait for the next message, looking at `interrupt` every [`POLL`].
    pub(crate) fn recv(&self, interrupt: &AtomicBool) -> Recv<T> {
        loop {
            if interrupt.load(Ordering::Relaxed) {
                return Recv::Interrupted;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(item) => return Recv::Item(item),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Recv::Closed,
            }
        }
    }
}

/// On the helper thread: send `reader`'s bytes in chunks of up to `chunk_size` as `data(chunk)`,
/// then `end` at its end or `failed(error)` on a read error; stop early when the caller is gone.
pub(crate) fn pump<T>(
    mut reader: impl Read,
    tx: &SyncSender<T>,
    chunk_size: usize,
    data: impl Fn(Vec<u8>) -> T,
    end: T,
    failed: impl FnOnce(io::Error) -> T,
) {
    loop {
        let mut buf = vec![0u8; chunk_size];
        match reader.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(end);
                return;
            }
            Ok(n) => {
                buf.truncate(n);
                if tx.send(data(buf)).is_err() {
                    return; // the caller stopped reading
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(failed(e));
                return;
            }
        }
    }
}
