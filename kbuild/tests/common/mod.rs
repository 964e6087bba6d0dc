//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

/// Write `dir/Makefile`; lines starting with four spaces become recipe lines (a tab).
pub fn makefile(dir: &Path, text: &str) {
    let text: String = text
        .lines()
        .map(|l| match l.strip_prefix("    ") {
            Some(recipe) => format!("\t{recipe}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("Makefile"), text).unwrap();
}

/// A process is gone when `kill(pid, 0)` says ESRCH, or when only its zombie is left (its
/// parent, possibly init, has not reaped it yet: it runs no code and holds nothing).
pub fn process_gone(pid: i32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    match kill(Pid::from_raw(pid), None) {
        Err(nix::errno::Errno::ESRCH) => true,
        _ => match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                state.starts_with('Z') || state.starts_with('X')
            }
        },
    }
}

/// Wait (up to 10 s: zombies of orphans are reaped by init asynchronously) until every pid is
/// gone; returns the survivors.
pub fn survivors(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| !process_gone(p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Read the pids a test Makefile wrote, one per line.
pub fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Wait until `path` holds at least `n` pids (up to 60 s, for a loaded machine).
pub fn wait_for_pids(path: &Path, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pids = read_pids(path);
        if pids.len() >= n {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "the test Makefile wrote only {} of {n} pids into {}",
            pids.len(),
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
