//! The ConfigMaps, Secrets and PersistentVolumeClaims (with their volumes) a pod reads (for its
//! environment and its volumes), fetched from
//! the API server when a container starts and again at each volume resync, as upstream's
//! kubelet does with its `Get` change-detection strategy.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Secret};
use kube::api::Api;

/// The ConfigMaps, Secrets and claims of the pod's namespace something names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
    pub claims: BTreeSet<String>,
}

impl Referenced {
    pub fn is_empty(&self) -> bool {
        self.config_maps.is_empty() && self.secrets.is_empty() && self.claims.is_empty()
    }

    /// The sets of names together.
    pub fn extend(&mut self, other: Referenced) {
        self.config_maps.extend(other.config_maps);
        self.secrets.extend(other.secrets);
        self.claims.extend(other.claims);
    }
}

/// Those of them that exist (a name missing here was not found), and the service-account
/// tokens the pod's projected volumes hold, by audience and lifetime.
#[derive(Debug, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    pub tokens: BTreeMap<TokenKey, String>,
    /// Claims by name, each with the volume it is bound to (`None`: none, or not found).
    pub claims: BTreeMap<String, (PersistentVolumeClaim, Option<PersistentVolume>)>,
}

/// The two kinds of object a pod reads keys from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    /// Upstream's kubelet's error for one that does not exist (`configmap "x" not found`).
    pub fn not_found(self, name: &str) -> String {
        match self {
            Kind::ConfigMap => format!("configmap \"{name}\" not found"),
            Kind::Secret => format!("secret \"{name}\" not found"),
        }
    }

    /// The kind as upstream's messages name it: `ConfigMap`, `Secret`.
    pub fn title(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

impl Objects {
    /// The keys of the named object with their bytes, none when it was not found: a Secret's
    /// `data`; a ConfigMap's `data`, and its `binaryData` too when `binary` (volumes have them,
    /// environment variables do not).
    pub fn keys(&self, kind: Kind, name: &str, binary: bool) -> Option<BTreeMap<&String, Vec<u8>>> {
        match kind {
            Kind::ConfigMap => {
                let cm = self.config_maps.get(name)?;
                let text = cm
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k, v.clone().into_bytes()));
                let bytes = cm.binary_data.iter().flatten().filter(|_| binary);
                Some(text.chain(bytes.map(|(k, v)| (k, v.0.clone()))).collect())
            }
            Kind::Secret => {
                let secret = self.secrets.get(name)?;
                Some(
                    secret
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k, v.0.clone()))
                        .collect(),
                )
            }
        }
    }
}

/// A projected token's audience (empty: the API server's) and lifetime in seconds.
pub type TokenKey = (String, i64);

/// One object, or none when it does not exist; any other failure is the error's text.
async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.map_err(|err| match err {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    })
}

/// Reads every object `refs` names in `namespace`.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    refs: &Referenced,
) -> Result<Objects, String> {
    let mut objects = Objects::default();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in &refs.config_maps {
        if let Some(cm) = get_opt(&config_maps, name).await? {
            objects.config_maps.insert(name.clone(), cm);
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in &refs.secrets {
        if let Some(secret) = get_opt(&secrets, name).await? {
            objects.secrets.insert(name.clone(), secret);
        }
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for name in &refs.claims {
        let Some(claim) = get_opt(&claims, name).await? else {
            continue;
        };
        let volume = match ferrokube_client::volumes::claim_volume(&claim) {
            Some(volume) => get_opt(&volumes, volume).await?,
            None => None,
        };
        objects.claims.insert(name.clone(), (claim, volume));
    }
    Ok(objects)
}

/// A token for the pod's service account, bound to the pod, from the TokenRequest API; with
/// its expiry.
pub async fn request_token(
    client: &kube::Client,
    pod: &k8s_openapi::api::core::v1::Pod,
    (audience, seconds): &TokenKey,
) -> Result<(String, jiff::Timestamp), String> {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".to_owned());
    let request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": if audience.is_empty() { vec![] } else { vec![audience.clone()] },
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid},
        },
    });
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let params = kube::api::PostParams::default();
    let answer: TokenRequest = api
        .create_subresource("token", &account, &params, &request)
        .await
        .map_err(|err| match err {
            kube::Error::Api(status) => format!("failed to fetch token: {}", status.message),
            other => format!("failed to fetch token: {other}"),
        })?;
    let status = answer
        .status
        .ok_or("failed to fetch token: the answer has no status")?;
    Ok((status.token, status.expiration_timestamp.0))
}
