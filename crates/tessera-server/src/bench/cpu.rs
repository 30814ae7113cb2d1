//! CPU time, split into the load generator's and the rest of the process's (the in-process
//! server), so the table can show what each side costs per request; and the share of the
//! machine's CPU time the hypervisor took meanwhile (steal), which moves a run's rates.

use std::time::Duration;

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

fn clock(id: rustix::time::ClockId) -> Duration {
    let t = rustix::time::clock_gettime(id);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// CPU time of the calling thread so far, to the nanosecond (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu() -> Duration {
    clock(rustix::time::ClockId::ThreadCPUTime)
}

/// CPU time of the whole process so far, to the nanosecond (`CLOCK_PROCESS_CPUTIME_ID`).
/// Both clocks count nanoseconds, where `/proc`'s per-thread figures come in 10 ms ticks, a
/// tenth of what a 50 ms load uses.
pub fn process_cpu() -> Duration {
    clock(rustix::time::ClockId::ProcessCPUTime)
}

/// This machine's CPU time so far, from the first line of `/proc/stat`, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineTicks {
    /// Taken by the hypervisor while this VM wanted to run (`steal`).
    pub stolen: u64,
    /// All of it: busy, idle and stolen, over every core.
    pub total: u64,
}

impl MachineTicks {
    /// Now; `None` without `/proc/stat`.
    pub fn now() -> Option<Self> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The percentage of the machine's time the hypervisor took since `earlier`.
    pub fn stolen_percent_since(&self, earlier: &Self) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.stolen.saturating_sub(earlier.stolen) as f64 * 100.0 / total as f64
    }
}

/// The `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal (guest time
/// is already inside user and nice).
fn parse_proc_stat(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(MachineTicks {
        stolen: *fields.get(7)?,
        total: fields.iter().sum(),
    })
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
    fn steal_is_the_eighth_field_of_the_cpu_line() {
        let stat = "cpu  100 10 50 800 5 0 5 30 7 0\ncpu0 50 5 25 400 2 0 2 15 3 0\n";
        let ticks = parse_proc_stat(stat).unwrap();
        assert_eq!(
            ticks,
            MachineTicks {
                stolen: 30,
                total: 1000
            }
        );
        let later = MachineTicks {
            stolen: 40,
            total: 1100,
        };
        assert!((later.stolen_percent_since(&ticks) - 10.0).abs() < 1e-9);
        assert_eq!(ticks.stolen_percent_since(&ticks), 0.0);
        assert_eq!(parse_proc_stat("intr 1 2 3\n"), None);
    }

    #[test]
    fn the_clocks_count_this_process_s_work() {
        let started = (thread_cpu(), process_cpu());
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(x != 1);
        let used = thread_cpu() - started.0;
        assert!(used > Duration::ZERO);
        assert!(process_cpu() - started.1 >= used);
        assert!(resident_bytes() > 0);
        assert!(MachineTicks::now().is_some_and(|t| t.total > 0));
    }
}
