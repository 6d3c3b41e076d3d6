//! The root CA publisher: a `kube-root-ca.crt` ConfigMap holding the cluster CA (`ca.crt`) in
//! every active namespace, written again when it is deleted or changed, as upstream's
//! `rootcacertpublisher` (`pkg/controller/certificates/rootcacertpublisher`). Pods read it
//! through their `kube-api-access` volume to trust the API server.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::retry::Retries;
use ferrokube_client::cache::{Cache, cache_selected};

/// The ConfigMap every namespace gets.
pub const NAME: &str = "kube-root-ca.crt";
/// Upstream's annotation on it.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Why a namespace's ConfigMap could not be written this time; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("the ConfigMap cache never filled: {0}")]
    CacheNotReady(String),
}

struct Context {
    client: kube::Client,
    maps: Cache<ConfigMap>,
    ca: String,
    retries: Retries,
}

/// What to do for a namespace.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    Nothing,
    Create,
    /// Replace the data (and the annotation) of the existing ConfigMap.
    Update,
}

/// Upstream's decision: nothing in a terminating namespace; create a missing ConfigMap;
/// rewrite one whose `ca.crt` or description differs.
pub fn plan(namespace: &Namespace, existing: Option<&ConfigMap>, ca: &str) -> Plan {
    if crate::namespace::is_terminating(namespace) {
        return Plan::Nothing;
    }
    let Some(cm) = existing else {
        return Plan::Create;
    };
    let same_data = cm.data.as_ref() == Some(&wanted_data(ca));
    let described = cm
        .annotations()
        .get("kubernetes.io/description")
        .map(String::as_str)
        == Some(DESCRIPTION);
    if same_data && described {
        Plan::Nothing
    } else {
        Plan::Update
    }
}

fn wanted_data(ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("ca.crt".to_owned(), ca.to_owned())])
}

fn wanted(ca: &str, existing: Option<&ConfigMap>) -> ConfigMap {
    let mut metadata = existing
        .map(|e| e.metadata.clone())
        .unwrap_or_else(|| ObjectMeta {
            name: Some(NAME.to_owned()),
            ..Default::default()
        });
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            "kubernetes.io/description".to_owned(),
            DESCRIPTION.to_owned(),
        );
    metadata.managed_fields = None;
    ConfigMap {
        metadata,
        data: Some(wanted_data(ca)),
        ..Default::default()
    }
}

/// Runs the publisher of `ca` (PEM) until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    ca: String,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    // Only the published ConfigMaps: a cluster may hold many large ones.
    let config = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    let (maps, map_events) = cache_selected(Api::<ConfigMap>::all(client.clone()), config, |_| {});
    let ctx = Arc::new(Context {
        client: client.clone(),
        maps,
        ca,
        retries: Retries::default(),
    });
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .watches_stream(map_events, |cm: ConfigMap| {
            (cm.name_any() == NAME)
                .then(|| cm.namespace().map(|ns| ObjectRef::new(&ns)))
                .flatten()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| crate::log_outcome("root CA publisher", outcome))
        .await;
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retries
        .retry("root-ca-cert-publisher", namespace.as_ref(), error)
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.retries
        .run(namespace.as_ref(), sync(namespace.clone(), ctx.clone()))
        .await
}

async fn sync(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.maps
        .wait_until_ready()
        .await
        .map_err(|e| Error::CacheNotReady(e.to_string()))?;
    let name = namespace.name_any();
    let existing = ctx.maps.get(&ObjectRef::new(NAME).within(&name));
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let written = match plan(&namespace, existing.as_deref(), &ctx.ca) {
        Plan::Nothing => return Ok(Action::await_change()),
        Plan::Create => api
            .create(&PostParams::default(), &wanted(&ctx.ca, None))
            .await
            .map(drop),
        Plan::Update => {
            let cm = wanted(&ctx.ca, existing.as_deref());
            api.replace(NAME, &PostParams::default(), &cm)
                .await
                .map(drop)
        }
    };
    match written {
        Ok(()) => tracing::info!(namespace = %name, "published the root CA"),
        // The cache was behind (409), or the namespace went or began to go (404, 403).
        Err(kube::Error::Api(e)) if matches!(e.code, 409 | 404 | 403) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        let namespace = |phase: &str| -> Namespace {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": "team"}, "status": {"phase": phase}}),
            )
            .unwrap()
        };
        let published = wanted("CA", None);
        let mut stale = published.clone();
        stale.data = Some(wanted_data("OLD"));
        let mut bare = published.clone();
        bare.metadata.annotations = None;
        let cases = [
            (namespace("Active"), None, Plan::Create),
            (namespace("Active"), Some(&published), Plan::Nothing),
            (namespace("Active"), Some(&stale), Plan::Update),
            (namespace("Active"), Some(&bare), Plan::Update),
            (namespace("Terminating"), None, Plan::Nothing),
        ];
        for (ns, existing, want) in cases {
            assert_eq!(plan(&ns, existing, "CA"), want, "{existing:?}");
        }
        assert_eq!(published.data.unwrap()["ca.crt"], "CA");
    }
}
