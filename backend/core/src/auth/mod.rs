//! Authentication building blocks without HTTP: opaque tokens (hashed at rest), session JWTs,
//! brute-force limits. The flows that use them live in `service::auth`.

pub mod hmac;
pub mod jwt;
pub mod limits;
pub mod token;
