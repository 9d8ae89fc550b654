//! The derived views: `hotspots.ranking`, `industry.detail`,
//! `signals.stock`, each cached in its own byte-capped cache.

use super::{cached, to_json};
use crate::app::Shared;
use crate::cache::{ByteCache, Doc};
use crate::store::Store;
use crate::views::{self, Semantic};
use serde::Serialize;
use stockd_api::{params, AppError};

/// What every view does around its computation: refuse when the governor
/// sheds, take the store in service, and serve from `cache` or compute on
/// the semantic columns.
fn view<P: Serialize, T: Serialize>(
    app: &Shared,
    cache: &ByteCache,
    method: &str,
    p: &P,
    compute: impl FnOnce(&Store, &Semantic) -> Result<T, AppError>,
) -> Result<Doc, AppError> {
    app.refuse_if_overloaded(method)?;
    let store = app.store()?;
    cached(cache, method, store.info.generation, p, || {
        let sem = Semantic::new(&store, &app.columns);
        to_json(&compute(&store, &sem)?)
    })
}

pub fn hotspots(app: &Shared, p: &params::HotspotsRanking) -> Result<Doc, AppError> {
    view(
        app,
        &app.caches.hotspots,
        params::HotspotsRanking::METHOD,
        p,
        |store, sem| views::hotspots(store, sem, p.date.as_deref(), p.n),
    )
}

pub fn industry(app: &Shared, p: &params::IndustryDetail) -> Result<Doc, AppError> {
    view(
        app,
        &app.caches.industry,
        params::IndustryDetail::METHOD,
        p,
        |store, sem| views::industry_detail(store, sem, &p.industry, p.date.as_deref()),
    )
}

pub fn signals(app: &Shared, p: &params::SignalsStock) -> Result<Doc, AppError> {
    view(
        app,
        &app.caches.signals,
        params::SignalsStock::METHOD,
        p,
        |store, sem| views::signals(store, sem, &app.signals, &p.code, p.date.as_deref()),
    )
}
