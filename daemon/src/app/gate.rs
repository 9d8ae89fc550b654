//! Who may call admin methods: the connecting process's credentials
//! (SO_PEERCRED and its supplementary groups, SO_PEERGROUPS) against root,
//! the daemon's own uid, `server.admin_uids` and the groups of
//! `server.admin_groups`.
//!
//! Both sides are read fresh: the peer's groups per connection (the
//! transport takes them when it accepts), the admin groups' gids by name
//! at most [`GROUP_TTL`] old. A user added to `stockd-admin` after the
//! daemon started is an admin on their next connection from a process
//! that holds the group (a new login, `sg`, `newgrp`), without a reload.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stockd_api::{AppError, ErrorKind};

/// How long a resolved admin group name → gid is trusted: a group created
/// or renumbered after start is seen within this time.
pub const GROUP_TTL: Duration = Duration::from_secs(2);

/// The connecting process's credentials, taken when the connection is
/// accepted.
#[derive(Debug, Clone)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    /// Supplementary groups: the peer's own (SO_PEERGROUPS), else its
    /// user's in the group database (getgrouplist), else none.
    pub groups: Arc<[u32]>,
}

impl PeerCred {
    /// Whether the peer holds `gid` as primary or supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// `uid 1000 gid 1000 groups [27, 1001]`.
    pub fn describe(&self) -> String {
        format!("uid {} gid {} groups {:?}", self.uid, self.gid, self.groups)
    }
}

/// An admin group by name and, if it exists now, its gid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminGroup {
    pub name: String,
    pub gid: Option<u32>,
}

/// Decides whether a peer may call admin methods.
#[derive(Debug)]
pub struct Gate {
    own_uid: u32,
    uids: Vec<u32>,
    names: Vec<String>,
    /// The admin groups as last resolved, and when.
    resolved: Mutex<Option<(Instant, Arc<[AdminGroup]>)>>,
}

/// Looks the groups up by name (the group database: /etc/group, NSS).
/// Blocking: call it off the async workers.
fn resolve(names: &[String]) -> Vec<AdminGroup> {
    names
        .iter()
        .map(|name| AdminGroup {
            name: name.clone(),
            gid: match nix::unistd::Group::from_name(name) {
                Ok(Some(g)) => Some(g.gid.as_raw()),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!("cannot look up admin group '{name}': {e}");
                    None
                }
            },
        })
        .collect()
}

impl Gate {
    /// A gate for `admin_uids` and `admin_groups` (resolved by name when
    /// first needed, and again every [`GROUP_TTL`]).
    pub fn new(admin_uids: &[u32], admin_groups: &[String]) -> Gate {
        Gate {
            own_uid: nix::unistd::geteuid().as_raw(),
            uids: admin_uids.to_vec(),
            names: admin_groups.to_vec(),
            resolved: Mutex::new(None),
        }
    }

    /// The admin groups with their gids, at most [`GROUP_TTL`] old; the
    /// lookup runs on a blocking thread.
    pub async fn groups(&self) -> Arc<[AdminGroup]> {
        if let Some((at, groups)) = self
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if at.elapsed() < GROUP_TTL {
                return groups.clone();
            }
        }
        let names = self.names.clone();
        let groups: Arc<[AdminGroup]> =
            match tokio::task::spawn_blocking(move || resolve(&names)).await {
                Ok(g) => g.into(),
                Err(e) => {
                    tracing::warn!("admin group lookup failed: {e}");
                    self.names
                        .iter()
                        .map(|name| AdminGroup {
                            name: name.clone(),
                            gid: None,
                        })
                        .collect()
                }
            };
        *self.resolved.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), groups.clone()));
        groups
    }

    /// Whether `peer` may call admin methods, given the admin groups.
    pub fn admits(&self, peer: &PeerCred, groups: &[AdminGroup]) -> bool {
        peer.uid == 0
            || peer.uid == self.own_uid
            || self.uids.contains(&peer.uid)
            || groups
                .iter()
                .filter_map(|g| g.gid)
                .any(|gid| peer.in_group(gid))
    }

    /// `Ok` if the caller may run `method`, else "forbidden" naming the
    /// caller and the rule.
    pub async fn check(&self, method: &str, peer: Option<&PeerCred>) -> Result<(), AppError> {
        let groups = self.groups().await;
        self.decide(method, peer, &groups)
    }

    /// [`Gate::check`] with the admin groups given.
    pub fn decide(
        &self,
        method: &str,
        peer: Option<&PeerCred>,
        groups: &[AdminGroup],
    ) -> Result<(), AppError> {
        if peer.is_some_and(|p| self.admits(p, groups)) {
            return Ok(());
        }
        let who = peer.map_or("an unidentified peer".to_string(), PeerCred::describe);
        let rule: Vec<String> = groups
            .iter()
            .map(|g| match g.gid {
                Some(gid) => format!("\"{}\" (gid {gid})", g.name),
                None => format!("\"{}\" (no such group here)", g.name),
            })
            .collect();
        Err(AppError::new(
            ErrorKind::Forbidden,
            method,
            format!(
                "{method} is an admin method and the caller ({who}) is not allowed: admin methods \
                 are open to root, the daemon's uid ({}), server.admin_uids {:?} and members of \
                 server.admin_groups [{}] (a group joined since the caller's login counts from a \
                 new login, `sg` or `newgrp`)",
                self.own_uid,
                self.uids,
                rule.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> PeerCred {
        PeerCred {
            uid,
            gid,
            pid: None,
            groups: groups.into(),
        }
    }

    fn admin(gid: Option<u32>) -> Vec<AdminGroup> {
        vec![AdminGroup {
            name: "stockd-admin".into(),
            gid,
        }]
    }

    /// A gate whose own uid is not any of the test peers'.
    fn gate(uids: &[u32]) -> Gate {
        let mut g = Gate::new(uids, &["stockd-admin".to_string()]);
        g.own_uid = 4_000_000;
        g
    }

    #[test]
    fn root_own_uid_and_admin_uids_pass() {
        let g = gate(&[1234]);
        let none = admin(None);
        assert!(g.admits(&peer(0, 0, &[]), &none));
        assert!(g.admits(&peer(4_000_000, 5, &[]), &none));
        assert!(g.admits(&peer(1234, 5, &[]), &none));
        assert!(!g.admits(&peer(1235, 5, &[]), &none));
    }

    #[test]
    fn a_supplementary_group_admits_like_the_primary_one() {
        let g = gate(&[]);
        let groups = admin(Some(990));
        assert!(g.admits(&peer(1000, 990, &[]), &groups));
        assert!(g.admits(&peer(1000, 1000, &[27, 990]), &groups));
        // A data client: in the socket's group only.
        assert!(!g.admits(&peer(1000, 1000, &[991]), &groups));
        // A group that does not exist admits nobody.
        assert!(!g.admits(&peer(1000, 1000, &[990]), &admin(None)));
    }

    #[test]
    fn the_refusal_names_the_caller_its_groups_and_the_rule() {
        let g = gate(&[7]);
        let e = g
            .decide(
                "admin.status",
                Some(&peer(1000, 1001, &[991])),
                &admin(Some(990)),
            )
            .expect_err("not an admin");
        assert_eq!(e.kind, ErrorKind::Forbidden);
        for needle in [
            "admin.status",
            "uid 1000 gid 1001 groups [991]",
            "root",
            "server.admin_uids [7]",
            "server.admin_groups [\"stockd-admin\" (gid 990)]",
        ] {
            assert!(
                e.message.contains(needle),
                "{needle:?} not in {}",
                e.message
            );
        }
        let e = g
            .decide("cache.clear", None, &admin(None))
            .expect_err("no credentials");
        assert!(e.message.contains("an unidentified peer"), "{}", e.message);
        assert!(e.message.contains("no such group here"), "{}", e.message);
    }

    #[tokio::test]
    async fn groups_are_resolved_by_name_and_cached_briefly() {
        // root's group is "root" (gid 0) everywhere this runs.
        let g = Gate::new(&[], &["root".to_string(), "no-such-group-zz9".to_string()]);
        let groups = g.groups().await;
        assert_eq!(groups[0].gid, Some(0));
        assert_eq!(groups[1].gid, None);
        let again = g.groups().await;
        assert!(
            Arc::ptr_eq(&groups, &again),
            "resolved again within the TTL"
        );
    }
}
