//! Integration tests: one binary, modules per area. Each test runs on
//! SQLite and on PostgreSQL against a real server over HTTP.

mod app;
mod auth;
mod bridge;
mod bulk;
mod cli;
mod console;
mod cursors;
mod discovery;
mod errors;
mod filters;
mod groups;
mod groups_scale;
mod me;
mod patch;
mod replay;
mod search;
mod telemetry;
mod users;
