//! PostgreSQL connection strings as libpq reads them, and the one way a
//! connection string is ever shown.
//!
//! - [`redact`] hides every password spelling libpq accepts (URL userinfo,
//!   `?password=` / `?sslpassword=`, key=value with or without quotes and
//!   escapes, any case). Every log line, error, answer, file and printout
//!   that can hold a connection string goes through it.
//! - [`parse`] reads the URL (`postgres://`, `postgresql://`) and key=value
//!   forms into keyword/value pairs, refusing keywords it does not know.
//! - [`Target::resolve`] applies libpq's defaults and `PG*` environment
//!   variables, finds the password (string, `source.password_file`, systemd
//!   credential, `PGPASSWORD`, `PGPASSFILE` / `~/.pgpass`) and builds a
//!   `tokio_postgres::Config` plus a rustls connector for `sslmode`.
//! - [`Connector`] is the pool's connection manager; its password can be
//!   re-read on SIGHUP without rebuilding the pool.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The TLS side of every connection stockd makes to PostgreSQL.
pub type Tls = tokio_postgres_rustls::MakeRustlsConnect;

/// Unix socket directory used when neither the string nor `PGHOST` names a
/// host: Debian's libpq default (`DEFAULT_PGSOCKET_DIR`).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// Port when neither the string nor `PGPORT` names one.
pub const DEFAULT_PORT: u16 = 5432;
/// `application_name` when neither the string nor `PGAPPNAME` sets one, so a
/// DBA sees stockd in `pg_stat_activity`.
pub const DEFAULT_APPLICATION_NAME: &str = "stockd";
/// File name of the password under `$CREDENTIALS_DIRECTORY`
/// (`LoadCredential=stockd-db-password:/etc/stockd/db-password`).
pub const CREDENTIAL_NAME: &str = "stockd-db-password";
/// Longest connection string, password file or `.pgpass` read (bytes).
pub const MAX_INPUT_BYTES: u64 = 64 * 1024;
/// Most hosts one connection string may list.
pub const MAX_HOSTS: usize = 16;

/// What replaces a secret in anything shown.
const HIDDEN: &str = "***";

/// Keywords whose value is a secret.
fn is_secret_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

// ---------------------------------------------------------------------------
// Redaction

/// Hides every password in `text`, which may be a connection string in
/// either form, or a message that contains one. URL userinfo passwords,
/// `password=` / `sslpassword=` in a URL query (keyword percent-encoded or
/// not) and in key=value form (spaces around `=`, single quotes, backslash
/// escapes, any letter case) all become `***`. Text without a password is
/// returned unchanged.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // URLs first: their userinfo and query follow URL rules.
    while let Some(start) = find_url(rest) {
        out.push_str(&redact_kv(&rest[..start]));
        let end = rest[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '`')
            .map_or(rest.len(), |i| start + i);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(&redact_kv(rest));
    out
}

/// Byte offset of the next `postgres://` / `postgresql://` (any case).
fn find_url(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    ["postgresql://", "postgres://"]
        .iter()
        .filter_map(|p| lower.find(p))
        .min()
}

/// One URL token: userinfo password and secret query parameters hidden.
/// The userinfo ends at the token's last `@`, so a password holding an
/// unencoded `/`, `?` or `@` is still hidden whole (at worst, an `@` in a
/// query value hides more than the password).
fn redact_url(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let mut out = String::with_capacity(url.len());
    let rest_start = match url[scheme_end..].rfind('@') {
        Some(i) => {
            let at = scheme_end + i;
            match url[scheme_end..at].find(':') {
                Some(c) => {
                    out.push_str(&url[..scheme_end + c + 1]);
                    out.push_str(HIDDEN);
                }
                None => out.push_str(&url[..at]),
            }
            at
        }
        None => {
            out.push_str(&url[..scheme_end]);
            scheme_end
        }
    };
    let rest = &url[rest_start..];
    let (head, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    out.push_str(head);
    if let Some(query) = query {
        out.push('?');
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret_key(percent_decode(k).trim()) => {
                    format!("{k}={HIDDEN}")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// key=value text: the value of every secret keyword hidden.
fn redact_kv(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A keyword starts at the beginning or after a non-word character.
        let boundary = i == 0 || !is_word(bytes[i - 1]);
        let key_len = ["sslpassword", "password"]
            .iter()
            .find(|k| {
                bytes.len() >= i + k.len()
                    && bytes[i..i + k.len()].eq_ignore_ascii_case(k.as_bytes())
            })
            .map(|k| k.len());
        let (true, Some(key_len)) = (boundary, key_len) else {
            i += 1;
            continue;
        };
        let mut j = i + key_len;
        if j < bytes.len() && is_word(bytes[j]) {
            i = j;
            continue;
        }
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'=' {
            i += key_len;
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let value_start = j;
        if j < bytes.len() && bytes[j] == b'\'' {
            j += 1;
            while j < bytes.len() && bytes[j] != b'\'' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            j = (j + 1).min(bytes.len());
        } else {
            while j < bytes.len() && !bytes[j].is_ascii_whitespace() {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            j = j.min(bytes.len());
        }
        out.push_str(&s[copied..value_start]);
        out.push_str(HIDDEN);
        copied = j;
        i = j;
    }
    out.push_str(&s[copied..]);
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `%XX` decoded; an invalid escape is kept as written (bytes that are not
/// UTF-8 become U+FFFD).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Strict `%XX` decoding for parsing: an invalid escape is an error.
fn percent_decode_strict(s: &str, what: &str) -> Result<String, ConnError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let v = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ConnError::Syntax(format!(
                        "invalid percent-encoding in the {what} (a % must be followed by two hex digits)"
                    ))
                })?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ConnError::Syntax(format!("the {what} is not UTF-8 after percent-decoding")))
}

// ---------------------------------------------------------------------------
// Parsing

/// Why a connection string, password source or TLS file cannot be used.
/// Never holds a password: a message names keywords, files and rules only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Syntax(String),
    #[error("unknown connection keyword {key:?}; known: {}", KEYWORDS.join(", "))]
    UnknownKey { key: String },
    #[error("{key} = {value:?} is not valid; allowed: {allowed}")]
    Value {
        key: String,
        value: String,
        allowed: String,
    },
    #[error("{0}")]
    Password(String),
    #[error("{0}")]
    Tls(String),
}

/// The keywords stockd understands (a subset of libpq's; the rest are
/// refused so a typo never passes silently).
pub const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "application_name",
    "fallback_application_name",
    "options",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
];

/// `sslmode` values, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const ALLOWED: &'static str = "disable, allow, prefer, require, verify-ca, verify-full";

    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Keyword/value pairs of a connection string, in order (a later one wins,
/// as in libpq).
pub type Params = Vec<(String, String)>;

/// Parses a libpq connection string, URL or key=value form. Errors name the
/// keyword or the rule broken, never a value of a secret keyword.
pub fn parse(s: &str) -> Result<Params, ConnError> {
    if s.len() as u64 > MAX_INPUT_BYTES {
        return Err(ConnError::Syntax(format!(
            "the connection string is {} bytes; at most {MAX_INPUT_BYTES} allowed",
            s.len()
        )));
    }
    let trimmed = s.trim();
    let params = if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
        parse_url(trimmed)?
    } else if trimmed.contains("://") {
        return Err(ConnError::Syntax(
            "a connection URL must start with postgresql:// or postgres://".into(),
        ));
    } else {
        parse_kv(trimmed)?
    };
    for (k, v) in &params {
        if !KEYWORDS.contains(&k.as_str()) {
            return Err(ConnError::UnknownKey { key: k.clone() });
        }
        if k == "sslmode" && SslMode::parse(v).is_none() {
            return Err(ConnError::Value {
                key: k.clone(),
                value: v.clone(),
                allowed: SslMode::ALLOWED.into(),
            });
        }
    }
    Ok(params)
}

fn parse_url(url: &str) -> Result<Params, ConnError> {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let (head, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match head.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (head, None),
    };
    // An '@' only after the first '/' or '?' is a user name or password
    // holding a raw '/', '?' or '@': read as host, port or database, a piece
    // of the password would then be printed. Refused, quoting nothing.
    if !authority.contains('@') && rest.contains('@') {
        return Err(ConnError::Syntax(
            "the URL has an '@' after its first '/' or '?': percent-encode '/', '?' and '@' \
             in a user name or password (%2F, %3F, %40)"
                .into(),
        ));
    }
    let mut params = Params::new();
    let hostspec = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.push(("user".into(), percent_decode_strict(user, "user name")?));
            }
            if let Some(p) = password {
                params.push(("password".into(), percent_decode_strict(p, "password")?));
            }
            hosts
        }
        None => authority,
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in hostspec.split(',') {
            let (host, port) = if let Some(v6) = spec.strip_prefix('[') {
                let (h, after) = v6.split_once(']').ok_or_else(|| {
                    ConnError::Syntax(format!("unmatched '[' in the URL host {spec:?}"))
                })?;
                (h.to_string(), after.strip_prefix(':').unwrap_or(""))
            } else {
                match spec.rsplit_once(':') {
                    Some((h, p)) => (percent_decode_strict(h, "host")?, p),
                    None => (percent_decode_strict(spec, "host")?, ""),
                }
            };
            hosts.push(host);
            ports.push(port.to_string());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            params.push(("host".into(), hosts.join(",")));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            params.push(("port".into(), ports.join(",")));
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        params.push((
            "dbname".into(),
            percent_decode_strict(path, "database name")?,
        ));
    }
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ConnError::Syntax(format!(
                    "URL query parameter {:?} has no '=' (expected keyword=value)",
                    redact(pair)
                ))
            })?;
            let key = percent_decode_strict(k, "query keyword")?;
            let value = percent_decode_strict(v, "query value")?;
            // libpq maps JDBC's ssl=true to sslmode=require.
            if key == "ssl" && value == "true" {
                params.push(("sslmode".into(), "require".into()));
            } else {
                params.push((key, value));
            }
        }
    }
    Ok(params)
}

fn parse_kv(s: &str) -> Result<Params, ConnError> {
    let mut params = Params::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConnError::Syntax(format!(
                "missing \"=\" after {key:?} in the connection string (expected keyword=value)"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(ConnError::Syntax(format!(
                    "unterminated quoted value for {key:?} in the connection string"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        params.push((key, value));
    }
}

/// Whether the string holds a password (either form); an unparsable string
/// counts as holding one when [`redact`] changes it.
pub fn has_password(conninfo: &str) -> bool {
    match parse(conninfo) {
        Ok(p) => p.iter().any(|(k, v)| is_secret_key(k) && !v.is_empty()),
        Err(_) => redact(conninfo) != conninfo,
    }
}

// ---------------------------------------------------------------------------
// Resolution: defaults, environment, passwords

/// Where a password may come from besides the connection string.
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    /// `source.password_file` (empty = none).
    pub password_file: Option<PathBuf>,
}

/// One host to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// A Unix socket directory.
    Unix(PathBuf),
}

/// A connection string with libpq's defaults applied and the password found.
#[derive(Clone)]
pub struct Target {
    pub hosts: Vec<Host>,
    pub hostaddrs: Vec<std::net::IpAddr>,
    pub ports: Vec<u16>,
    pub user: String,
    pub dbname: String,
    password: Option<String>,
    /// Where the password came from (for logs; never the password).
    pub password_origin: &'static str,
    pub application_name: String,
    pub options: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    params: HashMap<String, String>,
    home: Option<PathBuf>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// Applies libpq's rules to `conninfo`: what the string leaves out comes
    /// from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGSSLMODE`,
    /// `PGAPPNAME` (and `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`,
    /// `PGCONNECT_TIMEOUT`), then from the defaults: the socket directory
    /// [`DEFAULT_SOCKET_DIR`], port 5432, the OS user, a database named
    /// like the user, `sslmode=prefer`, `application_name=stockd`.
    ///
    /// The password, first found wins: the string; `sources.password_file`;
    /// `$CREDENTIALS_DIRECTORY/stockd-db-password`; `PGPASSWORD`; the
    /// passfile (`passfile`, `PGPASSFILE`, `~/.pgpass`).
    pub fn resolve(
        conninfo: &str,
        sources: &PasswordSources,
        env: &HashMap<String, String>,
    ) -> Result<Target, ConnError> {
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in parse(conninfo)? {
            params.insert(k, v);
        }
        let get = |key: &str, var: &str| -> Option<String> {
            params
                .get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| env.get(var).filter(|v| !v.is_empty()).cloned())
        };
        let home = env
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| os_user().and_then(|u| u.1));
        let hostaddrs = match get("hostaddr", "PGHOSTADDR") {
            Some(v) => v
                .split(',')
                .map(|a| {
                    a.trim().parse().map_err(|_| ConnError::Value {
                        key: "hostaddr".into(),
                        value: a.into(),
                        allowed: "numeric IP addresses (IPv4 or IPv6), comma-separated".into(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let hosts: Vec<Host> = match get("host", "PGHOST") {
            Some(v) => v
                .split(',')
                .map(|h| {
                    if h.starts_with('/') {
                        Host::Unix(PathBuf::from(h))
                    } else if h.is_empty() {
                        Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR))
                    } else {
                        Host::Tcp(h.to_string())
                    }
                })
                .collect(),
            None if !hostaddrs.is_empty() => Vec::new(),
            None => vec![Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR))],
        };
        if hosts.len() > MAX_HOSTS || hostaddrs.len() > MAX_HOSTS {
            return Err(ConnError::Syntax(format!(
                "the connection string lists more than {MAX_HOSTS} hosts; at most {MAX_HOSTS} allowed"
            )));
        }
        if !hosts.is_empty() && !hostaddrs.is_empty() && hosts.len() != hostaddrs.len() {
            return Err(ConnError::Syntax(format!(
                "{} hosts but {} hostaddrs; give one hostaddr per host",
                hosts.len(),
                hostaddrs.len()
            )));
        }
        let ports = match get("port", "PGPORT") {
            Some(v) => v
                .split(',')
                .map(|p| {
                    if p.is_empty() {
                        return Ok(DEFAULT_PORT);
                    }
                    p.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| ConnError::Value {
                            key: "port".into(),
                            value: p.into(),
                            allowed: "port numbers from 1 to 65535, comma-separated".into(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![DEFAULT_PORT],
        };
        let nhosts = hosts.len().max(hostaddrs.len());
        if ports.len() != 1 && ports.len() != nhosts {
            return Err(ConnError::Syntax(format!(
                "{} ports for {nhosts} hosts; give one port, or one per host",
                ports.len()
            )));
        }
        let user = match get("user", "PGUSER") {
            Some(u) => u,
            None => os_user().map(|u| u.0).ok_or_else(|| {
                ConnError::Syntax(
                    "no user in the connection string or PGUSER, and the OS user has no name"
                        .into(),
                )
            })?,
        };
        let dbname = get("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
        let sslmode = match get("sslmode", "PGSSLMODE") {
            Some(m) => SslMode::parse(&m).ok_or(ConnError::Value {
                key: "sslmode".into(),
                value: m,
                allowed: SslMode::ALLOWED.into(),
            })?,
            None => SslMode::Prefer,
        };
        let application_name = get("application_name", "PGAPPNAME")
            .or_else(|| params.get("fallback_application_name").cloned())
            .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.into());
        let connect_timeout = match get("connect_timeout", "PGCONNECT_TIMEOUT") {
            Some(t) => match t.trim().parse::<u64>() {
                // libpq: 0 (or negative) means wait forever; the minimum is 2 s.
                Ok(0) => None,
                Ok(s) => Some(Duration::from_secs(s.clamp(2, 3600))),
                Err(_) => {
                    return Err(ConnError::Value {
                        key: "connect_timeout".into(),
                        value: t,
                        allowed: "whole seconds (0 = no limit)".into(),
                    })
                }
            },
            None => None,
        };
        let mut target = Target {
            hosts,
            hostaddrs,
            ports,
            user,
            dbname,
            password: None,
            password_origin: "none",
            application_name,
            options: params
                .get("options")
                .cloned()
                .filter(|o| !o.trim().is_empty()),
            sslmode,
            sslrootcert: get("sslrootcert", "PGSSLROOTCERT"),
            sslcert: get("sslcert", "PGSSLCERT").map(PathBuf::from),
            sslkey: get("sslkey", "PGSSLKEY").map(PathBuf::from),
            connect_timeout,
            params: params.clone(),
            home,
        };
        target.find_password(sources, env)?;
        Ok(target)
    }

    /// Finds the password again (start and SIGHUP); see [`Target::resolve`].
    pub fn find_password(
        &mut self,
        sources: &PasswordSources,
        env: &HashMap<String, String>,
    ) -> Result<(), ConnError> {
        let (password, origin) = if let Some(p) = self.params.get("password") {
            (Some(p.clone()), "connection string")
        } else if let Some(path) = &sources.password_file {
            (Some(read_password_file(path)?), "source.password_file")
        } else if let Some(p) = read_credential(env)? {
            (Some(p), "systemd credential")
        } else if let Some(p) = env.get("PGPASSWORD").filter(|p| !p.is_empty()) {
            (Some(p.clone()), "PGPASSWORD")
        } else {
            match self.passfile(env) {
                Some(file) => match self.lookup_passfile(&file) {
                    Some(p) => (Some(p), "passfile"),
                    None => (None, "none"),
                },
                None => (None, "none"),
            }
        };
        self.password = password;
        self.password_origin = origin;
        Ok(())
    }

    /// Whether a password was found.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The passfile to read: `passfile`, else `PGPASSFILE`, else
    /// `~/.pgpass` (when it exists).
    fn passfile(&self, env: &HashMap<String, String>) -> Option<PathBuf> {
        self.params
            .get("passfile")
            .or_else(|| env.get("PGPASSFILE"))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".pgpass")))
    }

    /// The first matching `.pgpass` line, checked against each host in turn
    /// (libpq reads the file per host tried; with several hosts stockd uses
    /// the first host that has a line). A file readable by group or others
    /// is ignored with a warning, as libpq does.
    fn lookup_passfile(&self, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if meta.mode() & 0o077 != 0 {
            tracing::warn!(
                "password file {} has group or world access (mode {:04o}); ignored, as libpq does. \
                 Fix: chmod 0600 {}",
                path.display(),
                meta.mode() & 0o7777,
                path.display()
            );
            return None;
        }
        if meta.len() > MAX_INPUT_BYTES {
            tracing::warn!(
                "password file {} is larger than {MAX_INPUT_BYTES} bytes; ignored",
                path.display()
            );
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let n = self.hosts.len().max(self.hostaddrs.len()).max(1);
        (0..n).find_map(|i| {
            let host = match (self.hosts.get(i), self.hostaddrs.get(i)) {
                (Some(Host::Tcp(h)), _) => h.clone(),
                (Some(Host::Unix(d)), _) if d == Path::new(DEFAULT_SOCKET_DIR) => {
                    "localhost".into()
                }
                (Some(Host::Unix(d)), _) => d.display().to_string(),
                (None, Some(a)) => a.to_string(),
                (None, None) => "localhost".into(),
            };
            let port = self
                .ports
                .get(i)
                .or(self.ports.first())
                .copied()
                .unwrap_or(DEFAULT_PORT);
            pgpass_lookup(&text, &host, port, &self.dbname, &self.user)
        })
    }

    /// How the target is shown to admins and in logs: user, hosts,
    /// database, sslmode and where the password came from; never the
    /// password.
    pub fn describe(&self) -> String {
        format!(
            "{}@{}/{} (sslmode={}, password: {})",
            self.user,
            self.host_list(),
            self.dbname,
            self.sslmode.as_str(),
            self.password_origin
        )
    }

    /// What data clients see (`market.info` `source.detail`, the snapshot
    /// header): host(s), port and database only, no user, no credentials.
    pub fn public(&self) -> String {
        format!("{}/{}", self.host_list(), self.dbname)
    }

    fn host_list(&self) -> String {
        let n = self.hosts.len().max(self.hostaddrs.len());
        (0..n)
            .map(|i| {
                let port = self
                    .ports
                    .get(i)
                    .or(self.ports.first())
                    .copied()
                    .unwrap_or(DEFAULT_PORT);
                match (self.hosts.get(i), self.hostaddrs.get(i)) {
                    (Some(Host::Tcp(h)), _) => format!("{h}:{port}"),
                    (Some(Host::Unix(d)), _) => format!("{}/.s.PGSQL.{port}", d.display()),
                    (None, Some(a)) => format!("{a}:{port}"),
                    (None, None) => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The tokio-postgres configuration (password included). TLS is never
    /// attempted on a Unix socket, as in libpq.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        for h in &self.hosts {
            match h {
                Host::Tcp(name) => c.host(name),
                Host::Unix(dir) => c.host_path(dir),
            };
        }
        for a in &self.hostaddrs {
            c.hostaddr(*a);
        }
        for p in &self.ports {
            c.port(*p);
        }
        c.user(&self.user);
        c.dbname(&self.dbname);
        if let Some(p) = &self.password {
            c.password(p.as_bytes());
        }
        c.application_name(&self.application_name);
        if let Some(o) = &self.options {
            c.options(o);
        }
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(t);
        }
        if let Some(v) = self.params.get("keepalives") {
            c.keepalives(v != "0");
        }
        if let Some(v) = self
            .params
            .get("keepalives_idle")
            .and_then(|v| v.parse().ok())
        {
            c.keepalives_idle(Duration::from_secs(v));
        }
        if self.params.get("target_session_attrs").map(String::as_str) == Some("read-write") {
            c.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        match self.params.get("channel_binding").map(String::as_str) {
            Some("disable") => c.channel_binding(tokio_postgres::config::ChannelBinding::Disable),
            Some("require") => c.channel_binding(tokio_postgres::config::ChannelBinding::Require),
            _ => &mut c,
        };
        if self.params.get("load_balance_hosts").map(String::as_str) == Some("random") {
            c.load_balance_hosts(tokio_postgres::config::LoadBalanceHosts::Random);
        }
        let all_unix =
            self.hostaddrs.is_empty() && self.hosts.iter().all(|h| matches!(h, Host::Unix(_)));
        c.ssl_mode(match self.sslmode {
            _ if all_unix => tokio_postgres::config::SslMode::Disable,
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            // tokio-postgres has no "try plain first": allow behaves as prefer.
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c
    }

    /// The rustls connector for `sslmode`:
    /// - disable / allow / prefer / require: encrypted, server certificate
    ///   not checked (libpq's meaning), except that `require` with an
    ///   explicit `sslrootcert` checks the chain (as libpq does);
    /// - verify-ca: the chain must lead to a trusted root;
    /// - verify-full: that, and the certificate must name the host.
    ///
    /// Roots: `sslrootcert` (a PEM file, or `system` for the OS store), else
    /// `~/.postgresql/root.crt` when it exists, else the OS store. A client
    /// certificate is sent when `sslcert` (default
    /// `~/.postgresql/postgresql.crt`, when present) and `sslkey` are set.
    pub fn tls(&self) -> Result<Tls, ConnError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnError::Tls(format!("TLS setup: {e}")))?;
        let explicit_root = self.sslrootcert.is_some();
        let check_chain = matches!(self.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
            || (self.sslmode == SslMode::Require && explicit_root);
        let verifier: Arc<dyn ServerCertVerifier> = if check_chain {
            let roots = self.roots()?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| ConnError::Tls(format!("TLS setup: {e}")))?;
            if self.sslmode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unchecked(provider.clone()))
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match self.client_cert()? {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| ConnError::Tls(format!("sslcert/sslkey cannot be used: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Tls::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, ConnError> {
        let mut roots = RootCertStore::empty();
        let file = match self.sslrootcert.as_deref() {
            Some("system") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => self
                .home
                .as_ref()
                .map(|h| h.join(".postgresql/root.crt"))
                .filter(|p| p.exists()),
        };
        match file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(&path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        ConnError::Tls(format!(
                            "sslrootcert {} cannot be read as PEM certificates: {e}",
                            path.display()
                        ))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(ConnError::Tls(format!(
                        "sslrootcert {} holds no usable certificate",
                        path.display()
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(ConnError::Tls(format!(
                        "sslmode={} needs trusted roots: set sslrootcert to the CA's PEM file \
                         (the system store has none)",
                        self.sslmode.as_str()
                    )));
                }
            }
        }
        Ok(roots)
    }

    #[allow(clippy::type_complexity)]
    fn client_cert(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConnError> {
        let default = |name: &str| self.home.as_ref().map(|h| h.join(".postgresql").join(name));
        let cert = match &self.sslcert {
            Some(c) => c.clone(),
            None => match default("postgresql.crt").filter(|p| p.exists()) {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        let key = self
            .sslkey
            .clone()
            .or_else(|| default("postgresql.key"))
            .ok_or_else(|| ConnError::Tls("sslcert is set but sslkey is not".into()))?;
        let certs = CertificateDer::pem_file_iter(&cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                ConnError::Tls(format!("sslcert {} cannot be read: {e}", cert.display()))
            })?;
        if let Ok(meta) = std::fs::metadata(&key) {
            // libpq: 0600 (owner) or 0640 when owned by root.
            let bad = if meta.uid() == 0 { 0o037 } else { 0o077 };
            if meta.mode() & bad != 0 {
                return Err(ConnError::Tls(format!(
                    "sslkey {} has group or world access (mode {:04o}); fix: chmod 0600 {}",
                    key.display(),
                    meta.mode() & 0o7777,
                    key.display()
                )));
            }
        }
        let private = PrivateKeyDer::from_pem_file(&key)
            .map_err(|e| ConnError::Tls(format!("sslkey {} cannot be read: {e}", key.display())))?;
        Ok(Some((certs, private)))
    }
}

/// The OS user's name and home directory (blocking; start and SIGHUP only).
fn os_user() -> Option<(String, Option<PathBuf>)> {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| (u.name, Some(u.dir)))
}

/// Reads `source.password_file`: the whole file is the password (one
/// trailing newline dropped). Refused when group or others have any access,
/// as ssh refuses a private key.
pub fn read_password_file(path: &Path) -> Result<String, ConnError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        ConnError::Password(format!(
            "source.password_file {} cannot be read: {e}",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(ConnError::Password(format!(
            "source.password_file {} is not a regular file",
            path.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(ConnError::Password(format!(
            "source.password_file {} is accessible by group or others (mode {:04o}); refused. \
             Fix: chown stockd {p} && chmod 0600 {p}, or use a systemd credential \
             (LoadCredential={CREDENTIAL_NAME}:{p})",
            path.display(),
            meta.mode() & 0o7777,
            p = path.display()
        )));
    }
    read_secret(path, "source.password_file")
}

/// `$CREDENTIALS_DIRECTORY/stockd-db-password`, when systemd passed it.
fn read_credential(env: &HashMap<String, String>) -> Result<Option<String>, ConnError> {
    let Some(dir) = env.get("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let path = Path::new(dir).join(CREDENTIAL_NAME);
    if !path.exists() {
        return Ok(None);
    }
    read_secret(&path, "the systemd credential").map(Some)
}

fn read_secret(path: &Path, what: &str) -> Result<String, ConnError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| {
        ConnError::Password(format!("{what} {} cannot be read: {e}", path.display()))
    })?;
    let mut text = String::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            ConnError::Password(format!("{what} {} cannot be read: {e}", path.display()))
        })?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(ConnError::Password(format!(
            "{what} {} is larger than {MAX_INPUT_BYTES} bytes; it must hold only the password",
            path.display()
        )));
    }
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(ConnError::Password(format!(
            "{what} {} is empty; it must hold the password",
            path.display()
        )));
    }
    if password.contains('\n') {
        return Err(ConnError::Password(format!(
            "{what} {} holds more than one line; it must hold only the password",
            path.display()
        )));
    }
    Ok(password.to_string())
}

/// libpq's `.pgpass` rules: lines `hostname:port:database:username:password`,
/// `*` matches anything in the first four fields, `\:` and `\\` escape, lines
/// starting with `#` are comments; the first matching line wins.
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => cur.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let matches = |f: &str, v: &str| f == "*" || f == v;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            return Some(fields.swap_remove(4));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Certificate checks

/// sslmode disable/allow/prefer/require: the server's certificate is not
/// checked (libpq's meaning of those modes); handshake signatures still are.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// sslmode verify-ca: the chain must lead to a trusted root; the host name
/// is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

// ---------------------------------------------------------------------------
// The pool's connection manager

/// Opens connections for the pool (and the LISTEN connection) from a
/// [`Target`]. The configuration is swappable so SIGHUP can re-read the
/// password without rebuilding the pool.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ArcSwap<tokio_postgres::Config>>,
    tls: Tls,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector")
    }
}

impl Connector {
    pub fn new(config: tokio_postgres::Config, tls: Tls) -> Connector {
        Connector {
            config: Arc::new(ArcSwap::from_pointee(config)),
            tls,
        }
    }

    /// Replaces the configuration of connections opened from now on (SIGHUP
    /// re-reads the password); open connections are kept.
    pub fn replace(&self, config: tokio_postgres::Config) {
        self.config.store(Arc::new(config));
    }

    /// A new connection; its driver runs on its own task.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let config = self.config.load_full();
        let (client, connection) = config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("PostgreSQL connection closed: {}", redact(&e.to_string()));
            }
        });
        Ok(client)
    }

    /// A new connection with its driver handed back (LISTEN needs the
    /// notifications it carries).
    pub async fn connect_raw(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<
                tokio_postgres::Socket,
                <Tls as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
            >,
        ),
        tokio_postgres::Error,
    > {
        let config = self.config.load_full();
        config.connect(self.tls.clone()).await
    }
}

impl bb8::ManageConnection for Connector {
    type Connection = tokio_postgres::Client;
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        Connector::connect(self).await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        conn.simple_query("").await.map(|_| ())
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.is_closed()
    }
}

#[cfg(test)]
mod tests;
