//! A real SMTP server for tests (127.0.0.1, plain text): speaks enough of RFC 5321 for lettre
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps every message it receives.
//! The binary under test gets its URL as `ERRORWATCH_SMTP_URL`, so the browser tests read the
//! verification and invite links from the emails the server really sent. The server's
//! integration suite uses this sink too (`harness::smtp`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received email.
#[derive(Clone, Debug)]
pub struct Mail {
    /// RCPT TO addresses.
    pub to: Vec<String>,
    /// The whole message (headers and body), transfer encoding undone for quoted-printable.
    pub data: String,
}

impl Mail {
    /// The `Subject:` header.
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }

    /// The token of the first link to `path` (`…/path?token=XYZ`).
    pub fn token(&self, path: &str) -> String {
        let marker = format!("/{path}?token=");
        let start = self
            .data
            .find(&marker)
            .unwrap_or_else(|| panic!("no {marker} link in:\n{}", self.data))
            + marker.len();
        self.data[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    }
}

/// The sink: its URL for `ERRORWATCH_SMTP_URL` and the messages so far.
#[derive(Clone)]
pub struct SmtpSink {
    /// `smtp://127.0.0.1:<port>?tls=none`.
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Starts listening on an ephemeral port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind smtp sink");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, store).await;
                });
            }
        });
        Self {
            url: format!("smtp://127.0.0.1:{port}?tls=none"),
            mails,
        }
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }

    /// Messages to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| *t == address.to_lowercase()))
            .collect()
    }

    /// Waits (up to 15 s) for the `n`-th message (1-based) to `address` whose subject contains
    /// `subject`.
    pub async fn wait_for(&self, address: &str, subject: &str, n: usize) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Mail> = self
                .to(address)
                .into_iter()
                .filter(|m| m.subject().contains(subject))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no email #{n} to {address} with subject containing {subject:?}; got: {:?}",
                self.all()
                    .iter()
                    .map(|m| (m.to.clone(), m.subject()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, store: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            write.write_all(b"250 ok\r\n").await?;
        } else if command.starts_with("MAIL FROM") {
            to.clear();
            write.write_all(b"250 ok\r\n").await?;
        } else if command.starts_with("RCPT TO") {
            let address = line
                .trim_end()
                .split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                })
                .unwrap_or_default();
            to.push(address.to_lowercase());
            write.write_all(b"250 ok\r\n").await?;
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            let data = if data
                .to_ascii_lowercase()
                .contains("content-transfer-encoding: quoted-printable")
            {
                decode_quoted_printable(&data)
            } else {
                data
            };
            store.lock().expect("mails").push(Mail {
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 queued\r\n").await?;
        } else if command == "RSET" {
            to.clear();
            write.write_all(b"250 ok\r\n").await?;
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// Undoes quoted-printable transfer encoding (soft line breaks and `=XX` escapes).
pub fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
