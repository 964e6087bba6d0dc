//! [`Group`]: a spawned child that leads its own process group, with its exit observed
//! without reaping. The building block of [`run`](crate::run) and of supervisors that stream a
//! child's output themselves (kbuild's make runner).

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

/// A child leading a process group of its own.
///
/// A waiter thread observes the leader's exit with `waitid(WNOWAIT)`: the leader stays a
/// zombie, and its group id reserved, until [`Group::reap`] (or the drop) has dealt with the
/// rest of the group, so a signal to the group can never reach an unrelated group that reused
/// the id. Dropping a `Group` whose leader was not reaped stops the whole group (SIGTERM, then
/// SIGKILL after the grace period) and reaps the leader: nothing outlives the handle.
#[derive(Debug)]
pub struct Group {
    child: Child,
    reaped: bool,
    pgid: Pid,
    exited: Receiver<()>,
    grace: Duration,
}

impl Group {
    /// Spawn `command` as the leader of a new process group. `grace` is the time the group
    /// gets between SIGTERM and SIGKILL whenever it is stopped. The caller sets up stdin,
    /// stdout and stderr on `command` beforehand, and takes the pipes with
    /// [`Group::child_mut`].
    pub fn spawn(command: &mut Command, grace: Duration) -> io::Result<Group> {
        use std::os::unix::process::CommandExt;
        let mut child = command.process_group(0).spawn()?;
        let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let (exit_tx, exited) = mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name("kforge-waiter".into())
            .spawn(move || {
                // Observe the exit without reaping (WNOWAIT): the zombie keeps the group id.
                while let Err(Errno::EINTR) =
                    waitid(Id::Pid(pgid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
                {
                }
                let _ = exit_tx.send(());
            });
        if let Err(err) = waiter {
            crate::signal_group(pgid, Signal::SIGKILL);
            let _ = child.wait();
            return Err(err);
        }
        Ok(Group {
            child,
            reaped: false,
            pgid,
            exited,
            grace,
        })
    }

    /// The leader's pid, which is also the process-group id.
    pub fn id(&self) -> u32 {
        self.pgid.as_raw().unsigned_abs()
    }

    /// The leader, to take its pipes. Do not wait on it: [`Group::reap`] does.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Wait up to `timeout` for the leader to exit (it is not reaped); whether it did.
    pub fn wait_exited(&self, timeout: Duration) -> bool {
        match self.exited.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// Stop the whole group: SIGTERM, the grace period for the leader to exit, then SIGKILL
    /// for whatever is left. Returns once the leader has exited (still unreaped).
    pub fn terminate(&self) {
        crate::signal_group(self.pgid, Signal::SIGTERM);
        let exited = self.wait_exited(self.grace);
        crate::signal_group(self.pgid, Signal::SIGKILL);
        if !exited {
            let _ = self.exited.recv();
        }
    }

    /// SIGTERM every member of the group now, without waiting.
    pub fn term(&self) {
        crate::signal_group(self.pgid, Signal::SIGTERM);
    }

    /// SIGKILL every member of the group now.
    pub fn kill(&self) {
        crate::signal_group(self.pgid, Signal::SIGKILL);
    }

    /// After the leader exited: stop what it left in its group (background jobs, an `ssh`
    /// holding a pipe) with SIGTERM, then SIGKILL after the grace period. Returns at once when
    /// nobody is left.
    pub fn stop_leftovers(&self) {
        crate::stop_group(self.id(), self.grace);
    }

    /// Wait for the leader to exit, stop its leftovers, and reap it.
    pub fn reap(mut self) -> io::Result<ExitStatus> {
        let _ = self.exited.recv();
        self.stop_leftovers();
        self.reaped = true;
        self.child.wait()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            tracing::debug!(
                pgid = self.pgid.as_raw(),
                "handle dropped while running: stopping the process group"
            );
            self.terminate();
            let _ = self.child.wait();
        }
    }
}
