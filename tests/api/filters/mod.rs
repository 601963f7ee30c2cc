//! Filters and sorting over HTTP on both databases: the differential
//! property test against the in-memory evaluator, and one test per feature.

mod differential;
mod features;

use differential::sql_agrees_with_the_evaluator;

crate::both!(sql_agrees_with_the_evaluator);
