//! Domain errors as GraphQL errors: every error carries `extensions.code`, one of
//! `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `VALIDATION`, `RATE_LIMITED`, `PLAN_LIMIT`,
//! `BILLING_DISABLED`, `INTERNAL`.
//! Validation errors add `extensions.field`; rate-limited ones `extensions.retryAfter`
//! (seconds). Internal errors are logged with their cause and shown without it.

use async_graphql::ErrorExtensions;
use errorwatch_core::Error;

/// Resolver result.
pub type GqlResult<T> = async_graphql::Result<T>;

/// An error with a code and message.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

/// Maps a domain error.
pub fn to_gql(error: Error) -> async_graphql::Error {
    match error {
        Error::Unauthenticated(message) => coded("UNAUTHENTICATED", message),
        Error::NotFound => coded("NOT_FOUND", "not found"),
        Error::Forbidden => coded("FORBIDDEN", "your role does not allow this"),
        Error::Validation { field, message } => {
            async_graphql::Error::new(format!("{field}: {message}")).extend_with(|_, e| {
                e.set("code", "VALIDATION");
                e.set("field", field);
            })
        }
        Error::Conflict(message) => async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", "VALIDATION");
        }),
        Error::RateLimited { retry_after } => {
            let secs = retry_after.as_secs().max(1);
            async_graphql::Error::new(format!("too many attempts; retry in {secs} s")).extend_with(
                |_, e| {
                    e.set("code", "RATE_LIMITED");
                    e.set("retryAfter", secs);
                },
            )
        }
        Error::PlanLimit(message) => coded("PLAN_LIMIT", message),
        Error::BillingDisabled => coded(
            "BILLING_DISABLED",
            "billing is not enabled on this server (self-hosted, or no Stripe key configured)",
        ),
        Error::Internal(cause) => {
            tracing::error!(
                error = format!("{cause:#}"),
                "internal error in a GraphQL resolver"
            );
            coded("INTERNAL", "internal error; it was logged")
        }
    }
}

/// `?` on domain results inside resolvers.
pub trait OrGql<T> {
    /// Maps the error.
    fn gql(self) -> GqlResult<T>;
}

impl<T> OrGql<T> for errorwatch_core::Result<T> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(to_gql)
    }
}

/// Gives every error of a response a code: errors raised before any resolver ran (syntax,
/// unknown fields, wrong argument types, depth and complexity limits) become `VALIDATION`.
pub fn fill_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            let message = error.message.to_lowercase();
            let hint = if message.contains("too deep")
                || message.contains("too complex")
                || message.contains("recursion depth")
            {
                "the query exceeds the depth (16) or complexity (2000) limit; ask for fewer or shallower fields, or paginate"
            } else {
                "the document does not match the schema (see graphql/schema.graphql or GraphiQL)"
            };
            extensions.set("code", "VALIDATION");
            extensions.set("hint", hint);
        }
    }
}
