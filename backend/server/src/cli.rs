//! The command line: `serve`, `worker`, `migrate`, and admin commands for self-hosters and
//! scripts. Admin commands print readable text, or JSON with `--json`.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use errorwatch_core::admin;
use errorwatch_core::config::Config;
use errorwatch_core::jobs::JobQueue;
use errorwatch_core::jobs::selftest::{self, SelfTest};
use errorwatch_core::metrics::Metrics;
use errorwatch_core::scope::AccountScope;
use errorwatch_core::secret::SecretString;
use errorwatch_core::service::project;
use errorwatch_core::{Error, telemetry};
use serde_json::json;

use crate::app::{self, Application, Roles};

/// ErrorWatch: a Sentry-compatible error tracker. Configuration comes from the environment
/// (DATABASE_URL, ERRORWATCH_LISTEN, ERRORWATCH_PUBLIC_URL, ...; see the README).
#[derive(Debug, Parser)]
#[command(name = "errorwatch", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (ingest, API, dashboard) and, unless --no-workers, run the job workers.
    Serve {
        /// Only serve HTTP; run `errorwatch worker` elsewhere.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run job workers only (scale-out).
    Worker,
    /// Apply database migrations and exit (serve also migrates on start).
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Inspect and check the job queue.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Symbolicate and group a project's stored events again with the source maps uploaded
    /// since they arrived (with a progress bar).
    Reprocess {
        /// Project id (the number in its DSN).
        #[arg(long)]
        project: i64,
        #[command(flatten)]
        output: Output,
    },
    /// Fill a project with synthetic issues and events (for benchmarks; not for production data).
    Seed {
        /// Project id (the number in its DSN).
        #[arg(long)]
        project: i64,
        /// Issues to create.
        #[arg(long, default_value_t = 10_000)]
        issues: u64,
        /// Events to create, spread over the issues and the last 14 days.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
}

#[derive(Debug, Args)]
struct Output {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        /// Email address (the login).
        #[arg(long)]
        email: String,
        /// Read the password from standard input (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// May administer the whole installation.
        #[arg(long)]
        superuser: bool,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a member of an account; prints the secret (shown once).
    Create {
        /// Account slug.
        #[arg(long)]
        account: String,
        /// Email of the member the token acts for.
        #[arg(long)]
        user: String,
        /// Token name.
        #[arg(long)]
        name: String,
        /// `read`, `write` or `admin`.
        #[arg(long, default_value = "read")]
        scope: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create an account owned by an existing user; prints the account slug.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email of the owning user.
        #[arg(long)]
        owner: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project with a DSN key; prints the project id and DSN.
    Create {
        /// Account slug.
        #[arg(long)]
        account: String,
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        output: Output,
    },
    /// List projects with their DSNs.
    List {
        /// Only this account's projects.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Tasks in the queue by job and status, and envelopes spooled but not yet digested (as
    /// job `ingest_spool`, status `Pending`).
    Status {
        #[command(flatten)]
        output: Output,
    },
    /// Enqueue self-test jobs and wait until running workers have processed them all.
    Selftest {
        /// How many jobs.
        #[arg(long, default_value_t = 10)]
        count: u32,
        /// Simulated work per job, in milliseconds.
        #[arg(long, default_value_t = 0)]
        work_ms: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
        /// Only enqueue; print the batch id and exit.
        #[arg(long)]
        no_wait: bool,
        /// Fail each job's first N attempts (checks retries; above 5 checks dead letters).
        #[arg(long, default_value_t = 0)]
        fail_first: u32,
        /// Check an earlier batch instead of enqueuing a new one.
        #[arg(long)]
        batch: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::from_env()?;
    let is_admin = !matches!(
        cli.command,
        Command::Serve { .. } | Command::Worker | Command::Migrate
    );
    if is_admin
        && std::env::var_os("ERRORWATCH_LOG").is_none()
        && std::env::var_os("RUST_LOG").is_none()
    {
        // Admin commands print their result; keep the log to warnings.
        config.log.filter = "warn".to_owned();
    }
    telemetry::init(&config.log)?;
    // reqwest and friends use rustls without a built-in provider: install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();

    match cli.command {
        Command::Serve { no_workers } => {
            let application = Application::build(
                config,
                Roles {
                    http: true,
                    workers: !no_workers,
                },
            )
            .await?;
            application
                .run_until_stopped(crate::shutdown::on_signal())
                .await
        }
        Command::Worker => {
            let application = Application::build(
                config,
                Roles {
                    http: false,
                    workers: true,
                },
            )
            .await?;
            application
                .run_until_stopped(crate::shutdown::on_signal())
                .await
        }
        Command::Migrate => {
            let db = app::prepare_database(&config).await?;
            println!("migrations applied ({})", config.database.url);
            db.close().await;
            Ok(())
        }
        Command::User(command) => run_user(config, command).await,
        Command::Account(command) => run_account(config, command).await,
        Command::Project(command) => run_project(config, command).await,
        Command::Jobs(command) => run_jobs(config, command).await,
        Command::Token(TokenCommand::Create {
            account,
            user: email,
            name,
            scope,
            output,
        }) => {
            let token_scope = errorwatch_core::scope::TokenScope::parse(scope.trim())
                .ok_or_else(|| anyhow::anyhow!("--scope must be read, write or admin"))?;
            let db = app::prepare_database(&config).await?;
            let result = async {
                let found = admin::find_account_by_slug_unscoped(&db, &account)
                    .await
                    .map_err(|e| explain(e, &format!("account {account:?}")))?;
                let member = admin::find_user_by_email_unscoped(&db, &email)
                    .await
                    .map_err(|e| explain(e, &format!("user {email:?}")))?;
                let scope = admin::scope_for_member(&db, member.id, found.id)
                    .await
                    .map_err(|e| explain(e, &format!("membership of {email:?} in {account:?}")))?;
                errorwatch_core::service::api_token::create(&scope, &name, token_scope)
                    .await
                    .map_err(|e| explain(e, "token"))
            }
            .await;
            db.close().await;
            let (token, secret) = result?;
            if output.json {
                println!(
                    "{}",
                    json!({"id": token.id, "name": token.name, "scope": token.scope.as_str(), "secret": secret})
                );
            } else {
                println!(
                    "token {} ({}, {}): {secret}",
                    token.id,
                    token.name,
                    token.scope.as_str()
                );
            }
            Ok(())
        }
        Command::Reprocess { project, output } => {
            let db = app::prepare_database(&config).await?;
            let maps = errorwatch_core::digest::symbolicate::Symbolicator::new(&config.artifacts);
            let started = std::time::Instant::now();
            let mut bar = ProgressBar::new();
            let result = admin::reprocess_project_unscoped(
                &db,
                errorwatch_core::ids::ProjectId(project),
                &maps,
                &mut |done, total, so_far| {
                    bar.show(
                        done,
                        total,
                        &format!(
                            "issues · {} events, {} frames mapped",
                            so_far.events, so_far.mapped_frames
                        ),
                    )
                },
            )
            .await
            .map_err(|e| explain(e, &format!("project {project}")));
            bar.finish();
            db.close().await;
            let done = result?;
            if output.json {
                println!("{}", json!(done));
            } else {
                println!(
                    "reprocessed project {project} in {:.1} s: {} events read, {} changed; {} frames mapped, {} left minified (each says why); the events are in {} issues",
                    started.elapsed().as_secs_f64(),
                    done.events,
                    done.changed,
                    done.mapped_frames,
                    done.unmapped_frames,
                    done.issues.len()
                );
            }
            Ok(())
        }
        Command::Seed {
            project,
            issues,
            events,
        } => {
            let db = app::prepare_database(&config).await?;
            let started = std::time::Instant::now();
            let seeded = admin::seed_project_unscoped(
                &db,
                errorwatch_core::ids::ProjectId(project),
                issues,
                events,
            )
            .await
            .map_err(|e| explain(e, &format!("project {project}")));
            db.close().await;
            let seeded = seeded?;
            println!(
                "seeded project {project}: {} issues, {} events in {:.1} s",
                seeded.issues,
                seeded.events,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// A progress bar on stderr: redrawn in place on a terminal, one line per tenth otherwise.
struct ProgressBar {
    terminal: bool,
    last_tenth: usize,
}

impl ProgressBar {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            terminal: std::io::stderr().is_terminal(),
            last_tenth: 0,
        }
    }

    fn show(&mut self, done: usize, total: usize, what: &str) {
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
        let line = format!(
            "[{}{}] {done}/{total} {what}",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled)
        );
        if self.terminal {
            eprint!("\r{line}");
        } else {
            let tenth = (done * 10).checked_div(total).unwrap_or(10);
            if tenth > self.last_tenth || done == total {
                self.last_tenth = tenth;
                eprintln!("{line}");
            }
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

/// Maps domain errors to messages an admin can act on.
fn explain(error: Error, what: &str) -> anyhow::Error {
    match error {
        Error::NotFound => anyhow::anyhow!("{what} not found"),
        Error::Validation { field, message } => anyhow::anyhow!("invalid {field}: {message}"),
        Error::Conflict(message) => anyhow::anyhow!("{message}"),
        Error::PlanLimit(message) => anyhow::anyhow!("{message}"),
        Error::Forbidden => anyhow::anyhow!("not allowed"),
        Error::Unauthenticated(message) => anyhow::anyhow!("{message}"),
        Error::RateLimited { retry_after } => {
            anyhow::anyhow!(
                "too many attempts; retry in {} s",
                retry_after.as_secs().max(1)
            )
        }
        Error::BillingDisabled => anyhow::anyhow!("billing is not enabled on this server"),
        Error::Internal(e) => e,
    }
}

async fn run_user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create {
        email,
        password_stdin: _,
        superuser,
        output,
    } = command;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password on standard input; e.g. `echo \"$PASSWORD\" | errorwatch user create --email {email} --password-stdin`"
        );
    }
    let db = app::prepare_database(&config).await?;
    let created = admin::create_user_unscoped(&db, &email, SecretString::new(password), superuser)
        .await
        .map_err(|e| explain(e, "user"));
    db.close().await;
    let created = created?;
    if output.json {
        println!(
            "{}",
            json!({"id": created.id, "email": created.email, "superuser": created.is_superuser})
        );
    } else {
        println!(
            "created user {} (id {}{})",
            created.email,
            created.id,
            if created.is_superuser {
                ", superuser"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn run_account(config: Config, command: AccountCommand) -> anyhow::Result<()> {
    let AccountCommand::Create {
        name,
        owner,
        output,
    } = command;
    let db = app::prepare_database(&config).await?;
    let result = async {
        let owner = admin::find_user_by_email_unscoped(&db, &owner)
            .await
            .map_err(|e| {
                explain(
                    e,
                    &format!("user {owner:?} (create it with `errorwatch user create`)"),
                )
            })?;
        admin::create_account_for_user(&db, &name, owner.id)
            .await
            .map_err(|e| explain(e, "account"))
    }
    .await;
    db.close().await;
    let created = result?;
    if output.json {
        println!(
            "{}",
            json!({"id": created.id, "slug": created.slug, "name": created.name})
        );
    } else {
        println!("{}", created.slug);
    }
    Ok(())
}

async fn run_project(config: Config, command: ProjectCommand) -> anyhow::Result<()> {
    let db = app::prepare_database(&config).await?;
    let public_url = config.http.public_url.clone();
    let result = async {
        match command {
            ProjectCommand::Create { account, name, output } => {
                let found = admin::find_account_by_slug_unscoped(&db, &account)
                    .await
                    .map_err(|e| explain(e, &format!("account {account:?}")))?;
                let scope = AccountScope::system(&db, found.id, "admin command: project create");
                let created = project::create_project(&scope, &public_url, &name)
                    .await
                    .map_err(|e| explain(e, "project"))?;
                let dsn = created.keys.first().map(|k| k.dsn.clone()).unwrap_or_default();
                if output.json {
                    println!(
                        "{}",
                        json!({"id": created.id, "account": created.account_slug, "slug": created.slug, "name": created.name, "dsn": dsn})
                    );
                } else {
                    println!("project {} ({}) in account {}", created.id, created.slug, created.account_slug);
                    println!("DSN: {dsn}");
                }
                Ok(())
            }
            ProjectCommand::List { account, output } => {
                let projects = match account {
                    Some(slug) => {
                        let found = admin::find_account_by_slug_unscoped(&db, &slug)
                            .await
                            .map_err(|e| explain(e, &format!("account {slug:?}")))?;
                        let scope = AccountScope::system(&db, found.id, "admin command: project list");
                        project::list_projects(&scope, &public_url).await
                    }
                    None => admin::list_projects_all_accounts_unscoped(&db, &public_url).await,
                }
                .map_err(|e| explain(e, "projects"))?;
                if output.json {
                    println!("{}", serde_json::to_string(&projects)?);
                } else if projects.is_empty() {
                    println!("no projects");
                } else {
                    println!("{:>6}  {:<20} {:<20} DSN", "ID", "ACCOUNT", "PROJECT");
                    for p in &projects {
                        let dsn = p.keys.iter().find(|k| k.is_active).map(|k| k.dsn.as_str()).unwrap_or("(no active key)");
                        println!("{:>6}  {:<20} {:<20} {dsn}", p.id, p.account_slug, p.slug);
                    }
                }
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    result
}

async fn run_jobs(config: Config, command: JobsCommand) -> anyhow::Result<()> {
    let db = app::prepare_database(&config).await?;
    let queue = JobQueue::new(db.clone(), Metrics::new());
    let result = async {
        match command {
            JobsCommand::Status { output } => {
                let mut stats = queue.stats().await?;
                // The digest is a loop, not a job: its backlog is the spool's.
                let spool = errorwatch_core::spool::SpoolStore::open(&config.database, &db)
                    .await
                    .context("opening the ingest spool")?;
                let backlog = spool.backlog().await?;
                if backlog > 0 {
                    stats.push(errorwatch_core::jobs::QueueStat {
                        job: "ingest_spool".to_owned(),
                        status: "Pending".to_owned(),
                        count: i64::try_from(backlog).unwrap_or(i64::MAX),
                    });
                }
                if output.json {
                    println!("{}", serde_json::to_string(&stats)?);
                } else if stats.is_empty() {
                    println!("the job queue is empty");
                } else {
                    println!("{:<24} {:<10} {:>8}", "JOB", "STATUS", "COUNT");
                    for s in stats {
                        println!("{:<24} {:<10} {:>8}", s.job, s.status, s.count);
                    }
                }
                Ok(())
            }
            JobsCommand::Selftest {
                count,
                work_ms,
                fail_first,
                timeout_secs,
                no_wait,
                batch,
                output,
            } => {
                let batch = match batch {
                    Some(batch) => batch,
                    None => {
                        let batch = uuid::Uuid::new_v4().simple().to_string();
                        let jobs: Vec<SelfTest> = (0..count)
                            .map(|i| SelfTest {
                                batch: batch.clone(),
                                token: format!("{batch}-{i}"),
                                work_ms,
                                fail_first,
                            })
                            .collect();
                        queue.enqueue_many(&jobs).await?;
                        batch
                    }
                };
                if no_wait {
                    if output.json {
                        println!("{}", json!({"batch": batch, "enqueued": count}));
                    } else {
                        println!("{batch}");
                    }
                    return Ok(());
                }
                let started = Instant::now();
                let deadline = started + Duration::from_secs(timeout_secs);
                loop {
                    let processed = selftest::count_processed(&db, &batch).await?;
                    if processed >= u64::from(count) {
                        if output.json {
                            println!(
                                "{}",
                                json!({"batch": batch, "processed": processed, "seconds": started.elapsed().as_secs_f64()})
                            );
                        } else {
                            println!("{processed} of {count} self-test jobs processed in {:.2} s", started.elapsed().as_secs_f64());
                        }
                        return Ok(());
                    }
                    if Instant::now() > deadline {
                        anyhow::bail!(
                            "only {processed} of {count} self-test jobs processed after {timeout_secs} s; is a worker running (`errorwatch serve` or `errorwatch worker`)?"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    .await;
    db.close().await;
    result
}
