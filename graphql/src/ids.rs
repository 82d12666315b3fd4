//! Global ids: `<prefix>_<number>` (`acc_12`, `prj_7`, `key_3`, …), so an id says what it
//! names and one of another kind is refused as VALIDATION before anything is looked up.

use async_graphql::ID;

use crate::error::{GqlResult, coded};

/// Kinds of global ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An account.
    Account,
    /// A project.
    Project,
    /// A DSN key.
    ProjectKey,
    /// A user.
    User,
    /// A membership.
    Membership,
    /// An invite.
    Invite,
    /// An API token.
    ApiToken,
    /// A browser session.
    Session,
    /// An audit entry.
    AuditEntry,
    /// An issue.
    Issue,
    /// A stored event.
    Event,
    /// An attachment of an event.
    Attachment,
    /// An alert rule.
    AlertRule,
    /// An alert target.
    AlertTarget,
    /// A notification (one alert delivery).
    Notification,
    /// A release of a project.
    Release,
    /// A deploy of a release.
    Deploy,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Account => "acc",
            Kind::Project => "prj",
            Kind::ProjectKey => "key",
            Kind::User => "usr",
            Kind::Membership => "mem",
            Kind::Invite => "inv",
            Kind::ApiToken => "tok",
            Kind::Session => "ses",
            Kind::AuditEntry => "aud",
            Kind::Issue => "iss",
            Kind::Event => "evt",
            Kind::Attachment => "att",
            Kind::AlertRule => "alr",
            Kind::AlertTarget => "alt",
            Kind::Notification => "ntf",
            Kind::Release => "rel",
            Kind::Deploy => "dep",
        }
    }
}

/// The global id of row `n` of `kind` (a typed id or a row number).
pub fn to_id(kind: Kind, n: impl Into<i64>) -> ID {
    ID(format!("{}_{}", kind.prefix(), n.into()))
}

/// The row number in a global id of `kind`; VALIDATION when malformed or of another kind.
pub fn from_id(kind: Kind, id: &ID) -> GqlResult<i64> {
    id.as_str()
        .strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            coded(
                "VALIDATION",
                format!(
                    "{:?} is not a {:?} id (expected {}_<number>)",
                    id.as_str(),
                    kind,
                    kind.prefix()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_other_kinds() {
        let id = to_id(Kind::Project, 42);
        assert_eq!(id.as_str(), "prj_42");
        assert_eq!(from_id(Kind::Project, &id).expect("valid"), 42);
        assert!(from_id(Kind::Account, &id).is_err());
        assert!(from_id(Kind::Project, &ID("prj_".into())).is_err());
        assert!(from_id(Kind::Project, &ID("prj_-1".into())).is_err());
        assert!(from_id(Kind::Project, &ID("42".into())).is_err());
    }
}
