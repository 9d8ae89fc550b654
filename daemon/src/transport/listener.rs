//! The socket: binding it (stale-socket removal, group, file mode, never
//! wider than asked in between).

use std::io;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("socket directory {0} does not exist; create it or set server.socket / --socket")]
    NoDirectory(PathBuf),
    #[error("another process is listening on {0}; stop it or choose another --socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("server.socket_group {0:?} does not exist; create it or set another group")]
    NoGroup(String),
    #[error("cannot bind {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Binds the socket: removes a stale socket file (one nobody listens on),
/// creates the new one with `mode` and no wider permissions in between.
pub fn bind(path: &Path, mode: u32, group: &str) -> Result<UnixListener, BindError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let io_err = |source| BindError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(BindError::NoDirectory(dir.to_path_buf()));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse(path.to_path_buf()));
            }
            tracing::info!(path = %path.display(), "removing stale socket file");
            std::fs::remove_file(path).map_err(io_err)?;
        }
        Ok(_) => return Err(BindError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    // Bind under a tight umask so the socket is never wider than `mode`.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(io_err)?;
    if !group.is_empty() {
        // Group first, then the mode: never open to the wrong group.
        let gid = match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => g.gid,
            Ok(None) => return Err(BindError::NoGroup(group.to_string())),
            Err(e) => return Err(io_err(e.into())),
        };
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| io_err(e.into()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    Ok(listener)
}
