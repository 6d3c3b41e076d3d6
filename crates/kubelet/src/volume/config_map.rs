//! `configMap` volumes: a ConfigMap's keys as files (upstream's `configmap.MakePayload`).
//!
//! Example: `{name: cfg, items: [{key: app.conf, path: conf/app.conf, mode: 0600}]}` gives one
//! file `conf/app.conf` of mode 0600; without `items` every key of `data` and `binaryData` is a
//! file of mode `defaultMode` (0644 unless set).

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath};

use super::atomic_writer::{FileData, Payload};
use crate::sources::{Kind, Objects};

/// Upstream's default mode of projected files.
pub const DEFAULT_MODE: i32 = 0o644;

/// The files of a ConfigMap's or a Secret's keys, by `items` or every key (upstream's
/// `MakePayload` of both): one that does not exist is an empty volume if optional, as is a key
/// `items` names that it lacks.
pub fn keyed_payload(
    objects: &Objects,
    (kind, name): (Kind, &str),
    items: Option<&[KeyToPath]>,
    optional: bool,
    mode: i32,
) -> Result<Payload, String> {
    let Some(all) = objects.keys(kind, name, true) else {
        return if optional {
            Ok(Payload::new())
        } else {
            Err(kind.not_found(name))
        };
    };
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
                let mode = item.mode.unwrap_or(mode);
                payload.insert(item.path.clone(), file(data.clone(), mode));
            }
            None if optional => {}
            None => {
                return Err(match kind {
                    Kind::ConfigMap => {
                        format!("configmap references non-existent config key: {}", item.key)
                    }
                    Kind::Secret => format!("references non-existent secret key: {}", item.key),
                });
            }
        }
    }
    Ok(payload)
}

/// The volume's files.
pub fn payload(
    source: &ConfigMapVolumeSource,
    objects: &Objects,
    default_mode: i32,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let mode = source.default_mode.unwrap_or(default_mode);
    let named = (Kind::ConfigMap, source.name.as_str());
    keyed_payload(objects, named, source.items.as_deref(), optional, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn payload_as_upstream() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg"},
            "data": {"app.conf": "a=1", "other": "o"}, "binaryData": {"blob": "AAE="},
        }))
        .unwrap();
        let mut objects = Objects::default();
        objects.config_maps.insert("cfg".into(), cm);
        let none = Objects::default();
        let source =
            |v: serde_json::Value| -> ConfigMapVolumeSource { serde_json::from_value(v).unwrap() };
        let all = payload(&source(json!({"name": "cfg"})), &objects, DEFAULT_MODE).unwrap();
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            ["app.conf", "blob", "other"]
        );
        assert_eq!(all["blob"].data, [0, 1]);
        assert_eq!(all["other"].mode, 0o644);
        let items = json!({"name": "cfg", "defaultMode": 0o600,
            "items": [{"key": "app.conf", "path": "conf/app.conf"}, {"key": "other", "path": "o", "mode": 0o444}]});
        let some = payload(&source(items), &objects, DEFAULT_MODE).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["conf/app.conf", "o"]);
        assert_eq!((some["conf/app.conf"].mode, some["o"].mode), (0o600, 0o444));
        let missing_key = json!({"name": "cfg", "items": [{"key": "nope", "path": "n"}]});
        assert_eq!(
            payload(&source(missing_key), &objects, DEFAULT_MODE).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        let optional_key =
            json!({"name": "cfg", "optional": true, "items": [{"key": "nope", "path": "n"}]});
        assert!(
            payload(&source(optional_key), &objects, DEFAULT_MODE)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            payload(&source(json!({"name": "gone"})), &none, DEFAULT_MODE).unwrap_err(),
            "configmap \"gone\" not found"
        );
        let optional = source(json!({"name": "gone", "optional": true}));
        assert!(payload(&optional, &none, DEFAULT_MODE).unwrap().is_empty());
    }
}
