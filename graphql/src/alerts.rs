//! Alerts in the API: rules (per project), targets (per account), the delivery log with its
//! dead letters, retrying one, and test notifications. Each resolver finds the account of the
//! id it is given, builds the scope (membership checked) and calls one `service::alert`
//! function, which checks roles.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use errorwatch_core::alert::trigger::Filters;
use errorwatch_core::ids::{AccountId, AlertRuleId, AlertTargetId, NotificationId, ProjectId};
use errorwatch_core::service::{alert, locate};

use crate::context::ContextExt;
use crate::error::{GqlResult, OrGql};
use crate::ids::{Kind, from_id, to_id};

/// What makes a rule fire.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AlertTrigger {
    /// An issue is created.
    NewIssue,
    /// A resolved issue regresses.
    Regression,
    /// An issue is seen more than `frequencyCount` times in `frequencyMinutes`.
    Frequency,
    /// An ignored issue's condition ran out.
    IgnoredExpired,
}

impl AlertTrigger {
    fn as_str(self) -> &'static str {
        match self {
            AlertTrigger::NewIssue => "new_issue",
            AlertTrigger::Regression => "regression",
            AlertTrigger::Frequency => "frequency",
            AlertTrigger::IgnoredExpired => "ignored_expired",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "regression" => AlertTrigger::Regression,
            "frequency" => AlertTrigger::Frequency,
            "ignored_expired" => AlertTrigger::IgnoredExpired,
            _ => AlertTrigger::NewIssue,
        }
    }
}

/// Where notifications go.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AlertTargetKind {
    /// Email to `emails`.
    Email,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// A JSON POST signed with `X-ErrorWatch-Signature` (see the README).
    Webhook,
}

impl AlertTargetKind {
    fn as_str(self) -> &'static str {
        match self {
            AlertTargetKind::Email => "email",
            AlertTargetKind::Slack => "slack",
            AlertTargetKind::Discord => "discord",
            AlertTargetKind::Webhook => "webhook",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "slack" => AlertTargetKind::Slack,
            "discord" => AlertTargetKind::Discord,
            "webhook" => AlertTargetKind::Webhook,
            _ => AlertTargetKind::Email,
        }
    }
}

/// A tag an event must carry.
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(input_name = "AlertTagInput")]
pub struct AlertTag {
    /// Tag key.
    pub key: String,
    /// Exact value.
    pub value: String,
}

/// A rule's settings. Empty filter lists match every event.
#[derive(InputObject, Clone, Debug)]
pub struct AlertRuleInput {
    /// Name shown in lists.
    pub name: String,
    /// What makes it fire.
    pub trigger: AlertTrigger,
    /// `FREQUENCY`: more than this many events …
    pub frequency_count: Option<i32>,
    /// … within this many minutes.
    pub frequency_minutes: Option<i32>,
    /// Event levels.
    #[graphql(default)]
    pub levels: Vec<String>,
    /// Environments.
    #[graphql(default)]
    pub environments: Vec<String>,
    /// Releases.
    #[graphql(default)]
    pub releases: Vec<String>,
    /// Tags.
    #[graphql(default)]
    pub tags: Vec<AlertTag>,
    /// At most one notification per issue per this many minutes.
    #[graphql(default = 60)]
    pub action_interval_minutes: i32,
    /// Disabled rules never fire.
    #[graphql(default = true)]
    pub enabled: bool,
    /// Targets to notify.
    pub target_ids: Vec<ID>,
}

impl AlertRuleInput {
    fn into_core(self, project_id: ProjectId) -> GqlResult<alert::RuleInput> {
        Ok(alert::RuleInput {
            project_id,
            name: self.name,
            trigger: self.trigger.as_str().to_owned(),
            frequency_count: self.frequency_count,
            frequency_minutes: self.frequency_minutes,
            filters: Filters {
                levels: self.levels,
                environments: self.environments,
                releases: self.releases,
                tags: self.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            },
            action_interval_minutes: self.action_interval_minutes,
            enabled: self.enabled,
            target_ids: self
                .target_ids
                .iter()
                .map(|id| from_id(Kind::AlertTarget, id).map(AlertTargetId))
                .collect::<GqlResult<_>>()?,
        })
    }
}

/// A target's settings.
#[derive(InputObject, Clone, Debug)]
pub struct AlertTargetInput {
    /// Name shown in lists.
    pub name: String,
    /// Kind.
    pub kind: AlertTargetKind,
    /// Slack, Discord and webhook targets: the URL.
    pub url: Option<String>,
    /// Email targets: recipients.
    #[graphql(default)]
    pub emails: Vec<String>,
}

/// A target's new settings; its kind stays.
#[derive(InputObject, Clone, Debug)]
pub struct AlertTargetUpdateInput {
    /// Name shown in lists.
    pub name: String,
    /// Slack, Discord and webhook targets: the URL.
    pub url: Option<String>,
    /// Email targets: recipients.
    #[graphql(default)]
    pub emails: Vec<String>,
}

/// An alert rule of a project.
pub struct AlertRule(alert::Rule);

#[Object]
impl AlertRule {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::AlertRule, self.0.id.0)
    }
    /// The project it watches.
    async fn project_id(&self) -> ID {
        to_id(Kind::Project, self.0.input.project_id.0)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.input.name
    }
    /// Trigger.
    async fn trigger(&self) -> AlertTrigger {
        AlertTrigger::parse(&self.0.input.trigger)
    }
    /// `FREQUENCY`: the event count to exceed.
    async fn frequency_count(&self) -> Option<i32> {
        self.0.input.frequency_count
    }
    /// `FREQUENCY`: the window in minutes.
    async fn frequency_minutes(&self) -> Option<i32> {
        self.0.input.frequency_minutes
    }
    /// Level filter.
    async fn levels(&self) -> &[String] {
        &self.0.input.filters.levels
    }
    /// Environment filter.
    async fn environments(&self) -> &[String] {
        &self.0.input.filters.environments
    }
    /// Release filter.
    async fn releases(&self) -> &[String] {
        &self.0.input.filters.releases
    }
    /// Tag filter.
    async fn tags(&self) -> Vec<AlertTag> {
        self.0
            .input
            .filters
            .tags
            .iter()
            .map(|(key, value)| AlertTag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
    /// Minutes between two notifications about one issue.
    async fn action_interval_minutes(&self) -> i32 {
        self.0.input.action_interval_minutes
    }
    /// Enabled.
    async fn enabled(&self) -> bool {
        self.0.input.enabled
    }
    /// Targets it notifies.
    async fn target_ids(&self) -> Vec<ID> {
        self.0
            .input
            .target_ids
            .iter()
            .map(|id| to_id(Kind::AlertTarget, id.0))
            .collect()
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A place notifications go (admins only).
pub struct AlertTarget(alert::Target);

#[Object]
impl AlertTarget {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::AlertTarget, self.0.id.0)
    }
    /// The project it is pinned to, if any.
    async fn project_id(&self) -> Option<ID> {
        self.0.input.project_id.map(|p| to_id(Kind::Project, p.0))
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.input.name
    }
    /// Kind.
    async fn kind(&self) -> AlertTargetKind {
        AlertTargetKind::parse(&self.0.input.kind)
    }
    /// URL (Slack, Discord, webhook).
    async fn url(&self) -> Option<&str> {
        self.0.input.url.as_deref()
    }
    /// Recipients (email).
    async fn emails(&self) -> &[String] {
        &self.0.input.emails
    }
    /// Webhook targets: the secret that signs bodies (`X-ErrorWatch-Signature`).
    async fn secret(&self) -> Option<&str> {
        self.0.secret.as_deref()
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Delivery state of a notification.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Being sent.
    Sending,
    /// Delivered.
    Sent,
    /// Failed every attempt: a dead letter, retryable with `retryNotification`.
    Dead,
}

impl NotificationStatus {
    fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Dead => "dead",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "sending" => NotificationStatus::Sending,
            "sent" => NotificationStatus::Sent,
            "dead" => NotificationStatus::Dead,
            _ => NotificationStatus::Pending,
        }
    }
}

/// One delivery of an alert to one target.
pub struct Notification(alert::Delivery);

#[Object]
impl Notification {
    /// Global id.
    async fn id(&self) -> ID {
        to_id(Kind::Notification, self.0.id.0)
    }
    /// The rule that fired (none for test notifications).
    async fn rule_id(&self) -> Option<ID> {
        self.0.rule_id.map(|r| to_id(Kind::AlertRule, r.0))
    }
    /// The target.
    async fn target_id(&self) -> ID {
        to_id(Kind::AlertTarget, self.0.target_id.0)
    }
    /// The issue.
    async fn issue_id(&self) -> Option<ID> {
        self.0.issue_id.map(|i| to_id(Kind::Issue, i))
    }
    /// `new_issue`, `regression`, `frequency`, `ignored_expired` or `test`.
    async fn trigger(&self) -> &str {
        &self.0.trigger
    }
    /// Delivery state.
    async fn status(&self) -> NotificationStatus {
        NotificationStatus::parse(&self.0.status)
    }
    /// Attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The last failure.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the next attempt is due.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Delivered.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
}

/// Alert queries.
#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// A project's alert rules (members).
    async fn alert_rules(&self, ctx: &Context<'_>, project_id: ID) -> GqlResult<Vec<AlertRule>> {
        let project = ProjectId(from_id(Kind::Project, &project_id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project)).await?;
        Ok(alert::list_rules(&scope, project)
            .await
            .gql()?
            .into_iter()
            .map(AlertRule)
            .collect())
    }

    /// An account's alert targets (admins).
    async fn alert_targets(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
    ) -> GqlResult<Vec<AlertTarget>> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        Ok(alert::list_targets(&scope)
            .await
            .gql()?
            .into_iter()
            .map(AlertTarget)
            .collect())
    }

    /// An account's notifications, newest first (members); `status: DEAD` lists the dead
    /// letters. At most 500.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        status: Option<NotificationStatus>,
        #[graphql(default = 50)] first: i32,
    ) -> GqlResult<Vec<Notification>> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        Ok(
            alert::list_deliveries(&scope, status.map(|s| s.as_str()), first.max(1) as u64)
                .await
                .gql()?
                .into_iter()
                .map(Notification)
                .collect(),
        )
    }
}

/// Alert mutations (admins).
#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Creates an alert rule for a project.
    async fn create_alert_rule(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        input: AlertRuleInput,
    ) -> GqlResult<AlertRule> {
        let project = ProjectId(from_id(Kind::Project, &project_id)?);
        let scope = ctx.scope_of(locate::Owned::Project(project)).await?;
        let rule = alert::create_rule(&scope, input.into_core(project)?)
            .await
            .gql()?;
        Ok(AlertRule(rule))
    }

    /// Replaces a rule's settings and targets.
    async fn update_alert_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AlertRuleInput,
    ) -> GqlResult<AlertRule> {
        let rule_id = AlertRuleId(from_id(Kind::AlertRule, &id)?);
        let scope = ctx.scope_of(locate::Owned::AlertRule(rule_id)).await?;
        let current = alert::get_rule(&scope, rule_id).await.gql()?;
        let rule = alert::update_rule(&scope, rule_id, input.into_core(current.input.project_id)?)
            .await
            .gql()?;
        Ok(AlertRule(rule))
    }

    /// Deletes a rule (its delivery log stays).
    async fn delete_alert_rule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let rule_id = AlertRuleId(from_id(Kind::AlertRule, &id)?);
        let scope = ctx.scope_of(locate::Owned::AlertRule(rule_id)).await?;
        alert::delete_rule(&scope, rule_id).await.gql()?;
        Ok(id)
    }

    /// Creates a target in an account, optionally pinned to one of its projects. Webhook
    /// targets get a signing secret.
    async fn create_alert_target(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        project_id: Option<ID>,
        input: AlertTargetInput,
    ) -> GqlResult<AlertTarget> {
        let scope = ctx
            .scope(AccountId(from_id(Kind::Account, &account_id)?))
            .await?;
        let project_id = project_id
            .map(|p| from_id(Kind::Project, &p).map(ProjectId))
            .transpose()?;
        let target = alert::create_target(
            &scope,
            alert::TargetInput {
                project_id,
                name: input.name,
                kind: input.kind.as_str().to_owned(),
                url: input.url,
                emails: input.emails,
            },
            ctx.data::<AlertSettings>()?.allow_private_targets,
        )
        .await
        .gql()?;
        Ok(AlertTarget(target))
    }

    /// Replaces a target's name and URL or recipients (validated like a new target of its
    /// kind); its kind, project and secret stay.
    async fn update_alert_target(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AlertTargetUpdateInput,
    ) -> GqlResult<AlertTarget> {
        let target_id = AlertTargetId(from_id(Kind::AlertTarget, &id)?);
        let scope = ctx.scope_of(locate::Owned::AlertTarget(target_id)).await?;
        let target = alert::update_target(
            &scope,
            target_id,
            alert::TargetChange {
                name: input.name,
                url: input.url,
                emails: input.emails,
            },
            ctx.data::<AlertSettings>()?.allow_private_targets,
        )
        .await
        .gql()?;
        Ok(AlertTarget(target))
    }

    /// Deletes a target with its delivery log.
    async fn delete_alert_target(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let target_id = AlertTargetId(from_id(Kind::AlertTarget, &id)?);
        let scope = ctx.scope_of(locate::Owned::AlertTarget(target_id)).await?;
        alert::delete_target(&scope, target_id).await.gql()?;
        Ok(id)
    }

    /// Queues a dead letter again with five fresh attempts.
    async fn retry_notification(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Notification> {
        let notification = NotificationId(from_id(Kind::Notification, &id)?);
        let scope = ctx
            .scope_of(locate::Owned::Notification(notification))
            .await?;
        let delivery = alert::retry_delivery(&scope, &ctx.request().queue, notification)
            .await
            .gql()?;
        Ok(Notification(delivery))
    }

    /// Sends a test notification to a target; follow it in `notifications`.
    async fn send_test_notification(
        &self,
        ctx: &Context<'_>,
        target_id: ID,
    ) -> GqlResult<Notification> {
        let target = AlertTargetId(from_id(Kind::AlertTarget, &target_id)?);
        let scope = ctx.scope_of(locate::Owned::AlertTarget(target)).await?;
        let delivery = alert::send_test_notification(&scope, &ctx.request().queue, target)
            .await
            .gql()?;
        Ok(Notification(delivery))
    }
}

/// Alert settings the schema needs (given at build time).
#[derive(Clone, Copy, Debug, Default)]
pub struct AlertSettings {
    /// `ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS`: targets may lead to private addresses.
    pub allow_private_targets: bool,
}
