//! `projected` volumes: ConfigMap, Secret and downward API files side by side in one directory
//! (upstream's `projected.collectData`). Sources this kubelet cannot project yet (service
//! account tokens, cluster trust bundles) fail the mount with a message that names them, rather
//! than leaving their files out.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Pod, ProjectedVolumeSource, SecretVolumeSource,
};

use super::atomic_writer::Payload;
use super::{config_map, downward_api, secret};
use crate::pod::env::NodeFacts;
use crate::sources::Objects;

/// The volume's files, from every source in order (a later file of the same path wins).
pub fn payload(
    pod: &Pod,
    source: &ProjectedVolumeSource,
    objects: &Objects,
    node: &NodeFacts,
) -> Result<Payload, String> {
    let mode = source.default_mode.unwrap_or(config_map::DEFAULT_MODE);
    let mut payload = Payload::new();
    for projection in source.sources.iter().flatten() {
        if let Some(cm) = &projection.config_map {
            let as_volume = ConfigMapVolumeSource {
                name: cm.name.clone(),
                items: cm.items.clone(),
                optional: cm.optional,
                default_mode: None,
            };
            let found = objects.config_maps.get(&cm.name);
            payload.extend(config_map::payload(&as_volume, found, mode)?);
        }
        if let Some(s) = &projection.secret {
            let as_volume = SecretVolumeSource {
                secret_name: Some(s.name.clone()),
                items: s.items.clone(),
                optional: s.optional,
                default_mode: None,
            };
            let found = objects.secrets.get(&s.name);
            payload.extend(secret::payload(&as_volume, found, mode)?);
        }
        if let Some(d) = &projection.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            payload.extend(downward_api::payload(pod, items, mode, node)?);
        }
        if projection.service_account_token.is_some() {
            return Err(
                "serviceAccountToken projections are not supported by this kubelet yet".into(),
            );
        }
        if projection.cluster_trust_bundle.is_some() {
            return Err("clusterTrustBundle projections are not supported by this kubelet".into());
        }
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_side_by_side() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        }))
        .unwrap();
        let mut objects = Objects::default();
        objects.config_maps.insert(
            "cfg".into(),
            serde_json::from_value(json!({
            "metadata": {"name": "cfg"}, "data": {"mode": "fast"}}))
            .unwrap(),
        );
        objects.secrets.insert(
            "creds".into(),
            serde_json::from_value(json!({
            "metadata": {"name": "creds"}, "data": {"pw": "cHc="}}))
            .unwrap(),
        );
        let source: ProjectedVolumeSource = serde_json::from_value(json!({"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cfg"}},
            {"secret": {"name": "creds", "items": [{"key": "pw", "path": "auth/pw", "mode": 0o400}]}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        ]}))
        .unwrap();
        let files = payload(&pod, &source, &objects, &NodeFacts::default()).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["auth/pw", "labels", "mode"]
        );
        assert_eq!((files["mode"].mode, files["auth/pw"].mode), (0o440, 0o400));
        assert_eq!(files["auth/pw"].data, b"pw");
        let token: ProjectedVolumeSource = serde_json::from_value(json!({"sources": [
            {"serviceAccountToken": {"path": "token"}}]}))
        .unwrap();
        let refused = payload(&pod, &token, &objects, &NodeFacts::default()).unwrap_err();
        assert!(refused.contains("serviceAccountToken"), "{refused}");
    }
}
