//! Request paths: which endpoint a path names, as a pure parse with table tests.
//!
//! Examples: `/apis/apps/v1/namespaces/default/deployments/web/scale` →
//! `Resource { group: "apps", version: "v1", namespace: Some("default"), resource: "deployments",
//! name: Some("web"), subresource: Some("scale") }`; `/api/v1/namespaces/default` → the
//! namespace `default` itself (cluster-scoped `namespaces`).

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(String),
    Metrics,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    GroupVersion {
        group: String,
        version: String,
    },
    /// `/openapi/v3` and `/openapi/v3/<gv path>`
    OpenApiV3(Option<String>),
    /// `/openapi/v2`
    OpenApiV2,
    Resource(ResourcePath),
    NotFound,
}

/// A path below a group version that names a resource, an object or a subresource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Route {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        ["version"] => Route::Version,
        [h @ ("healthz" | "livez" | "readyz"), rest @ ..] => Route::Health(
            std::iter::once(*h)
                .chain(rest.iter().copied())
                .collect::<Vec<_>>()
                .join("/"),
        ),
        ["metrics"] => Route::Metrics,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis", group, version] => Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["openapi", "v3"] => Route::OpenApiV3(None),
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(Some(rest.join("/"))),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let base = ResourcePath {
        group: group.to_owned(),
        version: version.to_owned(),
        ..Default::default()
    };
    let owned = |s: &&str| Some(s.to_string());
    let path = match rest {
        // /namespaces/<ns>/<resource>[/<name>[/<sub>]]: namespaced objects.
        ["namespaces", ns, resource, tail @ ..] => {
            let (name, subresource) = match tail {
                [] => (None, None),
                [name] => (owned(name), None),
                [name, sub] => (owned(name), owned(sub)),
                _ => return Route::NotFound,
            };
            ResourcePath {
                namespace: owned(ns),
                resource: resource.to_string(),
                name,
                subresource,
                ..base
            }
        }
        // /namespaces/<ns> and /namespaces/<ns>/<sub> for a namespace itself is handled above
        // only when <sub> names a subresource of namespaces: status, finalize.
        [resource] => ResourcePath {
            resource: resource.to_string(),
            ..base
        },
        [resource, name] => ResourcePath {
            resource: resource.to_string(),
            name: owned(name),
            ..base
        },
        [resource, name, sub] => ResourcePath {
            resource: resource.to_string(),
            name: owned(name),
            subresource: owned(sub),
            ..base
        },
        _ => return Route::NotFound,
    };
    Route::Resource(path)
}

impl ResourcePath {
    /// `/api/v1/namespaces/x/status` parses as resource `status` in namespace `x`; the caller
    /// turns it back into the `status` subresource of namespace `x` when `status` is not a
    /// resource.
    pub fn as_namespace_subresource(&self) -> Option<ResourcePath> {
        let ns = self.namespace.clone()?;
        (self.group.is_empty() && self.name.is_none()).then(|| ResourcePath {
            group: String::new(),
            version: self.version.clone(),
            namespace: None,
            resource: "namespaces".to_owned(),
            name: Some(ns),
            subresource: Some(self.resource.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(
        group: &str,
        ns: Option<&str>,
        resource: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Route {
        Route::Resource(ResourcePath {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.map(Into::into),
            resource: resource.into(),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
        })
    }

    #[test]
    fn parse_table() {
        let cases = [
            ("/version", Route::Version),
            ("/healthz", Route::Health("healthz".into())),
            ("/readyz/ping", Route::Health("readyz/ping".into())),
            ("/api", Route::CoreVersions),
            ("/apis", Route::Groups),
            (
                "/api/v1",
                Route::GroupVersion {
                    group: "".into(),
                    version: "v1".into(),
                },
            ),
            (
                "/apis/apps/v1",
                Route::GroupVersion {
                    group: "apps".into(),
                    version: "v1".into(),
                },
            ),
            ("/openapi/v3", Route::OpenApiV3(None)),
            (
                "/openapi/v3/apis/apps/v1",
                Route::OpenApiV3(Some("apis/apps/v1".into())),
            ),
            ("/api/v1/pods", res("", None, "pods", None, None)),
            (
                "/api/v1/namespaces",
                res("", None, "namespaces", None, None),
            ),
            (
                "/api/v1/namespaces/default",
                res("", None, "namespaces", Some("default"), None),
            ),
            (
                "/api/v1/namespaces/default/pods",
                res("", Some("default"), "pods", None, None),
            ),
            (
                "/api/v1/namespaces/default/pods/web",
                res("", Some("default"), "pods", Some("web"), None),
            ),
            (
                "/api/v1/namespaces/default/pods/web/binding",
                res("", Some("default"), "pods", Some("web"), Some("binding")),
            ),
            (
                "/api/v1/nodes/n1/status",
                res("", None, "nodes", Some("n1"), Some("status")),
            ),
            (
                "/apis/apps/v1/namespaces/default/deployments/web/scale",
                res(
                    "apps",
                    Some("default"),
                    "deployments",
                    Some("web"),
                    Some("scale"),
                ),
            ),
            (
                "/apis/apps/v1/deployments",
                res("apps", None, "deployments", None, None),
            ),
            ("/api/v1/namespaces/a/pods/b/c/d", Route::NotFound),
            ("/nothing", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
    }

    #[test]
    fn namespace_status_is_recovered() {
        let Route::Resource(path) = parse("/api/v1/namespaces/x/status") else {
            panic!()
        };
        let fixed = path.as_namespace_subresource().unwrap();
        assert_eq!(
            (
                fixed.resource.as_str(),
                fixed.name.as_deref(),
                fixed.subresource.as_deref()
            ),
            ("namespaces", Some("x"), Some("status"))
        );
    }
}
