//! Tests of the policy document (`model.rs`, `refusals.rs`), of
//! evaluation (`eval.rs`) and of the combination (`combine.rs`); the
//! language's own tests are in `lang/tests/`.

mod combine;
mod eval;
mod model;
mod refusals;
