//! A small pool of threads that write extracted files (create, write, set mtime and mode), so
//! that decompression and tar parsing on the calling thread overlap with file system calls.
//! In-flight bytes are bounded; errors surface on the next submit or on flush.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crate::extract::Error;

/// Bytes of file content queued at most before `submit` waits.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// One file to write.
pub(crate) struct WriteJob {
    pub(crate) path: PathBuf,
    pub(crate) data: Vec<u8>,
    pub(crate) perm: u32,
    pub(crate) mtime: u64,
}

#[derive(Default)]
struct State {
    jobs: usize,
    bytes: usize,
    error: Option<Error>,
}

/// State shared by the submitting thread and the writers.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    jobs: Mutex<Option<Receiver<WriteJob>>>,
}

/// The submitting side.
pub(crate) struct WritePool<'a> {
    tx: Option<SyncSender<WriteJob>>,
    shared: &'a Shared,
}

fn poisoned() -> Error {
    Error::Write {
        path: PathBuf::new(),
        source: std::io::Error::other("a file writer thread panicked"),
    }
}

impl<'a> WritePool<'a> {
    /// Start `threads` writers in `scope`.
    pub(crate) fn start<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        shared: &'a Shared,
        threads: usize,
    ) -> WritePool<'a>
    where
        'a: 'scope,
    {
        let (tx, rx) = sync_channel::<WriteJob>(1024);
        if let Ok(mut jobs) = shared.jobs.lock() {
            *jobs = Some(rx);
        }
        for _ in 0..threads.max(1) {
            scope.spawn(move || worker(shared));
        }
        WritePool {
            tx: Some(tx),
            shared,
        }
    }

    /// Queue a file; returns an earlier writer error instead, if any.
    pub(crate) fn submit(&self, job: WriteJob) -> Result<(), Error> {
        let len = job.data.len();
        {
            let mut state = self.shared.state.lock().map_err(|_| poisoned())?;
            while state.jobs > 0 && state.bytes + len > MAX_PENDING_BYTES && state.error.is_none() {
                state = self.shared.changed.wait(state).map_err(|_| poisoned())?;
            }
            if let Some(e) = state.error.take() {
                return Err(e);
            }
            state.jobs += 1;
            state.bytes += len;
        }
        match &self.tx {
            Some(tx) => tx.send(job).map_err(|_| poisoned()),
            None => Err(poisoned()),
        }
    }

    /// Wait until every queued file is written.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        let mut state = self.shared.state.lock().map_err(|_| poisoned())?;
        while state.jobs > 0 && state.error.is_none() {
            state = self.shared.changed.wait(state).map_err(|_| poisoned())?;
        }
        match state.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stop the writers (after a flush, or to abandon the work on error).
    pub(crate) fn close(&mut self) {
        self.tx = None;
    }
}

impl Drop for WritePool<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = match shared.jobs.lock() {
            Ok(rx) => match rx.as_ref().map(Receiver::recv) {
                Some(Ok(job)) => job,
                _ => return,
            },
            Err(_) => return,
        };
        let len = job.data.len();
        let result = write_file(&job);
        let Ok(mut state) = shared.state.lock() else {
            return;
        };
        state.jobs -= 1;
        state.bytes -= len;
        if let Err(e) = result
            && state.error.is_none()
        {
            state.error = Some(e);
        }
        shared.changed.notify_all();
    }
}

fn write_file(job: &WriteJob) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: job.path.clone(),
        source,
    };
    let mut file = create(&job.path, job.perm).map_err(err)?;
    file.write_all(&job.data).map_err(err)?;
    finish(&file, job.perm, job.mtime).map_err(err)
}

/// A new file at `path`, writable by us whatever `perm` says (`create_new`: never follows a
/// symlink at the final component).
fn create(path: &std::path::Path, perm: u32) -> std::io::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(perm | 0o200)
        .open(path)
}

/// The archive's modification time and, when it lacks the owner's write bit, its mode.
fn finish(file: &fs::File, perm: u32, mtime: u64) -> std::io::Result<()> {
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))?;
    if perm & 0o200 == 0 {
        file.set_permissions(fs::Permissions::from_mode(perm))?;
    }
    Ok(())
}

/// Write a file of unknown or large size on the calling thread as `reader` yields it, with
/// bounded memory: runs of zeros become holes (a sparse file stays sparse on disk). Returns the
/// bytes written. `read_err` maps an error of `reader` (corrupt archive data).
pub(crate) fn write_streamed(
    path: &std::path::Path,
    perm: u32,
    mtime: u64,
    reader: &mut dyn Read,
    read_err: &dyn Fn(std::io::Error) -> Error,
    should_interrupt: &std::sync::atomic::AtomicBool,
) -> Result<u64, Error> {
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = create(path, perm).map_err(err)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        // A few MiB of xz can hold gigabytes of zeros: Ctrl-C is seen within one chunk.
        if should_interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        if filled == 0 {
            break;
        }
        if buf[..filled].iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(filled as i64)).map_err(err)?;
        } else {
            file.write_all(&buf[..filled]).map_err(err)?;
        }
        len += filled as u64;
    }
    file.set_len(len).map_err(err)?;
    finish(&file, perm, mtime).map_err(err)?;
    Ok(len)
}
