//! The GraphQL schema served at `/graphql`. Resolvers read the request's context and call
//! `errorwatch-core` services; they never touch entities (which `core` keeps private), and
//! reach tenant data only through the `AccountScope` the context builds for them.
//! `schema.graphql` next to this crate is the exported SDL, checked by a test.

pub mod alerts;
pub mod billing;
pub mod checkout;
pub mod context;
pub mod error;
pub mod ids;
pub mod issues;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod releases;
pub mod reprocess;
pub mod subscription;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Data, MergedObject, Request, Schema, SimpleObject};

pub use context::{CookieSettings, RequestContext};
/// Root query.
#[derive(MergedObject, Default)]
pub struct Query(query::AccountQuery, issues::IssueQuery, alerts::AlertQuery);

/// Root mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::AccountMutation,
    issues::IssueMutation,
    checkout::CheckoutMutation,
    alerts::AlertMutation,
    reprocess::ReprocessMutation,
);

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, subscription::Subscription>;

/// Facts about the running server, given to the schema at build time.
#[derive(Clone, Debug, SimpleObject)]
pub struct ServerInfo {
    /// ErrorWatch version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Whether billing through Stripe is on (SaaS mode with a Stripe key): plans can be chosen
    /// at sign-up and changed on the billing page. Off self-hosted, where `startCheckout`,
    /// `choosePlan` and `openBillingPortal` answer `BILLING_DISABLED`.
    pub billing_enabled: bool,
    /// Whether emails go to an SMTP server. When false (no `ERRORWATCH_SMTP_URL`), every
    /// email, verification links included, is written to the server's log and as a plain-text
    /// `.eml` file into its mail folder (`ERRORWATCH_MAIL_DIR`, `data/mail` by default).
    pub email_by_smtp: bool,
}

/// Largest accepted query document, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Builds the schema with limits that keep one request from exhausting the server.
pub fn build_schema(
    info: ServerInfo,
    billing: billing::BillingSettings,
    alerts: alerts::AlertSettings,
    reprocessing: reprocess::ReprocessSettings,
) -> AppSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .data(info)
    .data(billing)
    .data(alerts)
    .data(reprocessing)
    .limit_depth(16)
    .limit_complexity(2000)
    .limit_recursive_depth(32)
    .finish()
}

type Loaders = (
    DataLoader<types::MemberEmailLoader>,
    issues::LatestLoader,
    DataLoader<releases::DeploysLoader>,
);

/// Fresh DataLoaders holding the request's principal.
fn loaders(context: &RequestContext) -> Loaders {
    let scopes = loaders::LoaderScopes::new(context.auth.clone(), context.principal.clone());
    let members = DataLoader::new(types::MemberEmailLoader(scopes.clone()), tokio::spawn);
    let deploys = DataLoader::new(releases::DeploysLoader(scopes.clone()), tokio::spawn);
    // Cached, so the page prefetch in `issues::list` serves every `latestEvent` of the page.
    let latest = DataLoader::with_cache(
        issues::LatestEventLoader(scopes),
        tokio::spawn,
        async_graphql::dataloader::HashMapCache::default(),
    );
    (members, latest, deploys)
}

/// The per-connection data of a WebSocket: the context and its DataLoaders.
pub fn connection_data(context: RequestContext) -> Data {
    let (members, latest, deploys) = loaders(&context);
    let mut data = Data::default();
    data.insert(context);
    data.insert(members);
    data.insert(latest);
    data.insert(deploys);
    data
}

/// Attaches the per-request data to a request: the context and fresh DataLoaders.
pub fn prepare_request(request: Request, context: RequestContext) -> Request {
    let (members, latest, deploys) = loaders(&context);
    request
        .data(context)
        .data(members)
        .data(latest)
        .data(deploys)
}

/// The SDL, as checked in at `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
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
