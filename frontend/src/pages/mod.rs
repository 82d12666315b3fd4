//! One module per route group: signed-out pages, onboarding, the issue list, the issue page,
//! releases, settings, alerts, billing (with the quota banners), profile.

pub mod alerts;
pub mod auth;
pub mod billing;
pub mod event;
pub mod issue;
pub mod issues;
pub mod onboarding;
pub mod profile;
pub mod releases;
pub mod settings;
