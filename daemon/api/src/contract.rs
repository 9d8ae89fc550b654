//! The contract table: every method once — name, params, result, doc line,
//! data or admin — and everything derived from it: the params structs
//! ([`params`]), the parsed call ([`Call`]), the method list ([`METHODS`]),
//! the typed clients ([`StockdClient`], [`StockdSubscriptions`]) and the
//! OpenRPC document ([`openrpc`]) served by `rpc.discover`.
//!
//! The daemon matches on [`Call`] (exhaustively: a method added here and
//! not handled does not compile), stockctl and the tests call the typed
//! clients, and the committed copies (`docs/methods.md`, `--help`) are
//! drift-tested against [`METHODS`].

use crate::{AppError, ErrorKind};
use jsonrpsee::core::client::{ClientT, Error as ClientError, Subscription, SubscriptionClientT};
use jsonrpsee::core::traits::ToRpcParams;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any process that can open the socket.
    Data,
    /// Root, the daemon's own uid, and the configured admin uids and groups.
    Admin,
}

/// How a method answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One request, one answer.
    Call,
    /// Over a WebSocket: an id, then `notification` messages until
    /// `unsubscribe` is called or the connection closes.
    Subscription {
        notification: &'static str,
        unsubscribe: &'static str,
    },
}

/// One method of the contract.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    /// The doc comment of the table entry (first line: the summary).
    pub doc: &'static str,
    pub access: Access,
    pub kind: Kind,
    /// Param names in order (the order positional params take).
    pub params: &'static [&'static str],
}

impl Method {
    /// The first line of the doc.
    pub fn summary(&self) -> &'static str {
        self.doc
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }

    /// Whether the method takes `"layout": "columns"`.
    pub fn has_layout(&self) -> bool {
        self.params.contains(&"layout")
    }
}

/// The method called `name`.
pub fn method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Why a call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No method of that name (-32601).
    UnknownMethod,
    /// The params do not fit the method (-32602): names the param.
    InvalidParams(AppError),
}

/// At most 64 characters of a caller's name, control characters escaped,
/// for quoting in a message.
pub fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    s
}

fn invalid(value: impl Into<String>, message: String) -> AppError {
    AppError::new(ErrorKind::InvalidParams, value, message)
}

/// Decodes `params` (absent: `{}`; an object by name, or an array by
/// position, shorter arrays meaning the later params are absent) into the
/// params of `m`. Every refusal names the param and the ones `m` takes.
pub fn parse_params<T: DeserializeOwned>(
    m: &Method,
    params: Option<&RawValue>,
) -> Result<T, AppError> {
    let text = params.map_or("{}", |p| p.get()).trim_start();
    let takes = || {
        if m.params.is_empty() {
            "it takes none".to_string()
        } else {
            format!("it takes: {}", m.params.join(", "))
        }
    };
    let padded;
    let text = if text.starts_with('[') {
        let values: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| invalid("", format!("invalid params: {}: {e}", m.name)))?;
        if values.len() > m.params.len() {
            return Err(invalid(
                values.len().to_string(),
                format!(
                    "invalid params: {} takes at most {} params by position ({}); got {}",
                    m.name,
                    m.params.len(),
                    m.params.join(", "),
                    values.len()
                ),
            ));
        }
        let mut all: Vec<&str> = values.iter().map(|v| v.get()).collect();
        all.resize(m.params.len(), "null");
        padded = format!("[{}]", all.join(","));
        padded.as_str()
    } else {
        text
    };
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            // Unknown names first: a typo is the likeliest cause.
            if let Ok(members) = serde_json::from_str::<BTreeMap<String, IgnoredAny>>(text) {
                let unknown: Vec<String> = members
                    .keys()
                    .filter(|k| !m.params.contains(&k.as_str()))
                    .map(|k| shown(k))
                    .collect();
                if let Some(first) = unknown.first() {
                    let list = unknown
                        .iter()
                        .take(8)
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let more = match unknown.len() {
                        n if n > 8 => format!(" and {} more", n - 8),
                        _ => String::new(),
                    };
                    let what = if unknown.len() == 1 {
                        "no param"
                    } else {
                        "no params"
                    };
                    return Err(invalid(
                        first.clone(),
                        format!(
                            "invalid params: {} has {what} {list}{more}; {}",
                            m.name,
                            takes()
                        ),
                    ));
                }
            }
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            if let Some(name) = inner
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                return Err(invalid(
                    name,
                    format!("invalid params: {} needs '{name}'; {}", m.name, takes()),
                ));
            }
            let at = if path == "." || path.is_empty() {
                String::new()
            } else {
                format!(" '{path}':")
            };
            let inner = plain_types(&inner);
            let value = if path == "." { String::new() } else { path };
            Err(invalid(
                value,
                format!("invalid params: {}:{at} {inner}; {}", m.name, takes()),
            ))
        }
    }
}

/// serde's message in a caller's words: Rust integer types become the
/// range they allow, and the position inside the params text (which the
/// caller did not write as such) is dropped.
fn plain_types(inner: &str) -> String {
    let inner = match inner.rfind(" at line ") {
        Some(i) if inner[i..].contains(" column ") => &inner[..i],
        _ => inner,
    };
    let mut out = inner.to_string();
    for (rust, words) in [
        (
            "expected u64",
            "expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "expected usize",
            "expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        (
            "expected i64",
            "expected a whole number from -9223372036854775808 to 9223372036854775807",
        ),
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        ("expected f64", "expected a number"),
    ] {
        if let Some(rest) = out.strip_suffix(rust) {
            out = format!("{rest}{words}");
            break;
        }
    }
    out
}

/// Params as a client sends them: by name, absent ones left out.
struct ByName<T>(T);

impl<T: Serialize> ToRpcParams for ByName<T> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        let mut v = serde_json::to_value(&self.0)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.retain(|_, x| !x.is_null());
        }
        serde_json::value::to_raw_value(&v).map(Some)
    }
}

/// Adds one type's schema to the document's shared definitions and returns
/// the schema (a `$ref` for named types).
fn schema_of<T: schemars::JsonSchema>(gen: &mut schemars::SchemaGenerator) -> serde_json::Value {
    gen.subschema_for::<T>().to_value()
}

/// The params of one method as OpenRPC content descriptors.
fn params_of<T: schemars::JsonSchema>(
    gen: &mut schemars::SchemaGenerator,
    m: &Method,
) -> serde_json::Value {
    let root = gen.root_schema_for::<T>().to_value();
    let required: Vec<&str> = root["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let list: Vec<serde_json::Value> = m
        .params
        .iter()
        .map(|name| {
            let mut schema = root["properties"][name].clone();
            let description = schema
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(serde_json::Value::Null);
            let mut d = serde_json::json!({
                "name": name,
                "required": required.contains(name),
                "schema": schema,
            });
            if !description.is_null() {
                d["description"] = description;
            }
            d
        })
        .collect();
    serde_json::Value::Array(list)
}

macro_rules! contract {
    (
        methods {
            $(
                $(#[doc = $doc:literal])*
                $access:ident $variant:ident $client:ident = $name:literal {
                    $( $(#[$fattr:meta])* $field:ident : $fty:ty ),* $(,)?
                } -> $result:ty;
            )*
        }
        subscriptions {
            $(
                $(#[doc = $sdoc:literal])*
                $saccess:ident $svariant:ident $sclient:ident = $sname:literal {
                    $( $(#[$sfattr:meta])* $sfield:ident : $sfty:ty ),* $(,)?
                } => $notification:literal, $unsubscribe:literal, $item:ty;
            )*
        }
    ) => {
        /// The params of each method, one struct per method, named after it.
        /// Unknown names are refused.
        pub mod params {
            #[allow(unused_imports)]
            use crate::*;
            $(
                $(#[doc = $doc])*
                #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
                #[serde(deny_unknown_fields)]
                pub struct $variant { $( $(#[$fattr])* pub $field: $fty, )* }
                impl $variant {
                    /// The method these are the params of.
                    pub const METHOD: &'static str = $name;
                }
            )*
            $(
                $(#[doc = $sdoc])*
                #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
                #[serde(deny_unknown_fields)]
                pub struct $svariant { $( $(#[$sfattr])* pub $sfield: $sfty, )* }
                impl $svariant {
                    /// The method these are the params of.
                    pub const METHOD: &'static str = $sname;
                }
            )*
        }

        /// A parsed call: the method and its decoded params.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Call {
            $( $variant(params::$variant), )*
            $( $svariant(params::$svariant), )*
        }

        /// Every method, in the order of the table.
        pub const METHODS: &[Method] = &[
            $( Method {
                name: $name,
                doc: concat!($($doc, "\n"),*),
                access: Access::$access,
                kind: Kind::Call,
                params: &[$(stringify!($field)),*],
            }, )*
            $( Method {
                name: $sname,
                doc: concat!($($sdoc, "\n"),*),
                access: Access::$saccess,
                kind: Kind::Subscription { notification: $notification, unsubscribe: $unsubscribe },
                params: &[$(stringify!($sfield)),*],
            }, )*
        ];

        impl Call {
            /// Decodes a call of `method` with `params` (see [`parse_params`]).
            pub fn parse(method: &str, params: Option<&RawValue>) -> Result<Call, CallError> {
                let Some(m) = self::method(method) else {
                    return Err(CallError::UnknownMethod);
                };
                match method {
                    $( $name => parse_params(m, params).map(Call::$variant), )*
                    $( $sname => parse_params(m, params).map(Call::$svariant), )*
                    _ => return Err(CallError::UnknownMethod),
                }
                .map_err(CallError::InvalidParams)
            }

            /// The method called.
            pub fn method(&self) -> &'static Method {
                let name = match self {
                    $( Call::$variant(_) => $name, )*
                    $( Call::$svariant(_) => $sname, )*
                };
                // Every variant's name is in METHODS by construction.
                self::method(name).unwrap_or(&METHODS[0])
            }
        }

        /// The typed client of every call method, over any jsonrpsee client
        /// (WebSocket or HTTP): one function per method, params in table
        /// order, absent options left out of the request.
        // One argument per param: stock.top has seven.
        #[allow(clippy::too_many_arguments)]
        #[jsonrpsee::core::async_trait]
        pub trait StockdClient: ClientT + Sync {
            $(
                $(#[doc = $doc])*
                #[allow(clippy::too_many_arguments)]
                async fn $client(&self, $($field: $fty),*) -> Result<$result, ClientError> {
                    self.request($name, ByName(params::$variant { $($field),* })).await
                }
            )*
        }
        impl<T: ClientT + Sync> StockdClient for T {}

        /// The typed client of the subscriptions (WebSocket only).
        #[jsonrpsee::core::async_trait]
        pub trait StockdSubscriptions: SubscriptionClientT + Sync {
            $(
                $(#[doc = $sdoc])*
                async fn $sclient(&self, $($sfield: $sfty),*) -> Result<Subscription<$item>, ClientError> {
                    self.subscribe($sname, ByName(params::$svariant { $($sfield),* }), $unsubscribe).await
                }
            )*
        }
        impl<T: SubscriptionClientT + Sync> StockdSubscriptions for T {}

        /// The OpenRPC 1.3 document of the contract (`rpc.discover`).
        pub fn openrpc() -> serde_json::Value {
            let mut gen = schemars::generate::SchemaSettings::draft07()
                .with(|s| s.definitions_path = "/components/schemas".into())
                .into_generator();
            let mut methods = Vec::new();
            $({
                let m = self::method($name).unwrap_or(&METHODS[0]);
                methods.push(describe(
                    m,
                    params_of::<params::$variant>(&mut gen, m),
                    schema_of::<$result>(&mut gen),
                ));
            })*
            $({
                let m = self::method($sname).unwrap_or(&METHODS[0]);
                methods.push(describe(
                    m,
                    params_of::<params::$svariant>(&mut gen, m),
                    schema_of::<$item>(&mut gen),
                ));
            })*
            let mut schemas = gen.take_definitions(true);
            // Root schemas of params structs are inlined above; their
            // nested definitions stay shared.
            $( schemas.remove(stringify!($variant)); )*
            serde_json::json!({
                "openrpc": "1.3.2",
                "info": {
                    "title": "stockd",
                    "version": env!("CARGO_PKG_VERSION"),
                    "description": "Daily stock market data over JSON-RPC 2.0 on a Unix socket (HTTP POST and WebSocket).",
                },
                "methods": methods,
                "components": { "schemas": schemas },
            })
        }
    };
}

/// One method's OpenRPC entry.
fn describe(m: &Method, params: serde_json::Value, result: serde_json::Value) -> serde_json::Value {
    let mut d = serde_json::json!({
        "name": m.name,
        "summary": m.summary(),
        "description": m.doc.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_string(),
        "params": params,
        "paramStructure": "either",
        "result": { "name": "result", "schema": result },
        "x-access": match m.access { Access::Data => "data", Access::Admin => "admin" },
    });
    if let Kind::Subscription {
        notification,
        unsubscribe,
    } = m.kind
    {
        d["x-notification"] = notification.into();
        d["x-unsubscribe"] = unsubscribe.into();
    }
    d
}

use crate::*;

contract! {
    methods {
        /// What the store holds: dates, stocks, rows, columns, source, generation.
        Data MarketInfo info = "market.info" {} -> MarketInfo;

        /// Trading dates held, ascending, as `YYYY-MM-DD`.
        Data MarketDates dates = "market.dates" {} -> Vec<String>;

        /// The stocks held, each described by its latest row (code, name,
        /// industry, board, listing date), by code; filtered by `industry`
        /// (exact), `prefix` (of the code) and `name` (substring, ASCII
        /// letters in any case); paged by `offset` (default 0) and `limit`
        /// (default 100, at most 1000).
        Data StockList list = "stock.list" {
            /// Only stocks of this industry (exact name).
            industry: Option<String>,
            /// Only codes starting with this.
            prefix: Option<String>,
            /// Only names containing this (ASCII letters in any case).
            name: Option<String>,
            /// Stocks to skip (default 0).
            offset: Option<u64>,
            /// Most stocks to return (default 100, at most 1000).
            limit: Option<u64>,
        } -> StockList;

        /// One row: `code` on `date` (default: the stock's latest date held).
        Data StockGet get = "stock.get" {
            /// The stock code, e.g. "600519".
            code: String,
            /// `YYYY-MM-DD` (default: the stock's latest date held).
            date: Option<String>,
            /// Columns to return (default: every column), at most 1024.
            fields: Option<Vec<String>>,
        } -> StockRow;

        /// Up to 1000 rows at once (one per code); codes with no row are
        /// listed in `missing`.
        Data StockMany many = "stock.many" {
            /// Stock codes, at most 1000.
            codes: Vec<String>,
            /// `YYYY-MM-DD` (default: each stock's latest date held).
            date: Option<String>,
            /// Columns to return (default: every column).
            fields: Option<Vec<String>>,
            /// `rows` (default: one object per row) or `columns` (`fields`,
            /// `codes`, `dates` once and `rows` as arrays of values).
            layout: Option<Layout>,
        } -> StockMany;

        /// One stock over a date range (default: the whole window),
        /// column-wise.
        Data StockHistory history = "stock.history" {
            /// The stock code.
            code: String,
            /// First date, `YYYY-MM-DD` (default: the first held).
            from: Option<String>,
            /// Last date, `YYYY-MM-DD` (default: the last held).
            to: Option<String>,
            /// Columns to return (default: every column).
            fields: Option<Vec<String>>,
        } -> StockHistory;

        /// The `n` rows of one date ranked by a numeric column; NULL and NaN
        /// are never ranked; ties are broken by code.
        Data StockTop top = "stock.top" {
            /// The numeric column to rank by.
            by: String,
            /// How many rows (default 20, at most 500).
            n: Option<u64>,
            /// `desc` (default) or `asc`.
            order: Option<String>,
            /// `YYYY-MM-DD` (default: the latest complete date).
            date: Option<String>,
            /// Only stocks of this industry.
            industry: Option<String>,
            /// Columns to return (default: every column).
            fields: Option<Vec<String>>,
            /// `rows` (default) or `columns`, as in `stock.many`.
            layout: Option<Layout>,
        } -> TopRows;

        /// Industries ranked by heat on `date` (default: the latest).
        Data HotspotsRanking hotspots = "hotspots.ranking" {
            /// `YYYY-MM-DD` (default: the latest complete date).
            date: Option<String>,
            /// How many industries (default: all).
            n: Option<u64>,
        } -> HotspotsRanking;

        /// One industry on `date`: members, statistics, top gainers and
        /// losers.
        Data IndustryDetail industry = "industry.detail" {
            /// The industry's name.
            industry: String,
            /// `YYYY-MM-DD` (default: the latest complete date).
            date: Option<String>,
        } -> IndustryDetail;

        /// Technical signals active for `code` on `date` (default: its
        /// latest).
        Data SignalsStock signals = "signals.stock" {
            /// The stock code.
            code: String,
            /// `YYYY-MM-DD` (default: the stock's latest date held).
            date: Option<String>,
        } -> StockSignals;

        /// This document: every method, its params and result, as OpenRPC.
        Data RpcDiscover discover = "rpc.discover" {} -> serde_json::Value;

        /// Everything an operator needs on one page: store, memory, pool,
        /// caches, requests, source.
        Admin AdminStatus status = "admin.status" {} -> AdminStatus;

        /// Drops every entry of one cache (or of all, without `name`).
        Admin CacheClear cache_clear = "cache.clear" {
            /// The cache (default: all of them).
            name: Option<String>,
        } -> CacheClearResult;

        /// Sets a cache's cap (bytes, or a string with a unit: "4MiB") and
        /// evicts down to it now.
        Admin CacheResize cache_resize = "cache.resize" {
            /// The cache.
            name: String,
            /// The new cap: bytes, or "4MiB" (B, KiB, MiB, GiB), at most 4 GiB.
            max_bytes: Size,
        } -> CacheResizeResult;

        /// Reloads the store from the source now and waits for the result.
        Admin StoreReload store_reload = "store.reload" {} -> ReloadResult;

        /// Sheds caches to their low mark (half the cap) and returns freed
        /// memory to the OS.
        Admin MemoryTrim memory_trim = "memory.trim" {} -> TrimResult;
    }
    subscriptions {
        /// Pushes `admin.status` results (as `admin.status_update`
        /// notifications) every `interval_ms` over a WebSocket.
        Admin SubscribeStatus subscribe_status = "admin.subscribe_status" {
            /// Milliseconds between updates (default 1000, 250 to 3600000).
            interval_ms: Option<u64>,
        } => "admin.status_update", "admin.unsubscribe_status", AdminStatus;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("test JSON")
    }

    #[test]
    fn names_are_unique_and_every_call_parses_back() {
        let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        let c = Call::parse("stock.get", Some(&raw(r#"{"code":"600519"}"#)));
        assert_eq!(c.as_ref().map(|c| c.method().name), Ok("stock.get"));
    }

    #[test]
    fn unknown_and_missing_params_are_named() {
        let e = Call::parse("stock.get", Some(&raw(r#"{"code":"1","feilds":["x"]}"#)));
        let Err(CallError::InvalidParams(e)) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.value, "feilds");
        assert!(
            e.message.contains("it takes: code, date, fields"),
            "{}",
            e.message
        );
        let e = Call::parse("stock.top", Some(&raw(r#"{"by":"pct_chg","limit":2}"#)));
        assert!(
            matches!(e, Err(CallError::InvalidParams(ref a)) if a.value == "limit"),
            "{e:?}"
        );
        let e = Call::parse("stock.get", Some(&raw("{}")));
        let Err(CallError::InvalidParams(e)) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.value, "code");
        assert!(e.message.contains("needs 'code'"), "{}", e.message);
        let e = Call::parse("stock.get", Some(&raw(r#"{"code":"1","fields":["a",3]}"#)));
        let Err(CallError::InvalidParams(e)) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.value, "fields[1]");
        assert_eq!(Call::parse("no.such", None), Err(CallError::UnknownMethod));
    }

    #[test]
    fn positional_params_fill_in_table_order() {
        let c = Call::parse("stock.get", Some(&raw(r#"["600519","2024-01-02"]"#)));
        assert_eq!(
            c,
            Ok(Call::StockGet(params::StockGet {
                code: "600519".into(),
                date: Some("2024-01-02".into()),
                fields: None
            }))
        );
        let e = Call::parse("market.info", Some(&raw("[1]")));
        assert!(matches!(e, Err(CallError::InvalidParams(_))), "{e:?}");
    }

    #[test]
    fn the_openrpc_document_lists_every_method_with_its_params() {
        let doc = openrpc();
        let methods = doc["methods"].as_array().cloned().unwrap_or_default();
        assert_eq!(methods.len(), METHODS.len());
        let get = methods
            .iter()
            .find(|m| m["name"] == "stock.get")
            .cloned()
            .unwrap_or_default();
        assert_eq!(get["params"][0]["name"], "code");
        assert_eq!(get["params"][0]["required"], true);
        assert_eq!(get["params"][1]["required"], false);
        assert_eq!(get["x-access"], "data");
        assert!(
            doc["components"]["schemas"]["StockRow"].is_object(),
            "{doc}"
        );
    }
}
