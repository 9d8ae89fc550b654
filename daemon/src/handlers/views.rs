//! The derived views: `hotspots.ranking`, `industry.detail`,
//! `signals.stock`, each cached in its own byte-capped cache.

use super::{cached, to_json};
use crate::app::Shared;
use crate::cache::Doc;
use crate::views;
use stockd_api::{params, AppError};

pub fn hotspots(app: &Shared, p: &params::HotspotsRanking) -> Result<Doc, AppError> {
    app.refuse_if_overloaded(params::HotspotsRanking::METHOD)?;
    let store = app.store()?;
    cached(
        &app.caches.hotspots,
        params::HotspotsRanking::METHOD,
        store.info.generation,
        p,
        || {
            let sem = views::Semantic::new(&store, &app.columns);
            to_json(&views::hotspots(&store, &sem, p.date.as_deref(), p.n)?)
        },
    )
}

pub fn industry(app: &Shared, p: &params::IndustryDetail) -> Result<Doc, AppError> {
    app.refuse_if_overloaded(params::IndustryDetail::METHOD)?;
    let store = app.store()?;
    cached(
        &app.caches.industry,
        params::IndustryDetail::METHOD,
        store.info.generation,
        p,
        || {
            let sem = views::Semantic::new(&store, &app.columns);
            to_json(&views::industry_detail(
                &store,
                &sem,
                &p.industry,
                p.date.as_deref(),
            )?)
        },
    )
}

pub fn signals(app: &Shared, p: &params::SignalsStock) -> Result<Doc, AppError> {
    app.refuse_if_overloaded(params::SignalsStock::METHOD)?;
    let store = app.store()?;
    cached(
        &app.caches.signals,
        params::SignalsStock::METHOD,
        store.info.generation,
        p,
        || {
            let sem = views::Semantic::new(&store, &app.columns);
            to_json(&views::signals(
                &store,
                &sem,
                &app.signals,
                &p.code,
                p.date.as_deref(),
            )?)
        },
    )
}
