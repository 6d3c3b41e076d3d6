//! NamespaceLifecycle, as upstream's plugin: the system namespaces may not be deleted, and
//! nothing is created in a namespace that does not exist or is being terminated.
//!
//! Updates are let through without a lookup: the object they change exists, so its namespace
//! does (a namespace is removed only once its content is gone), and upstream allows updates
//! in a terminating namespace.

use async_trait::async_trait;
use ferrokube_api::{ApiError, GroupResource};
use serde_json::{Value, json};

use super::{Attributes, Operation, Plugin};
use crate::Inner;
use crate::registry::Storage;

/// The namespaces that may not be deleted.
pub const IMMORTAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The NamespaceLifecycle plugin.
pub struct NamespaceLifecycle;

/// What the plugin knows of the request's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace<'a> {
    /// Not looked up: the decision does not depend on it.
    Unread,
    Missing,
    /// It exists, in this `status.phase`.
    Phase(Option<&'a str>),
}

/// What the plugin decides, given what it read of the namespace.
///
/// | operation | object          | namespace          | decision             |
/// |-----------|-----------------|--------------------|----------------------|
/// | delete    | `default`, …    | —                  | 403 may not be deleted |
/// | create    | in a namespace  | missing            | 404 namespace        |
/// | create    | in a namespace  | Terminating        | 403 being terminated |
/// | anything else                                    | allowed              |
pub fn decide(attributes: &Attributes<'_>, namespace_state: Namespace<'_>) -> Result<(), ApiError> {
    let resource = attributes.info.group_resource();
    if attributes.operation == Operation::Delete
        && attributes.is_namespace()
        && IMMORTAL_NAMESPACES.contains(&attributes.name)
    {
        return Err(ApiError::forbidden(
            &resource,
            attributes.name,
            "this namespace may not be deleted",
        ));
    }
    let (Operation::Create, Some(namespace)) = (attributes.operation, attributes.namespace) else {
        return Ok(());
    };
    match namespace_state {
        Namespace::Missing => Err(ApiError::not_found(
            &GroupResource::new("", "namespaces"),
            namespace,
        )),
        Namespace::Phase(Some("Terminating")) => {
            let mut err = ApiError::forbidden(
                &resource,
                attributes.name,
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            );
            if let Some(details) = err.details.as_mut() {
                details["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace",
                }]);
            }
            Err(err)
        }
        Namespace::Phase(_) | Namespace::Unread => Ok(()),
    }
}

#[async_trait]
impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    async fn admit(&self, attributes: &Attributes<'_>, server: &Inner) -> Result<(), ApiError> {
        let (Operation::Create, Some(namespace)) = (attributes.operation, attributes.namespace)
        else {
            return decide(attributes, Namespace::Unread);
        };
        let namespaces = Storage::of(server, "", "v1", "namespaces");
        let state = match namespaces.find(None, namespace).await? {
            None => Namespace::Missing,
            Some(ns) => {
                let phase = ns.object.pointer("/status/phase").and_then(Value::as_str);
                return decide(attributes, Namespace::Phase(phase));
            }
        };
        decide(attributes, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokube_api::Registry;

    #[test]
    fn decide_table() {
        let registry = Registry::builtin();
        let namespaces = registry.find("", "v1", "namespaces").unwrap();
        let pods = registry.find("", "v1", "pods").unwrap();
        let attributes = |operation, info, namespace, name| Attributes {
            operation,
            info,
            namespace,
            name,
        };
        use Namespace::*;
        use Operation::*;
        // (what, attributes, the namespace's phase, expected code or 0)
        let cases = [
            (
                "delete default",
                attributes(Delete, namespaces, None, "default"),
                Unread,
                403,
            ),
            (
                "delete kube-node-lease",
                attributes(Delete, namespaces, None, "kube-node-lease"),
                Unread,
                403,
            ),
            (
                "delete another",
                attributes(Delete, namespaces, None, "team"),
                Unread,
                0,
            ),
            (
                "create in a missing one",
                attributes(Create, pods, Some("gone"), "p"),
                Missing,
                404,
            ),
            (
                "create in a terminating one",
                attributes(Create, pods, Some("t"), "p"),
                Phase(Some("Terminating")),
                403,
            ),
            (
                "create in an active one",
                attributes(Create, pods, Some("a"), "p"),
                Phase(Some("Active")),
                0,
            ),
            (
                "update in a terminating one",
                attributes(Update, pods, Some("t"), "p"),
                Phase(Some("Terminating")),
                0,
            ),
            (
                "delete in a missing one",
                attributes(Delete, pods, Some("gone"), "p"),
                Missing,
                0,
            ),
            (
                "create a namespace",
                attributes(Create, namespaces, None, "new"),
                Missing,
                0,
            ),
        ];
        for (what, attributes, phase, code) in cases {
            match decide(&attributes, phase) {
                Ok(()) => assert_eq!(code, 0, "{what}"),
                Err(err) => assert_eq!(err.code, code, "{what}: {err:?}"),
            }
        }
        let err = decide(
            &attributes(Create, pods, Some("t"), "p"),
            Phase(Some("Terminating")),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "pods \"p\" is forbidden: unable to create new content in namespace t because it is being terminated"
        );
        assert_eq!(
            err.details.unwrap()["causes"][0]["reason"],
            "NamespaceTerminating"
        );
    }
}
