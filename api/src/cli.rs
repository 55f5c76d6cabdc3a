//! The `maskgate` command line: `serve` (the default), `migrate`, `user add`, `device add`.
//!
//! Every flag can also be set by a `MASKGATE_*` environment variable (see `.env.sample`).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use maskgate_api_types::Role;

use crate::alerts::AlertSettings;
use crate::clock::{Clock, SystemClock};
use crate::credentials::{DEVICE_TOKEN_PREFIX, Secret, hash_password, new_token, token_hash};
use crate::db;
use crate::http::{AppState, Settings, serve};

/// The MaskGate server and its admin commands.
#[derive(Debug, Parser)]
#[command(name = "maskgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Database URL: `sqlite://PATH` (created on first start), `mysql://…`, `mariadb://…`
    /// or `postgres://…`.
    #[arg(
        long,
        env = "MASKGATE_DATABASE_URL",
        default_value = "sqlite://data/maskgate.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "MASKGATE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Run database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage door devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Run everything on this machine: the server on a fresh SQLite file, an admin login
    /// (printed) and a simulated door playing face photos through the real edge agent.
    Demo(crate::demo::DemoArgs),
}

/// Flags of `maskgate serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MASKGATE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The site's IANA time zone (such as `Asia/Seoul`); default: the machine's.
    #[arg(long, env = "MASKGATE_TZ")]
    pub tz: Option<String>,
    /// Hours a login session lasts.
    #[arg(long, env = "MASKGATE_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,
    /// The largest model file an upload may carry, in MiB (on MySQL/MariaDB it must also
    /// fit the server's `max_allowed_packet`).
    #[arg(long, env = "MASKGATE_MAX_MODEL_MB", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_model_mb: u32,
    /// Seconds between two evaluations of the alert rules when nothing arrives (arrivals
    /// trigger one at once).
    #[arg(long, env = "MASKGATE_ALERT_INTERVAL_S", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub alert_interval_s: u64,
    /// Attempts per webhook delivery (retries back off 2 s, 4 s, 8 s, …).
    #[arg(long, env = "MASKGATE_ALERT_DELIVERY_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub alert_delivery_attempts: u32,
    /// Local time (`HH:MM`, site time zone) of the daily digest to the channels that take
    /// it; no digest when unset.
    #[arg(long, env = "MASKGATE_DIGEST_AT", value_parser = parse_digest_at)]
    pub digest_at: Option<chrono::NaiveTime>,
    /// MQTT broker to take doors' visits and heartbeats from, beside HTTP:
    /// `mqtt://[user[:password]@]host[:port]` or `mqtts://…`.
    #[arg(long, env = "MASKGATE_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<Secret>,
    /// The server's MQTT client id (give each api instance its own).
    #[arg(long, env = "MASKGATE_MQTT_CLIENT_ID", default_value = "maskgate-api")]
    pub mqtt_client_id: String,
    /// Shared-subscription group, so several api instances split the load; `none` for a
    /// broker without shared subscriptions.
    #[arg(long, env = "MASKGATE_MQTT_SHARE_GROUP", default_value = "maskgate")]
    pub mqtt_share_group: String,
    /// The CA certificate (PEM) that signed the broker's, for `mqtts://` with a private CA;
    /// the system's roots otherwise.
    #[arg(long, env = "MASKGATE_MQTT_CA_FILE")]
    pub mqtt_ca_file: Option<std::path::PathBuf>,
    /// Announce each door to Home Assistant (MQTT discovery): last decision, pass rate
    /// today, online.
    #[arg(long, env = "MASKGATE_MQTT_HOME_ASSISTANT")]
    pub mqtt_home_assistant: bool,
    /// Home Assistant's discovery prefix.
    #[arg(
        long,
        env = "MASKGATE_MQTT_HOME_ASSISTANT_PREFIX",
        default_value = "homeassistant"
    )]
    pub mqtt_home_assistant_prefix: String,
    /// The site's name, such as `seoul-hq`: the `Site` dimension of CloudWatch metrics.
    #[arg(long, env = "MASKGATE_SITE", default_value = "default")]
    pub site: String,
    /// Publish per-door metrics to Amazon CloudWatch under this namespace (such as
    /// `MaskGate`); off when unset. Region, credentials and endpoint come from the standard
    /// AWS configuration (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, an instance role…).
    #[arg(long, env = "MASKGATE_CLOUDWATCH_NAMESPACE")]
    pub cloudwatch_namespace: Option<String>,
    /// Seconds between CloudWatch publishes.
    #[arg(long, env = "MASKGATE_CLOUDWATCH_INTERVAL_S", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cloudwatch_interval_s: u64,
    /// Seconds without a heartbeat or visit after which a door's CloudWatch `DeviceUp` is 0.
    #[arg(long, env = "MASKGATE_CLOUDWATCH_SILENT_AFTER_S", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub cloudwatch_silent_after_s: u64,
    /// The built admin web app (`scripts/build-ui` writes `ui/dist`), served on the API's
    /// origin.
    #[arg(long, env = "MASKGATE_UI_DIR", default_value = "ui/dist")]
    pub ui_dir: PathBuf,
}

fn parse_digest_at(text: &str) -> Result<chrono::NaiveTime, String> {
    crate::alert_rules::parse_hhmm("MASKGATE_DIGEST_AT", text)
}

impl ServeArgs {
    /// The serve flags from the environment alone, for `maskgate` without a subcommand.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        struct ServeOnly {
            #[command(flatten)]
            args: ServeArgs,
        }
        ServeOnly::try_parse_from(["maskgate"]).map(|s| s.args)
    }
}

/// `maskgate user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is asked for (or read from stdin).
    Add {
        /// The user name.
        name: String,
        /// `admin` or `viewer`.
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `maskgate device …`
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a door device and print its token (shown only this once).
    Add {
        /// The device name, such as `front-door`.
        name: String,
    },
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The database URL with any password replaced by `***`, for logs.
pub fn redact_database_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_owned(),
    }
}

/// Sets up `tracing` logs; `RUST_LOG` overrides the default filter.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The time zone from `--tz`/`MASKGATE_TZ`, else the machine's, else UTC.
pub fn site_time_zone(configured: Option<&str>) -> anyhow::Result<Tz> {
    if let Some(name) = configured {
        return name
            .parse()
            .map_err(|_| anyhow::anyhow!("MASKGATE_TZ `{name}` is not an IANA time zone"));
    }
    Ok(iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(Tz::UTC))
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Demo(args)) = cli.command {
        return crate::demo::run(args).await;
    }
    let url = cli.database_url.expose().to_owned();
    let store = db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_database_url(&url)))?;
    let command = match cli.command {
        Some(command) => command,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    match command {
        Command::Serve(args) => run_server(store, &url, args).await,
        Command::Demo(_) => unreachable!("handled before the database is opened"),
        Command::Migrate => {
            println!("migrations are up to date ({})", store.backend());
            Ok(())
        }
        Command::User(UserCommand::Add {
            name,
            role,
            password_stdin,
        }) => {
            crate::credentials::validate_username(&name).map_err(anyhow::Error::msg)?;
            let password = read_password(password_stdin)?;
            let hash = hash_password(&password)?;
            let user = store
                .create_user(&name, &hash, role, SystemClock.now())
                .await?;
            println!("created {} user `{}`", user.role.as_str(), user.username);
            Ok(())
        }
        Command::Device(DeviceCommand::Add { name }) => {
            crate::http::validate_device_name(&name).map_err(anyhow::Error::msg)?;
            let token = new_token(DEVICE_TOKEN_PREFIX);
            let device = store
                .create_device(&name, &token_hash(token.expose()), SystemClock.now())
                .await?;
            eprintln!(
                "registered device `{}` (id {}); its token is shown only this once:",
                device.name, device.id
            );
            println!("{}", token.expose());
            Ok(())
        }
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read password")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    };
    if password.chars().count() < MIN_PASSWORD_LEN {
        bail!("the password must have at least {MIN_PASSWORD_LEN} characters");
    }
    Ok(password)
}

async fn run_server(store: Arc<dyn db::Store>, url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    serve_on(store, url, args, listener).await
}

/// Runs the server on a bound listener until SIGINT or SIGTERM.
pub(crate) async fn serve_on(
    store: Arc<dyn db::Store>,
    url: &str,
    args: ServeArgs,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    let tz = site_time_zone(args.tz.as_deref())?;
    let settings = Settings {
        tz,
        session_ttl: chrono::Duration::hours(i64::from(args.session_hours.max(1))),
        max_model_bytes: args.max_model_mb as usize * 1024 * 1024,
        alerts: AlertSettings {
            interval: std::time::Duration::from_secs(args.alert_interval_s),
            delivery_attempts: args.alert_delivery_attempts,
            digest_at: args.digest_at,
            ..AlertSettings::default()
        },
        ui_dir: Some(args.ui_dir.clone()),
        ..Settings::default()
    };
    let state = AppState::new(store, settings, Arc::new(SystemClock));
    let exporter = start_cloudwatch(&state, &args).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = %redact_database_url(url),
        tz = %tz.name(),
        "MaskGate listening on http://{}",
        listener.local_addr()?
    );
    if let Some(mqtt_url) = &args.mqtt_url {
        let settings = crate::mqtt::MqttSettings {
            url: mqtt_url.expose().to_owned(),
            client_id: args.mqtt_client_id.clone(),
            share_group: (args.mqtt_share_group != "none").then(|| args.mqtt_share_group.clone()),
            ca_file: args.mqtt_ca_file.clone(),
            home_assistant: args
                .mqtt_home_assistant
                .then(|| args.mqtt_home_assistant_prefix.clone()),
        };
        crate::mqtt::spawn(state.clone(), settings).context("cannot start the MQTT transport")?;
    }
    serve(listener, state, shutdown_signal()).await?;
    if let Some(exporter) = exporter {
        // It publishes what it counted since its last publish, then ends.
        let _ = exporter.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts the CloudWatch exporter when `--cloudwatch-namespace` is set.
#[cfg(feature = "cloudwatch")]
async fn start_cloudwatch(
    state: &AppState,
    args: &ServeArgs,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(namespace) = args.cloudwatch_namespace.clone() else {
        return Ok(None);
    };
    let config = crate::cloudwatch::CloudWatchConfig {
        namespace,
        site: args.site.clone(),
        interval: std::time::Duration::from_secs(args.cloudwatch_interval_s),
        // At most a week (checked by clap), so the cast cannot overflow.
        silent_after: chrono::Duration::seconds(args.cloudwatch_silent_after_s as i64),
    };
    let exporter = crate::cloudwatch::spawn(state.clone(), config)
        .await
        .context("cannot start the CloudWatch exporter")?;
    Ok(Some(exporter))
}

/// Without the `cloudwatch` feature, asking for the exporter is an error, not a silent no.
#[cfg(not(feature = "cloudwatch"))]
async fn start_cloudwatch(
    _state: &AppState,
    args: &ServeArgs,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if args.cloudwatch_namespace.is_some() {
        bail!(
            "MASKGATE_CLOUDWATCH_NAMESPACE (--cloudwatch-namespace) is set, but this build has \
             no CloudWatch support: build it with the `cloudwatch` feature"
        );
    }
    Ok(None)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_database_url("postgres://app:s3cret@db:5432/maskgate"),
            "postgres://app:***@db:5432/maskgate"
        );
        assert_eq!(
            redact_database_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact_database_url("sqlite://data/maskgate.db"),
            "sqlite://data/maskgate.db"
        );
    }
}
