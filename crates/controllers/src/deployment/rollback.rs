//! A rollback asked for with the `deprecated.deployment.rollback.to` annotation (what
//! extensions/v1beta1's `spec.rollbackTo` became), as upstream's `rollback.go`: the Deployment
//! takes the template and annotations of the ReplicaSet of that revision (0: the one before
//! the current), and the request is cleared whatever happens. The next pass then finds that
//! ReplicaSet as the new one and gives it the next revision (see `annotations`).
//!
//! Example: revisions 1 (nginx:1.25) and 2 (nginx:1.26), `rollback.to: "0"` → the template
//! becomes nginx:1.25's, and the event says "Rolled back deployment \"web\" to revision 1".

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;

use super::annotations::{ROLLBACK_TO, annotations_from, last_revision, revision, rollback_to};
use super::plan::{Pass, Rollback};
use super::sync::sync_revision;
use super::template::{HASH_LABEL, equal_ignore_hash};
use ferrokube_client::events::Kind;

/// Event reasons, as upstream's.
const DONE: &str = "DeploymentRollback";
const NOT_FOUND: &str = "DeploymentRollbackRevisionNotFound";
const UNCHANGED: &str = "DeploymentRollbackTemplateUnchanged";

/// Plans the rollback the Deployment asks for (`rollback`).
pub fn rollback(pass: &mut Pass) {
    sync_revision(pass, true);
    let d = pass.d;
    let Some(mut to) = rollback_to(d) else {
        return;
    };
    if to == 0 {
        to = last_revision(&pass.rss);
        if to == 0 {
            pass.rollback = Some(cleared(pass, NOT_FOUND, "Unable to find last revision."));
            return;
        }
    }
    let Some(rs) = pass.rss.iter().find(|rs| revision(rs) == Some(to)) else {
        let message = "Unable to find the revision to rollback to.";
        pass.rollback = Some(cleared(pass, NOT_FOUND, message));
        return;
    };
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let current = d.spec.as_ref().map(|s| &s.template);
    if current.is_some_and(|t| equal_ignore_hash(t, &template)) {
        let message = format!(
            "The rollback revision contains the same template as current deployment \"{}\"",
            d.name_any()
        );
        pass.rollback = Some(cleared(pass, UNCHANGED, &message));
        return;
    }
    pass.rollback = Some(to_replicaset(pass, rs, to));
}

/// The Deployment with `rs`'s template (without its hash label) and annotations.
fn to_replicaset(pass: &Pass, rs: &ReplicaSet, to: i64) -> Rollback {
    let d = pass.d;
    let mut template: PodTemplateSpec = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    let mut annotations = annotations_from(d, rs);
    annotations.remove(ROLLBACK_TO);
    Rollback {
        template: Some(template),
        annotations,
        event: (
            Kind::Normal,
            DONE,
            format!(
                "Rolled back deployment \"{}\" to revision {to}",
                d.name_any()
            ),
        ),
    }
}

/// The Deployment as it is but for the rollback request, with a warning.
fn cleared(pass: &Pass, reason: &'static str, message: &str) -> Rollback {
    let mut annotations = pass.d.annotations().clone();
    annotations.remove(ROLLBACK_TO);
    Rollback {
        template: None,
        annotations,
        event: (Kind::Warning, reason, message.to_owned()),
    }
}
