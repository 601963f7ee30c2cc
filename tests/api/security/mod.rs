//! The hostile probe's findings (issue 15), one module per class of
//! attack; each test reproduces the attack on both databases and asserts
//! what a defender expects. docs/THREAT-MODEL.md maps findings to tests.

mod edge;
mod escalation;
mod names;
mod nesting;
mod tokens;
