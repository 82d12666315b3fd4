//! Operator doors: no scope, for the CLI and test set-up only.
//!
//! Each function here acts on the database without a verified credential: an operator at the
//! command line (or a test arranging its world) vouches for the call. Requests never come
//! through here: HTTP and GraphQL reach tenant data with a `Principal` (see
//! `service::auth::Auth::scope`) and jobs with `AccountScope::system`. The names say what is
//! skipped; grep for `admin::` to find every use.

use crate::Result;
use crate::db::Db;
use crate::ids::{AccountId, ProjectId, UserId};
use crate::scope::AccountScope;
use crate::secret::SecretString;
use crate::service::account::{self, Account};
use crate::service::project::{self, Project};
use crate::service::seed::{self, Seeded};
use crate::service::user::{self, User};

/// Creates a user with a verified email (the operator vouches for it).
pub async fn create_user_unscoped(
    db: &Db,
    email: &str,
    password: SecretString,
    is_superuser: bool,
) -> Result<User> {
    user::create_user(db, email, password, is_superuser).await
}

/// Finds any user by email (normalised first).
pub async fn find_user_by_email_unscoped(db: &Db, email: &str) -> Result<User> {
    user::find_user_by_email(db, email).await
}

/// Creates an account owned by `owner`, without asking the owner. The slug derives from the
/// name; a taken slug gets a numeric suffix (`acme`, `acme-2`, ...).
pub async fn create_account_for_user(db: &Db, name: &str, owner: UserId) -> Result<Account> {
    account::create_account(db, name, owner).await
}

/// Finds any account by slug.
pub async fn find_account_by_slug_unscoped(db: &Db, slug: &str) -> Result<Account> {
    account::find_account_by_slug_unscoped(db, slug).await
}

/// The scope of a user the operator names in an account: the membership is checked
/// (`NotFound` when there is none), the user's credential is not.
pub async fn scope_for_member(
    db: &Db,
    user_id: UserId,
    account_id: AccountId,
) -> Result<AccountScope> {
    AccountScope::for_member(db, user_id, account_id).await
}

/// Every project of every account (`errorwatch project list`).
pub async fn list_projects_all_accounts_unscoped(
    db: &Db,
    public_url: &url::Url,
) -> Result<Vec<Project>> {
    project::list_projects_all_accounts_unscoped(db, public_url).await
}

/// Reprocesses a project's stored events with today's source maps, whichever account owns it
/// (`errorwatch reprocess`); see [`crate::service::reprocess`].
pub async fn reprocess_project_unscoped(
    db: &Db,
    project: ProjectId,
    maps: &crate::digest::symbolicate::Symbolicator,
    progress: &mut (dyn FnMut(usize, usize, &crate::service::reprocess::Reprocessed) + Send),
) -> Result<crate::service::reprocess::Reprocessed> {
    crate::service::reprocess::reprocess_project_unscoped(db, project, maps, progress).await
}

/// Fills a project, whichever account owns it, with generated issues and events (`errorwatch
/// seed`, benchmarks and tests).
pub async fn seed_project_unscoped(
    db: &Db,
    project: ProjectId,
    issues: u64,
    events: u64,
) -> Result<Seeded> {
    seed::seed_project_unscoped(db, project, issues, events).await
}
