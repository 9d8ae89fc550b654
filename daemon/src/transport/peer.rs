//! A connection's peer credentials: uid, gid and pid (SO_PEERCRED) and the
//! supplementary groups the peer process held when it connected
//! (SO_PEERGROUPS, Linux 4.13+). Where the kernel does not give the groups,
//! they come from the group database for the peer's uid (getgrouplist(3)),
//! looked up on a blocking thread and cached for [`GROUPLIST_TTL`].

use crate::app::PeerCred;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;

/// `SO_PEERGROUPS` (asm-generic/socket.h; the same on x86, arm, riscv).
/// libc 0.2 declares it only for some architectures.
const SO_PEERGROUPS: libc::c_int = 59;

/// Most supplementary groups read for one peer (Linux's NGROUPS_MAX).
const MAX_GROUPS: usize = 65536;

/// How long a getgrouplist answer for a uid is reused.
pub const GROUPLIST_TTL: Duration = Duration::from_secs(2);
/// Most uids kept in that cache (it is emptied when full).
const GROUPLIST_CACHE_MAX: usize = 1024;

/// The peer's supplementary groups from the kernel, or why not.
pub fn peer_groups(fd: &impl AsRawFd) -> std::io::Result<Vec<u32>> {
    let mut buf: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (buf.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `buf` holds `len` writable bytes; the kernel writes at most
        // that many and sets `len` to what it wrote (or needs, on ERANGE).
        let r = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            buf.truncate(n);
            return Ok(buf);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ERANGE) && n > buf.len() && n <= MAX_GROUPS {
            buf.resize(n, 0);
            continue;
        }
        return Err(err);
    }
}

type GroupCache = Mutex<HashMap<u32, (Instant, Arc<[u32]>)>>;

fn grouplist_cache() -> &'static GroupCache {
    static CACHE: OnceLock<GroupCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The groups of `uid` in the group database (blocking: NSS).
fn grouplist(uid: u32, gid: u32) -> Vec<u32> {
    let user = match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => u,
        _ => return Vec::new(),
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid))
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

/// The groups of `uid` from the group database, cached briefly; the lookup
/// runs on a blocking thread.
async fn grouplist_cached(uid: u32, gid: u32) -> Arc<[u32]> {
    let now = Instant::now();
    if let Some((at, g)) = grouplist_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
    {
        if now.duration_since(*at) < GROUPLIST_TTL {
            return g.clone();
        }
    }
    let groups: Arc<[u32]> = tokio::task::spawn_blocking(move || grouplist(uid, gid))
        .await
        .unwrap_or_default()
        .into();
    let mut cache = grouplist_cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= GROUPLIST_CACHE_MAX {
        cache.clear();
    }
    cache.insert(uid, (now, groups.clone()));
    groups
}

/// The credentials of `stream`'s peer, with its supplementary groups;
/// `None` when the kernel gives no credentials at all.
pub async fn credentials(stream: &UnixStream) -> Option<PeerCred> {
    let c = stream.peer_cred().ok()?;
    let groups: Arc<[u32]> = match peer_groups(stream) {
        Ok(g) => g.into(),
        Err(e) => {
            tracing::debug!("SO_PEERGROUPS unavailable ({e}); using getgrouplist");
            grouplist_cached(c.uid(), c.gid()).await
        }
    };
    Some(PeerCred {
        uid: c.uid(),
        gid: c.gid(),
        pid: c.pid(),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_our_own_groups_from_the_peer() {
        let (a, _b) = UnixStream::pair().expect("socketpair");
        let own: Vec<u32> = nix::unistd::getgroups()
            .expect("getgroups")
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        let mut got = peer_groups(&a).expect("SO_PEERGROUPS on Linux 4.13+");
        let mut want = own.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        let cred = credentials(&a).await.expect("credentials");
        assert_eq!(cred.uid, nix::unistd::geteuid().as_raw());
    }

    #[tokio::test]
    async fn grouplist_holds_the_primary_group() {
        // root is in group root (0) in every group database.
        let g = grouplist_cached(0, 0).await;
        assert!(g.contains(&0), "{g:?}");
        let again = grouplist_cached(0, 0).await;
        assert!(Arc::ptr_eq(&g, &again), "cached within the TTL");
    }
}
