//! DELETE and DELETECOLLECTION with DeleteOptions: preconditions, propagationPolicy (whose
//! finalizers keep the object until the garbage collector is done), finalizers (the object
//! stays with a deletionTimestamp until they are gone), graceful deletion of pods bound to a
//! node, and namespaces moving to Terminating.

use axum::response::Response;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::Revision;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Call;
use super::get::read;
use super::list::Filter;
use crate::object::{from_stored, set_resource_version, timestamp};
use crate::response::json;
use crate::store_error;

/// The DeleteOptions a client may send in the body or the query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub preconditions: Option<Preconditions>,
    pub orphan_dependents: Option<bool>,
    pub dry_run: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    fn from_call(call: &Call<'_>) -> Result<Self, ApiError> {
        let mut options: DeleteOptions = if call.body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptions::default()
        } else {
            serde_json::from_slice(&call.body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if let Some(grace) = call.query.get("gracePeriodSeconds") {
            options.grace_period_seconds = Some(grace.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds {grace:?}"))
            })?);
        }
        if let Some(policy) = call.query.get("propagationPolicy") {
            options.propagation_policy = Some(policy.to_owned());
        }
        match options.propagation_policy.as_deref() {
            None | Some("Background" | "Foreground" | "Orphan") => Ok(options),
            Some(other) => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }

    fn dry_run(&self, call: &Call<'_>) -> Result<bool, ApiError> {
        Ok(call.query.dry_run()?
            || self
                .dry_run
                .as_ref()
                .is_some_and(|d| d.iter().any(|v| v == "All")))
    }
}

/// What a delete does to the stored object.
#[derive(Debug, PartialEq)]
pub enum DeletePlan {
    /// Remove it now.
    Remove,
    /// Keep it, marked for deletion: the given object replaces the stored one.
    Mark(Value),
}

/// Decides between removing an object and marking it (finalizers, propagation, graceful pods).
///
/// Example: a Deployment deleted with `propagationPolicy=Foreground` gets the
/// `foregroundDeletion` finalizer and a deletionTimestamp; the garbage collector removes it
/// once its dependents are gone.
pub fn plan_delete(
    call: &Call<'_>,
    obj: &Value,
    options: &DeleteOptions,
    now: Timestamp,
) -> DeletePlan {
    let mut finalizers: Vec<String> = meta::finalizers(obj)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let policy_finalizer = match (
        options.propagation_policy.as_deref(),
        options.orphan_dependents,
    ) {
        (Some("Foreground"), _) => Some("foregroundDeletion"),
        (Some("Orphan"), _) | (None, Some(true)) => Some("orphan"),
        _ => None,
    };
    if let Some(f) = policy_finalizer
        && !finalizers.iter().any(|x| x == f)
    {
        finalizers.push(f.to_owned());
    }
    let already_deleting = meta::get_str(obj, "deletionTimestamp").is_some();
    let grace = graceful_pod_period(call, obj, options);
    let namespace = call.info.group.is_empty() && call.info.plural == "namespaces";
    if finalizers.is_empty() && grace.is_none() && !namespace {
        return DeletePlan::Remove;
    }
    if already_deleting
        && grace.is_none()
        && meta::finalizers(obj).len() == finalizers.len()
        && !namespace
    {
        return DeletePlan::Mark(obj.clone());
    }
    let mut marked = obj.clone();
    let seconds = grace.unwrap_or(0);
    if !already_deleting {
        meta::set(
            &mut marked,
            "deletionTimestamp",
            Some(json!(timestamp(now + seconds.seconds()))),
        );
        meta::set(
            &mut marked,
            "deletionGracePeriodSeconds",
            Some(json!(seconds)),
        );
    }
    if !finalizers.is_empty() {
        meta::set(&mut marked, "finalizers", Some(json!(finalizers)));
    }
    if namespace {
        marked["status"] = json!({"phase": "Terminating"});
    }
    DeletePlan::Mark(marked)
}

/// The grace period of a pod that must stop on its node first: bound, not finished, and a
/// period above zero (the request's, else the pod's terminationGracePeriodSeconds).
fn graceful_pod_period(call: &Call<'_>, obj: &Value, options: &DeleteOptions) -> Option<i64> {
    if !(call.info.group.is_empty() && call.info.plural == "pods") {
        return None;
    }
    let bound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let period = options
        .grace_period_seconds
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30);
    (bound && !finished && period > 0).then_some(period)
}

/// Whether an object marked for deletion has no finalizers left and so can go.
pub fn finalized(obj: &Value) -> bool {
    meta::get_str(obj, "deletionTimestamp").is_some()
        && meta::finalizers(obj).is_empty()
        && !namespace_finalizers_left(obj)
}

/// A namespace also waits for its `spec.finalizers` (the namespace controller's `kubernetes`).
fn namespace_finalizers_left(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

fn check_preconditions(
    call: &Call<'_>,
    obj: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let Some(pre) = &options.preconditions else {
        return Ok(());
    };
    if let Some(uid) = &pre.uid {
        let actual = meta::get_str(obj, "uid").unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict_because(
                &call.resource(),
                call.name(),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &pre.resource_version {
        let actual = meta::get_str(obj, "resourceVersion").unwrap_or("");
        if rv != actual {
            return Err(ApiError::conflict_because(
                &call.resource(),
                call.name(),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// Deletes or marks one object; answers with the object as it ends up.
async fn delete_one(
    call: &Call<'_>,
    options: &DeleteOptions,
    dry_run: bool,
) -> Result<(u16, Value), ApiError> {
    let (obj, revision) = read(call, None).await?;
    check_preconditions(call, &obj, options)?;
    match plan_delete(call, &obj, options, Timestamp::now()) {
        DeletePlan::Remove => {
            if !dry_run {
                remove(call, revision).await?;
            }
            Ok((200, success_status(call, &obj)))
        }
        DeletePlan::Mark(marked) if marked == obj || dry_run => Ok((202, marked)),
        DeletePlan::Mark(mut marked) => {
            let written = super::update::write(call, &marked, revision).await?;
            set_resource_version(&mut marked, written);
            Ok((202, marked))
        }
    }
}

async fn remove(call: &Call<'_>, revision: Revision) -> Result<(), ApiError> {
    call.server
        .store
        .delete(&call.key(), Some(revision))
        .await
        .map(|_| ())
        .map_err(|e| store_error(e, &call.resource(), call.name()))
}

/// The `Status` upstream answers a completed delete with.
fn success_status(call: &Call<'_>, obj: &Value) -> Value {
    let mut details = call.resource().details(call.name());
    if let Some(uid) = meta::get_str(obj, "uid") {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub async fn delete(call: Call<'_>) -> Result<Response, ApiError> {
    let options = DeleteOptions::from_call(&call)?;
    let dry_run = options.dry_run(&call)?;
    let (code, body) = delete_one(&call, &options, dry_run).await?;
    Ok(json(if code == 202 { 200 } else { code }, &body))
}

pub async fn delete_collection(call: Call<'_>) -> Result<Response, ApiError> {
    let options = DeleteOptions::from_call(&call)?;
    let dry_run = options.dry_run(&call)?;
    let filter = Filter::from_call(&call)?;
    let prefix = call.info.key_prefix(call.key_namespace());
    let range = call
        .server
        .store
        .range(&prefix, Default::default())
        .await
        .map_err(|e| store_error(e, &call.resource(), ""))?;
    let mut deleted = Vec::new();
    for kv in &range.items {
        let obj = from_stored(call.info, kv)?;
        if !filter.matches(call.info, &obj) {
            continue;
        }
        let one = Call {
            server: call.server,
            info: call.info,
            namespace: meta::namespace(&obj).map(str::to_owned),
            name: Some(meta::name(&obj).to_owned()),
            query: call.query.clone(),
            headers: call.headers,
            body: call.body.clone(),
        };
        match delete_one(&one, &options, dry_run).await {
            Ok(_) => deleted.push(obj),
            Err(err) if err.code == 404 => {}
            Err(err) => return Err(err),
        }
    }
    let items: Vec<Value> = deleted;
    Ok(json(
        200,
        &json!({"kind": format!("{}List", call.info.kind), "apiVersion": call.info.api_version(), "metadata": {"resourceVersion": range.revision.0.to_string()}, "items": items}),
    ))
}
