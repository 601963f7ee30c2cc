//! The command line: serve, migrate, IAMs, tokens, admin bootstrap. Every
//! command takes `--database` (or `SCIM_BRIDGE_DATABASE_URL`) and works
//! against the database of a running server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use scim_bridge::config::{Config, ConfigOverrides};
use scim_bridge::directory::accounts::Ctx;
use scim_bridge::directory::{Directory, Error};

// A request allocates and frees a few hundred small blocks (headers, JSON
// values, rows); glibc's malloc spent about 40 % of a GET's instructions on
// them, mimalloc's thread-local free lists far less (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "scim-bridge",
    version,
    about = "SCIM 2.0 server with an internal IAM for permissions, attributes and account lifecycle"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SCIM_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(
        long = "database",
        global = true,
        env = "SCIM_BRIDGE_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Log lines as `pretty` text or `json` objects (stderr).
    #[arg(long, global = true, value_enum)]
    log_format: Option<scim_bridge::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve SCIM and the admin API.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage IAMs (sources of identities).
    #[command(subcommand)]
    Iam(IamCommand),
    /// Manage SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Administrators of the built-in IAM.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Anonymized daily usage metrics.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the SQLite database while the server keeps serving, then check
    /// the copy (PostgreSQL: use pg_dump).
    Backup(BackupArgs),
    /// Replace the SQLite database with a backup (the server must be
    /// stopped), then apply migrations.
    Restore(RestoreArgs),
    /// Write every IAM, custom permission, tag, policy, user, group,
    /// membership, data source and subscription as JSON lines.
    Export(ExportArgs),
    /// Read JSON lines written by `export`; idempotent, all or nothing per
    /// batch.
    Import(ImportArgs),
}

#[derive(Subcommand)]
enum MetricsCommand {
    /// Write the daily usage counts as the JSON document
    /// `GET /api/v1/metrics` downloads.
    Export {
        /// The last N days (1 to 366), today (UTC) last.
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
        days: Option<i64>,
        /// First day, YYYY-MM-DD (with --to).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Last day, YYYY-MM-DD (with --from).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file, environment, flags) and name every
    /// problem; on success print the effective configuration, secrets
    /// redacted. Exits non-zero on problems.
    Check,
}

#[derive(Args)]
struct BackupArgs {
    /// The backup file to write.
    #[arg(long)]
    output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct RestoreArgs {
    /// A file written by `scim-bridge backup`.
    #[arg(long)]
    input: PathBuf,
}

#[derive(Args)]
struct ExportArgs {
    /// The file to write (default: stdout).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ImportArgs {
    /// The file to read (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Lines per transaction: a batch with a bad line writes nothing.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Replay the audit log's hash chain; exits non-zero if a record was
    /// edited, removed or reordered.
    Verify,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCIM_BRIDGE_BIND")]
    bind: Option<std::net::SocketAddr>,
    /// Absolute URL clients reach this server at (for meta.location).
    #[arg(long, env = "SCIM_BRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// PEM certificate chain: serve HTTPS only (TLS 1.2 and 1.3); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum IamCommand {
    /// Create an IAM.
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List IAMs.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a SCIM token for an IAM; prints only the token.
    Create {
        #[arg(long)]
        iam: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create (or reuse) a built-in admin with USER_ADMIN; prints an admin token.
    Bootstrap {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid, in hours (1 to 720, i.e. 30 days).
        #[arg(long, default_value_t = 24)]
        valid_hours: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (bind, public_url, tls_cert, tls_key) = match &cli.command {
        Command::Serve(a) => (
            a.bind,
            a.public_url.clone(),
            a.tls_cert.clone(),
            a.tls_key.clone(),
        ),
        _ => (None, None, None, None),
    };
    let overrides = ConfigOverrides {
        bind,
        database_url: cli.database.clone(),
        public_url,
        tls_cert,
        tls_key,
        log_format: cli.log_format,
    };
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return config_check(cli.config.as_deref(), overrides);
    }
    let config = Config::load(cli.config.as_deref(), Serialized::defaults(overrides))?;
    scim_bridge::logging::init(config.log_format);
    if let Command::Serve(_) = cli.command {
        return serve(config).await;
    }
    match &cli.command {
        Command::Backup(a) => {
            return scim_bridge::portability::backup(&config, &a.output, a.force).await;
        }
        Command::Restore(a) => return scim_bridge::portability::restore(&config, &a.input).await,
        _ => {}
    }
    let dir = scim_bridge::open_directory(&config)
        .await
        .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve(_) | Command::Config(_) | Command::Backup(_) | Command::Restore(_) => {
            unreachable!("handled above")
        }
        Command::Export(a) => {
            scim_bridge::portability::export(&dir, a.output.as_deref(), a.force).await
        }
        Command::Import(a) => {
            scim_bridge::portability::import(&dir, a.input.as_deref(), a.batch_size).await
        }
        Command::Migrate => {
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Iam(c) => iam(&dir, c).await.map_err(|e| e.to_string()),
        Command::Token(c) => token(&dir, c).await.map_err(|e| e.to_string()),
        Command::Admin(AdminCommand::Bootstrap {
            email,
            name,
            valid_hours,
        }) => {
            let (_, token) = dir
                .bootstrap_admin(
                    &email,
                    name.as_deref(),
                    time::Duration::hours(valid_hours.into()),
                )
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Metrics(MetricsCommand::Export {
            days,
            from,
            to,
            output,
        }) => metrics_export(&dir, days, from, to, output).await,
        Command::Audit(AuditCommand::Verify) => {
            match dir.verify_audit().await.map_err(|e| e.to_string())? {
                Ok(n) => {
                    println!("audit log intact: {n} records");
                    Ok(())
                }
                Err(broken) => Err(format!("audit log broken: {broken}")),
            }
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let bind = config.bind;
    // Read the certificate before anything else, so that a bad one fails
    // fast with its own message.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(scim_bridge::http::tls::server_config(cert, key)?),
        (None, None) => None,
        _ => return Err("tls_cert and tls_key go together: give both or neither".into()),
    };
    let state = scim_bridge::build_state(config)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let reach = if addr.ip().is_loopback() {
        "loopback only: other machines cannot connect (--bind 0.0.0.0:PORT or \
         SCIM_BRIDGE_BIND to listen on every interface)"
    } else {
        "every machine that can route to this address"
    };
    // Lets `restore` see that this database is being served.
    scim_bridge::portability::serve_lock(&state.config.database_url);
    tracing::info!(
        %addr,
        tls = tls.is_some(),
        database = %scim_bridge::config::redact_url(&state.config.database_url),
        "scim-bridge listening on {addr} ({reach}), TLS {}; SCIM base URL {scheme}://{addr}/scim/v2",
        if tls.is_some() { "on (1.2 and 1.3)" } else { "off" },
    );
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "listening beyond loopback without TLS: tokens and identity data cross the \
             network in clear unless TLS is terminated in front (--tls-cert/--tls-key)"
        );
    }
    if state.config.public_url.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            allowed_hosts = ?state.config.allowed_hosts,
            "public_url is not set: Location and meta.location name the request's Host only \
             when it is in allowed_hosts (or is {addr}), else {scheme}://{addr}; set \
             --public-url to the address clients use"
        );
    }
    match tls {
        Some(tls) => scim_bridge::http::tls::serve_until(
            scim_bridge::http::tls::TlsListener::new(listener, tls),
            state,
            scim_bridge::http::shutdown_signal(),
        )
        .await
        .map_err(|e| e.to_string()),
        None => scim_bridge::http::serve(listener, state)
            .await
            .map_err(|e| e.to_string()),
    }
}

fn config_check(file: Option<&std::path::Path>, overrides: ConfigOverrides) -> Result<(), String> {
    let report = scim_bridge::config::check::check(file, overrides);
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !report.ok() {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        return Err(format!(
            "the configuration has {} problem(s)",
            report.problems.len()
        ));
    }
    if let Some(config) = &report.config {
        print!("{}", scim_bridge::config::check::render(config));
    }
    eprintln!("configuration OK");
    Ok(())
}

async fn metrics_export(
    dir: &Directory,
    days: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    output: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use scim_bridge::metrics::DayRange;
    let range = match (days, from, to) {
        (Some(days), _, _) => DayRange::last(days, dir.today())?,
        (None, Some(from), Some(to)) => DayRange::between(&from, &to)?,
        _ => return Err("give --days N, or --from and --to".into()),
    };
    let doc = dir
        .metrics_export(&Ctx::cli(), range.from, range.to)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    text.push('\n');
    match output {
        Some(path) => {
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {} ({} days)", path.display(), range.len());
        }
        None => print!("{text}"),
    }
    Ok(())
}

async fn iam(dir: &Directory, c: IamCommand) -> Result<(), Error> {
    match c {
        IamCommand::Create { name, display_name } => {
            let iam = dir.create_iam(&name, display_name.as_deref()).await?;
            println!("{}", iam.id);
        }
        IamCommand::List => {
            for iam in dir.list_iams().await? {
                println!(
                    "{}\t{}\t{}",
                    iam.id,
                    iam.name,
                    iam.display_name.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

async fn token(dir: &Directory, c: TokenCommand) -> Result<(), Error> {
    match c {
        TokenCommand::Create { iam, label } => {
            let (info, token) = dir.create_token(&iam, label.as_deref()).await?;
            eprintln!("token {} for IAM {} (shown once)", info.id, info.iam_name);
            println!("{token}");
        }
        TokenCommand::List => {
            for t in dir.list_tokens(&Ctx::cli()).await? {
                let state = if t.revoked.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.iam_name,
                    state,
                    scim_bridge::directory::rfc3339(t.created),
                    t.label.unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id } => {
            dir.revoke_token(&id).await?;
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}
