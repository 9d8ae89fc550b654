//! Reliability scenarios: load (placeholder, filled in by its owner).

use crate::report::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
