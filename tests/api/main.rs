//! Integration tests: one binary, modules per area. Each test runs on
//! SQLite and on PostgreSQL against a real server over HTTP.

mod app;
mod auth;
mod cli;
mod cursors;
mod discovery;
mod errors;
mod filters;
mod groups;
mod groups_scale;
mod patch;
mod search;
mod users;
