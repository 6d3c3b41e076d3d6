//! POST: decode, fill the system fields (uid, creationTimestamp, generation, generateName),
//! default, validate, and store — or, with `dryRun=All`, only answer as if stored.

use axum::response::Response;
use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, GroupResource, meta};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Call;
use super::decode::decode_object;
use crate::object::{random_suffix, set_resource_version, timestamp, to_stored};
use crate::response::{json, with_warnings};
use crate::store_error;

/// Sets what the server owns on a new object: uid, creationTimestamp, generation, cleared
/// status, and the resource's defaults.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value) {
    let strategy = &info.strategy;
    {
        let metadata = meta::metadata_mut(obj);
        metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        metadata.insert(
            "creationTimestamp".into(),
            json!(timestamp(Timestamp::now())),
        );
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            metadata.remove(field);
        }
        if strategy.generation() == ferrokube_api::strategy::Generation::Untracked {
            metadata.remove("generation");
        } else {
            metadata.insert("generation".into(), json!(1));
        }
    }
    if strategy.has_status()
        && !strategy.keeps_status_on_create()
        && let Some(map) = obj.as_object_mut()
    {
        map.remove("status");
    }
    strategy.default(obj);
    if strategy.has_status()
        && let Some(map) = obj.as_object_mut()
    {
        // Upstream's status is a struct, printed as `status: {}` until a controller fills it.
        map.entry("status").or_insert_with(|| json!({}));
    }
}

pub async fn create(call: Call<'_>) -> Result<Response, ApiError> {
    let dry_run = call.query.dry_run()?;
    let body = decode_object(&call, call.info)?;
    let created = create_object(&call, body.object, dry_run, true).await?;
    Ok(with_warnings(json(201, &created), &body.warnings))
}

/// Creates a decoded object: namespace, generateName, system fields and defaults, managed
/// fields (`record`, unless an apply already set them), validation, the namespace check, and
/// the store.
pub async fn create_object(
    call: &Call<'_>,
    mut obj: Value,
    dry_run: bool,
    record: bool,
) -> Result<Value, ApiError> {
    let info = call.info;
    set_namespace(call, &mut obj)?;
    if meta::name(&obj).is_empty()
        && let Some(prefix) = meta::get_str(&obj, "generateName").map(str::to_owned)
    {
        meta::set(
            &mut obj,
            "name",
            Some(json!(format!("{prefix}{}", random_suffix()))),
        );
    }
    prepare_create(info, &mut obj);
    meta::prune_empty(&mut obj);
    if record {
        super::record_managed_fields(call, "", None, &mut obj);
    }
    let errors = info.strategy.validate(&obj, info.namespaced());
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info.kind,
            info.group,
            meta::name(&obj),
            &errors,
        ));
    }
    let name = meta::name(&obj).to_owned();
    if let Some(ns) = call.key_namespace() {
        check_namespace(call, ns, &name).await?;
    }
    let key = info.key(call.key_namespace(), &name);
    let store_error = |e| store_error(e, &call.resource(), &name);
    if dry_run {
        if call
            .server
            .store
            .get(&key, None)
            .await
            .map_err(store_error)?
            .kv
            .is_some()
        {
            return Err(ApiError::already_exists(&call.resource(), &name));
        }
        return Ok(obj);
    }
    let written = call
        .server
        .store
        .create(&key, to_stored(info, &obj))
        .await
        .map_err(store_error)?;
    set_resource_version(&mut obj, written.revision);
    Ok(obj)
}

/// Puts the request's namespace on the object; a different one in the body is a 400.
fn set_namespace(call: &Call<'_>, obj: &mut Value) -> Result<(), ApiError> {
    match call.key_namespace() {
        Some(ns) => match meta::namespace(obj) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => {
                meta::set(obj, "namespace", Some(json!(ns)));
                Ok(())
            }
        },
        None => {
            meta::set(obj, "namespace", None);
            Ok(())
        }
    }
}

/// The namespace must exist and not be terminating.
async fn check_namespace(call: &Call<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let namespaces = GroupResource::new("", "namespaces");
    let key = format!("namespaces/{ns}");
    let got = call
        .server
        .store
        .get(&key, None)
        .await
        .map_err(|e| store_error(e, &namespaces, ns))?;
    let kv = got.kv.ok_or_else(|| ApiError::not_found(&namespaces, ns))?;
    let namespace: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    if namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
        return Err(ApiError::forbidden(
            &call.resource(),
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        ));
    }
    Ok(())
}
