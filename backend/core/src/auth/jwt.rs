//! Short-lived session JWTs (HS256): the access token a browser carries in its httpOnly
//! cookie. It names the user and the session; the session row is still checked on every
//! request, so signing out revokes at once rather than when the token expires.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, UserId};

/// How long an access token lives; the refresh token renews it.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id (a string, as the JWT spec wants `sub`).
    pub sub: String,
    /// Session id.
    pub sid: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

impl Claims {
    /// The user.
    pub fn user_id(&self) -> Option<UserId> {
        self.sub.parse().ok().map(UserId)
    }
}

/// The signing keys, derived from the installation's secret.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    csrf_key: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([redacted])")
    }
}

impl SessionKeys {
    /// Keys from a secret (at least 32 bytes).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            csrf_key: super::hmac::hmac_sha256(secret, b"errorwatch csrf key"),
        }
    }

    /// The CSRF token of a session: an HMAC of its id, so it cannot be forged without the
    /// server's secret and is worthless for any other session.
    pub fn csrf_token(&self, session: SessionId) -> String {
        hex::encode(super::hmac::hmac_sha256(
            &self.csrf_key,
            session.0.to_string().as_bytes(),
        ))
    }

    /// Signs an access token for `user` in `session`, valid for [`ACCESS_TTL_SECS`] from `now`.
    pub fn issue(&self, user: UserId, session: SessionId, now: i64) -> crate::Result<String> {
        let claims = Claims {
            sub: user.0.to_string(),
            sid: session.0,
            iat: now,
            exp: now + ACCESS_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing a session token: {e}").into())
    }

    /// The claims of a valid, unexpired token signed by us; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_keys() -> SessionKeys {
        SessionKeys::from_secret(&[8u8; 32])
    }

    #[test]
    fn tokens_verify_until_they_expire_and_only_with_our_key() {
        let keys = SessionKeys::from_secret(&[7u8; 32]);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(UserId(3), SessionId(9), now).expect("sign");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!((claims.user_id(), claims.sid), (Some(UserId(3)), 9));
        assert_ne!(
            keys.csrf_token(SessionId(9)),
            keys.csrf_token(SessionId(10))
        );
        assert_ne!(
            keys.csrf_token(SessionId(9)),
            other_keys().csrf_token(SessionId(9))
        );

        let expired = keys
            .issue(UserId(3), SessionId(9), now - ACCESS_TTL_SECS - 60)
            .expect("sign");
        assert_eq!(keys.verify(&expired), None);

        assert_eq!(other_keys().verify(&token), None);
        assert_eq!(keys.verify("not.a.jwt"), None);
        // A token with `alg: none` is refused.
        assert_eq!(
            keys.verify(
                "eyJhbGciOiJub25lIn0.eyJzdWIiOjMsInNpZCI6OSwiaWF0IjowLCJleHAiOjk5OTk5OTk5OTl9."
            ),
            None
        );
    }
}
