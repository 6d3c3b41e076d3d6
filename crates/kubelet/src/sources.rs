//! The ConfigMaps and Secrets a pod reads (for its environment and its volumes), fetched from
//! the API server when a container starts and again at each volume resync, as upstream's
//! kubelet does with its `Get` change-detection strategy.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

/// The ConfigMaps and Secrets of the pod's namespace something names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

impl Referenced {
    pub fn is_empty(&self) -> bool {
        self.config_maps.is_empty() && self.secrets.is_empty()
    }

    /// Both sets of names together.
    pub fn extend(&mut self, other: Referenced) {
        self.config_maps.extend(other.config_maps);
        self.secrets.extend(other.secrets);
    }
}

/// Those of them that exist (a name missing here was not found).
#[derive(Debug, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
}

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
    Ok(objects)
}
