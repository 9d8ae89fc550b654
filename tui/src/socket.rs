//! Which socket to talk to, and what to tell the user when it cannot be
//! opened. The default is the daemon's own: `$RUNTIME_DIRECTORY/stockd.sock`
//! (its first entry; systemd may list several), else the package's
//! `/run/stockd/stockd.sock` when it exists (an admin's login shell has no
//! `$RUNTIME_DIRECTORY`), else `$XDG_RUNTIME_DIR/stockd.sock`, else
//! `./stockd.sock`.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// File name of the socket in its runtime directory.
pub const SOCKET_NAME: &str = "stockd.sock";
/// Socket used when no runtime directory is known.
pub const FALLBACK_SOCKET: &str = "./stockd.sock";
/// The Debian package's socket (`RuntimeDirectory=stockd`).
pub const PACKAGED_SOCKET: &str = "/run/stockd/stockd.sock";
/// The default's order, for messages.
pub const DEFAULT_ORDER: &str = "$RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock \
     when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock";

/// The default socket, given a way to read the environment and to ask
/// whether a path exists.
pub fn default_socket(
    var: impl Fn(&str) -> Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> PathBuf {
    let dir = |name: &str| {
        let value = var(name)?;
        let first = value.to_str()?.split(':').next()?.to_string();
        (!first.is_empty()).then(|| PathBuf::from(first))
    };
    if let Some(d) = dir("RUNTIME_DIRECTORY") {
        return d.join(SOCKET_NAME);
    }
    if exists(Path::new(PACKAGED_SOCKET)) {
        return PathBuf::from(PACKAGED_SOCKET);
    }
    dir("XDG_RUNTIME_DIR")
        .map(|d| d.join(SOCKET_NAME))
        .unwrap_or_else(|| PathBuf::from(FALLBACK_SOCKET))
}

/// The default socket from this process's environment and file system.
pub fn default_socket_from_env() -> PathBuf {
    default_socket(|name| std::env::var_os(name), |p| p.exists())
}

/// The likely cause of a failed `connect(2)` on `socket`, in words an
/// operator can act on.
pub fn likely_cause(socket: &Path, err: &io::Error) -> String {
    let path = socket.display();
    match err.kind() {
        io::ErrorKind::NotFound => format!(
            "{path} does not exist: stockd is not running, or it listens on another path \
             (give it with --socket or STOCKD_SOCKET; without them stockctl uses {DEFAULT_ORDER})"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "permission denied on {path} or its directory: your user may not open the socket \
             (ask for the daemon's group, or run as its user or root)"
        ),
        io::ErrorKind::ConnectionRefused => {
            format!("nothing listens on {path}: stockd is not running (the socket file is stale)")
        }
        _ if err.raw_os_error() == Some(20) => {
            // ENOTDIR: a path component is a regular file.
            format!("{path} is not a valid socket path: wrong path (check --socket)")
        }
        _ if socket.exists() && !is_socket(socket) => {
            format!("{path} is not a socket: wrong path (check --socket)")
        }
        _ => format!("check that stockd is running and listens on {path}"),
    }
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn default_follows_the_daemon() {
        let none = |_: &Path| false;
        assert_eq!(
            default_socket(
                env(&[
                    ("RUNTIME_DIRECTORY", "/run/other:/run/more"),
                    ("XDG_RUNTIME_DIR", "/run/user/1000"),
                ]),
                |_| true
            ),
            PathBuf::from("/run/other/stockd.sock")
        );
        assert_eq!(
            default_socket(
                env(&[
                    ("RUNTIME_DIRECTORY", ""),
                    ("XDG_RUNTIME_DIR", "/run/user/1000"),
                ]),
                none
            ),
            PathBuf::from("/run/user/1000/stockd.sock")
        );
        assert_eq!(
            default_socket(env(&[]), none),
            PathBuf::from("./stockd.sock")
        );
    }

    #[test]
    fn the_packaged_socket_is_found_from_a_login_shell() {
        let packaged = |p: &Path| p == Path::new(PACKAGED_SOCKET);
        assert_eq!(
            default_socket(env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]), packaged),
            PathBuf::from(PACKAGED_SOCKET)
        );
        assert_eq!(
            default_socket(env(&[]), packaged),
            PathBuf::from(PACKAGED_SOCKET)
        );
    }

    #[test]
    fn causes_name_the_socket_and_the_fix() {
        let p = Path::new("/nonexistent/stockd.sock");
        let not_found = io::Error::from(io::ErrorKind::NotFound);
        let c = likely_cause(p, &not_found);
        assert!(
            c.contains("/nonexistent/stockd.sock")
                && c.contains("not running")
                && c.contains(PACKAGED_SOCKET),
            "{c}"
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(likely_cause(p, &denied).contains("permission denied"));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(likely_cause(p, &refused).contains("stale"));
    }
}
