//! The API suite: the real server over HTTP, on SQLite, PostgreSQL and MariaDB/MySQL.

mod helpers;

mod alert_rules;
mod alerts;
mod auth;
mod devices;
mod docs_and_metrics;
mod history;
mod models;
mod stats;
mod stream;
mod ui;
mod visits;
