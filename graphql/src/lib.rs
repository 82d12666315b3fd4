//! The GraphQL schema served at `/graphql`. Resolvers read the request's context and call
//! `errorwatch-core` services; they never touch entities (which `core` keeps private).
//! `schema.graphql` next to this crate is the exported SDL, checked by a test.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};

/// The schema type.
pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Facts about the running server, given to the schema at build time.
#[derive(Clone, Debug, SimpleObject)]
pub struct ServerInfo {
    /// ErrorWatch version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// Root query.
pub struct Query;

#[Object]
impl Query {
    /// The server's version and database engine.
    async fn server_info(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<ServerInfo> {
        Ok(ctx.data::<ServerInfo>()?.clone())
    }
}

/// Builds the schema with limits that keep one request from exhausting the server.
pub fn build_schema(info: ServerInfo) -> AppSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(info)
        .limit_depth(16)
        .limit_complexity(2000)
        .finish()
}

/// The SDL, as checked in at `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_graphql_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        let current = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &current).expect("write schema.graphql");
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == current,
            "graphql/schema.graphql is stale; run `UPDATE_SCHEMA=1 cargo test -p errorwatch-graphql` and review the diff"
        );
    }
}
