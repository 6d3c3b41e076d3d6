//! TokenReview, as upstream's service-account authenticator answers it: a token is valid when
//! this cluster signed it, it is unexpired, it is for one of the audiences asked (the issuer's by
//! default), its service account still exists with the same UID, and the pod or secret it is
//! bound to still exists with the same UID. The answer names the user the token stands for.
//!
//! Example: a pod's projected token → `status.authenticated: true`, user
//! `system:serviceaccount:default:default` in groups `system:serviceaccounts`,
//! `system:serviceaccounts:default` and `system:authenticated`, with the pod's name and UID in
//! `extra`.

use std::collections::BTreeMap;

use axum::response::Response;
use ferrokube_api::ApiError;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus, UserInfo};
use serde_json::Value;

use super::token::{Claims, Ref};
use crate::handlers::Call;
use crate::registry::Storage;
use crate::response::json;

/// Whether `wanted` (a service account, pod or secret) still exists with the token's UID.
async fn still_there(
    call: &Call<'_>,
    plural: &str,
    namespace: &str,
    wanted: &Ref,
) -> Result<(), String> {
    let found = Storage::of(call.server, "", "v1", plural)
        .find(Some(namespace), &wanted.name)
        .await
        .map_err(|e| e.message.clone())?;
    let kind = plural.trim_end_matches('s');
    let uid = found.as_ref().and_then(|f| {
        f.object
            .pointer("/metadata/uid")?
            .as_str()
            .map(str::to_owned)
    });
    match uid {
        None => Err(format!("{kind} \"{}\" not found", wanted.name)),
        Some(uid) if uid != wanted.uid => Err(format!(
            "{kind} UID ({}) does not match claim ({})",
            uid, wanted.uid
        )),
        Some(_) => Ok(()),
    }
}

/// The user a verified token stands for.
fn user_of(claims: &Claims) -> UserInfo {
    let k = &claims.kubernetes;
    let mut extra = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        extra.insert(
            format!("authentication.kubernetes.io/{key}"),
            vec![value.to_owned()],
        );
    };
    if let Some(pod) = &k.pod {
        put("pod-name", &pod.name);
        put("pod-uid", &pod.uid);
    }
    if let Some(node) = &k.node {
        put("node-name", &node.name);
        put("node-uid", &node.uid);
    }
    put("credential-id", &format!("JTI={}", claims.jti));
    UserInfo {
        username: Some(claims.sub.clone()),
        uid: Some(k.serviceaccount.uid.clone()),
        groups: Some(vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{}", k.namespace),
            "system:authenticated".to_owned(),
        ]),
        extra: Some(extra),
    }
}

/// Verifies the token and everything it is bound to.
async fn review(call: &Call<'_>, token: &str, audiences: &[String]) -> Result<Claims, String> {
    let claims = call.server.tokens.verify(token, audiences)?;
    let k = &claims.kubernetes;
    still_there(call, "serviceaccounts", &k.namespace, &k.serviceaccount).await?;
    if let Some(pod) = &k.pod {
        still_there(call, "pods", &k.namespace, pod).await?;
    }
    if let Some(secret) = &k.secret {
        still_there(call, "secrets", &k.namespace, secret).await?;
    }
    Ok(claims)
}

/// Answers a TokenReview (never stored).
pub async fn create(call: Call<'_>) -> Result<Response, ApiError> {
    let mut request: TokenReview = serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::bad_request(format!(
            "TokenReview in version \"v1\" cannot be handled as a TokenReview: {e}"
        ))
    })?;
    let token = request.spec.token.clone().unwrap_or_default();
    let asked = request.spec.audiences.clone().unwrap_or_default();
    let audiences = match asked.is_empty() {
        true => vec![call.server.tokens.issuer.clone()],
        false => asked,
    };
    let status = match review(&call, &token, &audiences).await {
        Ok(claims) => {
            let granted: Vec<String> = audiences
                .into_iter()
                .filter(|a| claims.aud.contains(a))
                .collect();
            TokenReviewStatus {
                authenticated: Some(true),
                user: Some(user_of(&claims)),
                audiences: Some(granted),
                error: None,
            }
        }
        Err(why) => TokenReviewStatus {
            user: Some(UserInfo::default()),
            error: Some(why),
            ..Default::default()
        },
    };
    request.status = Some(status);
    let mut body: Value = serde_json::to_value(&request).expect("k8s-openapi types serialize");
    body["kind"] = "TokenReview".into();
    body["apiVersion"] = "authentication.k8s.io/v1".into();
    Ok(json(201, &body))
}
