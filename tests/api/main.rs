//! Integration tests: one binary, modules per area. Each test runs on
//! SQLite and on PostgreSQL against a real server over HTTP.

mod app;
mod auth;
mod backup;
mod bridge;
mod bulk;
mod cli;
mod config_check;
mod console;
mod crash;
mod cursors;
mod discovery;
mod docs_links;
mod errors;
mod filters;
mod fleet;
mod groups;
mod groups_scale;
mod layers;
mod leak;
mod limits;
mod logs;
mod me;
mod observe;
mod patch;
mod replay;
mod replicas;
mod search;
mod security;
mod store;
mod supply_chain;
mod telemetry;
mod tls;
mod transfer;
mod users;
mod wal;
