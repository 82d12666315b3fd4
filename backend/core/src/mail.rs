//! Outgoing email. Every email is queued as a [`SendEmail`] job, so a slow or broken mail
//! server never blocks a request and a failed delivery is retried with backoff. Without SMTP
//! configured, emails are written to the log and to `ERRORWATCH_MAIL_DIR` (one `.eml` file
//! each), so a self-hoster can still follow a verification link.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::MailConfig;
use crate::jobs::Job;

/// One email.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (always sent).
    pub text: String,
    /// Optional HTML alternative.
    pub html: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Delivers emails over SMTP or into the outbox folder.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        };
        write!(f, "Mailer({kind})")
    }
}

impl Mailer {
    /// Builds the transport from configuration (the URL was validated when it was read).
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .from
            .parse()
            .context("ERRORWATCH_MAIL_FROM is not a mailbox")?;
        let transport = match &config.smtp_url {
            Some(raw) => Transport::Smtp(smtp_transport(raw.expose())?),
            None => Transport::Outbox(config.dir.clone()),
        };
        Ok(Self {
            transport: Arc::new(transport),
            from,
        })
    }

    /// Sends one email now (the [`SendEmail`] job calls this; everything else enqueues).
    pub async fn deliver(&self, email: &Email) -> anyhow::Result<()> {
        let to: Mailbox = email
            .to
            .parse()
            .with_context(|| format!("recipient {:?} is not an address", email.to))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        let outbox = matches!(&*self.transport, Transport::Outbox(_));
        let message = match &email.html {
            Some(html) => builder.multipart(
                MultiPart::alternative()
                    .singlepart(text_part(&email.text, outbox))
                    .singlepart(SinglePart::html(html.clone())),
            ),
            None => builder.singlepart(text_part(&email.text, outbox)),
        }
        .context("building the email")?;
        match &*self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("SMTP delivery")?;
            }
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("creating {}", dir.display()))?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
                    uuid::Uuid::new_v4().simple()
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("writing an email into {}", dir.display()))?;
                tracing::info!(
                    mail.to = %email.to,
                    mail.subject = %email.subject,
                    mail.body = %email.text,
                    "email not sent (no ERRORWATCH_SMTP_URL configured); written to {}",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// The plain-text part. An email written to the outbox folder is read by a person, who copies
/// its links: its text stays as written (8bit) instead of quoted-printable, where a link's `=`
/// would read `=3D` and long lines would break with `=`. Text that 8bit cannot carry (a line
/// over 998 bytes) falls back to lettre's choice of encoding.
fn text_part(text: &str, outbox: bool) -> SinglePart {
    // lettre picks quoted-printable for any line over 76 characters, which every link is;
    // 8bit only needs lines of at most 998 bytes (RFC 5322) without NUL, ending in CRLF.
    let fits_8bit = text.lines().all(|line| line.len() <= 998) && !text.contains('\0');
    let body = if outbox && fits_8bit {
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(text.to_owned())
    };
    SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

/// `smtp://[user:pass@]host[:port]` uses STARTTLS (required), `smtps://…` TLS from the first
/// byte, and `?tls=none` plain text (local relays and test sinks only).
fn smtp_transport(raw: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url = url::Url::parse(raw).context("ERRORWATCH_SMTP_URL")?;
    let host = url
        .host_str()
        .context("ERRORWATCH_SMTP_URL has no host")?
        .to_owned();
    let plain = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let mut builder = match (url.scheme(), plain) {
        ("smtps", _) => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?,
        (_, true) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
    };
    if let Some(port) = url.port() {
        builder = builder.port(port);
    }
    if !url.username().is_empty() {
        let user = percent_decode(url.username());
        let pass = percent_decode(url.password().unwrap_or_default());
        builder = builder.credentials(Credentials::new(user, pass));
    }
    Ok(builder.timeout(Some(Duration::from_secs(20))).build())
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Delivers one email; retried with backoff when the mail server fails.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendEmail {
    /// The email.
    pub email: Email,
}

impl Job for SendEmail {
    const NAME: &'static str = "send_email";
    const MAX_ATTEMPTS: u32 = 8;

    fn backoff(failures: u32) -> Duration {
        crate::jobs::exponential_backoff(
            failures,
            Duration::from_secs(5),
            Duration::from_secs(1800),
        )
    }

    type Context = Mailer;

    async fn run(&self, mailer: &Mailer, _attempt: u32) -> anyhow::Result<()> {
        mailer.deliver(&self.email).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_emails_are_plain_text_with_links_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = Mailer {
            transport: Arc::new(Transport::Outbox(dir.path().to_owned())),
            from: "ErrorWatch <errorwatch@localhost>"
                .parse()
                .expect("mailbox"),
        };
        let link = format!(
            "http://127.0.0.1:8000/verify-email?token=ewe_{}",
            "x".repeat(90)
        );
        for html in [None, Some("<p>hello</p>".to_owned())] {
            let email = Email {
                to: "ada@example.com".into(),
                subject: "Verify".into(),
                text: format!("Open this link:\n{link}\n"),
                html,
            };
            mailer.deliver(&email).await.expect("written");
        }
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("eml"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 2);
        for eml in files {
            assert!(
                eml.contains(&link),
                "the link is copyable as written: {eml}"
            );
            assert!(!eml.contains("=3D"), "{eml}");
            assert!(eml.contains("Content-Transfer-Encoding: 8bit"), "{eml}");
        }
    }
}
