//! The controller manager: level-triggered controllers that talk to the API server only
//! through its HTTP API, as `kube` clients. Each can be killed and restarted at any moment.

pub mod deployment;
pub mod garbagecollector;
pub mod namespace;
pub mod ownership;
pub mod pacing;
pub mod persistentvolume;
pub mod replicaset;
pub mod retry;
pub mod rootcacert;
pub mod serviceaccount;

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;

/// How long controllers get to finish their reconciles once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs every controller until `shutdown` resolves. `client_for` gives each controller its own
/// client by name (e.g. `replicaset-controller`), so each has its own request rate limit, as
/// upstream's controller manager does. With `root_ca` (PEM), the root CA publisher puts it in
/// every namespace.
pub async fn run(
    client_for: impl Fn(&str) -> kube::Client,
    root_ca: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = Box::pin(shutdown).shared();
    let mut controllers = vec![
        tokio::spawn(namespace::run(
            client_for("namespace-controller"),
            shutdown.clone(),
        )),
        tokio::spawn(replicaset::run(
            client_for("replicaset-controller"),
            shutdown.clone(),
        )),
        tokio::spawn(deployment::run(
            client_for("deployment-controller"),
            shutdown.clone(),
        )),
        tokio::spawn(garbagecollector::run(
            client_for("generic-garbage-collector"),
            shutdown.clone(),
        )),
        tokio::spawn(serviceaccount::run(
            client_for("service-account-controller"),
            shutdown.clone(),
        )),
        tokio::spawn(persistentvolume::run(
            client_for("persistent-volume-binder"),
            shutdown.clone(),
        )),
    ];
    if let Some(ca) = root_ca {
        controllers.push(tokio::spawn(rootcacert::run(
            client_for("root-ca-cert-publisher"),
            ca,
            shutdown.clone(),
        )));
    }
    let all = futures::future::join_all(controllers);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => return,
        () = shutdown => {}
    }
    // A controller still waiting for its first list (the API server may already be gone) never
    // sees its graceful shutdown: stop waiting after a grace period.
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut all)
        .await
        .is_err()
    {
        tracing::warn!("controllers did not stop in time; stopping them");
    }
}

/// One outcome of a controller's run stream, logged for `controller` (`"replicaset
/// controller"`): a failed reconcile or watch says so; a deleted object still queued is nothing
/// to say.
pub(crate) fn log_outcome<T, E, Q>(
    controller: &str,
    outcome: Result<T, kube::runtime::controller::Error<E, Q>>,
) -> futures::future::Ready<()>
where
    E: std::error::Error + 'static,
    Q: std::error::Error + 'static,
{
    match outcome {
        Ok(_) | Err(kube::runtime::controller::Error::ObjectNotFound(_)) => {}
        Err(err) => tracing::warn!(error = %err, "{controller}"),
    }
    futures::future::ready(())
}

/// A status count as upstream serializes it: counts are `omitempty`, so 0 is left out.
pub(crate) fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}
