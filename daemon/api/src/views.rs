//! Result shapes of the derived views (`hotspots.ranking`,
//! `industry.detail`, `signals.stock`).

use serde::{Deserialize, Serialize};

/// `hotspots.ranking`. (Fields are filled in by the views module's author.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HotspotsRanking {
    pub date: String,
}

/// `industry.detail`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndustryDetail {
    pub industry: String,
    pub date: String,
}

/// `signals.stock`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockSignals {
    pub code: String,
    pub date: String,
}
