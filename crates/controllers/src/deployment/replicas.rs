//! Replica arithmetic of a Deployment and its ReplicaSets, as upstream's `deployment_util.go`:
//! maxSurge and maxUnavailable in pods, the sums over ReplicaSets, how far one step may scale
//! the new ReplicaSet up, whether it is saturated, and the orders ReplicaSets are visited in.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations::desired_replicas;

/// The Deployment's `spec.replicas` (defaulted to 1, as the API server does).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `spec.replicas`.
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// A ReplicaSet's pods as its controller last counted them (`status.replicas`).
pub fn actual_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// A ReplicaSet's available pods.
pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// A ReplicaSet's ready pods.
pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// `f` summed over ReplicaSets (upstream's `Get*ReplicaCountForReplicaSets`).
pub fn sum<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>, f: fn(&ReplicaSet) -> i32) -> i32 {
    rss.into_iter().map(f).sum()
}

/// Whether the Deployment's strategy is Recreate.
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// An int-or-percent of `total`, rounded up or down (`GetScaledValueFromIntOrPercent`).
fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let percent: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let exact = percent * f64::from(total) / 100.0;
            (if round_up {
                exact.ceil()
            } else {
                exact.floor()
            }) as i32
        }
    }
}

/// (maxSurge, maxUnavailable) in pods: surge rounds up, unavailable down, and both zero
/// becomes one unavailable, as upstream's `ResolveFenceposts`.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let surge = scaled_value(rolling.max_surge.as_ref(), replicas(d), true);
    let unavailable = scaled_value(rolling.max_unavailable.as_ref(), replicas(d), false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// Pods the Deployment may run beyond its replicas: none under Recreate (`MaxSurge`).
pub fn max_surge(d: &Deployment) -> i32 {
    if is_recreate(d) { 0 } else { fenceposts(d).0 }
}

/// Pods of its replicas the Deployment may lack: none under Recreate or at zero replicas, and
/// never more than its replicas (`MaxUnavailable`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if is_recreate(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// The new ReplicaSet's replicas after one scale-up step (`NewRSNewReplicas`): under
/// RollingUpdate up to replicas + maxSurge pods in all, never past replicas; under Recreate
/// all replicas at once.
///
/// Example: 10 replicas, maxSurge 3, ReplicaSets at 8 (old) and 2 (new): 13 − 10 = 3 more,
/// but the new one needs only 8 → it becomes 5.
pub fn new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    if is_recreate(d) {
        return replicas(d);
    }
    let current = sum(all.iter().copied(), spec_replicas);
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return spec_replicas(new);
    }
    let scale_up = (max_total - current).min(replicas(d) - spec_replicas(new));
    spec_replicas(new) + scale_up.max(0)
}

/// Whether the new ReplicaSet runs all the Deployment's replicas, all available, sized for
/// them (`IsSaturated`).
pub fn is_saturated(d: &Deployment, new: Option<&ReplicaSet>) -> bool {
    new.is_some_and(|rs| {
        spec_replicas(rs) == replicas(d)
            && desired_replicas(rs) == Some(replicas(d))
            && available_replicas(rs) == replicas(d)
    })
}

/// Older first, then by name (`ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; among equals newer first (`ReplicaSetsBySizeNewer`, for scaling up).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Larger first; among equals older first (`ReplicaSetsBySizeOlder`, for scaling down).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus,
        RollingUpdateDeployment,
    };

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn fenceposts_table() {
        let cases = [
            (10, pct("25%"), pct("25%"), (3, 2)),
            (1, pct("25%"), pct("25%"), (1, 0)),
            (4, IntOrString::Int(0), IntOrString::Int(0), (0, 1)),
            (10, IntOrString::Int(3), IntOrString::Int(2), (3, 2)),
        ];
        for (replicas, surge, unavailable, want) in cases {
            assert_eq!(
                fenceposts(&deployment(replicas, surge.clone(), unavailable.clone())),
                want,
                "{replicas} {surge:?} {unavailable:?}"
            );
        }
    }

    #[test]
    fn recreate_has_no_surge_and_no_unavailability() {
        let mut d = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        d.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
        let old = rs(10, 10);
        let new = rs(0, 0);
        assert_eq!(new_replicas(&d, &[&old, &new], &new), 10, "all at once");
        let capped = deployment(2, IntOrString::Int(0), IntOrString::Int(5));
        assert_eq!(max_unavailable(&capped), 2, "never more than the replicas");
    }

    #[test]
    fn new_replicas_steps() {
        let d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        let old = rs(3, 3);
        let new = rs(0, 0);
        assert_eq!(new_replicas(&d, &[&old, &new], &new), 1, "surge by one");
        let new = rs(1, 1);
        assert_eq!(
            new_replicas(&d, &[&old, &new], &new),
            1,
            "at max total until an old pod goes"
        );
        let d = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
        let (old, new) = (rs(8, 8), rs(2, 0));
        assert_eq!(new_replicas(&d, &[&old, &new], &new), 5);
    }
}
