//! `configMap` volumes: a ConfigMap's keys as files (upstream's `configmap.MakePayload`).
//!
//! Example: `{name: cfg, items: [{key: app.conf, path: conf/app.conf, mode: 0600}]}` gives one
//! file `conf/app.conf` of mode 0600; without `items` every key of `data` and `binaryData` is a
//! file of mode `defaultMode` (0644 unless set).

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath};

use super::atomic_writer::{FileData, Payload};

/// Upstream's default mode of projected files.
pub const DEFAULT_MODE: i32 = 0o644;

/// The files of keys `data` and `binary` (a key's bytes, or none), by `items` or every key.
pub fn key_files<'a>(
    keys: impl Iterator<Item = (&'a String, Vec<u8>)>,
    items: Option<&[KeyToPath]>,
    mode: i32,
    missing: impl Fn(&str) -> Option<String>,
) -> Result<Payload, String> {
    let all: std::collections::BTreeMap<&String, Vec<u8>> = keys.collect();
    let file = |data: Vec<u8>, mode: i32| FileData {
        data,
        mode: mode as u32,
    };
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(all
            .into_iter()
            .map(|(k, v)| (k.clone(), file(v, mode)))
            .collect());
    };
    let mut payload = Payload::new();
    for item in items {
        match all.get(&item.key) {
            Some(data) => {
                payload.insert(
                    item.path.clone(),
                    file(data.clone(), item.mode.unwrap_or(mode)),
                );
            }
            None => match missing(&item.key) {
                Some(error) => return Err(error),
                None => continue,
            },
        }
    }
    Ok(payload)
}

/// The keys of a ConfigMap with their bytes.
pub fn keys_of(cm: &ConfigMap) -> impl Iterator<Item = (&String, Vec<u8>)> {
    let text = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k, v.clone().into_bytes()));
    let binary = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| (k, v.0.clone()));
    text.chain(binary)
}

/// The volume's files; a ConfigMap that does not exist is an empty volume if optional.
pub fn payload(
    source: &ConfigMapVolumeSource,
    cm: Option<&ConfigMap>,
    default_mode: i32,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let name = &source.name;
    let Some(cm) = cm else {
        return match optional {
            true => Ok(Payload::new()),
            false => Err(format!("configmap \"{name}\" not found")),
        };
    };
    let mode = source.default_mode.unwrap_or(default_mode);
    key_files(keys_of(cm), source.items.as_deref(), mode, |key| {
        (!optional).then(|| format!("configmap references non-existent config key: {key}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_as_upstream() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg"},
            "data": {"app.conf": "a=1", "other": "o"}, "binaryData": {"blob": "AAE="},
        }))
        .unwrap();
        let source =
            |v: serde_json::Value| -> ConfigMapVolumeSource { serde_json::from_value(v).unwrap() };
        let all = payload(&source(json!({"name": "cfg"})), Some(&cm), DEFAULT_MODE).unwrap();
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            ["app.conf", "blob", "other"]
        );
        assert_eq!(all["blob"].data, [0, 1]);
        assert_eq!(all["other"].mode, 0o644);
        let items = json!({"name": "cfg", "defaultMode": 0o600,
            "items": [{"key": "app.conf", "path": "conf/app.conf"}, {"key": "other", "path": "o", "mode": 0o444}]});
        let some = payload(&source(items), Some(&cm), DEFAULT_MODE).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["conf/app.conf", "o"]);
        assert_eq!((some["conf/app.conf"].mode, some["o"].mode), (0o600, 0o444));
        let missing_key = json!({"name": "cfg", "items": [{"key": "nope", "path": "n"}]});
        assert_eq!(
            payload(&source(missing_key), Some(&cm), DEFAULT_MODE).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        let optional_key =
            json!({"name": "cfg", "optional": true, "items": [{"key": "nope", "path": "n"}]});
        assert!(
            payload(&source(optional_key), Some(&cm), DEFAULT_MODE)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            payload(&source(json!({"name": "gone"})), None, DEFAULT_MODE).unwrap_err(),
            "configmap \"gone\" not found"
        );
        let optional = source(json!({"name": "gone", "optional": true}));
        assert!(payload(&optional, None, DEFAULT_MODE).unwrap().is_empty());
    }
}
