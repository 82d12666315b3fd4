//! Business operations. Functions on tenant data take `&AccountScope` first and check roles;
//! functions named `*_unscoped` are the few deliberate exceptions (admin commands on the box).

pub mod account;
pub mod ingest;
pub mod issue;
pub mod project;
pub mod user;
