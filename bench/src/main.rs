//! Benchmarks of the MaskGate server (see bench/README.md and bench/RESULTS.md).
//!
//! Four subcommands:
//!
//! * `ingest`: starts the real server in-process and measures how fast it stores visits
//!   (one per request, and in batches of 1000), against a bare axum baseline in the same
//!   process, and its latency at a fixed offered load;
//! * `seed`: loads millions of visits into a database through the store;
//! * `read`: measures history and stats latency against a seeded database;
//! * `mqtt`: visits/s through MQTT against the HTTP path, same server, same run.

mod ingest;
mod latency;
mod mqtt;
mod read;
mod seed;
mod server;
mod visits;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "maskgate-bench", version, about)]
struct Cli {
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest throughput (single visits, batches, bare axum baseline) and latency at a
    /// fixed request rate, against the real server started in-process.
    Ingest(ingest::IngestArgs),
    /// Loads N visits spread over the last DAYS days across D devices.
    Seed(seed::SeedArgs),
    /// History and stats latency against a seeded database.
    Read(read::ReadArgs),
    /// Visits/s through MQTT (door → Mosquitto → server → ack) against the HTTP path.
    Mqtt(mqtt::MqttArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Ingest(args) => ingest::run(args).await,
            Command::Seed(args) => seed::run(args).await,
            Command::Read(args) => read::run(args).await,
            Command::Mqtt(args) => mqtt::run(args).await,
        }
    })
}

/// The CPU's model name, from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Facts about the machine and the run, printed above every report.
fn print_run_header(
    title: &str,
    database_url: &str,
    backend: &str,
    started: chrono::DateTime<chrono::Utc>,
) {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("## {title}");
    println!();
    println!(
        "- date: {} to {}",
        started.format("%Y-%m-%d %H:%M:%S UTC"),
        chrono::Utc::now().format("%H:%M:%S UTC")
    );
    println!("- backend: {backend} (`{database_url}`)");
    println!("- CPU: {} x {cores} available to this process", cpu_model());
    println!(
        "- maskgate-bench {} (server, load generator and baseline share this process)",
        env!("CARGO_PKG_VERSION")
    );
    println!();
}
