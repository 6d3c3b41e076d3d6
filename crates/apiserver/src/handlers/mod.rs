//! The generic REST handlers: one implementation of each verb for every registered resource.

mod create;
mod decode;
mod delete;
mod get;
mod list;
mod log;
mod patch;
mod subresources;
mod update;
mod watch;
pub(crate) mod watch_lines;
mod watch_route;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use ferrokube_api::registry::{ResourceInfo, Subresource};
use ferrokube_api::{ApiError, GroupResource};

use crate::Inner;
use crate::query::Query;
use crate::registry::{Storage, Target, manager_name};
use crate::route::ResourcePath;

/// One request to a resource, with everything a verb handler needs.
pub struct Call<'a> {
    pub server: &'a Arc<Inner>,
    pub info: &'a ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

impl Call<'_> {
    pub fn resource(&self) -> GroupResource {
        self.info.group_resource()
    }

    /// The object name; handlers for single objects are only reached with one.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The namespace for keys: the request's for namespaced resources, none otherwise.
    pub fn key_namespace(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|_| self.info.namespaced())
    }
}

/// Routes a resource request to its verb.
pub async fn handle(
    server: &Arc<Inner>,
    method: &Method,
    path: ResourcePath,
    query: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = match server
        .registry
        .find(&path.group, &path.version, &path.resource)
    {
        Some(_) => path,
        None => path
            .as_namespace_subresource()
            .ok_or_else(ApiError::path_not_found)?,
    };
    let info = server
        .registry
        .find(&path.group, &path.version, &path.resource)
        .ok_or_else(ApiError::path_not_found)?;
    if !info.namespaced() && path.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let subresource = match path.subresource.as_deref() {
        None => None,
        Some(name) => Some(
            info.subresources
                .iter()
                .copied()
                .find(|s| s.name() == name)
                .ok_or_else(ApiError::path_not_found)?,
        ),
    };
    // Logs are text (upstream's log route produces text/plain too); every other answer is an
    // object, whose media types the client must accept.
    if subresource != Some(Subresource::Log) {
        crate::response::check_acceptable(headers)?;
    }
    let call = Call {
        server,
        info,
        namespace: path.namespace,
        name: path.name,
        query,
        headers,
        body,
    };
    match (method.as_str(), call.name.is_some(), subresource) {
        ("GET", false, None) if call.query.flag("watch") => watch::watch(call).await,
        ("GET", false, None) => list::list(call).await,
        ("GET", true, None | Some(Subresource::Status)) => get::get(call).await,
        ("POST", false, None) if info.is_review() => match info.kind {
            "TokenReview" => crate::serviceaccount::token_review::create(call).await,
            _ => Err(ApiError::method_not_supported(
                &info.group_resource(),
                "create",
            )),
        },
        (_, _, _) if info.is_review() => Err(ApiError::method_not_supported(
            &info.group_resource(),
            &method.as_str().to_lowercase(),
        )),
        ("POST", false, None) => create::create(call).await,
        ("PUT", true, None) => update::update(call, Target::Main).await,
        ("PUT", true, Some(Subresource::Status)) => update::update(call, Target::Status).await,
        ("GET", true, Some(Subresource::Log)) => log::log(call).await,
        ("POST", true, Some(Subresource::Binding)) => subresources::bind(call).await,
        ("POST", true, Some(Subresource::Token)) => {
            crate::serviceaccount::token_request::create(call).await
        }
        ("PUT", true, Some(Subresource::Finalize)) => update::update(call, Target::Finalize).await,
        ("GET", true, Some(Subresource::Scale)) => subresources::get_scale(call).await,
        ("PUT", true, Some(Subresource::Scale)) => subresources::put_scale(call).await,
        ("PATCH", true, None) => patch::patch(call, patch::PatchTarget::Main).await,
        ("PATCH", true, Some(Subresource::Status)) => {
            patch::patch(call, patch::PatchTarget::Status).await
        }
        ("PATCH", true, Some(Subresource::Scale)) => {
            patch::patch(call, patch::PatchTarget::Scale).await
        }
        ("DELETE", true, None) => delete::delete(call).await,
        ("DELETE", false, None) => delete::delete_collection(call).await,
        (verb, _, _) => Err(ApiError::method_not_supported(
            &info.group_resource(),
            &verb.to_lowercase(),
        )),
    }
}

impl<'a> Call<'a> {
    /// The generic store of the called resource.
    pub fn storage(&self) -> Storage<'a> {
        Storage::new(self.server, self.info)
    }

    /// The request's field manager: `fieldManager`, else from the User-Agent.
    pub fn field_manager(&self) -> String {
        let user_agent = self
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        manager_name(self.query.get("fieldManager"), user_agent)
    }
}
