//! Per-method request counts, errors and latency percentiles, kept in a
//! fixed set of lock-free log-scale histograms (bounded memory whatever the
//! traffic: method names outside the contract share one "other" slot).

use jsonrpsee::core::server::BatchResponseBuilder;
use jsonrpsee::server::middleware::rpc::{Batch, BatchEntry, Notification, Request, RpcServiceT};
use jsonrpsee::types::error::METHOD_NOT_FOUND_CODE;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::MethodResponse;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use stockd_api::RequestStatus;

/// Four buckets per power of two, from 1 µs to about 2^34 µs (4.7 h).
const SUB: usize = 4;
const BUCKETS: usize = 35 * SUB;

/// A latency histogram of microseconds.
pub struct Histogram {
    counts: Vec<AtomicU64>,
}

fn bucket(us: u64) -> usize {
    let us = us.max(1);
    let exp = 63 - us.leading_zeros() as usize; // floor(log2)
    let frac = if exp >= 2 {
        ((us >> (exp - 2)) & 0b11) as usize
    } else {
        ((us << (2 - exp)) & 0b11) as usize
    };
    (exp * SUB + frac).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in µs.
fn upper(b: usize) -> u64 {
    let exp = b / SUB;
    let frac = (b % SUB) as u64;
    let base = 1u64 << exp;
    base + (base * (frac + 1)) / SUB as u64
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub fn record(&self, us: u64) {
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The value at quantile `q` (0..1), as a bucket's upper bound.
    pub fn quantile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(b);
            }
        }
        upper(BUCKETS - 1)
    }
}

#[derive(Default)]
struct MethodStats {
    count: AtomicU64,
    errors: AtomicU64,
    latency: Histogram,
}

/// Statistics for every method of the contract, plus "other".
pub struct RequestStats {
    names: Vec<&'static str>,
    slots: Vec<MethodStats>,
}

impl RequestStats {
    pub fn new(methods: &[&'static str]) -> RequestStats {
        let mut names = methods.to_vec();
        names.push("other");
        RequestStats {
            slots: names.iter().map(|_| MethodStats::default()).collect(),
            names,
        }
    }

    fn slot(&self, method: &str) -> &MethodStats {
        let i = self
            .names
            .iter()
            .position(|n| *n == method)
            .unwrap_or(self.names.len() - 1);
        &self.slots[i]
    }

    pub fn record(&self, method: &str, us: u64, error: bool) {
        let s = self.slot(method);
        s.count.fetch_add(1, Ordering::Relaxed);
        if error {
            s.errors.fetch_add(1, Ordering::Relaxed);
        }
        s.latency.record(us);
    }

    /// Methods that have been called at least once.
    pub fn status(&self) -> Vec<RequestStatus> {
        self.names
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| s.count.load(Ordering::Relaxed) > 0)
            .map(|(n, s)| RequestStatus {
                method: n.to_string(),
                count: s.count.load(Ordering::Relaxed),
                errors: s.errors.load(Ordering::Relaxed),
                p50_us: s.latency.quantile(0.50),
                p99_us: s.latency.quantile(0.99),
            })
            .collect()
    }
}

/// jsonrpsee middleware in front of every call: it answers a call to a
/// method that does not exist with an error naming it (jsonrpsee's own says
/// only "Method not found"), treats absent `params` as `{}` (so a missing
/// parameter is reported by name), and records the call into
/// [`RequestStats`].
#[derive(Clone)]
pub struct Recorder<S> {
    pub service: S,
    pub stats: Arc<RequestStats>,
    /// Every method name the server registered.
    pub known: Arc<Vec<String>>,
    /// The server's response size limit, for batch answers.
    pub max_response_bytes: usize,
}

fn unknown_method(method: &str, known: &[String]) -> ErrorObjectOwned {
    let shown: String = method.chars().take(64).collect();
    ErrorObjectOwned::owned(
        METHOD_NOT_FOUND_CODE,
        format!(
            "method '{shown}' does not exist; methods: {}",
            known.join(", ")
        ),
        Some(serde_json::json!({"kind": "unknown_method", "value": shown})),
    )
}

/// jsonrpsee's "Invalid params" for a value of the wrong type says only
/// "invalid type: map, expected a string at line 1 column 8". This finds
/// the parameter at that position of the params object and names it (and
/// a short form of the value) in the message and in `data`.
fn name_param(params: &RawValue, answer: &RawValue) -> Option<ErrorObjectOwned> {
    #[derive(serde::Deserialize)]
    struct Answer {
        error: ErrorObjectOwned,
    }
    let err = serde_json::from_str::<Answer>(answer.get()).ok()?.error;
    // jsonrpsee puts serde's text in `data` ("Invalid params" is the
    // message); look in both.
    let data = err
        .data()
        .and_then(|d| serde_json::from_str::<String>(d.get()).ok());
    let message = match &data {
        Some(d) if position(d).is_some() => d.as_str(),
        _ => err.message(),
    };
    let (line, column) = position(message)?;
    let text = params.get();
    // Byte offset of line:column (both 1-based) in the params text.
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let offset = line_start + column.saturating_sub(1);
    let members: Vec<(&str, &RawValue)> =
        serde_json::from_str::<std::collections::BTreeMap<&str, &RawValue>>(text)
            .ok()?
            .into_iter()
            .collect();
    // The member whose value starts last at or before the position
    // (serde reports the position of the value's first character or
    // just before it).
    let base = text.as_ptr() as usize;
    let (name, value) = members
        .into_iter()
        .map(|(k, v)| (k, v, (v.get().as_ptr() as usize).wrapping_sub(base)))
        .filter(|&(_, _, start)| start <= offset + 1)
        .max_by_key(|&(_, _, start)| start)
        .map(|(k, v, _)| (k, v))?;
    let shown: String = value.get().chars().take(40).collect();
    let reason = message.split(" at line ").next().unwrap_or(message);
    let reason = reason.strip_prefix("Invalid params").unwrap_or(reason);
    let reason = reason.trim_start_matches([':', ' ']);
    Some(ErrorObjectOwned::owned(
        err.code(),
        format!("invalid params: '{name}' = {shown}: {reason}"),
        Some(serde_json::json!({"kind": "invalid_params", "param": name, "value": shown})),
    ))
}

/// `line L column C` at the end of a serde message.
fn position(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.rfind(" at line ")? + " at line ".len()..];
    let (line, rest) = rest.split_once(" column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

impl<S> RpcServiceT for Recorder<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse>
        + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        mut request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let stats = self.stats.clone();
        let known = self.known.clone();
        async move {
            let started = Instant::now();
            let method = request.method_name().to_string();
            if !known.contains(&method) {
                stats.record(&method, 0, true);
                return MethodResponse::error(
                    request.id().into_owned(),
                    unknown_method(&method, &known),
                );
            }
            if request.params.is_none() {
                if let Ok(empty) = RawValue::from_string("{}".into()) {
                    request.params = Some(Cow::Owned(empty));
                }
            }
            let params = request.params.clone();
            let id = request.id().into_owned();
            let mut rp = service.call(request).await;
            if rp.as_error_code() == Some(jsonrpsee::types::error::INVALID_PARAMS_CODE) {
                if let Some(named) = params.as_deref().and_then(|p| name_param(p, rp.as_json())) {
                    rp = MethodResponse::error(id, named);
                }
            }
            stats.record(&method, started.elapsed().as_micros() as u64, rp.is_error());
            rp
        }
    }

    /// Runs every call of a batch through [`Self::call`] (jsonrpsee's own
    /// batch handler would call the inner service directly, skipping the
    /// naming, the `{}` default and the statistics).
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut answers = BatchResponseBuilder::new_with_limit(this.max_response_bytes);
            let mut got_notification = false;
            for entry in batch.into_iter() {
                let rp = match entry {
                    Ok(BatchEntry::Call(req)) => this.call(req).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        this.service.notification(n).await;
                        continue;
                    }
                    Err(err) => {
                        let (err, id) = err.into_parts();
                        MethodResponse::error(id, err)
                    }
                };
                if let Err(too_big) = answers.append(rp) {
                    return too_big;
                }
            }
            if answers.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(answers.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("test JSON")
    }

    #[test]
    fn wrong_typed_params_are_named() {
        let params = raw(r#"{"date":"2026-01-02","code":{"a":1}}"#);
        let answer = raw(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params","data":"invalid type: map, expected a string at line 1 column 28"}}"#,
        );
        let e = name_param(&params, &answer).expect("named");
        assert!(e.message().contains("'code'"), "{}", e.message());
        assert!(e.message().contains("expected a string"), "{}", e.message());
        let first = raw(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params","data":"invalid type: integer `5`, expected a string at line 1 column 9"}}"#,
        );
        let e = name_param(&raw(r#"{"date":5,"code":"x"}"#), &first).expect("named");
        assert!(e.message().contains("'date' = 5"), "{}", e.message());
        assert_eq!(position("x at line 2 column 17"), Some((2, 17)));
        assert_eq!(position("no position"), None);
    }

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(us);
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((500..=640).contains(&p50), "p50 {p50}");
        assert!((990..=1280).contains(&p99), "p99 {p99}");
        for us in [1u64, 3, 17, 1000, 123_456] {
            assert!(upper(bucket(us)) >= us, "{us}");
            assert!(upper(bucket(us)) <= us * 2 + 1, "{us}");
        }
    }

    #[test]
    fn unknown_methods_share_one_slot() {
        let s = RequestStats::new(&["a"]);
        s.record("a", 10, false);
        s.record("x", 10, true);
        s.record("y", 10, true);
        let st = s.status();
        assert_eq!(st.len(), 2);
        assert_eq!(
            (st[1].method.as_str(), st[1].count, st[1].errors),
            ("other", 2, 2)
        );
    }
}
