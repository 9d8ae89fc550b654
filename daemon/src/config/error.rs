//! Config errors. Each one names the key (or file, or variable), the bad
//! value, where that value came from and what would have been accepted, so
//! the message alone is enough to fix the deployment.

use std::fmt;
use std::path::PathBuf;

/// Where a config value came from; reported with every invalid value so an
/// admin looks in the right place (a stray environment variable in a unit
/// file is easy to forget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default (a bug if it is ever invalid).
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag, e.g. `--window-days`.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::File(path) => write!(f, "set in {}", path.display()),
            Self::Env(name) => write!(f, "set by environment variable {name}"),
            Self::Flag(flag) => write!(f, "set by {flag}"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file, as given or defaulted.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },

    /// The config file is not valid TOML, has an unknown key, or a key has the
    /// wrong type.
    #[error("{}", file_message(path, *line, *column, key.as_deref(), message))]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// 1-based column (in characters) of the problem.
        column: Option<usize>,
        /// Dotted key path, e.g. `source.pool.max_size`; `None` for syntax errors.
        key: Option<String>,
        /// The parser's description, including allowed keys for unknown ones.
        message: String,
    },

    /// A value is well-formed TOML (or environment text) but not acceptable.
    #[error("invalid {key} = {value} ({origin}): {reason}")]
    Invalid {
        /// Dotted key path, e.g. `server.max_connections`.
        key: String,
        /// The offending value as written (strings quoted).
        value: String,
        /// What is wrong and what would be accepted, e.g. "expected an
        /// integer from 1 to 64".
        reason: String,
        /// Where the value came from.
        origin: Origin,
    },

    /// A `STOCKD_*` variable that configures nothing: most likely a typo, which
    /// would otherwise silently leave the default in force.
    #[error(
        "unknown environment variable {name}{}; config variables are STOCKD_SOCKET, \
         STOCKD_DATABASE_URL and STOCKD_<SECTION>_<KEY> for every key shown by \
         `stockd --print-config` (STOCKD_LOG is the log filter)",
        suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
    )]
    UnknownEnv {
        /// The variable's name.
        name: String,
        /// The closest known variable, if one is close.
        suggestion: Option<String>,
    },

    /// Two environment variables set the same key (a shortcut and its long
    /// form); which one should win is not obvious, so neither does.
    #[error("environment variables {first} and {second} both set {key}; set only one")]
    ConflictingEnv {
        /// The key both set.
        key: String,
        /// The shortcut, e.g. `STOCKD_SOCKET`.
        first: String,
        /// The long form, e.g. `STOCKD_SERVER_SOCKET`.
        second: String,
    },
}

fn file_message(
    path: &std::path::Path,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut out = format!("config file {}", path.display());
    if let (Some(line), Some(column)) = (line, column) {
        out.push_str(&format!(", line {line}, column {column}"));
    }
    match key {
        Some(key) => out.push_str(&format!(": {key}: ")),
        None => out.push_str(": invalid TOML: "),
    }
    // The parser's messages may span lines; an error is one line in the log.
    out.push_str(&message.trim().replace('\n', "; "));
    out
}

impl ConfigError {
    /// The dotted key (or variable name) the error is about, if any; lets
    /// callers and tests check the message points at the right place.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Read { .. } => None,
            Self::File { key, .. } => key.as_deref(),
            Self::Invalid { key, .. } | Self::ConflictingEnv { key, .. } => Some(key),
            Self::UnknownEnv { name, .. } => Some(name),
        }
    }
}
