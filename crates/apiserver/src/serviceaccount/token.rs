//! Service-account tokens: JWTs (JWS compact form) signed with the cluster's signing key
//! (ES256, through ring), with upstream's claims — issuer, audiences, expiry, `sub: system:serviceaccount:<ns>:<name>` and the
//! `kubernetes.io` claim naming the service account and the pod, secret or node it is bound to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
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
    signer: EcdsaKeyPair,
    /// The public key as an uncompressed point, for verifying.
    public: Vec<u8>,
    /// Upstream's `kid`: the SHA-256 of the public key's DER, base64url.
    key_id: String,
    pub issuer: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tokens {{ issuer: {:?}, kid: {:?} }}",
            self.issuer, self.key_id
        )
    }
}

/// A token's header.
#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
}

fn invalid(why: impl std::fmt::Display) -> String {
    format!("invalid bearer token, {why}")
}

impl Tokens {
    /// From a PKCS#8 PEM P-256 private key.
    pub fn from_pem(private_key: &str) -> Result<Tokens, String> {
        let pair = rcgen::KeyPair::from_pem(private_key).map_err(|e| e.to_string())?;
        let rng = ring::rand::SystemRandom::new();
        let der = pair.serialize_der();
        let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|e| format!("not a P-256 key: {e}"))?;
        let public = signer.public_key().as_ref().to_vec();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&pair);
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        Ok(Tokens {
            signer,
            public,
            key_id: B64.encode(digest.as_ref()),
            issuer: ISSUER.to_owned(),
        })
    }

    /// With a key made for this process only (tests, servers without a data dir).
    pub fn ephemeral() -> Tokens {
        Tokens::from_pem(&crate::pki::new_signing_key()).expect("a new key loads")
    }

    /// A signed token for the claims: JWS compact form, ES256.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "ES256".to_owned(),
            kid: self.key_id.clone(),
        };
        let input = format!("{}.{}", part(&header), part(claims));
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .signer
            .sign(&rng, input.as_bytes())
            .expect("ES256 signs");
        format!("{input}.{}", B64.encode(signature.as_ref()))
    }

    /// The claims of a token this issuer signed, unexpired, for one of `audiences`; else why
    /// not (upstream's messages).
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, String> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(invalid("token contains an invalid number of segments"));
        };
        let decode = |part: &str| B64.decode(part).map_err(invalid);
        let header: Header = serde_json::from_slice(&decode(header)?).map_err(invalid)?;
        if header.alg != "ES256" {
            return Err(invalid(format!(
                "unexpected signature algorithm {:?}",
                header.alg
            )));
        }
        let input = &token[..header_and_payload_len(token)];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(input.as_bytes(), &decode(signature)?)
            .map_err(|_| invalid("square/go-jose: error in cryptographic primitive"))?;
        let claims: Claims = serde_json::from_slice(&decode(payload)?).map_err(invalid)?;
        if claims.iss != self.issuer {
            return Err(invalid("the token was not issued by this cluster"));
        }
        let now = jiff::Timestamp::now().as_second();
        if now >= claims.exp {
            return Err("service account token has expired".to_owned());
        }
        if now < claims.nbf {
            return Err("service account token is not valid yet".to_owned());
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err(format!(
                "token audiences {:?} is invalid for the target audiences {:?}",
                claims.aud, audiences
            ));
        }
        Ok(claims)
    }
}

/// The length of `header.payload`, the signed part of a token.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

/// A token's header or claims: JSON, base64url.
fn part(value: &impl Serialize) -> String {
    B64.encode(serde_json::to_vec(value).expect("token parts serialize"))
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
