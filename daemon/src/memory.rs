//! The process's real memory, read from the kernel (/proc and the cgroup
//! files), never from allocator counters: mimalloc's own figures are
//! committed bytes, not what the box is paying for. Also the budget the
//! daemon holds itself to, and the call that hands freed memory back.

use std::path::Path;

/// Resident set size and its peak (VmRSS / VmHWM), in bytes.
pub fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Total RAM (MemTotal), in bytes.
pub fn mem_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// This process's cgroup v2 directory (from /proc/self/cgroup `0::/path`).
fn cgroup_dir() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}

/// A file of this process's cgroup v2 directory, if that directory exists.
pub fn cgroup_file(name: &str) -> Option<std::path::PathBuf> {
    cgroup_dir().map(|d| d.join(name)).filter(|p| p.exists())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// This process's cgroup v1 memory directory: the path of the `memory`
/// line of /proc/self/cgroup under /sys/fs/cgroup/memory, or that mount's
/// root when the path is not visible there (a container that mounts only
/// its own group).
fn cgroup_v1_memory_dir() -> Option<std::path::PathBuf> {
    let root = Path::new("/sys/fs/cgroup/memory");
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let own = rel.map(|r| root.join(r.trim_start_matches('/')));
    own.filter(|d| d.join("memory.limit_in_bytes").exists())
        .or_else(|| Some(root.to_path_buf()))
        .filter(|d| d.join("memory.limit_in_bytes").exists())
}

/// The cgroup's memory limit, if one is set (v2 `memory.max`, else v1: the
/// group's `hierarchical_memory_limit`, which counts its ancestors' limits,
/// else its `memory.limit_in_bytes`; "max" and v1's huge sentinel mean
/// none).
pub fn cgroup_limit() -> Option<u64> {
    if let Some(dir) = cgroup_dir() {
        if let Some(v) = read_u64(&dir.join("memory.max")) {
            return Some(v);
        }
    }
    let dir = cgroup_v1_memory_dir()?;
    let hierarchical = std::fs::read_to_string(dir.join("memory.stat"))
        .ok()
        .and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("hierarchical_memory_limit "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
    hierarchical
        .or_else(|| read_u64(&dir.join("memory.limit_in_bytes")))
        .filter(|&v| v < 1 << 60)
}

/// The cgroup's current memory use, if readable.
pub fn cgroup_usage() -> Option<u64> {
    cgroup_dir()
        .and_then(|d| read_u64(&d.join("memory.current")))
        .or_else(|| read_u64(&cgroup_v1_memory_dir()?.join("memory.usage_in_bytes")))
}

/// The default budget: the cgroup's limit if set, else 25% of RAM.
pub fn default_budget() -> u64 {
    cgroup_limit()
        .or_else(|| mem_total().map(|t| t / 4))
        .unwrap_or(512 << 20)
}

/// The mimalloc option that keeps freed pages out of RSS.
const EAGER_COMMIT_ENV: &str = "MIMALLOC_ARENA_EAGER_COMMIT";

/// Makes sure the allocator runs with arena eager commit off; call first
/// thing in main. Eagerly committed arenas purge freed pages with
/// MADV_FREE, which leaves them counted in RSS until the kernel runs short
/// of memory — on the 2 GB box, the exact failure this daemon exists to
/// avoid (measured: 90 MiB RSS instead of 66 MiB after a 56 MiB load).
/// mimalloc reads the option once, before main, so when it is unset the
/// process re-executes itself (same pid, same fds) with it set.
///
/// The re-exec goes through the binary's real path, not `/proc/self/exe`:
/// the kernel names a process after the file it executes, and `exe` in
/// `ps`, `pgrep -x stockd` and systemd's messages helps no one.
pub fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(EAGER_COMMIT_ENV).is_some() {
        keep_process_name();
        return;
    }
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    // current_exe() reads /proc/self/exe; after a package upgrade replaced
    // the file it ends in " (deleted)", and only the link still works.
    let program = std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("/proc/self/exe"));
    let err = std::process::Command::new(program)
        .arg0(argv0)
        .args(args)
        .env(EAGER_COMMIT_ENV, "0")
        .exec();
    // Only reached if exec failed: run on, with a larger resident set.
    eprintln!("stockd: could not re-execute with {EAGER_COMMIT_ENV}=0 ({err}); continuing");
}

/// The name the process shows in `ps`, `pgrep -x` and systemd's messages.
const PROCESS_NAME: &std::ffi::CStr = c"stockd";

/// If the process was started through `/proc/self/exe` (by an older build's
/// re-exec, or when the binary had been replaced), the kernel named it
/// `exe`: name it `stockd` again (prctl PR_SET_NAME on the main thread is
/// the process's name).
fn keep_process_name() {
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    if comm.trim_end() != "exe" {
        return;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes
    // from the pointer, which outlives the call.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, PROCESS_NAME.as_ptr(), 0, 0, 0) };
    if rc != 0 {
        eprintln!(
            "stockd: could not set the process name ({})",
            std::io::Error::last_os_error()
        );
    }
}

/// The budget `memory.limit` stands for.
pub fn budget(limit: &crate::config::MemoryLimit) -> u64 {
    match limit {
        crate::config::MemoryLimit::Auto => default_budget(),
        crate::config::MemoryLimit::Bytes(b) => *b,
    }
}

/// Checks that the caches' caps fit the budget, with a message naming the
/// numbers when they do not.
pub fn check_cache_caps(config: &crate::config::Config) -> Result<(), String> {
    let budget = budget(&config.memory.limit);
    let caps = config.cache.total_max_bytes();
    if caps > budget {
        let caches: Vec<String> = config
            .cache
            .iter()
            .map(|(name, c)| format!("{name} {}", crate::config::format_size(c.max_bytes)))
            .collect();
        return Err(format!(
            "the cache caps total {} ({caps} bytes: {}), more than the memory budget of {} ({budget} bytes, memory.limit); lower [cache.*] max_bytes or raise memory.limit",
            crate::config::format_size(caps),
            caches.join(", "),
            crate::config::format_size(budget),
        ));
    }
    Ok(())
}

/// Nice value of the background threads (load, snapshot): requests on the
/// async workers get the CPU first when both want it.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`BACKGROUND_NICE`] (Linux
/// applies `setpriority` on a thread id to that thread alone). Failure
/// only costs latency, so it is logged at debug level and ignored.
pub fn lower_thread_priority() {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority only reads its integer arguments.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICE) };
    if r != 0 {
        tracing::debug!(
            "setpriority({BACKGROUND_NICE}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Returns freed memory to the operating system now.
///
/// `mi_collect` walks this thread's heap and purges freed memory with
/// `madvise`, milliseconds after a large store is dropped. Called on a
/// worker of the multi-thread runtime it runs under `block_in_place`: the
/// worker's other tasks move to another thread meanwhile, while the collect
/// still runs on this thread (mimalloc frees a thread's pages only when
/// that thread asks).
pub fn release_to_os() {
    // SAFETY: mi_collect only walks mimalloc's own heaps; safe at any time.
    let collect = || unsafe { libmimalloc_sys::mi_collect(true) };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(collect)
        }
        _ => collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_rss() {
        let (rss, peak) = rss().expect("/proc/self/status is readable on Linux");
        assert!(rss > 1 << 20, "rss {rss}");
        assert!(peak >= rss);
        // Touch 64 MiB and see the kernel's figure move.
        let v = vec![1u8; 64 << 20];
        let (after, _) = super::rss().unwrap();
        assert!(after >= rss + (48 << 20), "rss {rss} -> {after}");
        drop(v);
        assert!(mem_total().unwrap() > after);
        assert!(default_budget() > 0);
    }
}
