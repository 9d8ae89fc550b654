//! Who may call admin methods: the connecting process's credentials
//! (SO_PEERCRED) against root, the daemon's own uid, `server.admin_uids`
//! and the members of `server.admin_groups`.

use stockd_api::{AppError, ErrorKind};

/// The connecting process's credentials (SO_PEERCRED), taken when the
/// connection is accepted.
#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// An admin group resolved at start-up.
#[derive(Debug, Clone)]
struct AdminGroup {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Decides whether a peer may call admin methods.
#[derive(Debug, Clone)]
pub struct Gate {
    own_uid: u32,
    uids: Vec<u32>,
    groups: Vec<AdminGroup>,
}

impl Gate {
    /// Resolves `admin_groups` by name; a group that does not exist is
    /// logged and ignored (it cannot admit anyone).
    pub fn new(admin_uids: &[u32], admin_groups: &[String]) -> Gate {
        let groups = admin_groups
            .iter()
            .filter_map(|name| match nix::unistd::Group::from_name(name) {
                Ok(Some(g)) => Some(AdminGroup {
                    name: name.clone(),
                    gid: g.gid.as_raw(),
                    members: g.mem,
                }),
                Ok(None) => {
                    tracing::info!("admin group '{name}' does not exist on this system; ignored");
                    None
                }
                Err(e) => {
                    tracing::warn!("cannot look up admin group '{name}': {e}");
                    None
                }
            })
            .collect();
        Gate {
            own_uid: nix::unistd::geteuid().as_raw(),
            uids: admin_uids.to_vec(),
            groups,
        }
    }

    fn admits(&self, peer: &PeerCred) -> bool {
        if peer.uid == 0 || peer.uid == self.own_uid || self.uids.contains(&peer.uid) {
            return true;
        }
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(peer.uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        self.groups.iter().any(|g| {
            g.gid == peer.gid
                || user
                    .as_ref()
                    .is_some_and(|u| g.members.iter().any(|m| m == u))
        })
    }

    /// `Ok` if the caller may run `method`, else "forbidden" naming the rule.
    pub fn check(&self, method: &str, peer: Option<&PeerCred>) -> Result<(), AppError> {
        if peer.is_some_and(|p| self.admits(p)) {
            return Ok(());
        }
        let who = peer.map_or("an unidentified peer".to_string(), |p| {
            format!("uid {} gid {}", p.uid, p.gid)
        });
        let groups: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        Err(AppError::new(
            ErrorKind::Forbidden,
            method,
            format!(
                "{method} is an admin method and the caller ({who}) is not allowed: admin methods \
                 are open to root, the daemon's uid ({}), server.admin_uids {:?} and members of \
                 server.admin_groups {:?}",
                self.own_uid, self.uids, groups
            ),
        ))
    }
}
