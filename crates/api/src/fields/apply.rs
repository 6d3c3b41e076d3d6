//! Server-side apply: a manager declares the fields it wants; they are merged into the live
//! object, fields it applied before and no longer declares are removed (unless another manager
//! owns them), and a field another manager owns with a different value is a conflict unless
//! forced, in which case ownership moves.
//!
//! Example: `kubectl apply --server-side` of `spec.replicas: 3` on a Deployment whose
//! replicas `kubectl scale` (an Update manager) set to 5 fails with
//! `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1 at …: .spec.replicas`;
//! with `force`, replicas become 3 and the applier owns them.

use serde_json::{Value, json};

use super::fieldset::{Step, display_path, remove_at, value_at};
use super::last_applied;
use super::managed::{Actor, ManagedEntry, read_entries, write_entries};
use crate::patch::strategic_merge;

/// The conflicts of an apply: (manager description, path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    pub conflicts: Vec<(String, String)>,
}

impl ApplyConflict {
    /// Upstream's message.
    pub fn message(&self) -> String {
        if let [(manager, path)] = self.conflicts.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
        }
        let mut managers: Vec<&String> = self.conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for manager in managers {
            lines.push(format!("conflicts with {manager}:"));
            lines.extend(
                self.conflicts
                    .iter()
                    .filter(|(m, _)| m == manager)
                    .map(|(_, p)| format!("- {p}")),
            );
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }
}

/// The object after `actor` applies `applied` over `live` (absent: the apply creates it).
///
/// For the manager `kubectl`, conflicts the live object's last-applied annotation forgives are
/// no conflicts, and the annotation follows the applied configuration (see `last_applied`).
pub fn server_side_apply(
    actor: &Actor<'_>,
    live: Option<&Value>,
    applied: &Value,
    force: bool,
) -> Result<Value, ApplyConflict> {
    let mut applied = applied.clone();
    if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let mut merged = match (apply_fields(actor, live, &applied, force), live) {
        (Err(conflicts), Some(live)) if last_applied::upgrades(actor) => {
            let allowed = last_applied::allowed_conflicts(actor, live);
            let remaining = last_applied::unforgiven(conflicts, &allowed);
            if remaining.is_empty() {
                apply_fields(actor, Some(live), &applied, true)
            } else {
                Err(remaining)
            }
        }
        (result, _) => result,
    }
    .map_err(|conflicts| ApplyConflict {
        conflicts: conflicts
            .into_iter()
            .map(|(manager, path)| (manager, display_path(&path)))
            .collect(),
    })?;
    last_applied::sync_annotation(actor, &mut merged, &applied);
    Ok(merged)
}

/// Conflicts by the manager's description and the path.
type Conflicts = Vec<(String, Vec<Step>)>;

/// The apply itself: `applied` (without managedFields) merged over `live` under `actor`'s
/// ownership, or the conflicts unless `force`.
fn apply_fields(
    actor: &Actor<'_>,
    live: Option<&Value>,
    applied: &Value,
    force: bool,
) -> Result<Value, Conflicts> {
    let applied_fields = actor.fields_of(applied);
    let live_object = live.cloned().unwrap_or_else(|| json!({}));
    let mut entries = read_entries(&live_object);
    let is_mine = |e: &ManagedEntry| {
        e.manager == actor.manager && e.operation == "Apply" && e.subresource == actor.subresource
    };

    let mut conflicts: Vec<(usize, Vec<Step>)> = Vec::new();
    for (i, entry) in entries.iter().enumerate().filter(|(_, e)| !is_mine(e)) {
        for path in applied_fields.paths() {
            let container = path.last().is_some_and(|s| s == ".");
            if !container
                && entry.fields.contains(&path)
                && value_at(applied, &path) != value_at(&live_object, &path)
            {
                conflicts.push((i, path));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts
            .into_iter()
            .map(|(i, p)| (entries[i].describe(), p))
            .collect());
    }
    for (i, path) in &conflicts {
        entries[*i].fields.remove(path);
    }

    let mut merged = strategic_merge(&live_object, applied, actor.schemas, actor.root)
        .unwrap_or(applied.clone());
    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<&ManagedEntry> = entries.iter().filter(|e| !is_mine(e)).collect();
    for path in previous
        .paths()
        .into_iter()
        .filter(|p| !applied_fields.contains(p))
    {
        let owned_elsewhere = others
            .iter()
            .any(|e| e.fields.has_prefix(container_of(&path)));
        if !owned_elsewhere {
            remove_at(&mut merged, &path);
        }
    }

    let time = match entries.iter().find(|e| is_mine(e)) {
        Some(previous) if previous.fields == applied_fields => previous.time.clone(),
        _ => actor.now.to_owned(),
    };
    entries.retain(|e| !is_mine(e));
    entries.retain(|e| !e.fields.0.is_empty());
    entries.push(ManagedEntry {
        manager: actor.manager.to_owned(),
        operation: "Apply".into(),
        api_version: actor.api_version.to_owned(),
        time,
        fields: applied_fields,
        subresource: actor.subresource.to_owned(),
    });
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// The path of the thing a member stands for: `a.b.` → `a.b`.
fn container_of(path: &[Step]) -> &[Step] {
    match path.split_last() {
        Some((last, parent)) if last == "." => parent,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::managed::record_update;
    use crate::patch::Schemas;
    use crate::registry::Registry;

    fn actor<'a>(schemas: &'a Schemas, manager: &'a str) -> Actor<'a> {
        Actor::for_test(schemas, manager, "apps/v1", "io.k8s.api.apps.v1.Deployment")
    }

    fn deployment(replicas: i64, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn apply_create_conflict_force_and_removal() {
        let schemas = Schemas::for_registry(&Registry::builtin());
        let applier = actor(&schemas, "kubectl");
        let first = deployment(
            1,
            json!([{"name": "web", "image": "nginx"}, {"name": "side", "image": "busybox"}]),
        );
        let live = server_side_apply(&applier, None, &first, false).unwrap();
        assert_eq!(read_entries(&live)[0].operation, "Apply");

        // Another manager scales with an Update and takes .spec.replicas.
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        let entries = record_update(
            read_entries(&live),
            &actor(&schemas, "kube-controller"),
            Some(&live),
            &scaled,
        );
        write_entries(&mut scaled, &entries);

        let second = deployment(3, json!([{"name": "web", "image": "nginx"}]));
        let conflict = server_side_apply(&applier, Some(&scaled), &second, false).unwrap_err();
        assert_eq!(
            conflict.message(),
            "Apply failed with 1 conflict: conflict with \"kube-controller\" using apps/v1 at 2026-01-01T00:00:00Z: .spec.replicas"
        );
        let forced = server_side_apply(&applier, Some(&scaled), &second, true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        assert_eq!(
            forced["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "nginx"}]),
            "the sidecar it no longer applies is removed"
        );
        assert!(
            read_entries(&forced).iter().all(|e| e.manager == "kubectl"),
            "ownership moved: {:?}",
            read_entries(&forced)
        );

        let same = server_side_apply(&applier, Some(&forced), &second, false).unwrap();
        assert_eq!(
            same, forced,
            "applying the same configuration changes nothing, not even the time"
        );
    }

    #[test]
    fn client_side_apply_upgrades_to_server_side() {
        use crate::fields::last_applied::LAST_APPLIED;

        let schemas = Schemas::for_registry(&Registry::builtin());
        let image = "/spec/template/spec/containers/0/image";
        let config = deployment(1, json!([{"name": "web", "image": "nginx:1.25"}]));
        // `kubectl apply -f`: an Update by kubectl-client-side-apply, with the annotation.
        let mut csa = config.clone();
        let text = format!("{}\n", serde_json::to_string(&config).unwrap());
        csa["metadata"]["annotations"] = json!({ LAST_APPLIED: text });
        let entries = record_update(
            Vec::new(),
            &actor(&schemas, "kubectl-client-side-apply"),
            None,
            &csa,
        );
        write_entries(&mut csa, &entries);
        // The same, after `kubectl set image` (manager kubectl-set) changed the image.
        let mut set = csa.clone();
        *set.pointer_mut(image).unwrap() = json!("nginx:1.24");
        let entries = record_update(
            read_entries(&csa),
            &actor(&schemas, "kubectl-set"),
            Some(&csa),
            &set,
        );
        write_entries(&mut set, &entries);

        let changed = deployment(1, json!([{"name": "web", "image": "nginx:1.26"}]));
        let path = ".spec.template.spec.containers[name=\"web\"].image";
        let at = "using apps/v1 at 2026-01-01T00:00:00Z";
        let cases = [
            ("kubectl", &csa, Ok(())),
            (
                "other",
                &csa,
                Err(format!(
                    "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" {at}: {path}"
                )),
            ),
            (
                "kubectl",
                &set,
                Err(format!(
                    "Apply failed with 1 conflict: conflict with \"kubectl-set\" {at}: {path}"
                )),
            ),
        ];
        for (manager, live, want) in cases {
            let result = server_side_apply(&actor(&schemas, manager), Some(live), &changed, false);
            match (result, want) {
                (Ok(merged), Ok(())) => {
                    assert_eq!(merged.pointer(image).unwrap(), "nginx:1.26");
                    let owner = read_entries(&merged)
                        .into_iter()
                        .find(|e| {
                            e.fields.has_prefix(&["f:spec".into(), "f:template".into()])
                                && e.operation == "Apply"
                        })
                        .unwrap();
                    assert_eq!(owner.manager, "kubectl");
                    let annotation = merged["metadata"]["annotations"][LAST_APPLIED]
                        .as_str()
                        .unwrap();
                    assert!(
                        annotation.contains("nginx:1.26") && annotation.ends_with('\n'),
                        "{annotation}"
                    );
                }
                (Err(conflict), Err(message)) => {
                    assert_eq!(conflict.message(), message, "{manager}")
                }
                (got, want) => panic!("{manager}: got {got:?}, want {want:?}"),
            }
        }
    }
}
