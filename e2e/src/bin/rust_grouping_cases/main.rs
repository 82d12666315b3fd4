//! Captures the grouping cases with the real Rust Sentry SDK (the `sentry` crate) into files.
//!
//! Usage: `rust_grouping_cases OUT_DIR VARIANT`, with `RUST_BACKTRACE=1` so that anyhow errors
//! carry backtraces. `e2e/sdk/gen_grouping_fixtures.sh` runs it once per build and deploy layout.
//! Nothing goes over the network: a transport writes the event of every envelope to
//! `OUT_DIR/<case>.json`, the case being the event's `grouping.case` tag. VARIANT (`a`, `b`)
//! picks the ids, release, host and user, so the same bug captured in two variants differs in
//! everything grouping must ignore. The SDK runs with its default in-app settings, as most
//! applications do.

#[cfg_attr(feature = "grouping-shifted", path = "shifted/app.rs")]
mod app;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sentry::protocol::{Level, User};
use sentry::{ClientOptions, Envelope, Transport};

/// What must not split an issue, per variant.
struct Variant {
    release: &'static str,
    host: &'static str,
    user: &'static str,
    order: u64,
    quantity: &'static str,
    line: usize,
}

const VARIANTS: [(&str, Variant); 2] = [
    (
        "a",
        Variant {
            release: "shop@41.0.0",
            host: "web-1",
            user: "1001",
            order: 1041,
            quantity: "three",
            line: 7,
        },
    ),
    (
        "b",
        Variant {
            release: "shop@42.3.1",
            host: "web-7",
            user: "2002",
            order: 77,
            quantity: "lots",
            line: 12,
        },
    ),
];

/// Writes the event of each envelope to `OUT_DIR/<case>.json` instead of sending it.
struct FileTransport {
    out_dir: PathBuf,
}

impl Transport for FileTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let Some(event) = envelope.event() else {
            return;
        };
        let case = event
            .tags
            .get("grouping.case")
            .map_or("unknown", String::as_str);
        let path = self.out_dir.join(format!("{case}.json"));
        let written = serde_json::to_vec(event)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&path, json));
        if let Err(error) = written {
            eprintln!("rust_grouping_cases: writing {}: {error}", path.display());
        }
    }

    fn flush(&self, _timeout: Duration) -> bool {
        true
    }
}

/// Runs `case` and reports the error it returns as the event of `name`. Every case goes through
/// this one function, so the cases differ only in the application's own frames.
fn capture(name: &str, case: impl FnOnce() -> anyhow::Result<()>) {
    sentry::with_scope(
        |scope| scope.set_tag("grouping.case", name),
        || {
            if let Err(error) = case() {
                sentry::integrations::anyhow::capture_anyhow(&error);
            }
        },
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out_dir), Some(variant)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: rust_grouping_cases OUT_DIR a|b");
        return ExitCode::from(2);
    };
    let Some((_, variant)) = VARIANTS.iter().find(|(name, _)| name == variant) else {
        eprintln!("unknown variant {variant:?}: use a or b");
        return ExitCode::from(2);
    };
    let out_dir = PathBuf::from(out_dir);
    if let Err(error) = std::fs::create_dir_all(&out_dir) {
        eprintln!("rust_grouping_cases: {}: {error}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let transport = Arc::new(FileTransport { out_dir });
    let mut options = ClientOptions::new()
        .release(variant.release)
        .environment("production")
        .attach_stacktrace(true)
        .transport(move |_: &ClientOptions| -> Arc<dyn Transport> { transport.clone() });
    options.server_name = Some(variant.host.into());
    options.dsn = "http://public@127.0.0.1:9/1".parse().ok();
    let guard = sentry::init(options);
    sentry::configure_scope(|scope| {
        scope.set_user(Some(User {
            id: Some(variant.user.into()),
            email: Some(format!("user{}@example.com", variant.user)),
            ..Default::default()
        }));
    });

    let order = variant.order;
    let cart = app::Cart::from([
        ("sku-1".to_owned(), 2),
        ("sku-2".to_owned(), (order % 5) as u32),
    ]);
    capture("checkout_declined", || {
        app::checkout(order, &cart, true).map(drop)
    });
    capture("discount_unknown_code", || {
        app::discount_per_item("SPRING", 3).map(drop)
    });
    capture("discount_no_items", || {
        app::discount_per_item("SAVE10", 0).map(drop)
    });
    capture("quantity_add", || {
        app::add_item(&mut app::Cart::new(), "sku-1", variant.quantity)
    });
    capture("quantity_update", || {
        app::update_item(&mut cart.clone(), "sku-1", variant.quantity)
    });
    // A plain `capture_error` (no anyhow): the SDK puts the stack trace on the thread.
    sentry::with_scope(
        |scope| scope.set_tag("grouping.case", "capture_error_quantity"),
        || {
            if let Err(error) = variant.quantity.parse::<u32>() {
                sentry::capture_error(&error);
            }
        },
    );
    // An uncaught panic, reported by the panic integration (caught here to go on).
    sentry::with_scope(
        |scope| scope.set_tag("grouping.case", "panic_line_total"),
        || {
            std::panic::catch_unwind(|| {
                app::line_total(&[1250, 990, 4500], &[2, 1, 3], variant.line)
            })
        },
    )
    .ok();
    // A message with the exception's text: never the exception's issue.
    let amount = cart.values().map(|&n| u64::from(n)).sum::<u64>() * 1250;
    sentry::with_scope(
        |scope| scope.set_tag("grouping.case", "message_declined"),
        || {
            sentry::capture_message(
                &format!("payment of {amount} cents for order {order} declined"),
                Level::Error,
            )
        },
    );

    if guard.close(Some(Duration::from_secs(5))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
