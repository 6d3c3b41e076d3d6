//! The node's heartbeat: registers the Node (or refreshes its status), renews its Lease every
//! 10 s and rewrites the Node's status every 5 minutes.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::Machine;

/// Creates the Node, or refreshes the status of an existing one; returns its UID.
pub async fn register(client: &kube::Client, machine: &Machine) -> Result<String, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = super::node_object(machine, jiff::Timestamp::now());
    match nodes.create(&PostParams::default(), &node).await {
        Ok(created) => Ok(created.uid().unwrap_or_default()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = serde_json::json!({"status": node.status});
            let updated = nodes
                .patch_status(
                    &machine.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            Ok(updated.uid().unwrap_or_default())
        }
        Err(err) => Err(err),
    }
}

/// Renews the Lease every 10 s and rewrites the Node's status every 5 minutes.
pub async fn heartbeat(client: kube::Client, machine: Machine, node_uid: String) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let mut last_status = std::time::Instant::now();
    loop {
        let lease = super::lease_object(&machine.name, &node_uid, jiff::Timestamp::now());
        let renewed = match leases.create(&PostParams::default(), &lease).await {
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let patch = serde_json::json!({"spec": lease.spec});
                leases
                    .patch(
                        &machine.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        if let Err(err) = renewed {
            tracing::warn!(node = %machine.name, error = %err, "could not renew the node lease");
        }
        if last_status.elapsed() >= super::STATUS_REPORT {
            match register(&client, &machine).await {
                Ok(_) => last_status = std::time::Instant::now(),
                Err(err) => tracing::warn!(node = %machine.name, error = %err, "node status"),
            }
        }
        tokio::time::sleep(super::LEASE_RENEW).await;
    }
}
