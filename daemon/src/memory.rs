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

/// Total RAM from sysinfo(2), in bytes: unlike /proc/meminfo it is
/// readable under the unit's `ProcSubset=pid`.
pub fn mem_total() -> Option<u64> {
    // SAFETY: sysinfo only writes the struct it is given.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable `struct sysinfo`.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    let total = (info.totalram as u64).checked_mul(u64::from(info.mem_unit.max(1)))?;
    (total > 0).then_some(total)
}

/// The cgroup v2 path of /proc/self/cgroup's `0::/path` line.
pub fn parse_cgroup_v2(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The cgroup v1 path of the hierarchy with the `memory` controller.
pub fn parse_cgroup_v1_memory(text: &str) -> Option<&str> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    })
}

/// A memory limit file's value: bytes, or `None` for "max", v1's "no limit"
/// sentinel (about 2^63 rounded to pages) and anything unreadable.
pub fn parse_limit(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|&v| v < 1 << 60)
}

/// This process's cgroup v2 directory (from /proc/self/cgroup `0::/path`).
fn cgroup_dir() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = parse_cgroup_v2(&text)?;
    let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
    // On a v1 or hybrid host /sys/fs/cgroup is not the unified hierarchy;
    // every v2 group directory has `cgroup.controllers`.
    dir.join("cgroup.controllers").exists().then_some(dir)
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
    let own = parse_cgroup_v1_memory(&text).map(|r| root.join(r.trim_start_matches('/')));
    own.filter(|d| d.join("memory.limit_in_bytes").exists())
        .or_else(|| Some(root.to_path_buf()))
        .filter(|d| d.join("memory.limit_in_bytes").exists())
}

/// The lowest v2 limit of `dir` and its ancestors up to `root`: each
/// directory's `memory.high` and `memory.max` (a parent slice's limit binds
/// its children too). Returns the bytes and which file set them.
pub fn v2_limit(root: &Path, dir: &Path) -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    let mut d = Some(dir);
    while let Some(cur) = d.filter(|c| c.starts_with(root)) {
        for name in ["memory.high", "memory.max"] {
            let path = cur.join(name);
            let v = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| parse_limit(&t));
            if let Some(v) = v.filter(|&v| best.as_ref().is_none_or(|b| v < b.0)) {
                let rel = cur.strip_prefix(root).unwrap_or(cur);
                best = Some((v, format!("cgroup v2 {name} of /{}", rel.display())));
            }
        }
        d = cur.parent();
    }
    best
}

/// The cgroup's memory limit and where it was read, if one is set: v2
/// `memory.high`/`memory.max` (the lowest of the process's group and its
/// ancestors), else v1: the group's `hierarchical_memory_limit`, which
/// counts its ancestors' limits, else its `memory.limit_in_bytes`.
pub fn cgroup_limit_from() -> Option<(u64, String)> {
    if let Some(dir) = cgroup_dir() {
        if let Some(found) = v2_limit(Path::new("/sys/fs/cgroup"), &dir) {
            return Some(found);
        }
    }
    let dir = cgroup_v1_memory_dir()?;
    let hierarchical = std::fs::read_to_string(dir.join("memory.stat"))
        .ok()
        .and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("hierarchical_memory_limit "))
                .and_then(parse_limit)
        });
    match hierarchical {
        Some(v) => Some((v, "cgroup v1 hierarchical_memory_limit".to_string())),
        None => std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
            .ok()
            .and_then(|t| parse_limit(&t))
            .map(|v| (v, "cgroup v1 memory.limit_in_bytes".to_string())),
    }
}

/// The cgroup's memory limit, if one is set.
pub fn cgroup_limit() -> Option<u64> {
    cgroup_limit_from().map(|(v, _)| v)
}

/// The cgroup's current memory use, if readable.
pub fn cgroup_usage() -> Option<u64> {
    cgroup_dir()
        .and_then(|d| read_u64(&d.join("memory.current")))
        .or_else(|| read_u64(&cgroup_v1_memory_dir()?.join("memory.usage_in_bytes")))
}

/// The budget when nothing else is known.
pub const FALLBACK_BUDGET: u64 = 512 << 20;

/// The memory budget and where it came from (`admin.status`
/// `memory.budget_source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub source: String,
}

/// The default budget: the cgroup's limit if set (under the unit: its
/// `MemoryHigh`), else 25 % of RAM (sysinfo), else [`FALLBACK_BUDGET`].
pub fn default_budget() -> Budget {
    if let Some((bytes, source)) = cgroup_limit_from() {
        return Budget { bytes, source };
    }
    match mem_total() {
        Some(t) => Budget {
            bytes: t / 4,
            source: "25% of RAM (sysinfo)".to_string(),
        },
        None => Budget {
            bytes: FALLBACK_BUDGET,
            source: "fixed 512 MiB (no cgroup limit, sysinfo failed)".to_string(),
        },
    }
}

/// The mimalloc options that keep freed pages out of RSS, and their values.
///
/// - Eagerly committed arenas purge freed pages with MADV_FREE, which
///   leaves them counted in RSS until the kernel runs short of memory — on
///   the 2 GB box, the exact failure this daemon exists to avoid (measured:
///   90 MiB RSS instead of 66 MiB after a 56 MiB load).
/// - Freed spans of a segment are purged (given back with MADV_DONTNEED)
///   only after a delay, and a load frees its builders' buffers while it
///   writes the packed columns beside them: with the default 10 ms delay a
///   year's store of 448 MiB left the daemon at 647 MiB RSS after load,
///   with purging at once 478 MiB, and no slower serving.
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

/// Makes sure the allocator runs with [`ALLOCATOR_ENV`]; call first thing
/// in main. mimalloc reads its options from the environment once, before
/// main, so when one is unset the process re-executes itself (same pid,
/// same fds) with it set. A value already set (by the operator) is kept.
///
/// The re-exec goes through the binary's real path, not `/proc/self/exe`:
/// the kernel names a process after the file it executes, and `exe` in
/// `ps`, `pgrep -x stockd` and systemd's messages helps no one.
pub fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    let unset: Vec<(&str, &str)> = ALLOCATOR_ENV
        .into_iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if unset.is_empty() {
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
        .envs(unset.iter().copied())
        .exec();
    // Only reached if exec failed: run on, with a larger resident set.
    eprintln!("stockd: could not re-execute with {unset:?} set ({err}); continuing");
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
pub fn budget(limit: &crate::config::MemoryLimit) -> Budget {
    match limit {
        crate::config::MemoryLimit::Auto => default_budget(),
        crate::config::MemoryLimit::Bytes(b) => Budget {
            bytes: *b,
            source: "memory.limit".to_string(),
        },
    }
}

/// Checks that the caches' caps fit the budget, with a message naming the
/// numbers when they do not.
pub fn check_cache_caps(config: &crate::config::Config) -> Result<(), String> {
    let budget = budget(&config.memory.limit).bytes;
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
        // Touch 64 MiB and see the kernel's figure move. RSS is the whole
        // process's, and other tests in this binary allocate and free at the
        // same time (one freed 36 MiB during a CI run), so the growth must
        // be seen in one of a few tries, not necessarily the first.
        let mut seen = Vec::new();
        let moved = (0..5).any(|_| {
            let (before, _) = super::rss().unwrap();
            // black_box: unread, the buffer is optimised away in release.
            let v = std::hint::black_box(vec![1u8; 64 << 20]);
            let (after, _) = super::rss().unwrap();
            drop(v);
            seen.push((before, after));
            after >= before + (48 << 20)
        });
        assert!(moved, "64 MiB touched, rss before -> after: {seen:?}");
        assert!(mem_total().unwrap() > rss);
        let b = default_budget();
        assert!(b.bytes > 0 && !b.source.is_empty(), "{b:?}");
    }

    #[test]
    fn parses_proc_self_cgroup() {
        let v2 = "0::/system.slice/stockd.service\n";
        assert_eq!(parse_cgroup_v2(v2), Some("/system.slice/stockd.service"));
        assert_eq!(parse_cgroup_v1_memory(v2), None);
        let hybrid = "12:pids:/system.slice/stockd.service\n\
                      9:cpu,cpuacct:/system.slice/stockd.service\n\
                      4:memory:/system.slice/stockd.service\n\
                      1:name=systemd:/system.slice/stockd.service\n\
                      0::/system.slice/stockd.service\n";
        assert_eq!(
            parse_cgroup_v1_memory(hybrid),
            Some("/system.slice/stockd.service")
        );
        assert_eq!(
            parse_cgroup_v2(hybrid),
            Some("/system.slice/stockd.service")
        );
        assert_eq!(parse_cgroup_v2("4:memory:/x\n"), None);
        assert_eq!(parse_cgroup_v1_memory("garbage"), None);
    }

    #[test]
    fn parses_limit_files() {
        assert_eq!(parse_limit("402653184\n"), Some(402_653_184));
        assert_eq!(parse_limit("max\n"), None);
        // v1's "no limit": 2^63 rounded down to pages.
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit(""), None);
        assert_eq!(parse_limit("-1"), None);
    }

    #[test]
    fn v2_limit_takes_the_lowest_of_the_group_and_its_parents() {
        let root = std::env::temp_dir().join(format!("stockd-cg-{}", std::process::id()));
        let unit = root.join("system.slice/stockd.service");
        std::fs::create_dir_all(&unit).unwrap();
        let write = |p: &Path, v: &str| std::fs::write(p, v).unwrap();
        write(&unit.join("memory.high"), "402653184\n");
        write(&unit.join("memory.max"), "536870912\n");
        write(&root.join("system.slice/memory.max"), "max\n");
        assert_eq!(
            v2_limit(&root, &unit),
            Some((
                402_653_184,
                "cgroup v2 memory.high of /system.slice/stockd.service".to_string()
            ))
        );
        write(&unit.join("memory.high"), "max\n");
        write(&root.join("system.slice/memory.max"), "268435456\n");
        assert_eq!(
            v2_limit(&root, &unit),
            Some((
                268_435_456,
                "cgroup v2 memory.max of /system.slice".to_string()
            ))
        );
        write(&root.join("system.slice/memory.max"), "max\n");
        write(&unit.join("memory.max"), "max\n");
        assert_eq!(v2_limit(&root, &unit), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
