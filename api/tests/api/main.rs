//! The API suite: the real server over HTTP, on SQLite, PostgreSQL and MariaDB/MySQL.

mod helpers;

mod alert_rules;
mod alerts;
mod auth;
#[cfg(feature = "cloudwatch")]
mod cloudwatch;
mod devices;
mod docs_and_metrics;
mod export;
mod history;
mod models;
mod mqtt;
mod stats;
mod stream;
mod ui;
mod visits;
