//! The service account controller: a `default` ServiceAccount in every active namespace, made
//! again when it is deleted, as upstream's `ServiceAccountsController`
//! (`pkg/controller/serviceaccount`). A namespace being deleted gets none: its content is on
//! its way out.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::retry::Retries;
use ferrokube_client::cache::{Cache, cache};

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";

/// Why a namespace's ServiceAccount could not be ensured this time; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("the ServiceAccount cache never filled: {0}")]
    CacheNotReady(String),
}

struct Context {
    client: kube::Client,
    accounts: Cache<ServiceAccount>,
    retries: Retries,
}

/// Whether `namespace` needs its default ServiceAccount created: it is active (not being
/// deleted) and has none.
pub fn needs_default(namespace: &Namespace, has_default: bool) -> bool {
    !crate::namespace::is_terminating(namespace) && !has_default
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (accounts, account_events) = cache(Api::<ServiceAccount>::all(client.clone()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        accounts,
        retries: Retries::default(),
    });
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        // A default ServiceAccount's change (its deletion) concerns its namespace.
        .watches_stream(account_events, |account: ServiceAccount| {
            (account.name_any() == DEFAULT)
                .then(|| account.namespace().map(|ns| ObjectRef::new(&ns)))
                .flatten()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| crate::log_outcome("service account controller", outcome))
        .await;
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries
        .retry("serviceaccount", namespace.as_ref(), error)
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(namespace.as_ref(), sync(namespace.clone(), ctx.clone()))
        .await
}

async fn sync(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.accounts
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))?;
    let name = namespace.name_any();
    let has_default = ctx
        .accounts
        .get(&ObjectRef::new(DEFAULT).within(&name))
        .is_some();
    if !needs_default(&namespace, has_default) {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some(DEFAULT.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => tracing::info!(namespace = %name, "created the default ServiceAccount"),
        // There already (the cache was behind), or the namespace went or began to go meanwhile
        // (404, or 403 from NamespaceLifecycle): nothing to do, as upstream.
        Err(kube::Error::Api(e)) if matches!(e.code, 409 | 404 | 403) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_default_table() {
        let namespace = |deleting: bool, phase: Option<&str>| {
            let mut ns: Namespace = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "team"},
                "status": {"phase": phase},
            }))
            .unwrap();
            if deleting {
                ns.metadata.deletion_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::UNIX_EPOCH,
                    ));
            }
            ns
        };
        let cases = [
            (namespace(false, Some("Active")), false, true),
            (namespace(false, None), false, true),
            (namespace(false, Some("Active")), true, false),
            (namespace(true, Some("Terminating")), false, false),
            (namespace(false, Some("Terminating")), false, false),
            (namespace(true, None), false, false),
        ];
        for (ns, has, want) in cases {
            assert_eq!(needs_default(&ns, has), want, "{:?} {has}", ns.status);
        }
    }
}
