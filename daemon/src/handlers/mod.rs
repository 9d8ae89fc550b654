//! The handlers: one function per method of the contract. A call arrives
//! decoded ([`Call`]); [`handle`] checks the caller may make it (the
//! contract says which methods are admin), runs it against the store in
//! service through [`crate::query`], [`crate::views`] and the app state,
//! and returns the result as a JSON document. No HTTP, no JSON-RPC framing:
//! that is [`crate::rpc`]'s.

pub mod admin;
pub mod arrow;
pub mod data;
pub mod views;

use crate::app::{PeerCred, Shared};
use crate::cache::{ByteCache, Doc};
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use stockd_api::{params, Access, AppError, Call, ErrorKind};

/// Whether `peer` may make `call`: the contract says which methods are
/// admin, the gate who may call them. The one place both meet (calls here,
/// subscriptions in [`crate::rpc`]'s WebSocket module).
pub async fn admit(app: &Shared, call: &Call, peer: Option<&PeerCred>) -> Result<(), AppError> {
    let m = call.method();
    if m.access == Access::Admin {
        app.gate.check(m.name, peer).await?;
    }
    Ok(())
}

/// Runs one call.
pub async fn handle(app: &Shared, call: Call, peer: Option<&PeerCred>) -> Result<Doc, AppError> {
    admit(app, &call, peer).await?;
    match call {
        Call::MarketInfo(_) => data::info(app),
        Call::MarketDates(_) => data::dates(app),
        Call::StockList(p) => data::list(app, &p),
        Call::StockGet(p) => data::get(app, &p),
        Call::StockMany(p) => data::many(app, &p),
        Call::StockHistory(p) => data::history(app, &p),
        Call::StockTop(p) => data::top(app, &p),
        Call::HotspotsRanking(p) => views::hotspots(app, &p),
        Call::IndustryDetail(p) => views::industry(app, &p),
        Call::SignalsStock(p) => views::signals(app, &p),
        Call::RpcDiscover(_) => Ok(discover()),
        Call::AdminStatus(_) => admin::status(app),
        Call::CacheClear(p) => admin::cache_clear(app, &p),
        Call::CacheResize(p) => admin::cache_resize(app, &p),
        Call::StoreReload(_) => admin::store_reload(app).await,
        Call::MemoryTrim(_) => admin::memory_trim(app),
        // The transports refuse a subscription over HTTP and run it over
        // WebSocket themselves; reaching here is a bug, not a bad request.
        Call::SubscribeStatus(p) => Err(AppError::new(
            ErrorKind::Internal,
            params::SubscribeStatus::METHOD,
            format!(
                "internal error: {} reached the call handler (interval_ms {:?})",
                params::SubscribeStatus::METHOD,
                p.interval_ms
            ),
        )),
    }
}

/// The OpenRPC document, written once.
fn discover() -> Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| Arc::from(stockd_api::openrpc().to_string()))
        .clone()
}

/// A value as a JSON document.
pub fn to_doc<T: Serialize>(v: &T) -> Result<Doc, AppError> {
    to_json(v).map(Arc::from)
}

/// A value as JSON text; a failure to write it is an internal error.
pub fn to_json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| {
        AppError::new(
            ErrorKind::Internal,
            "",
            format!("internal error writing the result: {e}"),
        )
    })
}

/// Serves the call `(method, generation, params)` from `cache`, or
/// computes, stores and serves it.
pub fn cached<P: Serialize>(
    cache: &ByteCache,
    method: &str,
    generation: u64,
    params: &P,
    compute: impl FnOnce() -> Result<String, AppError>,
) -> Result<Doc, AppError> {
    let p = serde_json::to_string(params).unwrap_or_default();
    let key = format!("{method}|{generation}|{p}");
    if let Some(d) = cache.get(&key) {
        return Ok(d);
    }
    let d: Doc = Arc::from(compute()?);
    cache.insert(key, d.clone());
    Ok(d)
}
