//! The controller manager: level-triggered controllers that talk to the API server only
//! through its HTTP API, as `kube` clients. Each can be killed and restarted at any moment.

pub mod namespace;

use std::future::Future;

use futures::future::join_all;

/// Runs every controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()> + Send + 'static) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let controllers = vec![tokio::spawn(namespace::run(
        client.clone(),
        shutdown.clone(),
    ))];
    join_all(controllers).await;
}
