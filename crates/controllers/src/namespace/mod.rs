//! The namespace controller: a deleted namespace is Terminating until everything in it is
//! deleted; then its `kubernetes` finalizer is removed through `namespaces/<name>/finalize`
//! and the API server removes it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;

use crate::retry::Retries;

/// The finalizer the namespace controller owns in `spec.finalizers`.
const FINALIZER: &str = "kubernetes";
/// How soon to look again while objects are still going away.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a namespace could not be cleaned up this time; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or deleting through the API failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

struct Context {
    client: kube::Client,
    /// Failures in a row per object, for the delay before a retry.
    retries: Retries,
}

/// What is left to do for a namespace.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not being deleted, or already finalized by us.
    Nothing,
    /// Delete the content, then look again.
    DeleteContent,
    /// Everything is gone: remove our finalizer.
    Finalize,
}

/// Decides the next step from the namespace and how many objects remain in it.
pub fn plan(namespace: &Namespace, remaining: usize) -> Step {
    let deleting = namespace.metadata.deletion_timestamp.is_some();
    let ours = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    match (deleting, remaining, ours) {
        (false, _, _) => Step::Nothing,
        (true, 0, true) => Step::Finalize,
        (true, 0, false) => Step::Nothing,
        (true, _, _) => Step::DeleteContent,
    }
}

/// The namespaced resources that can be listed and deleted, from discovery.
async fn namespaced_resources(client: &kube::Client) -> Result<Vec<ApiResource>, Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut resources = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if caps.scope == Scope::Namespaced
                && caps.supports_operation(verbs::LIST)
                && caps.supports_operation(verbs::DELETE)
            {
                resources.push(resource);
            }
        }
    }
    Ok(resources)
}

async fn sync(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let mut remaining = 0;
    let resources = namespaced_resources(&ctx.client).await?;
    for resource in &resources {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &name, resource);
        remaining += api.list(&ListParams::default()).await?.items.len();
    }
    match plan(&namespace, remaining) {
        Step::Nothing => Ok(Action::await_change()),
        Step::DeleteContent => {
            for resource in &resources {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(ctx.client.clone(), &name, resource);
                api.delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await?;
            }
            tracing::info!(namespace = %name, remaining, "deleting namespace content");
            Ok(Action::requeue(RECHECK))
        }
        Step::Finalize => {
            let mut finalized = (*namespace).clone();
            if let Some(spec) = finalized.spec.as_mut() {
                spec.finalizers = Some(
                    spec.finalizers
                        .take()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|f| f != FINALIZER)
                        .collect(),
                );
            }
            let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
            namespaces
                .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
                .await?;
            tracing::info!(namespace = %name, "namespace finalized");
            Ok(Action::await_change())
        }
    }
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries.retry("namespace", namespace.as_ref(), error)
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(namespace.as_ref(), sync(namespace.clone(), ctx.clone()))
        .await
}

/// Runs the namespace controller until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(
            reconcile,
            error_policy,
            Arc::new(Context {
                client,
                retries: Retries::default(),
            }),
        )
        .for_each(|outcome| crate::log_outcome("namespace controller", outcome))
        .await;
}

/// Whether a namespace is on its way out (deleted, or Terminating): nothing new goes in.
pub fn is_terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn namespace(deleting: bool, finalizers: &[&str]) -> Namespace {
        let mut ns = Namespace {
            spec: Some(NamespaceSpec {
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            }),
            ..Default::default()
        };
        if deleting {
            ns.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        ns
    }

    #[test]
    fn plan_table() {
        let cases = [
            (namespace(false, &["kubernetes"]), 3, Step::Nothing),
            (namespace(true, &["kubernetes"]), 3, Step::DeleteContent),
            (namespace(true, &["kubernetes"]), 0, Step::Finalize),
            (namespace(true, &[]), 0, Step::Nothing),
            (namespace(true, &[]), 2, Step::DeleteContent),
        ];
        for (ns, remaining, want) in cases {
            assert_eq!(plan(&ns, remaining), want, "{:?} {remaining}", ns.spec);
        }
    }
}
