//! Plans, subscriptions, usage and Stripe's webhook log.
//!
//! - `plans`: plans as data, seeded from configuration on startup (upsert by `slug`); quotas per
//!   data category as a JSON object (`{"error": 5000, "attachment": 104857600}`, absent =
//!   unlimited), the over-quota policy, retention, members and the ingest rate tiers; in SaaS
//!   mode linked to a Stripe price.
//! - `subscriptions`: one row per account that has (had) a subscription; an account without one
//!   is on the default plan (Free in SaaS mode, the self-host plan otherwise). `stripe_version`
//!   is when the stored state was read from Stripe (milliseconds): a write only replaces a row
//!   read earlier, so a late webhook cannot roll the state back.
//! - `usage_periods`: accepted quantity per account, billing period and category, incremented
//!   as events are accepted; `notified_percent` remembers the last warning mailed (80, 100).
//! - `usage_leases`: the share of a period's quota each server process may accept without
//!   asking the database again; what keeps a hard cap exact across several processes.
//! - `stripe_events`: every webhook event once (its id is the key), inserted in the same
//!   transaction as its effects.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("plans")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("slug", 64))
                    .col(string_len("name", 100))
                    .col(big_integer("price_cents").default(0))
                    .col(string_len_null("stripe_price_id", 255))
                    .col(text("quotas"))
                    .col(text("overage"))
                    .col(integer("retention_days"))
                    .col(integer_null("max_members"))
                    .col(integer_null("key_rate_per_minute"))
                    .col(integer_null("key_burst"))
                    .col(integer_null("spike_per_minute"))
                    .col(boolean("is_public").default(true))
                    .col(integer("sort_order").default(0))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("subscriptions")
                    .col(big_integer("account_id").primary_key())
                    .col(big_integer("plan_id"))
                    .col(string_len("status", 32))
                    .col(string_len_null("stripe_customer_id", 255))
                    .col(string_len_null("stripe_subscription_id", 255))
                    .col(timestamp_with_time_zone("current_period_start"))
                    .col(timestamp_with_time_zone("current_period_end"))
                    .col(boolean("cancel_at_period_end").default(false))
                    .col(timestamp_with_time_zone_null("past_due_since"))
                    .col(big_integer("stripe_version").default(0))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "fk_subscriptions_account",
                        ("subscriptions", "account_id"),
                        "accounts",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_plan")
                            .from("subscriptions", "plan_id")
                            .to("plans", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "subscriptions_stripe_customer_id_idx",
                "subscriptions",
                &["stripe_customer_id"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("usage_periods")
                    .col(big_integer("account_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(string_len("category", 32))
                    .col(big_integer("quantity").default(0))
                    .col(small_integer("notified_percent").default(0))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(
                        Index::create()
                            .col("account_id")
                            .col("period_start")
                            .col("category"),
                    )
                    .foreign_key(&mut fk(
                        "fk_usage_periods_account",
                        ("usage_periods", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("usage_leases")
                    .col(string_len("instance_id", 64))
                    .col(big_integer("account_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(string_len("category", 32))
                    .col(big_integer("amount").default(0))
                    .col(timestamp_with_time_zone("heartbeat_at"))
                    .primary_key(
                        Index::create()
                            .col("account_id")
                            .col("period_start")
                            .col("category")
                            .col("instance_id"),
                    )
                    .foreign_key(&mut fk(
                        "fk_usage_leases_account",
                        ("usage_leases", "account_id"),
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("stripe_events")
                    .col(string_len("event_id", 255).primary_key())
                    .col(string_len("event_type", 100))
                    .col(big_integer("created"))
                    .col(string_len_null("object_id", 255))
                    .col(text("payload"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(timestamp_with_time_zone_null("processed_at"))
                    .col(text_null("error"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "stripe_events",
            "usage_leases",
            "usage_periods",
            "subscriptions",
            "plans",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
