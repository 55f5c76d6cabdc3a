//! The MaskGate server: an axum app over a [`db::Store`] (SQLite, MySQL/MariaDB or
//! PostgreSQL) that stores the visits doors report and serves history, stats, devices, live
//! events, metrics and its own OpenAPI document.
//!
//! Library first: `main.rs` only parses the command line and calls into here, so tests
//! start the real app with [`http::serve`] on `127.0.0.1:0`.

pub mod alert_rules;
pub mod alerts;
pub mod cli;
pub mod clock;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod credentials;
pub mod db;
pub mod demo;
pub mod http;
pub mod ingest;
pub mod mqtt;
pub mod stats;
pub mod telemetry;

pub use http::{AppState, Settings, router, serve};
