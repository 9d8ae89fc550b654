//! Unknown parameter names refused by name. jsonrpsee decodes a params
//! object into the method's arguments and ignores members it does not know,
//! so a typo (`limt`) would silently mean "default". For the methods the
//! contract lists in [`stockd_api::STRICT_PARAMS`] this middleware, inside
//! the [`crate::stats::Recorder`] (so refusals are counted), answers such a
//! call with "invalid params" naming the unknown member and the names the
//! method takes, before the handler runs. The fast path needs no check of
//! its own: its parameter structs deny unknown fields, so such a call falls
//! through to jsonrpsee and meets this layer.

use jsonrpsee::server::middleware::rpc::{Batch, Notification, Request, RpcServiceT};
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::MethodResponse;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::future::Future;

/// At most 64 characters of a caller's name, control characters shown
/// escaped, for quoting in a message.
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    s
}

/// The refusal of a call to `method` with `params`, if `method` is strict
/// and `params` holds a name it does not take (or, given by position, more
/// values than it takes). `None` leaves the call to jsonrpsee, also when
/// the params are not an object or array at all (its error names that).
pub fn refusal(method: &str, params: Option<&RawValue>) -> Option<ErrorObjectOwned> {
    let names = stockd_api::strict_params(method)?;
    let text = params?.get();
    let takes = names.join(", ");
    if let Ok(members) = serde_json::from_str::<BTreeMap<String, IgnoredAny>>(text) {
        let unknown: Vec<String> = members
            .keys()
            .filter(|k| !names.contains(&k.as_str()))
            .map(|k| shown(k))
            .collect();
        let first = unknown.first()?;
        let list = unknown
            .iter()
            .take(8)
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let more = unknown.len().saturating_sub(8);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let what = if unknown.len() == 1 {
            "no param"
        } else {
            "no params"
        };
        return Some(ErrorObjectOwned::owned(
            INVALID_PARAMS_CODE,
            format!("invalid params: {method} has {what} {list}{more}; it takes: {takes}"),
            Some(serde_json::json!({"kind": "invalid_params", "param": first, "value": first})),
        ));
    }
    let values = serde_json::from_str::<Vec<IgnoredAny>>(text).ok()?;
    (values.len() > names.len()).then(|| {
        ErrorObjectOwned::owned(
            INVALID_PARAMS_CODE,
            format!(
                "invalid params: {method} takes at most {} params by position ({takes}); got {}",
                names.len(),
                values.len()
            ),
            Some(serde_json::json!({"kind": "invalid_params", "value": values.len().to_string()})),
        )
    })
}

/// The middleware: [`refusal`] before the inner service.
#[derive(Clone)]
pub struct StrictParams<S> {
    pub service: S,
}

impl<S> RpcServiceT for StrictParams<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = refusal(request.method_name(), request.params.as_deref());
        let service = self.service.clone();
        async move {
            match refused {
                Some(e) => MethodResponse::error(request.id().into_owned(), e),
                None => service.call(request).await,
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // The Recorder runs each call of a batch through `call`.
        self.service.batch(batch)
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

    fn message(method: &str, params: &str) -> Option<String> {
        refusal(method, Some(&raw(params))).map(|e| e.message().to_string())
    }

    #[test]
    fn unknown_names_are_refused_by_name_with_the_names_taken() {
        let m = message("stock.list", r#"{"prefix":"60","limt":5}"#).expect("refused");
        assert_eq!(
            m,
            "invalid params: stock.list has no param 'limt'; it takes: industry, prefix, name, offset, limit"
        );
        let m = message("stock.list", r#"{"a":1,"b\n":2}"#).expect("refused");
        assert!(m.contains("no params 'a', 'b\\n'"), "{m}");
        let e = refusal("stock.list", Some(&raw(r#"{"code":"1"}"#))).expect("refused");
        assert_eq!(e.code(), INVALID_PARAMS_CODE);
        let data = e.data().map(|d| d.get().to_string()).unwrap_or_default();
        assert!(data.contains(r#""param":"code""#), "{data}");
        let long = format!(r#"{{"{}":1}}"#, "x".repeat(500));
        let m = message("stock.list", &long).expect("refused");
        assert!(m.len() < 200 && m.contains('…'), "{m}");
        let m = message("stock.list", r#"["a","b","c",0,1,2]"#).expect("refused");
        assert!(m.contains("at most 5") && m.contains("got 6"), "{m}");
    }

    #[test]
    fn known_names_and_other_methods_pass() {
        assert_eq!(
            message(
                "stock.list",
                r#"{"industry":"银行","prefix":"6","name":"a","offset":0,"limit":1}"#
            ),
            None
        );
        assert_eq!(message("stock.list", "{}"), None);
        assert_eq!(message("stock.list", r#"["银行"]"#), None);
        // Not an object or array: jsonrpsee's error names the problem.
        assert_eq!(message("stock.list", "5"), None);
        assert_eq!(refusal("stock.list", None), None);
        // Methods outside STRICT_PARAMS keep jsonrpsee's behaviour.
        assert_eq!(message("stock.get", r#"{"code":"x","extra":1}"#), None);
    }
}
