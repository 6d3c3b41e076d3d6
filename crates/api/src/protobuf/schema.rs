//! The protobuf messages this server decodes, as field tables: number, JSON name, kind.
//!
//! Numbers and names are Kubernetes' wire contract for `application/vnd.kubernetes.protobuf`
//! (the `generated.proto` of each API group). The table covers what kubectl sends for
//! `create deployment|namespace|configmap|secret` and the common fields around them; a field
//! outside it is refused by the decoder with its message and number, never dropped.

/// How a field's value is encoded and turned into JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int32,
    Int64,
    Bool,
    /// `bytes`, as base64 in JSON.
    Bytes,
    /// A nested message.
    Msg(&'static str),
    /// `map<string, string>`
    MapStr,
    /// `map<string, bytes>`, values as base64.
    MapBytes,
    /// `map<string, Quantity>`, values as strings.
    MapQuantity,
    /// `meta.v1.Time` as RFC 3339, or absent when zero.
    Time,
    /// `intstr.IntOrString` as a number or a string.
    IntOrString,
    /// `resource.Quantity` as a string.
    Quantity,
    /// `meta.v1.FieldsV1`: raw JSON.
    FieldsV1,
}

/// One field of a message.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub number: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
    /// A Go pointer field: a zero value is meaningful and kept. Other fields are written by
    /// Go even when zero, and dropped here as JSON's `omitempty` would.
    pub optional: bool,
}

const fn f(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: false,
        optional: false,
    }
}

const fn opt(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: false,
        optional: true,
    }
}

const fn rep(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        repeated: true,
        optional: false,
    }
}

use Kind::*;

/// A message and its fields.
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

pub static MESSAGES: &[Message] = &[
    Message {
        name: "ObjectMeta",
        fields: &[
            f(1, "name", Str),
            f(2, "generateName", Str),
            f(3, "namespace", Str),
            f(4, "selfLink", Str),
            f(5, "uid", Str),
            f(6, "resourceVersion", Str),
            f(7, "generation", Int64),
            f(8, "creationTimestamp", Time),
            f(9, "deletionTimestamp", Time),
            opt(10, "deletionGracePeriodSeconds", Int64),
            f(11, "labels", MapStr),
            f(12, "annotations", MapStr),
            rep(13, "ownerReferences", Msg("OwnerReference")),
            rep(14, "finalizers", Str),
            rep(17, "managedFields", Msg("ManagedFieldsEntry")),
        ],
    },
    Message {
        name: "OwnerReference",
        fields: &[
            f(1, "kind", Str),
            f(3, "name", Str),
            f(4, "uid", Str),
            f(5, "apiVersion", Str),
            opt(6, "controller", Bool),
            opt(7, "blockOwnerDeletion", Bool),
        ],
    },
    Message {
        name: "ManagedFieldsEntry",
        fields: &[
            f(1, "manager", Str),
            f(2, "operation", Str),
            f(3, "apiVersion", Str),
            f(4, "time", Time),
            f(6, "fieldsType", Str),
            f(7, "fieldsV1", FieldsV1),
            f(8, "subresource", Str),
        ],
    },
    Message {
        name: "LabelSelector",
        fields: &[
            f(1, "matchLabels", MapStr),
            rep(2, "matchExpressions", Msg("LabelSelectorRequirement")),
        ],
    },
    Message {
        name: "LabelSelectorRequirement",
        fields: &[
            f(1, "key", Str),
            f(2, "operator", Str),
            rep(3, "values", Str),
        ],
    },
    Message {
        name: "Deployment",
        fields: &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("DeploymentSpec")),
            f(3, "status", Msg("DeploymentStatus")),
        ],
    },
    Message {
        name: "DeploymentSpec",
        fields: &[
            opt(1, "replicas", Int32),
            f(2, "selector", Msg("LabelSelector")),
            f(3, "template", Msg("PodTemplateSpec")),
            f(4, "strategy", Msg("DeploymentStrategy")),
            f(5, "minReadySeconds", Int32),
            opt(6, "revisionHistoryLimit", Int32),
            f(7, "paused", Bool),
            opt(9, "progressDeadlineSeconds", Int32),
        ],
    },
    Message {
        name: "DeploymentStrategy",
        fields: &[
            f(1, "type", Str),
            f(2, "rollingUpdate", Msg("RollingUpdateDeployment")),
        ],
    },
    Message {
        name: "RollingUpdateDeployment",
        fields: &[
            opt(1, "maxUnavailable", IntOrString),
            opt(2, "maxSurge", IntOrString),
        ],
    },
    Message {
        name: "DeploymentStatus",
        fields: &[
            f(1, "observedGeneration", Int64),
            f(2, "replicas", Int32),
            f(3, "updatedReplicas", Int32),
            f(4, "availableReplicas", Int32),
            f(5, "unavailableReplicas", Int32),
            rep(6, "conditions", Msg("DeploymentCondition")),
            f(7, "readyReplicas", Int32),
            opt(8, "collisionCount", Int32),
            opt(9, "terminatingReplicas", Int32),
        ],
    },
    Message {
        name: "DeploymentCondition",
        fields: &[
            f(1, "type", Str),
            f(2, "status", Str),
            f(4, "reason", Str),
            f(5, "message", Str),
            f(6, "lastUpdateTime", Time),
            f(7, "lastTransitionTime", Time),
        ],
    },
    Message {
        name: "PodTemplateSpec",
        fields: &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("PodSpec")),
        ],
    },
    Message {
        name: "PodSpec",
        fields: &[
            rep(2, "containers", Msg("Container")),
            f(3, "restartPolicy", Str),
            opt(4, "terminationGracePeriodSeconds", Int64),
            opt(5, "activeDeadlineSeconds", Int64),
            f(6, "dnsPolicy", Str),
            f(7, "nodeSelector", MapStr),
            f(8, "serviceAccountName", Str),
            f(9, "serviceAccount", Str),
            f(10, "nodeName", Str),
            f(11, "hostNetwork", Bool),
            f(12, "hostPID", Bool),
            f(13, "hostIPC", Bool),
            f(14, "securityContext", Msg("PodSecurityContext")),
            rep(15, "imagePullSecrets", Msg("LocalObjectReference")),
            f(16, "hostname", Str),
            f(17, "subdomain", Str),
            f(19, "schedulerName", Str),
            rep(20, "initContainers", Msg("Container")),
            opt(21, "automountServiceAccountToken", Bool),
            rep(22, "tolerations", Msg("Toleration")),
            f(24, "priorityClassName", Str),
            opt(25, "priority", Int32),
            opt(27, "shareProcessNamespace", Bool),
            opt(29, "runtimeClassName", Str),
            opt(30, "enableServiceLinks", Bool),
            opt(31, "preemptionPolicy", Str),
            opt(35, "setHostnameAsFQDN", Bool),
            opt(37, "hostUsers", Bool),
        ],
    },
    Message {
        name: "PodSecurityContext",
        fields: &[
            opt(2, "runAsUser", Int64),
            opt(3, "runAsNonRoot", Bool),
            rep(4, "supplementalGroups", Int64),
            opt(5, "fsGroup", Int64),
            opt(6, "runAsGroup", Int64),
        ],
    },
    Message {
        name: "LocalObjectReference",
        fields: &[f(1, "name", Str)],
    },
    Message {
        name: "Container",
        fields: &[
            f(1, "name", Str),
            f(2, "image", Str),
            rep(3, "command", Str),
            rep(4, "args", Str),
            f(5, "workingDir", Str),
            rep(6, "ports", Msg("ContainerPort")),
            rep(7, "env", Msg("EnvVar")),
            f(8, "resources", Msg("ResourceRequirements")),
            rep(9, "volumeMounts", Msg("VolumeMount")),
            f(13, "terminationMessagePath", Str),
            f(14, "imagePullPolicy", Str),
            f(16, "stdin", Bool),
            f(17, "stdinOnce", Bool),
            f(18, "tty", Bool),
            f(20, "terminationMessagePolicy", Str),
            opt(24, "restartPolicy", Str),
        ],
    },
    Message {
        name: "ContainerPort",
        fields: &[
            f(1, "name", Str),
            f(2, "hostPort", Int32),
            f(3, "containerPort", Int32),
            f(4, "protocol", Str),
            f(5, "hostIP", Str),
        ],
    },
    Message {
        name: "EnvVar",
        fields: &[f(1, "name", Str), f(2, "value", Str)],
    },
    Message {
        name: "ResourceRequirements",
        fields: &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)],
    },
    Message {
        name: "VolumeMount",
        fields: &[
            f(1, "name", Str),
            f(2, "readOnly", Bool),
            f(3, "mountPath", Str),
            f(4, "subPath", Str),
            opt(5, "mountPropagation", Str),
            f(6, "subPathExpr", Str),
            opt(7, "recursiveReadOnly", Str),
        ],
    },
    Message {
        name: "Toleration",
        fields: &[
            f(1, "key", Str),
            f(2, "operator", Str),
            f(3, "value", Str),
            f(4, "effect", Str),
            opt(5, "tolerationSeconds", Int64),
        ],
    },
    Message {
        name: "Namespace",
        fields: &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("NamespaceSpec")),
            f(3, "status", Msg("NamespaceStatus")),
        ],
    },
    Message {
        name: "NamespaceSpec",
        fields: &[rep(1, "finalizers", Str)],
    },
    Message {
        name: "NamespaceStatus",
        fields: &[
            f(1, "phase", Str),
            rep(2, "conditions", Msg("NamespaceCondition")),
        ],
    },
    Message {
        name: "NamespaceCondition",
        fields: &[
            f(1, "type", Str),
            f(2, "status", Str),
            f(4, "lastTransitionTime", Time),
            f(5, "reason", Str),
            f(6, "message", Str),
        ],
    },
    Message {
        name: "ConfigMap",
        fields: &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapStr),
            f(3, "binaryData", MapBytes),
            opt(4, "immutable", Bool),
        ],
    },
    Message {
        name: "Secret",
        fields: &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapBytes),
            f(3, "type", Str),
            f(4, "stringData", MapStr),
            opt(5, "immutable", Bool),
        ],
    },
];

/// The table entry of a message.
pub fn message(name: &str) -> Option<&'static Message> {
    MESSAGES.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_message_is_defined_and_numbers_are_unique() {
        for m in MESSAGES {
            let mut numbers: Vec<u32> = m.fields.iter().map(|f| f.number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(
                numbers.len(),
                m.fields.len(),
                "duplicate field number in {}",
                m.name
            );
            for field in m.fields {
                if let Kind::Msg(name) = field.kind {
                    assert!(
                        message(name).is_some(),
                        "{}.{} refers to undefined {name}",
                        m.name,
                        field.json
                    );
                }
            }
        }
    }
}
