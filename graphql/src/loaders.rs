//! What every per-request DataLoader shares: the request's principal and the scopes it already
//! proved, so a batch builds each account's scope once per request (and a loader can never
//! read an account the principal is not a member of).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use errorwatch_core::ids::AccountId;
use errorwatch_core::scope::{AccountScope, Principal};
use errorwatch_core::service::auth::Auth;

use crate::error::OrGql;

/// The principal and its checked scopes, shared by a request's loaders.
pub struct LoaderScopes {
    auth: Auth,
    principal: Option<Principal>,
    scopes: Mutex<HashMap<AccountId, AccountScope>>,
}

impl LoaderScopes {
    /// For one request.
    pub fn new(auth: Auth, principal: Option<Principal>) -> Arc<Self> {
        Arc::new(Self {
            auth,
            principal,
            scopes: Mutex::new(HashMap::new()),
        })
    }

    /// Groups batch keys `(account, id)` by account, with each account's scope; empty for an
    /// anonymous request.
    pub async fn by_account<K: Copy>(
        &self,
        keys: &[(AccountId, K)],
    ) -> Result<Vec<(AccountScope, Vec<K>)>, Arc<async_graphql::Error>> {
        let Some(principal) = &self.principal else {
            return Ok(Vec::new());
        };
        let mut grouped: HashMap<AccountId, Vec<K>> = HashMap::new();
        for (account, key) in keys {
            grouped.entry(*account).or_default().push(*key);
        }
        let mut out = Vec::with_capacity(grouped.len());
        for (account, ids) in grouped {
            let cached = self
                .scopes
                .lock()
                .ok()
                .and_then(|s| s.get(&account).cloned());
            let scope = match cached {
                Some(scope) => scope,
                None => {
                    let scope = self
                        .auth
                        .scope(principal, account)
                        .await
                        .gql()
                        .map_err(Arc::new)?;
                    if let Ok(mut scopes) = self.scopes.lock() {
                        scopes.insert(account, scope.clone());
                    }
                    scope
                }
            };
            out.push((scope, ids));
        }
        Ok(out)
    }
}
