//! ConfigMaps, Secrets, ServiceAccounts and Leases: validation (metadata, config keys, sizes,
//! the keys each Secret type requires), Secret `stringData` merged into `data` on every
//! write, and their tables.
//!
//! Example: a Secret sent with `data: {a: "MQ=="}` and `stringData: {a: "2", b: "3"}` is
//! stored as `data: {a: "Mg==", b: "Mw=="}`, with no `stringData`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use serde_json::{Value, json};

use crate::field::{FieldError, FieldPath};
use crate::strategy::{Typed, name_and_age};
use crate::table::Column;
use crate::validation::{NameRule, config_key_errors};

/// The most bytes a ConfigMap's or a Secret's values may hold (upstream's `MaxSecretSize`).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

const CONFIGMAP_COLUMNS: [Column; 3] = [
    Column::NAME,
    Column::new("Data", "string", "Number of data entries in the ConfigMap"),
    Column::AGE,
];
const SECRET_COLUMNS: [Column; 4] = [
    Column::NAME,
    Column::new("Type", "string", "The type of the secret"),
    Column::new("Data", "string", "The number of entries in the secret"),
    Column::AGE,
];
const SERVICEACCOUNT_COLUMNS: [Column; 3] = [
    Column::NAME,
    Column::new(
        "Secrets",
        "string",
        "The number of secrets in the service account",
    ),
    Column::AGE,
];
const LEASE_COLUMNS: [Column; 3] = [
    Column::NAME,
    Column::new("Holder", "string", "The holder of the lease"),
    Column::AGE,
];

pub fn configmaps() -> Typed<ConfigMap> {
    Typed {
        columns: &CONFIGMAP_COLUMNS,
        cells: |cm: &ConfigMap, now| {
            let (name, age) = name_and_age(&cm.metadata, now);
            let entries = cm.data.as_ref().map_or(0, |d| d.len())
                + cm.binary_data.as_ref().map_or(0, |d| d.len());
            vec![name, json!(entries), age]
        },
        validate: validate_configmap,
        ..Typed::plain(NameRule::Subdomain)
    }
}

/// Invalid keys of `keys` (a map at `path`).
fn key_errors<'a>(keys: impl Iterator<Item = &'a String>, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for key in keys {
        for e in config_key_errors(key) {
            errors.push(FieldError::invalid(path.key(key), key.as_str(), &e));
        }
    }
    errors
}

/// Upstream's `ValidateConfigMap` beyond metadata: keys, no key in both maps, 1 MiB in all.
fn validate_configmap(cm: &ConfigMap) -> Vec<FieldError> {
    let data = cm.data.as_ref();
    let binary = cm.binary_data.as_ref();
    let data_path = FieldPath::new("data");
    let mut errors = key_errors(data.into_iter().flatten().map(|(k, _)| k), &data_path);
    for key in data.into_iter().flatten().map(|(k, _)| k) {
        if binary.is_some_and(|b| b.contains_key(key)) {
            errors.push(FieldError::invalid(
                data_path.key(key),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
    }
    errors.extend(key_errors(
        binary.into_iter().flatten().map(|(k, _)| k),
        &FieldPath::new("binaryData"),
    ));
    let size = data
        .into_iter()
        .flatten()
        .map(|(_, v)| v.len())
        .sum::<usize>()
        + binary
            .into_iter()
            .flatten()
            .map(|(_, v)| v.0.len())
            .sum::<usize>();
    if size > MAX_DATA_SIZE {
        errors.push(FieldError::too_long(FieldPath::new(""), MAX_DATA_SIZE));
    }
    errors
}

/// Upstream's conversion of a Secret: `stringData` is written into `data` (its value wins
/// over a `data` entry of the same key) and never kept.
pub fn merge_string_data(secret: &mut Secret) {
    let Some(string_data) = secret.string_data.take() else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    for (key, value) in string_data {
        data.insert(key, ByteString(value.into_bytes()));
    }
}

fn default_secret(secret: &mut Secret) {
    merge_string_data(secret);
    secret.type_.get_or_insert_with(|| "Opaque".to_owned());
}

/// The `data` keys a Secret of type `type_` must have (upstream's `ValidateSecret`), as
/// (key, whether an empty value counts as missing); `basic-auth` needs one of its two.
fn required_keys(type_: &str) -> &'static [(&'static str, bool)] {
    match type_ {
        "kubernetes.io/dockercfg" => &[(".dockercfg", false)],
        "kubernetes.io/dockerconfigjson" => &[(".dockerconfigjson", false)],
        "kubernetes.io/ssh-auth" => &[("ssh-privatekey", true)],
        "kubernetes.io/tls" => &[("tls.crt", false), ("tls.key", false)],
        _ => &[],
    }
}

/// Upstream's `ValidateSecret` beyond metadata: keys, 1 MiB in all, each type's keys.
fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let data_path = FieldPath::new("data");
    let mut errors = key_errors(data.keys(), &data_path);
    if data.values().map(|v| v.0.len()).sum::<usize>() > MAX_DATA_SIZE {
        errors.push(FieldError::too_long(data_path.clone(), MAX_DATA_SIZE));
    }
    let type_ = secret.type_.as_deref().unwrap_or("");
    for (key, empty_is_missing) in required_keys(type_) {
        let missing = data
            .get(*key)
            .is_none_or(|v| *empty_is_missing && v.0.is_empty());
        if missing {
            errors.push(FieldError::required(data_path.key(key), ""));
        }
    }
    match type_ {
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errors.push(FieldError::required(data_path.key("username"), ""));
            errors.push(FieldError::required(data_path.key("password"), ""));
        }
        "kubernetes.io/service-account-token" => {
            let name = "kubernetes.io/service-account.name";
            let named = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(name))
                .is_some_and(|v| !v.is_empty());
            if !named {
                let at = FieldPath::new("metadata").child("annotations").key(name);
                errors.push(FieldError::required(at, ""));
            }
        }
        _ => {}
    }
    errors
}

pub fn secrets() -> Typed<Secret> {
    Typed {
        default: default_secret,
        validate: validate_secret,
        columns: &SECRET_COLUMNS,
        cells: |secret: &Secret, now| {
            let (name, age) = name_and_age(&secret.metadata, now);
            let entries = secret.data.as_ref().map_or(0, |d| d.len());
            vec![
                name,
                json!(secret.type_.clone().unwrap_or_default()),
                json!(entries),
                age,
            ]
        },
        fields: |secret| vec![("type", crate::meta::text_at(secret, "/type"))],
        ..Typed::plain(NameRule::Subdomain)
    }
}

pub fn serviceaccounts() -> Typed<ServiceAccount> {
    Typed {
        columns: &SERVICEACCOUNT_COLUMNS,
        cells: |sa: &ServiceAccount, now| {
            let (name, age) = name_and_age(&sa.metadata, now);
            vec![name, json!(sa.secrets.as_ref().map_or(0, Vec::len)), age]
        },
        ..Typed::plain(NameRule::Subdomain)
    }
}

pub fn leases() -> Typed<Lease> {
    Typed {
        columns: &LEASE_COLUMNS,
        cells: |lease: &Lease, now: Timestamp| -> Vec<Value> {
            let (name, age) = name_and_age(&lease.metadata, now);
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            vec![name, json!(holder), age]
        },
        ..Typed::plain(NameRule::Subdomain)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategy::Strategy;

    fn errors(strategy: &dyn Strategy, object: Value) -> Vec<String> {
        let mut object = object;
        object["metadata"] = json!({"name": "x", "namespace": "default"});
        strategy.default(&mut object);
        let errors = strategy.validate(&object, true);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn configmap_and_secret_keys_table() {
        let key_msg = crate::validation::config_key_errors("a b").remove(0);
        let long = "k".repeat(254);
        let cases: Vec<(Box<dyn Strategy>, Value, Vec<String>)> = vec![
            (
                Box::new(configmaps()),
                json!({"data": {"a.b": "1"}, "binaryData": {"c": "MQ=="}}),
                vec![],
            ),
            (
                Box::new(configmaps()),
                json!({"data": {"../x": "1"}}),
                vec![
                    format!("data[../x]: Invalid value: \"../x\": {key_msg}"),
                    "data[../x]: Invalid value: \"../x\": must not start with '..'".into(),
                ],
            ),
            (
                Box::new(configmaps()),
                json!({"binaryData": {long.clone(): "MQ=="}}),
                vec![format!(
                    "binaryData[{long}]: Invalid value: \"{long}\": must be no more than 253 characters"
                )],
            ),
            (
                Box::new(configmaps()),
                json!({"data": {"a": "1"}, "binaryData": {"a": "MQ=="}}),
                vec![
                    "data[a]: Invalid value: \"a\": duplicate of key present in binaryData".into(),
                ],
            ),
            (
                Box::new(configmaps()),
                json!({"data": {"a": "x".repeat(MAX_DATA_SIZE + 1)}}),
                vec![": Too long: must have at most 1048576 bytes".into()],
            ),
            (
                Box::new(secrets()),
                json!({"data": {"a b": "MQ=="}}),
                vec![format!("data[a b]: Invalid value: \"a b\": {key_msg}")],
            ),
            (
                Box::new(secrets()),
                json!({"stringData": {"../x": "1"}}),
                vec![
                    format!("data[../x]: Invalid value: \"../x\": {key_msg}"),
                    "data[../x]: Invalid value: \"../x\": must not start with '..'".into(),
                ],
            ),
            (
                Box::new(secrets()),
                json!({"type": "kubernetes.io/tls", "stringData": {"tls.crt": "c"}}),
                vec!["data[tls.key]: Required value".into()],
            ),
            (
                Box::new(secrets()),
                json!({"type": "kubernetes.io/basic-auth"}),
                vec![
                    "data[username]: Required value".into(),
                    "data[password]: Required value".into(),
                ],
            ),
            (
                Box::new(secrets()),
                json!({"type": "kubernetes.io/service-account-token"}),
                vec![
                    "metadata.annotations[kubernetes.io/service-account.name]: Required value"
                        .into(),
                ],
            ),
        ];
        for (strategy, object, want) in cases {
            let shown = object.to_string();
            let shown = &shown[..shown.len().min(80)];
            assert_eq!(errors(strategy.as_ref(), object), want, "{shown}");
        }
    }

    #[test]
    fn string_data_is_merged_into_data_and_dropped() {
        let cases = [
            (
                json!({"data": {"a": "MQ=="}, "stringData": {"a": "2", "b": "3"}}),
                json!({"a": "Mg==", "b": "Mw=="}),
            ),
            (json!({"stringData": {"b": "3"}}), json!({"b": "Mw=="})),
            (
                json!({"data": {"a": "MQ=="}, "stringData": {}}),
                json!({"a": "MQ=="}),
            ),
        ];
        for (given, want) in cases {
            let mut secret = given.clone();
            secrets().default(&mut secret);
            assert_eq!(secret["data"], want, "{given}");
            assert!(secret.get("stringData").is_none(), "{secret}");
            assert_eq!(secret["type"], "Opaque");
        }
    }
}
