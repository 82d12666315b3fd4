//! Typed ids: a `ProjectId` cannot be passed where an `AccountId` is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account (tenant).
    AccountId
);
id_type!(
    /// A user (may belong to several accounts).
    UserId
);
id_type!(
    /// A project inside an account; the number in a DSN's path.
    ProjectId
);
id_type!(
    /// A DSN key of a project.
    ProjectKeyId
);
id_type!(
    /// A browser session.
    SessionId
);
id_type!(
    /// An API token.
    ApiTokenId
);
id_type!(
    /// A membership (a user in an account, with a role).
    MembershipId
);
id_type!(
    /// An invitation to an account.
    InviteId
);
id_type!(
    /// An issue (events grouped by fingerprint, inside a project).
    IssueId
);
id_type!(
    /// A stored event's row (the `events.id` column; the SDK's 32-hex `event_id` is a string).
    EventRowId
);
id_type!(
    /// A stored attachment's row (the `attachments.id` column).
    AttachmentId
);
id_type!(
    /// A release of a project (one row per project and version).
    ReleaseId
);
id_type!(
    /// A deploy of a release to an environment.
    DeployId
);
id_type!(
    /// An uploaded file (of an artifact bundle, or a legacy release file).
    ArtifactFileId
);
id_type!(
    /// An alert rule.
    AlertRuleId
);
id_type!(
    /// An alert target (email, Slack, Discord or webhook).
    AlertTargetId
);
id_type!(
    /// A notification (one delivery of an alert to one target).
    NotificationId
);
