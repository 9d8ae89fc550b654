//! The admin methods (the gate has been passed in [`super::handle`]).

use super::to_doc;
use crate::app::reload::{serving_now, ReloadRequest, Trigger};
use crate::app::Shared;
use crate::cache::{ByteCache, Caches, Doc};
use crate::memory;
use stockd_api::{
    limits, params, AppError, CacheClearResult, CacheDropped, CacheResizeResult, ErrorKind, Size,
    TrimResult,
};
use tokio::sync::oneshot;

pub fn status(app: &Shared) -> Result<Doc, AppError> {
    to_doc(&crate::app::status::status(app))
}

fn unknown_cache(caches: &Caches, name: &str) -> AppError {
    AppError::new(
        ErrorKind::UnknownCache,
        name,
        format!(
            "unknown cache '{name}'; caches are: {}",
            caches.names().join(", ")
        ),
    )
}

pub fn cache_clear(app: &Shared, p: &params::CacheClear) -> Result<Doc, AppError> {
    let caches = &app.caches;
    let targets: Vec<&ByteCache> = match &p.name {
        Some(n) => vec![caches.by_name(n).ok_or_else(|| unknown_cache(caches, n))?],
        None => caches.all().to_vec(),
    };
    let dropped = targets
        .into_iter()
        .map(|c| {
            let d = c.clear();
            CacheDropped {
                name: c.name().to_string(),
                entries: d.entries,
                bytes: d.bytes,
            }
        })
        .collect();
    memory::release_to_os();
    tracing::info!(
        cache = p.name.as_deref().unwrap_or("all"),
        "cache cleared by admin"
    );
    to_doc(&CacheClearResult { dropped })
}

pub fn cache_resize(app: &Shared, p: &params::CacheResize) -> Result<Doc, AppError> {
    let caches = &app.caches;
    let cache = caches
        .by_name(&p.name)
        .ok_or_else(|| unknown_cache(caches, &p.name))?;
    let bytes = match &p.max_bytes {
        Size::Bytes(b) => *b,
        Size::Text(t) => crate::config::parse_size(t).map_err(|e| {
            AppError::new(
                ErrorKind::InvalidParams,
                t.clone(),
                format!("max_bytes '{t}' is not a size: {e}"),
            )
        })?,
    };
    if bytes > limits::MAX_CACHE_BYTES {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            bytes.to_string(),
            format!(
                "max_bytes = {bytes} exceeds the largest cache cap, {} (4 GiB)",
                limits::MAX_CACHE_BYTES
            ),
        ));
    }
    let (_, caps) = caches.totals();
    let new_total = caps - cache.cap() + bytes;
    let budget = app.governor.budget;
    if new_total > budget {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            bytes.to_string(),
            format!(
                "max_bytes = {bytes} would make the caches' caps total {new_total} bytes, over the memory budget of {budget} bytes (memory.limit)"
            ),
        ));
    }
    let d = cache.resize(bytes);
    tracing::info!(cache = p.name, max_bytes = bytes, "cache resized by admin");
    to_doc(&CacheResizeResult {
        name: p.name.clone(),
        max_bytes: bytes,
        evicted_entries: d.entries,
        evicted_bytes: d.bytes,
    })
}

pub async fn store_reload(app: &Shared) -> Result<Doc, AppError> {
    let method = params::StoreReload::METHOD;
    // A reload builds a second store next to the first: not now.
    app.refuse_if_overloaded(method)?;
    let Some(tx) = app.reloads.get() else {
        return Err(AppError::new(
            ErrorKind::StoreNotLoaded,
            "",
            "no source to reload from",
        ));
    };
    let (reply, answer) = oneshot::channel();
    let req = ReloadRequest {
        trigger: Trigger::Request,
        reply: Some(reply),
    };
    if tx.send(req).await.is_err() {
        return Err(AppError::new(
            ErrorKind::StoreNotLoaded,
            "",
            "the refresh task has stopped",
        ));
    }
    match answer.await {
        Ok(Ok(r)) => to_doc(&r),
        // An older store still serving is not "not loaded": say the
        // reload failed and what is served instead.
        Ok(Err(e)) => Err(match serving_now(app) {
            Some(serving) => AppError::new(
                ErrorKind::ReloadFailed,
                "",
                format!("reload failed, {serving}: {e}"),
            ),
            None => AppError::new(
                ErrorKind::StoreNotLoaded,
                "",
                format!("reload failed and nothing is loaded yet: {e}"),
            ),
        }),
        Err(_) => Err(AppError::new(
            ErrorKind::StoreNotLoaded,
            "",
            "the refresh task dropped the request",
        )),
    }
}

pub fn memory_trim(app: &Shared) -> Result<Doc, AppError> {
    let before = memory::rss().map_or(0, |r| r.0);
    let caches = &app.caches;
    // Shed to the low mark (half of each cap), then restore the caps
    // unless the governor is holding them down.
    let d = caches.throttle_all(0.5);
    if app.governor.state() == crate::governor::MemState::Ok {
        caches.throttle_all(1.0);
    }
    memory::release_to_os();
    let after = memory::rss().map_or(0, |r| r.0);
    tracing::info!(
        rss_before = before,
        rss_after = after,
        "memory trimmed by admin"
    );
    to_doc(&TrimResult {
        rss_before: before,
        rss_after: after,
        cache_bytes_dropped: d.bytes,
    })
}
