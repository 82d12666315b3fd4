//! The job workers' wiring: which jobs this binary runs and the context each one gets. The job
//! layer in core (`errorwatch_core::jobs`) knows how to run a job on either database; this
//! module is the registry that names every job, so core's modules never import each other
//! through it.

use std::sync::Arc;

use errorwatch_core::alert::{AlertContext, Alerts};
use errorwatch_core::billing::stripe::Stripe;
use errorwatch_core::db::Db;
use errorwatch_core::jobs::billing::BillingContext;
use errorwatch_core::jobs::{self, JobQueue, Runtime, WorkerOptions};
use errorwatch_core::mail::Mailer;
use errorwatch_core::metrics::Metrics;

/// Everything the jobs of this process run with.
#[derive(Clone, Debug)]
pub struct Workers {
    /// The database (and the queue's tables).
    pub db: Db,
    /// The queue, for follow-up jobs and retries.
    pub queue: JobQueue,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// Outgoing email.
    pub mailer: Mailer,
    /// Stripe, when billing is on.
    pub stripe: Option<Stripe>,
    /// Alert delivery settings and the guarded HTTP client.
    pub alerts: Alerts,
}

impl Workers {
    /// The monitor with one worker per job type, ready to run until stopped.
    pub fn monitor(&self, options: &WorkerOptions) -> jobs::Monitor {
        use errorwatch_core::alert::{deliver, trigger};
        use errorwatch_core::digest::retention::EvictEvents;
        use errorwatch_core::jobs::{billing, prune::PruneJobs, selftest::SelfTest};
        use errorwatch_core::mail::SendEmail;
        use errorwatch_core::service::purge::PurgeDeleted;

        let runtime = Runtime {
            db: self.db.clone(),
            queue: self.queue.clone(),
            metrics: self.metrics.clone(),
        };
        let alerting = AlertContext {
            db: self.db.clone(),
            queue: self.queue.clone(),
            mailer: self.mailer.clone(),
            alerts: self.alerts.clone(),
        };
        let billing_ctx = BillingContext {
            db: self.db.clone(),
            stripe: self.stripe.clone(),
        };
        let db = self.db.clone();
        let monitor = jobs::monitor(options);
        let monitor = jobs::register::<SelfTest>(monitor, db.clone(), &runtime, options);
        let monitor = jobs::register::<EvictEvents>(monitor, db.clone(), &runtime, options);
        let monitor = jobs::register::<SendEmail>(monitor, self.mailer.clone(), &runtime, options);
        let monitor =
            jobs::register::<trigger::EvaluateAlerts>(monitor, alerting.clone(), &runtime, options);
        let monitor = jobs::register::<deliver::DeliverNotification>(
            monitor,
            alerting.clone(),
            &runtime,
            options,
        );
        let monitor =
            jobs::register::<deliver::SweepNotifications>(monitor, alerting, &runtime, options);
        let monitor = jobs::register::<PurgeDeleted>(monitor, db, &runtime, options);
        let monitor = jobs::register::<billing::ApplyStripeEvent>(
            monitor,
            billing_ctx.clone(),
            &runtime,
            options,
        );
        let monitor =
            jobs::register::<billing::ReconcileBilling>(monitor, billing_ctx, &runtime, options);
        jobs::register::<PruneJobs>(monitor, self.queue.clone(), &runtime, options)
    }
}
