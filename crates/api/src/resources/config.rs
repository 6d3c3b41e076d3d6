//! ConfigMaps, Secrets, ServiceAccounts and Leases: metadata validation and their tables.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use serde_json::{Value, json};

use crate::strategy::{Typed, name_and_age};
use crate::table::Column;
use crate::validation::NameRule;

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
        ..Typed::plain(NameRule::Subdomain)
    }
}

pub fn secrets() -> Typed<Secret> {
    Typed {
        default: |secret: &mut Secret| {
            secret.type_.get_or_insert_with(|| "Opaque".to_owned());
        },
        columns: &SECRET_COLUMNS,
        cells: |secret: &Secret, now| {
            let (name, age) = name_and_age(&secret.metadata, now);
            let entries = secret.data.as_ref().map_or(0, |d| d.len())
                + secret.string_data.as_ref().map_or(0, |d| d.len());
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
