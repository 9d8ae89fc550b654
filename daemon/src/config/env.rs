//! The environment layer: `STOCKD_*` overrides, and the systemd/XDG
//! directories that pick default paths.
//!
//! The environment is passed in as pairs rather than read here, so tests
//! never touch the process environment (which is shared between threads).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::file::{FieldValue, FileConfig, KeyVisitor};
use super::{
    ConfigError, Origin, Origins, DEFAULT_SOCKET_FALLBACK, DEFAULT_SOCKET_NAME, PACKAGED_SOCKET,
};

const PREFIX: &str = "STOCKD_";

/// Reserved for the log filter, read by the logging setup, not by config.
pub const LOG_VAR: &str = "STOCKD_LOG";
/// Reserved for the test-only watchdog stall hook (see `crate::systemd`).
pub const TEST_STALL_VAR: &str = "STOCKD_TEST_STALL_AFTER_MS";

/// Shortcuts documented in the design, with the key each one sets.
const SHORTCUTS: [(&str, &str); 2] = [
    ("STOCKD_SOCKET", "server.socket"),
    ("STOCKD_DATABASE_URL", "source.database_url"),
];

/// Directories from the service manager or session; only these and
/// `STOCKD_*` are kept from the environment.
const RUNTIME_DIRECTORY: &str = "RUNTIME_DIRECTORY";
const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
const STATE_DIRECTORY: &str = "STATE_DIRECTORY";

/// The variable for a dotted key: `source.pool.max_size` →
/// `STOCKD_SOURCE_POOL_MAX_SIZE`.
pub fn var_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// The part of the environment config cares about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    pub fn capture(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = vars
            .into_iter()
            .filter(|(name, _)| {
                name.starts_with(PREFIX)
                    || [RUNTIME_DIRECTORY, XDG_RUNTIME_DIR, STATE_DIRECTORY]
                        .contains(&name.as_str())
            })
            .collect();
        Self { vars }
    }

    /// A directory variable; systemd joins several directories with ':' and
    /// the first is ours. Empty counts as unset.
    fn directory(&self, name: &str) -> Option<PathBuf> {
        let value = self.vars.get(name)?;
        let first = value.split(':').next().unwrap_or_default();
        (!first.is_empty()).then(|| PathBuf::from(first))
    }

    /// `$RUNTIME_DIRECTORY/stockd.sock` under systemd, else the package's
    /// `/run/stockd/stockd.sock` when it exists, else
    /// `$XDG_RUNTIME_DIR/stockd.sock`, else `./stockd.sock` — the order
    /// stockctl uses, so both find each other with no flags.
    pub fn default_socket(&self) -> PathBuf {
        self.default_socket_with(Path::exists)
    }

    /// [`Env::default_socket`], asking `exists` whether the packaged socket
    /// is there (tests must not depend on the machine's /run).
    pub fn default_socket_with(&self, exists: impl Fn(&Path) -> bool) -> PathBuf {
        if let Some(dir) = self.directory(RUNTIME_DIRECTORY) {
            return dir.join(DEFAULT_SOCKET_NAME);
        }
        if exists(Path::new(PACKAGED_SOCKET)) {
            return PathBuf::from(PACKAGED_SOCKET);
        }
        self.directory(XDG_RUNTIME_DIR)
            .map(|dir| dir.join(DEFAULT_SOCKET_NAME))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_FALLBACK))
    }

    /// `$STATE_DIRECTORY` if set: where systemd gives us persistent state.
    pub fn default_snapshot_dir(&self) -> Option<PathBuf> {
        self.directory(STATE_DIRECTORY)
    }

    /// Overwrites every slot whose variable is set, recording the origin.
    /// Any `STOCKD_*` variable left over afterwards is an error: a typo such
    /// as `STOCKD_SOURCE_WINDOWDAYS` must not silently leave the default.
    pub fn apply(&self, file: &mut FileConfig, origins: &mut Origins) -> Result<(), ConfigError> {
        let mut unused: BTreeMap<&str, &str> = self
            .vars
            .iter()
            .filter(|(name, _)| {
                name.starts_with(PREFIX)
                    && name.as_str() != LOG_VAR
                    && name.as_str() != TEST_STALL_VAR
            })
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut layer = EnvLayer {
            unused: &mut unused,
            origins,
            known: Vec::new(),
        };
        file.visit(&mut layer)?;
        let known = layer.known;
        match unused.into_keys().next() {
            None => Ok(()),
            Some(name) => Err(ConfigError::UnknownEnv {
                name: name.to_owned(),
                suggestion: closest(name, known.iter().map(String::as_str)),
            }),
        }
    }
}

struct EnvLayer<'a, 'e> {
    unused: &'a mut BTreeMap<&'e str, &'e str>,
    origins: &'a mut Origins,
    /// Every variable name that configures something, for suggestions.
    known: Vec<String>,
}

impl KeyVisitor for EnvLayer<'_, '_> {
    fn visit<T: FieldValue>(&mut self, key: &str, slot: &mut Option<T>) -> Result<(), ConfigError> {
        let long = var_name(key);
        let shortcut = SHORTCUTS
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(name, _)| *name);
        self.known.push(long.clone());
        self.known.extend(shortcut.map(str::to_owned));
        let long_value = self.unused.remove(long.as_str());
        let short_value = shortcut.and_then(|name| self.unused.remove(name));
        let (name, text) = match (shortcut, short_value, long_value) {
            (Some(short), Some(_), Some(_)) => {
                return Err(ConfigError::ConflictingEnv {
                    key: key.to_owned(),
                    first: short.to_owned(),
                    second: long,
                })
            }
            (Some(short), Some(text), None) => (short.to_owned(), text),
            (_, None, Some(text)) => (long, text),
            _ => return Ok(()),
        };
        let value = T::from_env(text).map_err(|reason| ConfigError::Invalid {
            key: key.to_owned(),
            value: format!("{text:?}"),
            reason,
            origin: Origin::Env(name.clone()),
        })?;
        *slot = Some(value);
        self.origins.insert(key.to_owned(), Origin::Env(name));
        Ok(())
    }
}

/// The known name nearest to `name`, if it is plausibly a typo of it.
fn closest<'k>(name: &str, known: impl Iterator<Item = &'k str>) -> Option<String> {
    known
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::capture(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn var_names() {
        assert_eq!(var_name("source.window_days"), "STOCKD_SOURCE_WINDOW_DAYS");
        assert_eq!(
            var_name("source.pool.max_size"),
            "STOCKD_SOURCE_POOL_MAX_SIZE"
        );
        assert_eq!(
            var_name("cache.query.max_bytes"),
            "STOCKD_CACHE_QUERY_MAX_BYTES"
        );
    }

    #[test]
    fn default_socket_prefers_runtime_directory() {
        let both = env(&[
            ("RUNTIME_DIRECTORY", "/run/stockd:/run/other"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ]);
        assert_eq!(
            both.default_socket(),
            PathBuf::from("/run/stockd/stockd.sock")
        );
        let xdg = env(&[
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("RUNTIME_DIRECTORY", ""),
        ]);
        assert_eq!(
            xdg.default_socket(),
            PathBuf::from("/run/user/1000/stockd.sock")
        );
        assert_eq!(
            env(&[]).default_socket_with(|_| false),
            PathBuf::from("./stockd.sock")
        );
    }

    #[test]
    fn default_socket_finds_the_packaged_one() {
        let packaged = |p: &Path| p == Path::new(PACKAGED_SOCKET);
        let xdg = env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]);
        assert_eq!(
            xdg.default_socket_with(packaged),
            PathBuf::from("/run/stockd/stockd.sock")
        );
        assert_eq!(
            xdg.default_socket_with(|_| false),
            PathBuf::from("/run/user/1000/stockd.sock")
        );
        // Under systemd the unit's own directory wins.
        let unit = env(&[("RUNTIME_DIRECTORY", "/run/other")]);
        assert_eq!(
            unit.default_socket_with(packaged),
            PathBuf::from("/run/other/stockd.sock")
        );
    }

    #[test]
    fn snapshot_dir_from_state_directory() {
        assert_eq!(
            env(&[("STATE_DIRECTORY", "/var/lib/stockd")]).default_snapshot_dir(),
            Some(PathBuf::from("/var/lib/stockd"))
        );
        assert_eq!(env(&[]).default_snapshot_dir(), None);
    }

    #[test]
    fn typo_gets_a_suggestion() {
        let mut file = FileConfig::default();
        let error = env(&[("STOCKD_SOURCE_WINDOWDAYS", "5")])
            .apply(&mut file, &mut Origins::new())
            .err();
        match error {
            Some(ConfigError::UnknownEnv { name, suggestion }) => {
                assert_eq!(name, "STOCKD_SOURCE_WINDOWDAYS");
                assert_eq!(suggestion.as_deref(), Some("STOCKD_SOURCE_WINDOW_DAYS"));
            }
            other => panic!("expected UnknownEnv, got {other:?}"),
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
