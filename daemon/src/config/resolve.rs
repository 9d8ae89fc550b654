//! Stage two: the merged file struct becomes a [`Config`]. Every slot is
//! checked and converted to its concrete type; unset slots take the
//! `DEFAULT_*` values.
//!
//! All range and unit checks live here, whichever layer a value came from,
//! so the same mistake gets the same message in the file, the environment or
//! on the command line; the message also says which layer set it.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::columns::ColumnsFile;
use super::env::Env;
use super::file::{
    CacheFile, CachesFile, FileConfig, MemoryFile, MetricsFile, RawSize, ServerFile, SignalsFile,
    SourceFile,
};
use super::units::{self, format_duration, format_size};
use super::*;

/// Resolves `file` (all layers applied) into a checked [`Config`].
pub(crate) fn resolve(
    file: FileConfig,
    origins: &Origins,
    env: &Env,
) -> Result<Config, ConfigError> {
    let r = Resolver { origins };
    Ok(Config {
        server: r.server(file.server, env)?,
        source: r.source(file.source)?,
        columns: r.columns(file.columns)?,
        memory: r.memory(file.memory)?,
        cache: r.caches(file.cache)?,
        snapshot: SnapshotConfig {
            dir: match file.snapshot.dir {
                Some(dir) if !dir.as_os_str().is_empty() => Some(dir),
                _ => env.default_snapshot_dir(),
            },
        },
        signals: r.signals(file.signals)?,
        metrics: r.metrics(file.metrics)?,
    })
}

/// Checks values, building errors that name the key, the value, where it
/// came from and what is allowed.
struct Resolver<'a> {
    origins: &'a Origins,
}

impl Resolver<'_> {
    fn metrics(&self, file: MetricsFile) -> Result<MetricsConfig, ConfigError> {
        let allow_remote = file.allow_remote.unwrap_or(false);
        let listen = match file.listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let addr: std::net::SocketAddr = text.parse().map_err(|_| {
                    self.invalid(
                        "metrics.listen",
                        format!("{text:?}"),
                        "an IP address and port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\" (\"\" = no listener)",
                    )
                })?;
                if !addr.ip().is_loopback() && !allow_remote {
                    return Err(self.rejected(
                        "metrics.listen",
                        format!("{text:?}"),
                        "it is not a loopback address, and /metrics has no authentication; \
                         use 127.0.0.1 or ::1, or set metrics.allow_remote = true to serve it \
                         to other hosts"
                            .to_string(),
                    ));
                }
                Some(addr)
            }
        };
        Ok(MetricsConfig {
            listen,
            allow_remote,
        })
    }

    fn server(&self, file: ServerFile, env: &Env) -> Result<ServerConfig, ConfigError> {
        let socket = match file.socket {
            Some(path) if path.as_os_str().is_empty() => {
                return Err(self.invalid("server.socket", "\"\"", "a socket path"))
            }
            Some(path) => path,
            None => env.default_socket(),
        };
        let socket_mode = match file.socket_mode {
            Some(text) => units::parse_socket_mode(&text).map_err(|reason| {
                self.rejected("server.socket_mode", format!("{text:?}"), reason)
            })?,
            None => DEFAULT_SOCKET_MODE,
        };
        let socket_group = file.socket_group.unwrap_or_default();
        if !socket_group.is_empty() {
            match nix::unistd::Group::from_name(&socket_group) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(self.invalid(
                        "server.socket_group",
                        format!("{socket_group:?}"),
                        "an existing group name, or \"\" for the daemon's own group",
                    ))
                }
                Err(e) => {
                    return Err(self.rejected(
                        "server.socket_group",
                        format!("{socket_group:?}"),
                        format!("cannot look the group up: {e}"),
                    ))
                }
            }
        }
        let client_timeout = self.duration(
            "server.client_timeout",
            file.client_timeout,
            DEFAULT_CLIENT_TIMEOUT,
            *CLIENT_TIMEOUT_RANGE.start(),
        )?;
        if client_timeout > *CLIENT_TIMEOUT_RANGE.end() {
            return Err(self.invalid(
                "server.client_timeout",
                format_duration(client_timeout),
                "a duration from 100ms to 1h",
            ));
        }
        let admin_uids = match file.admin_uids {
            Some(uids) => uids
                .into_iter()
                .map(|uid| {
                    // u32::MAX is (uid_t)-1, "no user" to the kernel.
                    u32::try_from(uid)
                        .ok()
                        .filter(|&uid| uid != u32::MAX)
                        .ok_or_else(|| {
                            self.invalid("server.admin_uids", uid, "user ids from 0 to 4294967294")
                        })
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let admin_groups = match file.admin_groups {
            Some(groups) => {
                if let Some(bad) = groups.iter().find(|g| g.trim().is_empty()) {
                    return Err(self.invalid(
                        "server.admin_groups",
                        format!("{bad:?}"),
                        "non-empty group names",
                    ));
                }
                groups
            }
            None => ServerConfig::default().admin_groups,
        };
        Ok(ServerConfig {
            socket,
            socket_mode,
            socket_group,
            client_timeout,
            max_connections: self.int(
                "server.max_connections",
                file.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                MAX_CONNECTIONS_RANGE,
            )?,
            max_request_bytes: self.size(
                "server.max_request_bytes",
                file.max_request_bytes,
                DEFAULT_MAX_REQUEST_BYTES,
                MAX_REQUEST_BYTES_RANGE,
            )?,
            admin_uids,
            admin_groups,
        })
    }

    fn source(&self, file: SourceFile) -> Result<SourceConfig, ConfigError> {
        let notify_channel = file
            .notify_channel
            .unwrap_or_else(|| DEFAULT_NOTIFY_CHANNEL.to_owned());
        if !is_channel_name(&notify_channel) {
            return Err(self.invalid(
                "source.notify_channel",
                format!("{notify_channel:?}"),
                "1 to 63 characters: ASCII letters, digits and '_', not starting with a digit",
            ));
        }
        let change_column = match file.change_column {
            // Blank but not empty is most likely a templating slip.
            Some(column) if !column.is_empty() && column.trim().is_empty() => {
                return Err(self.invalid(
                    "source.change_column",
                    format!("{column:?}"),
                    "a column name, \"auto\" (look for updated_at, modified_at, update_time) or \"\" for none",
                ))
            }
            column => column.unwrap_or_else(|| DEFAULT_CHANGE_COLUMN.to_owned()),
        };
        let settle = self.duration(
            "source.settle",
            file.settle.clone(),
            DEFAULT_SETTLE,
            *SETTLE_RANGE.start(),
        )?;
        if settle > *SETTLE_RANGE.end() {
            return Err(self.invalid(
                "source.settle",
                format!("{:?}", file.settle.unwrap_or_default()),
                "a duration from 1s to 1h",
            ));
        }
        let min_day_fraction = match file.min_day_fraction {
            None => DEFAULT_MIN_DAY_FRACTION,
            Some(f) if (0.0..=1.0).contains(&f) => f,
            Some(f) => {
                return Err(self.invalid(
                    "source.min_day_fraction",
                    f,
                    "a fraction from 0 to 1 (0 = no row count check), e.g. 0.9",
                ))
            }
        };
        let pool = file.pool;
        let max_size = self.int(
            "source.pool.max_size",
            pool.max_size,
            DEFAULT_POOL_MAX_SIZE,
            POOL_MAX_SIZE_RANGE,
        )?;
        let min_idle = match pool.min_idle {
            Some(n) if n > i64::from(max_size) => {
                return Err(self.invalid(
                    "source.pool.min_idle",
                    n,
                    format!("an integer from 0 to source.pool.max_size ({max_size})"),
                ))
            }
            // Lowering max_size alone must not make the default invalid.
            n => self.int(
                "source.pool.min_idle",
                n,
                DEFAULT_POOL_MIN_IDLE.min(max_size),
                0..=max_size,
            )?,
        };
        // bb8 refuses (panics on) a zero timeout or lifetime.
        let above_zero = Duration::from_millis(1);
        let pool = PoolConfig {
            max_size,
            min_idle,
            connection_timeout: self.duration(
                "source.pool.connection_timeout",
                pool.connection_timeout,
                DEFAULT_POOL_CONNECTION_TIMEOUT,
                above_zero,
            )?,
            max_lifetime: self.duration(
                "source.pool.max_lifetime",
                pool.max_lifetime,
                DEFAULT_POOL_MAX_LIFETIME,
                above_zero,
            )?,
            test_on_check_out: pool
                .test_on_check_out
                .unwrap_or(DEFAULT_POOL_TEST_ON_CHECK_OUT),
        };
        Ok(SourceConfig {
            database_url: file.database_url.unwrap_or_default(),
            password_file: file.password_file.filter(|p| !p.as_os_str().is_empty()),
            table: self.name("source.table", file.table, DEFAULT_TABLE)?,
            window_days: self.int(
                "source.window_days",
                file.window_days,
                DEFAULT_WINDOW_DAYS,
                0..=MAX_WINDOW_DAYS,
            )?,
            refresh_interval: self.duration(
                "source.refresh_interval",
                file.refresh_interval,
                DEFAULT_REFRESH_INTERVAL,
                MIN_REFRESH_INTERVAL,
            )?,
            notify_channel,
            change_column,
            settle,
            min_day_fraction,
            pool,
        })
    }

    fn columns(&self, file: ColumnsFile) -> Result<ColumnsConfig, ConfigError> {
        // An empty name can never match a column; refused here rather than
        // surfacing later as "unknown column ''" on every request.
        ColumnsConfig::resolve(file, |key, column| {
            if column.trim().is_empty() {
                Err(self.invalid(key, format!("{column:?}"), "a non-empty column name"))
            } else {
                Ok(())
            }
        })
    }

    fn memory(&self, file: MemoryFile) -> Result<MemoryConfig, ConfigError> {
        let limit = match &file.limit {
            None => DEFAULT_MEMORY_LIMIT,
            Some(raw) => match MemoryLimit::parse_raw(raw) {
                Some(MemoryLimit::Bytes(bytes)) if bytes < MIN_MEMORY_LIMIT => {
                    return Err(self.invalid(
                        "memory.limit",
                        raw,
                        format_args!(
                            "\"auto\" or a size of at least {}",
                            format_size(MIN_MEMORY_LIMIT)
                        ),
                    ))
                }
                Some(limit) => limit,
                None => return Err(self.invalid("memory.limit", raw, SIZE_OR_AUTO_SYNTAX)),
            },
        };
        let high = self.fraction("memory.high", file.high, DEFAULT_MEMORY_HIGH)?;
        let critical = self.fraction("memory.critical", file.critical, DEFAULT_MEMORY_CRITICAL)?;
        if high >= critical {
            // Blame the one the admin set: lowering only `critical` below the
            // default `high` should point at `critical`.
            return Err(if self.origins.contains_key("memory.high") {
                self.invalid(
                    "memory.high",
                    high,
                    format_args!("a fraction below memory.critical ({critical})"),
                )
            } else {
                self.invalid(
                    "memory.critical",
                    critical,
                    format_args!("a fraction above memory.high ({high})"),
                )
            });
        }
        Ok(MemoryConfig {
            limit,
            high,
            critical,
        })
    }

    fn caches(&self, file: CachesFile) -> Result<CachesConfig, ConfigError> {
        Ok(CachesConfig {
            hotspots: self.cache("hotspots", file.hotspots, DEFAULT_CACHE_HOTSPOTS)?,
            industry: self.cache("industry", file.industry, DEFAULT_CACHE_INDUSTRY)?,
            signals: self.cache("signals", file.signals, DEFAULT_CACHE_SIGNALS)?,
            query: self.cache("query", file.query, DEFAULT_CACHE_QUERY)?,
        })
    }

    fn cache(
        &self,
        name: &str,
        file: CacheFile,
        default: CacheConfig,
    ) -> Result<CacheConfig, ConfigError> {
        Ok(CacheConfig {
            max_bytes: self.size(
                &format!("cache.{name}.max_bytes"),
                file.max_bytes,
                default.max_bytes,
                0..=MAX_CACHE_BYTES,
            )?,
            ttl: self.duration(
                &format!("cache.{name}.ttl"),
                file.ttl,
                default.ttl,
                Duration::ZERO,
            )?,
        })
    }

    fn signals(&self, file: SignalsFile) -> Result<SignalsConfig, ConfigError> {
        let d = DEFAULT_SIGNALS;
        let kdj_high = self.finite("signals.kdj_high", file.kdj_high, d.kdj_high)?;
        let kdj_low = self.finite("signals.kdj_low", file.kdj_low, d.kdj_low)?;
        let rsi_high = self.percent("signals.rsi_high", file.rsi_high, d.rsi_high)?;
        let rsi_low = self.percent("signals.rsi_low", file.rsi_low, d.rsi_low)?;
        // A low at or above its high would make both signals fire at once.
        for (high_key, high, low_key, low) in [
            ("signals.kdj_high", kdj_high, "signals.kdj_low", kdj_low),
            ("signals.rsi_high", rsi_high, "signals.rsi_low", rsi_low),
        ] {
            if low >= high {
                // Blame the one the admin set (as memory.high/critical do).
                return Err(if self.origins.contains_key(low_key) {
                    self.invalid(
                        low_key,
                        low,
                        format_args!("a number below {high_key} ({high})"),
                    )
                } else {
                    self.invalid(
                        high_key,
                        high,
                        format_args!("a number above {low_key} ({low})"),
                    )
                });
            }
        }
        let volume_ratio = match file.volume_ratio {
            None => d.volume_ratio,
            Some(v) if v.is_finite() && v > 0.0 => v,
            Some(v) => {
                return Err(self.invalid(
                    "signals.volume_ratio",
                    v,
                    "a finite number greater than 0, e.g. 2.0",
                ))
            }
        };
        Ok(SignalsConfig {
            kdj_high,
            kdj_low,
            rsi_high,
            rsi_low,
            volume_ratio,
            limit_up_streak: self.int(
                "signals.limit_up_streak",
                file.limit_up_streak,
                d.limit_up_streak,
                SIGNALS_LIMIT_UP_STREAK_RANGE,
            )?,
            high_low_days: self.int(
                "signals.high_low_days",
                file.high_low_days,
                d.high_low_days,
                SIGNALS_HIGH_LOW_DAYS_RANGE,
            )?,
        })
    }

    /// A finite number (NaN and infinities refused).
    fn finite(&self, key: &str, raw: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        match raw {
            None => Ok(default),
            Some(value) if value.is_finite() => Ok(value),
            Some(value) => Err(self.invalid(key, value, "a finite number, e.g. 100.0")),
        }
    }

    /// A number from 0 to 100.
    fn percent(&self, key: &str, raw: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        match raw {
            None => Ok(default),
            Some(value) if (0.0..=100.0).contains(&value) => Ok(value),
            Some(value) => Err(self.invalid(key, value, "a number from 0 to 100")),
        }
    }

    /// `value` of `key` is not one of `expected`.
    fn invalid(
        &self,
        key: &str,
        value: impl fmt::Display,
        expected: impl fmt::Display,
    ) -> ConfigError {
        self.rejected(key, value, format!("expected {expected}"))
    }

    /// `value` of `key` is wrong for `reason`, which says what is allowed.
    fn rejected(&self, key: &str, value: impl fmt::Display, reason: String) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            value: value.to_string(),
            reason,
            origin: self.origins.get(key).cloned().unwrap_or(Origin::Default),
        }
    }

    /// An integer within `range` (raw values are `i64` so that a negative
    /// number gets this message, not a type error).
    fn int<T>(
        &self,
        key: &str,
        raw: Option<i64>,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: Copy + PartialOrd + fmt::Display + TryFrom<i64>,
    {
        let Some(raw) = raw else { return Ok(default) };
        T::try_from(raw)
            .ok()
            .filter(|value| range.contains(value))
            .ok_or_else(|| {
                self.invalid(
                    key,
                    raw,
                    format_args!("an integer from {} to {}", range.start(), range.end()),
                )
            })
    }

    /// A size within `range`, in bytes.
    fn size(
        &self,
        key: &str,
        raw: Option<RawSize>,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = raw else { return Ok(default) };
        let bytes = match &raw {
            RawSize::Int(n) => {
                u64::try_from(*n).map_err(|_| self.invalid(key, &raw, units::SIZE_SYNTAX))?
            }
            RawSize::Text(text) => {
                units::parse_size(text).map_err(|reason| self.rejected(key, &raw, reason))?
            }
        };
        if range.contains(&bytes) {
            return Ok(bytes);
        }
        Err(match (*range.start(), *range.end()) {
            (0, end) => self.invalid(
                key,
                &raw,
                format_args!("a size of at most {}", format_size(end)),
            ),
            (start, end) => self.invalid(
                key,
                &raw,
                format_args!("a size from {} to {}", format_size(start), format_size(end)),
            ),
        })
    }

    /// A duration of at least `min`.
    fn duration(
        &self,
        key: &str,
        raw: Option<String>,
        default: Duration,
        min: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = raw else { return Ok(default) };
        let value = format!("{text:?}");
        let duration =
            units::parse_duration(&text).map_err(|reason| self.rejected(key, &value, reason))?;
        if duration >= min {
            Ok(duration)
        } else if min == Duration::from_millis(1) {
            Err(self.invalid(key, &value, "a duration above zero"))
        } else {
            Err(self.invalid(
                key,
                &value,
                format_args!("a duration of at least {}", format_duration(min)),
            ))
        }
    }

    /// A fraction in (0, 1]; NaN fails the comparisons and is refused too.
    fn fraction(&self, key: &str, raw: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        match raw {
            None => Ok(default),
            Some(value) if value > 0.0 && value <= 1.0 => Ok(value),
            Some(value) => Err(self.invalid(
                key,
                value,
                "a fraction greater than 0 and at most 1, e.g. 0.8",
            )),
        }
    }

    /// A non-empty name, default if unset.
    fn name(&self, key: &str, raw: Option<String>, default: &str) -> Result<String, ConfigError> {
        match raw {
            None => Ok(default.to_owned()),
            Some(name) if name.trim().is_empty() => {
                Err(self.invalid(key, format!("{name:?}"), "a non-empty name"))
            }
            Some(name) => Ok(name),
        }
    }
}

/// `LISTEN` takes an identifier; we accept the plain, unquoted kind so the
/// name never needs quoting and reads the same in SQL and in config.
fn is_channel_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok
        && name.len() <= MAX_NOTIFY_CHANNEL_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
