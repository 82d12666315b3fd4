//! Sign-up, email verification, log in / out, browser sessions with refresh-token rotation,
//! password reset and change, email change, and API-token authentication.
//!
//! Sessions: log in creates a `sessions` row and hands out a short-lived JWT (15 min, names the
//! user and session) plus an opaque refresh token (30 days, only its hash stored). The JWT is
//! checked against the session row on every request, so revocation is immediate. A refresh
//! rotates the refresh token; presenting a rotated-out token again (after a 30 s grace for
//! concurrent tabs) is treated as theft and revokes the session.
//!
//! No user enumeration: unknown emails cost the same argon2 verification as known ones, and the
//! answers of sign-up, reset and resend do not depend on whether the address is registered.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::auth::jwt::{ACCESS_TTL_SECS, SessionKeys};
use crate::auth::limits::{AuthLimiter, Flow};
use crate::auth::token::{self, TokenKind};
use crate::config::{Config, Mode, SignupPolicy};
use crate::db::Db;
use crate::error::OnConflict;
use crate::ids::{AccountId, ApiTokenId, SessionId, UserId};
use crate::jobs::JobQueue;
use crate::mail::{Email, SendEmail};
use crate::password::{hash_password, verify_password};
use crate::repo::entity::{
    account, api_token, email_token, invite, membership, server_setting, session, user,
};
use crate::repo::{self, Tenant};
use crate::scope::{AccountScope, Principal, TokenScope, Via};
use crate::secret::SecretString;
use crate::service::locate::{self, Owned};
use crate::service::user::{User, normalize_email};
use crate::{Error, Result};

/// How long a refresh token (and so a session left alone) lives.
pub const REFRESH_TTL_DAYS: i64 = 30;
/// A rotated-out refresh token still works (without rotating again) this long, so two tabs
/// refreshing at once do not sign each other out.
const ROTATION_GRACE_SECS: i64 = 30;
/// Email verification links.
const VERIFY_TTL_HOURS: i64 = 48;
/// Password reset links.
const RESET_TTL_MINUTES: i64 = 60;
/// Email change confirmation links.
const EMAIL_CHANGE_TTL_HOURS: i64 = 24;

/// Where a request comes from (for limits and the session list).
#[derive(Clone, Debug)]
pub struct Client {
    /// Peer address (or the first `X-Forwarded-For` hop when behind a trusted proxy).
    pub ip: IpAddr,
    /// `User-Agent`, truncated.
    pub user_agent: String,
}

/// Tokens of a browser session, for the cookies.
#[derive(Clone, Debug)]
pub struct SessionTokens {
    /// The access JWT.
    pub access: String,
    /// Its lifetime in seconds.
    pub access_ttl_secs: i64,
    /// The refresh token, when it changed (absent on a refresh inside the rotation grace).
    pub refresh: Option<String>,
    /// The refresh token's lifetime in seconds.
    pub refresh_ttl_secs: i64,
    /// The session's CSRF token (for the readable cookie; sent back in `X-CSRF-Token`).
    pub csrf: String,
}

/// What sign-up did.
#[derive(Clone, Debug)]
pub enum SignUpOutcome {
    /// A verification link was sent (or, when the address is taken, a notice to its owner:
    /// the caller cannot tell which).
    VerificationSent,
    /// Signed up with an invite: verified, member of the inviting account, signed in.
    SignedIn(User, SessionTokens),
}

/// One browser session, as shown in the profile.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Id.
    pub id: SessionId,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// Browser.
    pub user_agent: String,
    /// Address at sign-in.
    pub ip: String,
    /// The session making this request.
    pub current: bool,
}

/// Sends emails with links back to the dashboard.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: JobQueue,
    public_url: url::Url,
}

impl Outbox {
    /// An outbox queuing on `queue`, linking to `public_url`.
    pub fn new(queue: JobQueue, public_url: url::Url) -> Self {
        Self { queue, public_url }
    }

    /// `{public_url}/{path}?token=…`.
    pub fn link(&self, path: &str, token: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}/{path}?token={token}")
    }

    /// The public URL.
    pub fn public_url(&self) -> &url::Url {
        &self.public_url
    }

    /// Queues an email.
    pub async fn send(&self, to: &str, subject: &str, text: String) -> Result<()> {
        self.queue
            .enqueue(&SendEmail {
                email: Email {
                    to: to.to_owned(),
                    subject: subject.to_owned(),
                    text,
                    html: None,
                },
            })
            .await
            .map_err(Error::Internal)
    }
}

/// The authentication service (cheap to clone).
#[derive(Clone, Debug)]
pub struct Auth {
    db: Db,
    keys: SessionKeys,
    limiter: Arc<AuthLimiter>,
    outbox: Outbox,
    mode: Mode,
    signup: SignupPolicy,
    default_plan: String,
}

/// A hash to verify against when the email is unknown, so both paths cost one argon2 run.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password(&SecretString::new(uuid::Uuid::new_v4().to_string())).unwrap_or_else(|_| {
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned()
    })
});

async fn hash_blocking(password: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))?
}

async fn verify_blocking(password: SecretString, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password check task failed: {e}")))
}

fn to_user(row: &user::Model) -> User {
    User {
        id: UserId(row.id),
        email: row.email.clone(),
        is_superuser: row.is_superuser,
        email_verified: row.email_verified_at.is_some(),
        created_at: row.created_at,
    }
}

impl Auth {
    /// Builds the service: loads the signing key (from configuration, or the one stored in the
    /// database, creating it on first start).
    pub async fn new(db: Db, config: &Config, queue: JobQueue) -> Result<Self> {
        let secret = match &config.auth.secret_key {
            Some(key) => key.expose().to_owned(),
            None => stored_secret(&db).await?,
        };
        Ok(Self {
            keys: SessionKeys::from_secret(secret.as_bytes()),
            limiter: Arc::new(AuthLimiter::default()),
            outbox: Outbox::new(queue, config.http.public_url.clone()),
            mode: config.auth.mode,
            signup: config.auth.signup,
            default_plan: config.billing.default_plan.clone(),
            db,
        })
    }

    /// Replaces the brute-force limiter (tests use tight limits).
    pub fn with_limiter(mut self, limiter: AuthLimiter) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// The database (services in this crate only: callers outside act through a scope).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The principal's scope in `account` (see [`AccountScope::for_principal`]); `NotFound`
    /// when it has no access.
    pub async fn scope(&self, principal: &Principal, account: AccountId) -> Result<AccountScope> {
        AccountScope::for_principal(&self.db, principal, account).await
    }

    /// The principal's scope in the account owning `row` (see [`locate::scope_of`]); `NotFound`
    /// when the row is missing or in an account the principal cannot reach.
    pub async fn scope_of(&self, principal: &Principal, row: Owned) -> Result<AccountScope> {
        locate::scope_of(&self.db, principal, row).await
    }

    /// The plan of accounts without a subscription.
    pub fn default_plan(&self) -> &str {
        &self.default_plan
    }

    /// The email outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The brute-force limiter (for invite acceptance in `service::member`).
    pub(crate) fn check_limit(&self, flow: Flow, client: &Client, target: &str) -> Result<()> {
        self.limiter
            .check(flow, client.ip, target)
            .map_err(|limited| Error::RateLimited {
                retry_after: limited.retry_after,
            })
    }

    /// Forgets idle limiter keys; call every few minutes.
    pub fn housekeeping(&self) {
        self.limiter.housekeeping();
    }

    /// The sign-up policy in force now: `FirstUser` is `Open` while the installation has no
    /// user and `Invite` from then on, so the answer is one of `Open`, `Invite` or `Closed`.
    pub async fn signup_policy(&self) -> Result<SignupPolicy> {
        Ok(match self.signup {
            SignupPolicy::FirstUser if self.has_no_user().await? => SignupPolicy::Open,
            SignupPolicy::FirstUser => SignupPolicy::Invite,
            other => other,
        })
    }

    /// Whether the next user to sign up becomes the installation's administrator (self-hosted,
    /// while nobody has a user yet), so the sign-up page can say so.
    pub async fn first_user_becomes_admin(&self) -> Result<bool> {
        Ok(self.mode == Mode::SelfHosted && self.has_no_user().await?)
    }

    async fn has_no_user(&self) -> Result<bool> {
        Ok(user::Entity::find().one(self.db.conn()).await?.is_none())
    }

    // ---- sign-up and verification ----

    /// Signs up. Without an invite (policy `open` only): creates an unverified user and emails
    /// a verification link; an address already registered gets a notice instead, and the caller
    /// sees the same answer. With an invite (`open` or `invite`): the invite's address must be
    /// the one given; the user is verified, joins the account and is signed in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: SecretString,
        invite_token: Option<&str>,
        client: &Client,
    ) -> Result<SignUpOutcome> {
        let email = normalize_email(email)?;
        self.check_limit(Flow::Signup, client, &email)?;
        if let Some(invite_token) = invite_token {
            if self.signup == SignupPolicy::Closed {
                return Err(Error::validation(
                    "invite",
                    "sign-up is closed on this server; ask an administrator to create your user",
                ));
            }
            return self
                .sign_up_with_invite(&email, password, invite_token, client)
                .await;
        }
        match self.signup_policy().await? {
            SignupPolicy::Open | SignupPolicy::FirstUser => {}
            // The first user may sign up again for a new link while the address is unverified
            // (the first email is easily missed when it went to the log).
            SignupPolicy::Invite if self.signup == SignupPolicy::FirstUser => {
                let unverified = user::Entity::find()
                    .filter(user::Column::Email.eq(&email))
                    .filter(user::Column::EmailVerifiedAt.is_null())
                    .one(self.db.conn())
                    .await?;
                let Some(row) = unverified else {
                    return Err(Error::validation(
                        "invite",
                        "sign-up on this server needs an invite link",
                    ));
                };
                self.send_verification(&row).await?;
                return Ok(SignUpOutcome::VerificationSent);
            }
            SignupPolicy::Invite => {
                return Err(Error::validation(
                    "invite",
                    "sign-up on this server needs an invite link",
                ));
            }
            SignupPolicy::Closed => {
                return Err(Error::validation(
                    "email",
                    "sign-up is closed on this server; ask an administrator to create your user",
                ));
            }
        }
        let hash = hash_blocking(password).await?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(self.db.conn())
            .await?;
        match existing {
            Some(row) if row.email_verified_at.is_none() => {
                self.send_verification(&row).await?;
            }
            Some(row) => {
                self.outbox
                    .send(
                        &row.email,
                        "Someone tried to sign up with your address",
                        format!(
                            "Someone (maybe you) tried to create an ErrorWatch user with this address, which already has one.\n\nLog in: {}\nForgot your password? {}\n\nIf it was not you, ignore this email.",
                            self.outbox.link("login", ""),
                            self.outbox.link("forgot-password", "")
                        ),
                    )
                    .await?;
            }
            None => {
                let first_only = self.signup == SignupPolicy::FirstUser;
                let row = match self.insert_user(&email, hash, false, first_only).await {
                    Ok(row) => row,
                    // Lost a race with a concurrent sign-up of the same address: same answer.
                    Err(Error::Conflict(_)) => return Ok(SignUpOutcome::VerificationSent),
                    Err(e) => return Err(e),
                };
                self.send_verification(&row).await?;
            }
        }
        Ok(SignUpOutcome::VerificationSent)
    }

    async fn sign_up_with_invite(
        &self,
        email: &str,
        password: SecretString,
        invite_token: &str,
        client: &Client,
    ) -> Result<SignUpOutcome> {
        let invite_hash = token::hash(invite_token);
        self.check_limit(Flow::InviteAccept, client, &invite_hash)?;
        let invite = live_invite(&self.db, &invite_hash).await?;
        if invite.email != email {
            return Err(Error::validation(
                "email",
                "this invite was sent to another address",
            ));
        }
        let hash = hash_blocking(password).await?;
        let row = self
            .insert_user(email, hash, true, false)
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => Error::Conflict(
                    "a user with this address exists; log in and open the invite link again",
                ),
                other => other,
            })?;
        crate::service::member::accept_invite_row(
            &self.db,
            &self.default_plan,
            &invite,
            UserId(row.id),
        )
        .await?;
        let tokens = self.start_session(UserId(row.id), client).await?;
        Ok(SignUpOutcome::SignedIn(to_user(&row), tokens))
    }

    /// Inserts a user; with `first_only`, only while the installation has none (another
    /// sign-up that got there first makes this one a validation error, as a later one would be).
    async fn insert_user(
        &self,
        email: &str,
        hash: String,
        verified: bool,
        first_only: bool,
    ) -> Result<user::Model> {
        let txn = self.db.begin_write().await?;
        let now = Utc::now();
        let mut superuser = false;
        let nobody_yet = user::Entity::find().one(&txn).await?.is_none();
        if first_only && !nobody_yet {
            return Err(Error::validation(
                "invite",
                "sign-up on this server needs an invite link",
            ));
        }
        if (self.mode == Mode::SelfHosted || first_only) && nobody_yet {
            let claimed = server_setting::Entity::insert(server_setting::ActiveModel {
                name: Set("first_superuser".to_owned()),
                value: Set(email.to_owned()),
                created_at: Set(now),
            })
            .on_conflict_do_nothing_on([server_setting::Column::Name])
            .exec_without_returning(&txn)
            .await?;
            let first = matches!(claimed, sea_orm::TryInsertResult::Inserted(1));
            if first_only && !first {
                return Err(Error::validation(
                    "invite",
                    "sign-up on this server needs an invite link",
                ));
            }
            superuser = first && self.mode == Mode::SelfHosted;
        }
        let row = user::ActiveModel {
            email: Set(email.to_owned()),
            password_hash: Set(hash),
            is_superuser: Set(superuser),
            email_verified_at: Set(verified.then_some(now)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .on_conflict("a user with this email already exists")?;
        txn.commit().await?;
        if superuser {
            tracing::info!(user.id = row.id, "first user signed up: superuser");
        }
        Ok(row)
    }

    async fn send_verification(&self, row: &user::Model) -> Result<()> {
        let link = self
            .new_email_token(
                UserId(row.id),
                "verify_email",
                None,
                ChronoDuration::hours(VERIFY_TTL_HOURS),
            )
            .await?;
        self.outbox
            .send(
                &row.email,
                "Verify your email for ErrorWatch",
                format!(
                    "Welcome to ErrorWatch.\n\nConfirm your address by opening this link (valid for {VERIFY_TTL_HOURS} hours):\n{}\n\nIf you did not sign up, ignore this email.",
                    self.outbox.link("verify-email", &link)
                ),
            )
            .await
    }

    async fn new_email_token(
        &self,
        user: UserId,
        purpose: &'static str,
        new_email: Option<String>,
        ttl: ChronoDuration,
    ) -> Result<String> {
        let (plain, hash) = token::generate(TokenKind::Email);
        let now = Utc::now();
        email_token::ActiveModel {
            user_id: Set(user.0),
            purpose: Set(purpose.to_owned()),
            token_hash: Set(hash),
            new_email: Set(new_email),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(self.db.conn())
        .await?;
        Ok(plain)
    }

    /// Marks a live token of `purpose` used and returns it; `Validation` when unknown, used or
    /// expired (one message for all three).
    async fn consume_email_token(&self, plain: &str, purpose: &str) -> Result<email_token::Model> {
        let invalid =
            || Error::validation("token", "this link is invalid, already used or expired");
        if !token::looks_like(TokenKind::Email, plain) {
            return Err(invalid());
        }
        let now = Utc::now();
        let hash = token::hash(plain);
        // One conditional update: of two concurrent uses, exactly one succeeds.
        let updated = email_token::Entity::update_many()
            .col_expr(email_token::Column::UsedAt, Expr::value(now))
            .filter(email_token::Column::TokenHash.eq(&hash))
            .filter(email_token::Column::Purpose.eq(purpose))
            .filter(email_token::Column::UsedAt.is_null())
            .filter(email_token::Column::ExpiresAt.gt(now))
            .exec(self.db.conn())
            .await?;
        if updated.rows_affected != 1 {
            return Err(invalid());
        }
        email_token::Entity::find()
            .filter(email_token::Column::TokenHash.eq(hash))
            .one(self.db.conn())
            .await?
            .ok_or_else(invalid)
    }

    /// Confirms an address from the emailed link and signs the user in.
    pub async fn verify_email(
        &self,
        plain: &str,
        client: &Client,
    ) -> Result<(User, SessionTokens)> {
        let row = self.consume_email_token(plain, "verify_email").await?;
        let user_row = user::Entity::find_by_id(row.user_id)
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        let mut model: user::ActiveModel = user_row.clone().into();
        if user_row.email_verified_at.is_none() {
            model.email_verified_at = Set(Some(Utc::now()));
        }
        let user_row = model.update(self.db.conn()).await?;
        let tokens = self.start_session(UserId(user_row.id), client).await?;
        Ok((to_user(&user_row), tokens))
    }

    /// Sends a new verification link to an unverified address; silent otherwise.
    pub async fn resend_verification(&self, email: &str, client: &Client) -> Result<()> {
        let email = normalize_email(email)?;
        self.check_limit(Flow::Signup, client, &email)?;
        if let Some(row) = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(self.db.conn())
            .await?
            && row.email_verified_at.is_none()
        {
            self.send_verification(&row).await?;
        }
        Ok(())
    }

    // ---- log in, sessions ----

    /// Checks email and password and starts a session. Unknown address and wrong password give
    /// the same error after the same work.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: &Client,
    ) -> Result<(User, SessionTokens)> {
        let wrong = Error::Unauthenticated("wrong email or password");
        let Ok(email) = normalize_email(email) else {
            return Err(wrong);
        };
        self.check_limit(Flow::Login, client, &email)?;
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(self.db.conn())
            .await?;
        let stored = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = verify_blocking(password, stored).await?;
        let Some(row) = row.filter(|_| matches) else {
            return Err(wrong);
        };
        if row.email_verified_at.is_none() {
            return Err(Error::Unauthenticated(
                "verify your email address first (we can send the link again)",
            ));
        }
        let tokens = self.start_session(UserId(row.id), client).await?;
        Ok((to_user(&row), tokens))
    }

    async fn start_session(&self, user: UserId, client: &Client) -> Result<SessionTokens> {
        let (refresh, refresh_hash) = token::generate(TokenKind::Refresh);
        let now = Utc::now();
        let row = session::ActiveModel {
            user_id: Set(user.0),
            refresh_hash: Set(refresh_hash),
            previous_refresh_hash: Set(None),
            rotated_at: Set(now),
            created_at: Set(now),
            last_used_at: Set(now),
            expires_at: Set(now + ChronoDuration::days(REFRESH_TTL_DAYS)),
            revoked_at: Set(None),
            user_agent: Set(client.user_agent.chars().take(250).collect()),
            ip: Set(client.ip.to_string()),
            ..Default::default()
        }
        .insert(self.db.conn())
        .await?;
        self.session_tokens(user, row.id, Some(refresh), now)
    }

    /// A fresh access token (and the refresh token, when it changed) for a session.
    fn session_tokens(
        &self,
        user: UserId,
        session: i64,
        refresh: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<SessionTokens> {
        Ok(SessionTokens {
            access: self.keys.issue(user, SessionId(session), now.timestamp())?,
            access_ttl_secs: ACCESS_TTL_SECS,
            refresh,
            refresh_ttl_secs: REFRESH_TTL_DAYS * 86_400,
            csrf: self.keys.csrf_token(SessionId(session)),
        })
    }

    /// Whether `presented` is the CSRF token of the principal's session.
    pub fn csrf_matches(&self, principal: &Principal, presented: &str) -> bool {
        match principal.session_id() {
            Some(session) => crate::auth::hmac::constant_time_eq(
                self.keys.csrf_token(session).as_bytes(),
                presented.trim().as_bytes(),
            ),
            None => true,
        }
    }

    /// Authenticates a browser: a valid access token of a live session, else a refresh token
    /// (rotated; the new tokens are returned for the cookies). `None` when neither proves
    /// anything (the request is anonymous).
    pub async fn authenticate_session(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
    ) -> Result<Option<(Principal, Option<SessionTokens>)>> {
        let now = Utc::now();
        if let Some((claims, user)) = access
            .and_then(|a| self.keys.verify(a))
            .and_then(|c| c.user_id().map(|u| (c, u)))
        {
            let live = session::Entity::find_by_id(claims.sid)
                .filter(session::Column::UserId.eq(user.0))
                .filter(session::Column::RevokedAt.is_null())
                .filter(session::Column::ExpiresAt.gt(now))
                .one(self.db.conn())
                .await?;
            if live.is_some() {
                return Ok(Some((session_principal(user, claims.sid), None)));
            }
            // A revoked session's access token is worthless, and so is its refresh token.
            return Ok(None);
        }
        let Some(refresh) = refresh.filter(|r| token::looks_like(TokenKind::Refresh, r)) else {
            return Ok(None);
        };
        self.refresh(refresh, now).await
    }

    async fn refresh(
        &self,
        refresh: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Principal, Option<SessionTokens>)>> {
        let hash = token::hash(refresh);
        if let Some(row) = session::Entity::find()
            .filter(session::Column::RefreshHash.eq(&hash))
            .one(self.db.conn())
            .await?
        {
            if row.revoked_at.is_some() || row.expires_at <= now {
                return Ok(None);
            }
            let (next, next_hash) = token::generate(TokenKind::Refresh);
            // Compare-and-swap on the current hash: of two concurrent refreshes one rotates,
            // the other falls into the grace path below.
            let swapped = session::Entity::update_many()
                .col_expr(
                    session::Column::PreviousRefreshHash,
                    Expr::value(hash.clone()),
                )
                .col_expr(session::Column::RefreshHash, Expr::value(next_hash))
                .col_expr(session::Column::RotatedAt, Expr::value(now))
                .col_expr(session::Column::LastUsedAt, Expr::value(now))
                .col_expr(
                    session::Column::ExpiresAt,
                    Expr::value(now + ChronoDuration::days(REFRESH_TTL_DAYS)),
                )
                .filter(session::Column::Id.eq(row.id))
                .filter(session::Column::RefreshHash.eq(&hash))
                .exec(self.db.conn())
                .await?;
            if swapped.rows_affected == 1 {
                let tokens = self.session_tokens(UserId(row.user_id), row.id, Some(next), now)?;
                return Ok(Some((
                    session_principal(UserId(row.user_id), row.id),
                    Some(tokens),
                )));
            }
        }
        // A rotated-out token: fine within the grace period (no new refresh token), theft
        // otherwise — the whole session is revoked.
        let Some(row) = session::Entity::find()
            .filter(session::Column::PreviousRefreshHash.eq(&hash))
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        if row.revoked_at.is_some() {
            return Ok(None);
        }
        if (now - row.rotated_at).num_seconds() <= ROTATION_GRACE_SECS {
            let tokens = self.session_tokens(UserId(row.user_id), row.id, None, now)?;
            return Ok(Some((
                session_principal(UserId(row.user_id), row.id),
                Some(tokens),
            )));
        }
        tracing::warn!(
            session.id = row.id,
            user.id = row.user_id,
            "a rotated-out refresh token was reused; revoking the session"
        );
        self.revoke_sessions(UserId(row.user_id), Some(SessionId(row.id)))
            .await?;
        Ok(None)
    }

    async fn revoke_sessions(&self, user: UserId, only: Option<SessionId>) -> Result<u64> {
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(session::Column::UserId.eq(user.0))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(id) = only {
            update = update.filter(session::Column::Id.eq(id.0));
        }
        Ok(update.exec(self.db.conn()).await?.rows_affected)
    }

    /// Ends the current browser session.
    pub async fn logout(&self, principal: &Principal) -> Result<()> {
        let session = principal.require_session()?;
        self.revoke_sessions(principal.user_id(), Some(session))
            .await?;
        Ok(())
    }

    /// Ends every browser session of the user (this one included).
    pub async fn logout_everywhere(&self, principal: &Principal) -> Result<u64> {
        principal.require_session()?;
        self.revoke_sessions(principal.user_id(), None).await
    }

    /// Ends one of the user's sessions; `NotFound` for someone else's.
    pub async fn revoke_session(&self, principal: &Principal, id: SessionId) -> Result<()> {
        // Someone else's session is NOT_FOUND whoever asks; only then do tokens learn that
        // sessions are for people.
        session::Entity::find_by_id(id.0)
            .filter(session::Column::UserId.eq(principal.user_id().0))
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        principal.require_session()?;
        self.revoke_sessions(principal.user_id(), Some(id)).await?;
        Ok(())
    }

    /// The user's live sessions, most recent first.
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<SessionInfo>> {
        let current = principal.require_session()?;
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(principal.user_id().0))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .order_by_desc(session::Column::LastUsedAt)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                id: SessionId(r.id),
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                user_agent: r.user_agent,
                ip: r.ip,
                current: r.id == current.0,
            })
            .collect())
    }

    /// The signed-in user.
    pub async fn viewer(&self, principal: &Principal) -> Result<User> {
        let row = user::Entity::find_by_id(principal.user_id().0)
            .one(self.db.conn())
            .await?
            .ok_or(Error::Unauthenticated("this user no longer exists"))?;
        Ok(to_user(&row))
    }

    // ---- API tokens ----

    /// Authenticates `Authorization: Bearer ewt_…`: a live token whose creator is still a
    /// member of its account. Records the use (at most once a minute per token).
    pub async fn authenticate_token(&self, bearer: &str) -> Result<Principal> {
        let invalid = Error::Unauthenticated("invalid or revoked API token");
        if !token::looks_like(TokenKind::Api, bearer) {
            return Err(invalid);
        }
        let row = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(token::hash(bearer)))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(self.db.conn())
            .await?
            .ok_or(invalid)?;
        // The creator must still be a member of a live account, else the token is dead.
        let member = repo::find::<membership::Entity>(Tenant::checking(AccountId(row.account_id)))
            .filter(membership::Column::UserId.eq(row.user_id))
            .one(self.db.conn())
            .await?
            .is_some();
        let live = account::Entity::find_by_id(row.account_id)
            .filter(account::Column::DeletedAt.is_null())
            .one(self.db.conn())
            .await?
            .is_some();
        if !member || !live {
            return Err(Error::Unauthenticated("invalid or revoked API token"));
        }
        let scope = TokenScope::parse(&row.scope).ok_or_else(|| {
            anyhow::anyhow!("api token {} has unknown scope {:?}", row.id, row.scope)
        })?;
        let now = Utc::now();
        if row
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= 60)
        {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(row.id))
                .exec(self.db.conn())
                .await?;
        }
        Ok(Principal {
            user: UserId(row.user_id),
            via: Via::Token {
                token: ApiTokenId(row.id),
                account: AccountId(row.account_id),
                scope,
            },
        })
    }

    // ---- passwords and email ----

    /// Emails a reset link when the address belongs to a user; the same answer either way.
    pub async fn request_password_reset(&self, email: &str, client: &Client) -> Result<()> {
        let email = normalize_email(email)?;
        self.check_limit(Flow::PasswordReset, client, &email)?;
        let Some(row) = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(self.db.conn())
            .await?
        else {
            return Ok(());
        };
        let link = self
            .new_email_token(
                UserId(row.id),
                "reset_password",
                None,
                ChronoDuration::minutes(RESET_TTL_MINUTES),
            )
            .await?;
        self.outbox
            .send(
                &row.email,
                "Reset your ErrorWatch password",
                format!(
                    "Someone (hopefully you) asked to reset the password of this ErrorWatch user.\n\nChoose a new password here (valid for {RESET_TTL_MINUTES} minutes, once):\n{}\n\nIf it was not you, ignore this email: your password stays as it is.",
                    self.outbox.link("reset-password", &link)
                ),
            )
            .await
    }

    /// Sets a new password from a reset link; every session of the user ends and every other
    /// outstanding reset link dies. The address counts as verified (the link reached it).
    pub async fn reset_password(
        &self,
        plain: &str,
        new_password: SecretString,
        client: &Client,
    ) -> Result<()> {
        self.check_limit(Flow::PasswordReset, client, &token::hash(plain))?;
        let hash = hash_blocking(new_password).await?;
        let row = self.consume_email_token(plain, "reset_password").await?;
        let now = Utc::now();
        let user_row = user::Entity::find_by_id(row.user_id)
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        let verified = user_row.email_verified_at.unwrap_or(now);
        let mut model: user::ActiveModel = user_row.into();
        model.password_hash = Set(hash);
        model.email_verified_at = Set(Some(verified));
        model.update(self.db.conn()).await?;
        email_token::Entity::update_many()
            .col_expr(email_token::Column::UsedAt, Expr::value(now))
            .filter(email_token::Column::UserId.eq(row.user_id))
            .filter(email_token::Column::Purpose.eq("reset_password"))
            .filter(email_token::Column::UsedAt.is_null())
            .exec(self.db.conn())
            .await?;
        self.revoke_sessions(UserId(row.user_id), None).await?;
        Ok(())
    }

    /// Changes the password after checking the current one; other sessions end.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: SecretString,
        new_password: SecretString,
    ) -> Result<()> {
        let session = principal.require_session()?;
        let row = user::Entity::find_by_id(principal.user_id().0)
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        if !verify_blocking(current, row.password_hash.clone()).await? {
            return Err(Error::validation(
                "currentPassword",
                "is not your current password",
            ));
        }
        let hash = hash_blocking(new_password).await?;
        let mut model: user::ActiveModel = row.into();
        model.password_hash = Set(hash);
        model.update(self.db.conn()).await?;
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(session::Column::UserId.eq(principal.user_id().0))
            .filter(session::Column::Id.ne(session.0))
            .filter(session::Column::RevokedAt.is_null())
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// Starts an email change: a confirmation link goes to the new address, a notice to the old.
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        password: SecretString,
    ) -> Result<()> {
        principal.require_session()?;
        let new_email = normalize_email(new_email)?;
        let row = user::Entity::find_by_id(principal.user_id().0)
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        if !verify_blocking(password, row.password_hash.clone()).await? {
            return Err(Error::validation(
                "password",
                "is not your current password",
            ));
        }
        if new_email == row.email {
            return Err(Error::validation("email", "is already your address"));
        }
        let link = self
            .new_email_token(
                UserId(row.id),
                "change_email",
                Some(new_email.clone()),
                ChronoDuration::hours(EMAIL_CHANGE_TTL_HOURS),
            )
            .await?;
        self.outbox
            .send(
                &new_email,
                "Confirm your new ErrorWatch email address",
                format!(
                    "Open this link to use this address for your ErrorWatch user (valid for {EMAIL_CHANGE_TTL_HOURS} hours):\n{}",
                    self.outbox.link("confirm-email", &link)
                ),
            )
            .await?;
        self.outbox
            .send(
                &row.email,
                "Your ErrorWatch email address is being changed",
                format!(
                    "Someone signed in as you asked to change your address to {new_email}. It changes when the link sent there is opened.\nIf it was not you, change your password now."
                ),
            )
            .await
    }

    /// Applies an email change from its link.
    pub async fn confirm_email_change(&self, plain: &str) -> Result<User> {
        let row = self.consume_email_token(plain, "change_email").await?;
        let new_email = row
            .new_email
            .ok_or_else(|| anyhow::anyhow!("email change token {} has no address", row.id))?;
        let user_row = user::Entity::find_by_id(row.user_id)
            .one(self.db.conn())
            .await?
            .ok_or(Error::NotFound)?;
        let mut model: user::ActiveModel = user_row.into();
        model.email = Set(new_email);
        model.email_verified_at = Set(Some(Utc::now()));
        let updated = model
            .update(self.db.conn())
            .await
            .on_conflict("another user already has this address")?;
        Ok(to_user(&updated))
    }
}

/// The principal of a verified browser session.
fn session_principal(user: UserId, session: i64) -> Principal {
    Principal {
        user,
        via: Via::Session(SessionId(session)),
    }
}

/// The installation's signing key: created once (first process to start wins), then shared.
async fn stored_secret(db: &Db) -> Result<String> {
    let (candidate, _) = token::generate(TokenKind::Api);
    server_setting::Entity::insert(server_setting::ActiveModel {
        name: Set("session_signing_key".to_owned()),
        value: Set(candidate),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([server_setting::Column::Name])
    .exec_without_returning(db.conn())
    .await?;
    let row = server_setting::Entity::find_by_id("session_signing_key".to_owned())
        .one(db.conn())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the session signing key vanished"))?;
    Ok(row.value)
}

/// An invite that can still be accepted; one message for unknown, used, revoked and expired,
/// and for invites to an account deleted but not purged yet (joining it would add a member to
/// an account that is gone, and sign a new user up into nothing).
pub(crate) async fn live_invite(db: &Db, hash: &str) -> Result<invite::Model> {
    let now = Utc::now();
    let invalid = || {
        Error::validation(
            "token",
            "this invite is invalid, already used, revoked or expired",
        )
    };
    let invite = invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(hash))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .filter(invite::Column::ExpiresAt.gt(now))
        .one(db.conn())
        .await?
        .ok_or_else(invalid)?;
    let account_live = account::Entity::find_by_id(invite.account_id)
        .filter(account::Column::DeletedAt.is_null())
        .one(db.conn())
        .await?
        .is_some();
    if !account_live {
        return Err(invalid());
    }
    Ok(invite)
}
