//! CPU time from `/proc`: of this process's threads, split into the load generator's threads
//! (named [`LOAD_THREAD`]) and the rest (the in-process server), so the table can show what
//! each side costs per request.

use std::time::Duration;

/// Name prefix of the load generator's threads.
pub const LOAD_THREAD: &str = "bench-load";

/// CPU time used so far (user + system).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuSplit {
    /// By the load generator's threads.
    pub load: Duration,
    /// By every other thread of the process: the server, when it runs in process. By URL the
    /// bench puts the remote server's CPU here, read from its `/metrics`.
    pub other: Duration,
}

impl CpuSplit {
    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            load: self.load.saturating_sub(earlier.load),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// The CPU time of every thread of this process so far; zero where `/proc` is missing. A
/// thread that ended in between is counted in neither side (the threads that matter live for
/// the whole bench).
pub fn sample() -> CpuSplit {
    let mut split = CpuSplit::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return split;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, ticks)) = parse_stat(&stat) else {
            continue;
        };
        let used = Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND);
        if name.starts_with(LOAD_THREAD) {
            split.load += used;
        } else {
            split.other += used;
        }
    }
    split
}

/// `(comm, utime + stime)` of a `/proc/.../stat` line.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime(11) stime(12).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Resident memory of this process in bytes (`VmRSS`), 0 when unknown.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line = "1234 (bench-load (1)) S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("bench-load (1)", 300)));
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let s = sample();
        assert!(s.other + s.load > Duration::ZERO);
        assert!(resident_bytes() > 0);
    }
}
