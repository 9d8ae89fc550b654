//! The config file as written (stage one of two): every field optional,
//! unknown keys refused, values kept raw.
//!
//! Values stay raw (sizes as written, durations as text, integers as `i64`)
//! so that range and unit checks happen in one place, the resolver, which
//! knows the key and where the value came from. Serde only decides structure
//! and TOML types here.
//!
//! The environment and CLI layers are applied onto the same struct, so the
//! precedence rule is just "later layer overwrites a slot".

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::columns::ColumnsFile;
use super::units::{self, DURATION_SYNTAX, MODE_SYNTAX, SIZE_SYNTAX};
use super::{CacheConfig, Config, ConfigError, MemoryLimit};

/// The whole file. Sections are plain structs (absent = all keys unset).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub server: ServerFile,
    pub source: SourceFile,
    pub columns: ColumnsFile,
    pub memory: MemoryFile,
    pub cache: CachesFile,
    pub snapshot: SnapshotFile,
    pub signals: SignalsFile,
    pub metrics: MetricsFile,
}

/// `[server]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerFile {
    pub socket: Option<PathBuf>,
    #[serde(deserialize_with = "mode_text")]
    pub socket_mode: Option<String>,
    pub socket_group: Option<String>,
    pub max_connections: Option<i64>,
    pub max_request_bytes: Option<RawSize>,
    #[serde(deserialize_with = "duration_text")]
    pub client_timeout: Option<String>,
    pub admin_uids: Option<Vec<i64>>,
    pub admin_groups: Option<Vec<String>>,
}

/// `[source]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SourceFile {
    pub database_url: Option<String>,
    /// `""` = none.
    pub password_file: Option<PathBuf>,
    pub table: Option<String>,
    pub window_days: Option<i64>,
    #[serde(deserialize_with = "duration_text")]
    pub refresh_interval: Option<String>,
    pub notify_channel: Option<String>,
    pub change_column: Option<String>,
    #[serde(deserialize_with = "duration_text")]
    pub settle: Option<String>,
    pub min_day_fraction: Option<f64>,
    pub pool: PoolFile,
}

/// `[source.pool]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PoolFile {
    pub max_size: Option<i64>,
    pub min_idle: Option<i64>,
    #[serde(deserialize_with = "duration_text")]
    pub connection_timeout: Option<String>,
    #[serde(deserialize_with = "duration_text")]
    pub max_lifetime: Option<String>,
    pub test_on_check_out: Option<bool>,
}

/// `[memory]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MemoryFile {
    /// `"auto"` or a size.
    pub limit: Option<RawSize>,
    pub high: Option<f64>,
    pub critical: Option<f64>,
}

/// `[cache.*]`: one sub-table per cache.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CachesFile {
    pub hotspots: CacheFile,
    pub industry: CacheFile,
    pub signals: CacheFile,
    pub query: CacheFile,
}

impl CachesFile {
    /// `(cache name, section)` in the same order as [`super::CachesConfig::iter`].
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut CacheFile)> {
        [
            ("hotspots", &mut self.hotspots),
            ("industry", &mut self.industry),
            ("signals", &mut self.signals),
            ("query", &mut self.query),
        ]
        .into_iter()
    }
}

/// `[cache.<name>]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CacheFile {
    pub max_bytes: Option<RawSize>,
    #[serde(deserialize_with = "duration_text")]
    pub ttl: Option<String>,
}

/// `[snapshot]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SnapshotFile {
    /// `""` = `$STATE_DIRECTORY` if set, else no snapshot.
    pub dir: Option<PathBuf>,
}

/// `[metrics]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MetricsFile {
    /// `""` = no TCP listener.
    pub listen: Option<String>,
    pub allow_remote: Option<bool>,
}

/// `[signals]`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SignalsFile {
    pub kdj_high: Option<f64>,
    pub kdj_low: Option<f64>,
    pub rsi_high: Option<f64>,
    pub rsi_low: Option<f64>,
    pub volume_ratio: Option<f64>,
    pub limit_up_streak: Option<i64>,
    pub high_low_days: Option<i64>,
}

/// A size as written: a TOML integer (bytes) or a string with a unit (or
/// `"auto"` for `memory.limit`). Negative integers are kept so the resolver
/// can refuse them with the key's name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawSize {
    Int(i64),
    Text(String),
}

impl fmt::Display for RawSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(text) => write!(f, "{text:?}"),
        }
    }
}

impl Serialize for RawSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(n) => serializer.serialize_i64(*n),
            Self::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_SYNTAX)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawSize, E> {
                Ok(RawSize::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawSize, E> {
                i64::try_from(n)
                    .map(RawSize::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A string field whose type error says what the string should look like
/// (serde's plain "expected a string" does not tell you to write `"60s"`).
fn hinted_text<'de, D: Deserializer<'de>>(
    deserializer: D,
    hint: &'static str,
) -> Result<Option<String>, D::Error> {
    struct TextVisitor(&'static str);
    impl Visitor<'_> for TextVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
    }
    deserializer.deserialize_str(TextVisitor(hint))
}

fn duration_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    hinted_text(deserializer, DURATION_SYNTAX)
}

fn mode_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    hinted_text(deserializer, MODE_SYNTAX)
}

impl FileConfig {
    /// Parses config file text. Errors carry the file, the 1-based line and
    /// column, and the dotted key, which serde alone does not report.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let key = error.path().to_string();
            let inner = error.into_inner();
            let (line, column) = match inner.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    (Some(line), Some(column))
                }
                None => (None, None),
            };
            ConfigError::File {
                path: path.to_owned(),
                line,
                column,
                // "." is the path of the document root: a syntax error.
                key: (key != ".").then_some(key),
                // Serde says "field"; the file and the docs say "key".
                message: inner.message().replacen("unknown field", "unknown key", 1),
            }
        })
    }

    /// The file that, resolved, gives back `config` exactly: every key set.
    pub fn from_resolved(config: &Config) -> Self {
        let server = &config.server;
        let source = &config.source;
        let pool = &source.pool;
        let memory = &config.memory;
        let cache = |c: &CacheConfig| CacheFile {
            max_bytes: Some(RawSize::Text(units::format_size(c.max_bytes))),
            ttl: Some(units::format_duration(c.ttl)),
        };
        // TOML strings must be UTF-8; a non-UTF-8 path is shown lossily
        // rather than making printing fallible.
        let path = |p: &Path| PathBuf::from(p.to_string_lossy().into_owned());
        Self {
            server: ServerFile {
                socket: Some(path(&server.socket)),
                socket_mode: Some(units::format_socket_mode(server.socket_mode)),
                socket_group: Some(server.socket_group.clone()),
                max_connections: Some(i64::from(server.max_connections)),
                max_request_bytes: Some(RawSize::Text(units::format_size(
                    server.max_request_bytes,
                ))),
                client_timeout: Some(units::format_duration(server.client_timeout)),
                admin_uids: Some(
                    server
                        .admin_uids
                        .iter()
                        .map(|&uid| i64::from(uid))
                        .collect(),
                ),
                admin_groups: Some(server.admin_groups.clone()),
            },
            source: SourceFile {
                // Printed (`--print-config`), so never with the password.
                database_url: Some(crate::pgconn::redact(&source.database_url)),
                password_file: Some(
                    source
                        .password_file
                        .as_deref()
                        .map(path)
                        .unwrap_or_default(),
                ),
                table: Some(source.table.clone()),
                window_days: Some(i64::from(source.window_days)),
                refresh_interval: Some(units::format_duration(source.refresh_interval)),
                notify_channel: Some(source.notify_channel.clone()),
                change_column: Some(source.change_column.clone()),
                settle: Some(units::format_duration(source.settle)),
                min_day_fraction: Some(source.min_day_fraction),
                pool: PoolFile {
                    max_size: Some(i64::from(pool.max_size)),
                    min_idle: Some(i64::from(pool.min_idle)),
                    connection_timeout: Some(units::format_duration(pool.connection_timeout)),
                    max_lifetime: Some(units::format_duration(pool.max_lifetime)),
                    test_on_check_out: Some(pool.test_on_check_out),
                },
            },
            columns: ColumnsFile::from_resolved(&config.columns),
            memory: MemoryFile {
                limit: Some(RawSize::Text(memory.limit.to_string())),
                high: Some(memory.high),
                critical: Some(memory.critical),
            },
            cache: CachesFile {
                hotspots: cache(&config.cache.hotspots),
                industry: cache(&config.cache.industry),
                signals: cache(&config.cache.signals),
                query: cache(&config.cache.query),
            },
            snapshot: SnapshotFile {
                dir: Some(config.snapshot.dir.as_deref().map(path).unwrap_or_default()),
            },
            signals: SignalsFile {
                kdj_high: Some(config.signals.kdj_high),
                kdj_low: Some(config.signals.kdj_low),
                rsi_high: Some(config.signals.rsi_high),
                rsi_low: Some(config.signals.rsi_low),
                volume_ratio: Some(config.signals.volume_ratio),
                limit_up_streak: Some(i64::from(config.signals.limit_up_streak)),
                high_low_days: Some(i64::from(config.signals.high_low_days)),
            },
            metrics: MetricsFile {
                listen: Some(
                    config
                        .metrics
                        .listen
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                ),
                allow_remote: Some(config.metrics.allow_remote),
            },
        }
    }

    /// Calls `visitor` once per key, in file order, with the key's dotted
    /// path and its slot. This is the one list of keys that the environment
    /// layer and the drift tests walk; a test checks it against the struct.
    pub fn visit<V: KeyVisitor>(&mut self, visitor: &mut V) -> Result<(), ConfigError> {
        let server = &mut self.server;
        visitor.visit("server.socket", &mut server.socket)?;
        visitor.visit("server.socket_mode", &mut server.socket_mode)?;
        visitor.visit("server.socket_group", &mut server.socket_group)?;
        visitor.visit("server.max_connections", &mut server.max_connections)?;
        visitor.visit("server.max_request_bytes", &mut server.max_request_bytes)?;
        visitor.visit("server.client_timeout", &mut server.client_timeout)?;
        visitor.visit("server.admin_uids", &mut server.admin_uids)?;
        visitor.visit("server.admin_groups", &mut server.admin_groups)?;

        let source = &mut self.source;
        visitor.visit("source.database_url", &mut source.database_url)?;
        visitor.visit("source.password_file", &mut source.password_file)?;
        visitor.visit("source.table", &mut source.table)?;
        visitor.visit("source.window_days", &mut source.window_days)?;
        visitor.visit("source.refresh_interval", &mut source.refresh_interval)?;
        visitor.visit("source.notify_channel", &mut source.notify_channel)?;
        visitor.visit("source.change_column", &mut source.change_column)?;
        visitor.visit("source.settle", &mut source.settle)?;
        visitor.visit("source.min_day_fraction", &mut source.min_day_fraction)?;

        let pool = &mut self.source.pool;
        visitor.visit("source.pool.max_size", &mut pool.max_size)?;
        visitor.visit("source.pool.min_idle", &mut pool.min_idle)?;
        visitor.visit(
            "source.pool.connection_timeout",
            &mut pool.connection_timeout,
        )?;
        visitor.visit("source.pool.max_lifetime", &mut pool.max_lifetime)?;
        visitor.visit("source.pool.test_on_check_out", &mut pool.test_on_check_out)?;

        for (key, slot) in self.columns.slots_mut() {
            visitor.visit(key, slot)?;
        }

        let memory = &mut self.memory;
        visitor.visit("memory.limit", &mut memory.limit)?;
        visitor.visit("memory.high", &mut memory.high)?;
        visitor.visit("memory.critical", &mut memory.critical)?;

        for (name, cache) in self.cache.iter_mut() {
            visitor.visit(&format!("cache.{name}.max_bytes"), &mut cache.max_bytes)?;
            visitor.visit(&format!("cache.{name}.ttl"), &mut cache.ttl)?;
        }

        visitor.visit("snapshot.dir", &mut self.snapshot.dir)?;

        let signals = &mut self.signals;
        visitor.visit("signals.kdj_high", &mut signals.kdj_high)?;
        visitor.visit("signals.kdj_low", &mut signals.kdj_low)?;
        visitor.visit("signals.rsi_high", &mut signals.rsi_high)?;
        visitor.visit("signals.rsi_low", &mut signals.rsi_low)?;
        visitor.visit("signals.volume_ratio", &mut signals.volume_ratio)?;
        visitor.visit("signals.limit_up_streak", &mut signals.limit_up_streak)?;
        visitor.visit("signals.high_low_days", &mut signals.high_low_days)?;

        visitor.visit("metrics.listen", &mut self.metrics.listen)?;
        visitor.visit("metrics.allow_remote", &mut self.metrics.allow_remote)
    }
}

/// Something done to every key of the file struct (see [`FileConfig::visit`]).
pub(crate) trait KeyVisitor {
    fn visit<T: FieldValue>(&mut self, key: &str, slot: &mut Option<T>) -> Result<(), ConfigError>;
}

/// A raw file value that can also be given as environment text.
pub(crate) trait FieldValue: Sized {
    /// Parses an environment variable's text; the error says what is
    /// expected.
    /// Only the TOML type is checked here; units and ranges are the
    /// resolver's job, as for file values.
    fn from_env(text: &str) -> Result<Self, String>;
}

impl FieldValue for String {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl FieldValue for PathBuf {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

impl FieldValue for i64 {
    fn from_env(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| "expected an integer".to_owned())
    }
}

impl FieldValue for f64 {
    fn from_env(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| "expected a number such as 0.8".to_owned())
    }
}

impl FieldValue for bool {
    fn from_env(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".to_owned()),
        }
    }
}

impl FieldValue for RawSize {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(RawSize::Text(text.to_owned()))
    }
}

/// Lists come from the environment comma-separated: `"a,b"`; `""` is empty.
impl FieldValue for Vec<String> {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(split_list(text).map(str::to_owned).collect())
    }
}

impl FieldValue for Vec<i64> {
    fn from_env(text: &str) -> Result<Self, String> {
        split_list(text)
            .map(|item| {
                item.parse()
                    .map_err(|_| "expected a comma-separated list of integers".to_owned())
            })
            .collect()
    }
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl MemoryLimit {
    /// The file form: `"auto"` or a size.
    pub(crate) fn parse_raw(raw: &RawSize) -> Option<Self> {
        match raw {
            RawSize::Text(text) if text.trim() == "auto" => Some(Self::Auto),
            RawSize::Text(text) => units::parse_size(text).ok().map(Self::Bytes),
            RawSize::Int(n) => u64::try_from(*n).ok().map(Self::Bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\n[server]\nsocké = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let offset = text.find("= 2").unwrap_or_default();
        assert_eq!(line_column(text, offset), (3, 7));
    }

    #[test]
    fn env_lists_are_comma_separated() {
        assert_eq!(
            Vec::<String>::from_env("a, b,,c "),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(Vec::<String>::from_env(""), Ok(vec![]));
        assert_eq!(Vec::<i64>::from_env("0,1000"), Ok(vec![0, 1000]));
        assert!(Vec::<i64>::from_env("0,root").is_err());
        assert!(bool::from_env("yes").is_err());
        assert!(i64::from_env("12x").is_err());
    }
}
