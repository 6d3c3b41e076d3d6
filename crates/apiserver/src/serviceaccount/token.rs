//! Service-account tokens: JWTs signed with the cluster's signing key (ES256), with upstream's
//! claims — issuer, audiences, expiry, `sub: system:serviceaccount:<ns>:<name>` and the
//! `kubernetes.io` claim naming the service account and the pod, secret or node it is bound to.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The issuer (and default audience) of tokens, as k3s and kubeadm set it.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A named object with its UID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Private {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
}

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    pub nbf: i64,
    pub sub: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: Private,
}

/// Signs and verifies tokens with one key.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub issuer: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens {{ issuer: {:?} }}", self.issuer)
    }
}

impl Tokens {
    /// From a PKCS#8 PEM P-256 private key.
    pub fn from_pem(private_key: &str) -> Result<Tokens, String> {
        let pair = rcgen::KeyPair::from_pem(private_key).map_err(|e| e.to_string())?;
        let encoding =
            EncodingKey::from_ec_pem(private_key.as_bytes()).map_err(|e| e.to_string())?;
        let decoding = DecodingKey::from_ec_pem(pair.public_key_pem().as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(Tokens {
            encoding,
            decoding,
            issuer: ISSUER.to_owned(),
        })
    }

    /// With a key made for this process only (tests, servers without a data dir).
    pub fn ephemeral() -> Tokens {
        Tokens::from_pem(&crate::pki::new_signing_key()).expect("a new key loads")
    }

    /// A signed token for the claims.
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &self.encoding)
            .expect("claims serialize and ES256 signs")
    }

    /// The claims of a token this issuer signed, unexpired, for one of `audiences`; else why
    /// not (upstream's messages).
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, String> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(audiences);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "service account token has expired".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "token audiences is invalid for the target audiences".to_owned()
                }
                _ => format!("invalid bearer token, {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64, aud: &str) -> Claims {
        let now = jiff::Timestamp::now().as_second();
        Claims {
            aud: vec![aud.into()],
            exp: now + exp_in,
            iat: now,
            iss: ISSUER.into(),
            jti: "j1".into(),
            nbf: now,
            sub: "system:serviceaccount:default:default".into(),
            kubernetes: Private {
                namespace: "default".into(),
                serviceaccount: Ref {
                    name: "default".into(),
                    uid: "sa-1".into(),
                },
                pod: Some(Ref {
                    name: "web".into(),
                    uid: "p-1".into(),
                }),
                ..Private::default()
            },
        }
    }

    #[test]
    fn signed_tokens_verify_and_others_do_not() {
        let tokens = Tokens::ephemeral();
        let token = tokens.sign(&claims(600, ISSUER));
        assert_eq!(token.split('.').count(), 3);
        let got = tokens.verify(&token, &[ISSUER.into()]).unwrap();
        assert_eq!(got, claims(600, ISSUER).clone_with(&got));
        assert_eq!(got.kubernetes.pod.unwrap().name, "web");
        let expired = tokens.sign(&claims(-10, ISSUER));
        assert_eq!(
            tokens.verify(&expired, &[ISSUER.into()]).unwrap_err(),
            "service account token has expired"
        );
        let elsewhere = tokens.sign(&claims(600, "vault"));
        assert!(
            tokens
                .verify(&elsewhere, &[ISSUER.into()])
                .unwrap_err()
                .contains("audiences")
        );
        let other = Tokens::ephemeral().sign(&claims(600, ISSUER));
        assert!(
            tokens
                .verify(&other, &[ISSUER.into()])
                .unwrap_err()
                .starts_with("invalid bearer token")
        );
        assert!(tokens.verify("garbage", &[ISSUER.into()]).is_err());
    }

    impl Claims {
        /// These claims with the times of `other` (made a moment apart).
        fn clone_with(&self, other: &Claims) -> Claims {
            Claims {
                exp: other.exp,
                iat: other.iat,
                nbf: other.nbf,
                ..self.clone()
            }
        }
    }
}
