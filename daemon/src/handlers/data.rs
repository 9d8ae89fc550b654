//! The data methods: `market.*` and `stock.*`.

use super::{cached, to_doc, to_json};
use crate::app::Shared;
use crate::cache::Doc;
use crate::{query, views};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use stockd_api::{limits, params, AppError};

pub fn info(app: &Shared) -> Result<Doc, AppError> {
    let store = app.store()?;
    let pending = app
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    to_doc(&query::market_info(
        &store,
        app.stale.load(Ordering::Relaxed),
        pending,
        &app.columns,
    ))
}

pub fn dates(app: &Shared) -> Result<Doc, AppError> {
    to_doc(&query::market_dates(&*app.store()?))
}

pub fn list(app: &Shared, p: &params::StockList) -> Result<Doc, AppError> {
    let store = app.store()?;
    cached(
        &app.caches.query,
        params::StockList::METHOD,
        store.info.generation,
        p,
        || {
            let sem = views::Semantic::new(&store, &app.columns);
            let q = views::ListParams {
                industry: p.industry.as_deref(),
                prefix: p.prefix.as_deref(),
                name: p.name.as_deref(),
                offset: p.offset,
                limit: p.limit,
            };
            let list = views::stock_list(&store, &sem, &q)?;
            to_json(&list)
        },
    )
}

pub fn get(app: &Shared, p: &params::StockGet) -> Result<Doc, AppError> {
    let store = app.store()?;
    query::stock_get(&store, &p.code, p.date.as_deref(), p.fields.as_deref()).map(Arc::from)
}

pub fn many(app: &Shared, p: &params::StockMany) -> Result<Doc, AppError> {
    if p.codes.len() > limits::MAX_CODES_WHEN_CRITICAL {
        app.refuse_if_overloaded(params::StockMany::METHOD)?;
    }
    let store = app.store()?;
    cached(
        &app.caches.query,
        params::StockMany::METHOD,
        store.info.generation,
        p,
        || {
            query::stock_many(
                &store,
                &p.codes,
                p.date.as_deref(),
                p.fields.as_deref(),
                p.layout.unwrap_or_default(),
            )
        },
    )
}

pub fn history(app: &Shared, p: &params::StockHistory) -> Result<Doc, AppError> {
    let store = app.store()?;
    if app.governor.overloaded() {
        // Only long spans are expensive: count the dates asked for.
        let lo = p.from.as_deref().and_then(crate::store::time::parse_date);
        let hi = p.to.as_deref().and_then(crate::store::time::parse_date);
        let span = store
            .dates()
            .iter()
            .filter(|&&d| lo.is_none_or(|lo| d >= lo) && hi.is_none_or(|hi| d <= hi))
            .count();
        if span > limits::MAX_HISTORY_DAYS_WHEN_CRITICAL {
            app.refuse_if_overloaded(params::StockHistory::METHOD)?;
        }
    }
    cached(
        &app.caches.query,
        params::StockHistory::METHOD,
        store.info.generation,
        p,
        || {
            query::stock_history(
                &store,
                &p.code,
                p.from.as_deref(),
                p.to.as_deref(),
                p.fields.as_deref(),
            )
        },
    )
}

pub fn top(app: &Shared, p: &params::StockTop) -> Result<Doc, AppError> {
    let store = app.store()?;
    cached(
        &app.caches.query,
        params::StockTop::METHOD,
        store.info.generation,
        p,
        || {
            let q = query::TopParams {
                by: &p.by,
                n: p.n,
                order: p.order.as_deref(),
                date: p.date.as_deref(),
                industry: p.industry.as_deref(),
                fields: p.fields.as_deref(),
                layout: p.layout.unwrap_or_default(),
            };
            query::stock_top(&store, &q, &app.columns.industry)
        },
    )
}
