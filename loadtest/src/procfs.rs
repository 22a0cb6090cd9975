//! CPU time and memory of a process and its children, from Linux's /proc
//! (a server with worker processes, such as uvicorn `--workers 2`, is
//! measured whole).

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of `utime`/`stime` in /proc/<pid>/stat. Linux
/// reports these in USER_HZ, which is 100 on every architecture whose ABI
/// exposes it to user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// user + system CPU, in ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in KiB (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set size, in KiB (`VmHWM`).
    pub hwm_kb: u64,
    /// Processes in the tree.
    pub processes: usize,
}

/// A process's CPU and memory over a window.
#[derive(Debug, Clone, Serialize)]
pub struct ProcUsage {
    pub pid: u32,
    pub processes: usize,
    pub cpu_s: f64,
    /// CPU over the window, in % of one core.
    pub cpu_pct: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

/// `pid` and its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(parent) = stat_fields(child).and_then(|f| f.get(1)?.parse().ok()) {
                children.entry(parent).or_default().push(child);
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        out.push(p);
        if let Some(c) = children.get(&p) {
            todo.extend(c);
        }
    }
    out
}

/// The fields of /proc/<pid>/stat after the command name (state first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reads `pid` and its descendants, summed. `None` if `pid` is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    status_kb(pid, "VmRSS:")?;
    let pids = tree(pid);
    let mut s = ProcSample {
        processes: pids.len(),
        ..ProcSample::default()
    };
    for p in pids {
        if let Some(f) = stat_fields(p) {
            // utime and stime: fields 14 and 15 of stat, 11 and 12 here.
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            s.cpu_ticks += ticks(11) + ticks(12);
        }
        s.rss_kb += status_kb(p, "VmRSS:").unwrap_or(0);
        s.hwm_kb += status_kb(p, "VmHWM:").unwrap_or(0);
    }
    Some(s)
}

/// Watches a process over a window: CPU used between [`ProcWatch::start`]
/// and [`ProcWatch::finish`], memory at the end.
pub struct ProcWatch {
    pid: u32,
    started: Instant,
    before: ProcSample,
}

impl ProcWatch {
    /// Starts watching `pid`; `None` if there is no such process.
    pub fn start(pid: u32) -> Option<ProcWatch> {
        Some(ProcWatch {
            pid,
            started: Instant::now(),
            before: sample(pid)?,
        })
    }

    /// The usage since `start`; `None` if the process is gone.
    pub fn finish(&self) -> Option<ProcUsage> {
        let after = sample(self.pid)?;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let cpu_s = after.cpu_ticks.saturating_sub(self.before.cpu_ticks) as f64 / TICKS_PER_SECOND;
        let round1 = |x: f64| (x * 10.0).round() / 10.0;
        Some(ProcUsage {
            pid: self.pid,
            processes: after.processes,
            cpu_s: (cpu_s * 100.0).round() / 100.0,
            cpu_pct: round1(100.0 * cpu_s / seconds),
            rss_mb: round1(after.rss_kb as f64 / 1024.0),
            peak_rss_mb: round1(after.hwm_kb as f64 / 1024.0),
        })
    }
}

/// This process's own CPU time, in seconds.
pub fn own_cpu_seconds() -> f64 {
    sample(std::process::id())
        .map(|s| s.cpu_ticks as f64 / TICKS_PER_SECOND)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let s = sample(std::process::id()).expect("our own /proc entry");
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
        assert_eq!(s.processes, tree(std::process::id()).len());
        assert!(sample(u32::MAX).is_none());
    }
}
