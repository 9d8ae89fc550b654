//! The WebSocket side. jsonrpsee speaks the WebSocket protocol and keeps
//! subscriptions; every method of the contract is registered here from the
//! table ([`stockd_api::METHODS`]) and answered by [`super::parse`] and
//! [`super::run`], the path HTTP calls take. A method that does not exist
//! gets the same -32601 error as over HTTP.

use super::{parse, run};
use crate::app::{PeerCred, Shared};
use crate::cache::Doc;
use jsonrpsee::server::middleware::rpc::{Batch, Notification, Request, RpcServiceT};
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Extensions, MethodResponse};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use stockd_api::{limits, AppError, Call, ErrorKind, Kind};

/// A handler's document, written into jsonrpsee's response verbatim.
#[derive(Clone)]
struct Raw(Doc);

/// serde_json's marker for "write this string verbatim": the exact
/// sequence `RawValue`'s own `Serialize` uses. It spares a validating
/// parse of every result; the text is valid JSON by construction (the
/// store's writers, or `serde_json::to_string`), and a unit test pins the
/// behaviour.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct(RAW_TOKEN, 1)?;
        st.serialize_field(RAW_TOKEN, &*self.0)?;
        st.end()
    }
}

/// An error object's text as jsonrpsee's type.
fn error(text: &str) -> ErrorObjectOwned {
    serde_json::from_str(text).unwrap_or_else(|e| {
        ErrorObjectOwned::owned(-32603, format!("internal error: {e}"), None::<()>)
    })
}

async fn call(
    app: &Shared,
    method: &'static str,
    params: Option<&str>,
    ext: &Extensions,
) -> Result<Raw, ErrorObjectOwned> {
    let raw = params.and_then(|p| serde_json::from_str::<&serde_json::value::RawValue>(p).ok());
    let call = parse(app, method, raw).map_err(|e| error(&e))?;
    run(app, call, ext.get::<PeerCred>())
        .await
        .map(Raw)
        .map_err(|e| error(&e))
}

/// `admin.subscribe_status`: an `admin.status` every `interval_ms`.
async fn subscribe_status(
    app: Arc<Shared>,
    params: Option<&str>,
    pending: PendingSubscriptionSink,
    ext: &Extensions,
) {
    let method = stockd_api::params::SubscribeStatus::METHOD;
    let raw = params.and_then(|p| serde_json::from_str::<&serde_json::value::RawValue>(p).ok());
    let call = match parse(&app, method, raw) {
        Ok(call) => call,
        Err(e) => {
            pending.reject(error(&e)).await;
            return;
        }
    };
    if let Err(e) = crate::handlers::admit(&app, &call, ext.get::<PeerCred>()).await {
        pending.reject(ErrorObjectOwned::from(e)).await;
        return;
    }
    let Call::SubscribeStatus(p) = call else {
        return;
    };
    let ms = p.interval_ms.unwrap_or(1000);
    if !(limits::MIN_STATUS_INTERVAL_MS..=limits::MAX_STATUS_INTERVAL_MS).contains(&ms) {
        let e = AppError::new(
            ErrorKind::InvalidParams,
            ms.to_string(),
            format!(
                "interval_ms = {ms} is out of range; give {} to {}",
                limits::MIN_STATUS_INTERVAL_MS,
                limits::MAX_STATUS_INTERVAL_MS
            ),
        );
        pending.reject(ErrorObjectOwned::from(e)).await;
        return;
    }
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sink.closed() => break,
            _ = tick.tick() => {
                let status = crate::app::status::status(&app);
                let Ok(raw) = serde_json::value::to_raw_value(&status) else { break };
                if sink.send(SubscriptionMessage::from(raw)).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Every method of the contract, registered for the WebSocket server.
pub fn module(app: Arc<Shared>) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    for m in stockd_api::METHODS {
        let app = app.clone();
        let name = m.name;
        let registered = match m.kind {
            Kind::Call => module
                .register_async_method(name, move |params, _, ext| {
                    let app = app.clone();
                    async move { call(&app, name, params.as_str(), &ext).await }
                })
                .map(|_| ()),
            Kind::Subscription {
                notification,
                unsubscribe,
            } => module
                .register_subscription(
                    name,
                    notification,
                    unsubscribe,
                    move |params, pending, _, ext| {
                        let app = app.clone();
                        async move {
                            subscribe_status(app, params.as_str(), pending, &ext).await;
                        }
                    },
                )
                .map(|_| ()),
        };
        if let Err(e) = registered {
            tracing::error!("method {name} registered twice: {e}");
        }
    }
    module
}

/// jsonrpsee middleware answering a call to a method that does not exist
/// with the error the HTTP path gives (jsonrpsee's own says only "Method
/// not found").
#[derive(Clone)]
pub struct UnknownMethods<S> {
    pub service: S,
}

fn known(method: &str) -> bool {
    stockd_api::METHODS.iter().any(|m| {
        m.name == method
            || matches!(m.kind, Kind::Subscription { unsubscribe, .. } if unsubscribe == method)
    })
}

impl<S> RpcServiceT for UnknownMethods<S>
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
        let service = self.service.clone();
        async move {
            if known(request.method_name()) {
                service.call(request).await
            } else {
                let e = super::unknown_method(request.method_name());
                MethodResponse::error(request.id().into_owned(), error(&e))
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
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

    #[test]
    fn documents_are_written_verbatim() {
        #[derive(Serialize)]
        struct Envelope {
            result: Raw,
        }
        let j = Raw(Arc::from(r#"{"a":[1,2.50,"x"]}"#));
        let out = serde_json::to_string(&Envelope { result: j }).unwrap_or_default();
        // Verbatim: the scale of 2.50 survives.
        assert_eq!(out, r#"{"result":{"a":[1,2.50,"x"]}}"#);
    }

    /// Every method of the contract is registered, and nothing else.
    #[test]
    fn the_module_serves_the_contract() {
        let app = Shared::new(&crate::config::Config::default());
        let m = module(app);
        let mut served: Vec<&str> = m.method_names().collect();
        served.sort_unstable();
        let mut contract: Vec<&str> = stockd_api::METHODS.iter().map(|m| m.name).collect();
        contract.push("admin.unsubscribe_status");
        contract.sort_unstable();
        assert_eq!(served, contract);
    }
}
