//! `projected` volumes: ConfigMap, Secret, downward API and service-account token files side by
//! side in one directory (upstream's `projected.collectData`); the tokens come from the
//! TokenRequest API, bound to the pod. Cluster trust bundles are not built: such a volume fails
//! the mount with a message that says so, rather than leaving the files out.

use k8s_openapi::api::core::v1::{Pod, ProjectedVolumeSource, ServiceAccountTokenProjection};

use super::atomic_writer::{FileData, Payload};
use super::config_map::{self, keyed_payload};
use super::downward_api;
use crate::pod::env::NodeFacts;
use crate::sources::{Kind, Objects, TokenKey};

/// The audience and lifetime a token projection asks for (upstream's default: an hour).
pub fn token_key(token: &ServiceAccountTokenProjection) -> TokenKey {
    let audience = token.audience.clone().unwrap_or_default();
    (audience, token.expiration_seconds.unwrap_or(3600))
}

/// Every token the pod's projected volumes hold.
pub fn token_keys(pod: &Pod) -> Vec<TokenKey> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    let sources = volumes.flat_map(|v| v.projected.iter().flat_map(|p| p.sources.iter().flatten()));
    sources
        .filter_map(|s| s.service_account_token.as_ref())
        .map(token_key)
        .collect()
}

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
            let named = (Kind::ConfigMap, cm.name.as_str());
            let optional = cm.optional == Some(true);
            payload.extend(keyed_payload(
                objects,
                named,
                cm.items.as_deref(),
                optional,
                mode,
            )?);
        }
        if let Some(s) = &projection.secret {
            let named = (Kind::Secret, s.name.as_str());
            let optional = s.optional == Some(true);
            payload.extend(keyed_payload(
                objects,
                named,
                s.items.as_deref(),
                optional,
                mode,
            )?);
        }
        if let Some(d) = &projection.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            payload.extend(downward_api::payload(pod, items, mode, node)?);
        }
        if let Some(token) = &projection.service_account_token {
            let key = token_key(token);
            let data = objects
                .tokens
                .get(&key)
                .ok_or("failed to fetch token: none issued")?;
            let file = FileData {
                data: data.clone().into_bytes(),
                mode: mode as u32,
            };
            payload.insert(token.path.clone(), file);
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
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}))
        .unwrap();
        let missing = payload(&pod, &token, &objects, &NodeFacts::default()).unwrap_err();
        assert_eq!(missing, "failed to fetch token: none issued");
        objects.tokens.insert((String::new(), 3607), "jwt".into());
        let files = payload(&pod, &token, &objects, &NodeFacts::default()).unwrap();
        assert_eq!(
            (files["token"].data.as_slice(), files["token"].mode),
            (&b"jwt"[..], 0o644)
        );
        let bundle: ProjectedVolumeSource = serde_json::from_value(json!({"sources": [
            {"clusterTrustBundle": {"path": "b", "name": "x"}}]}))
        .unwrap();
        let refused = payload(&pod, &bundle, &objects, &NodeFacts::default()).unwrap_err();
        assert!(refused.contains("clusterTrustBundle"), "{refused}");
    }
}
