//! The SCIM protocol core, pure: schemas, resource validation, projection,
//! filters, list documents and errors. No framework, no I/O: everything here
//! is a plain function over `serde_json::Value` and the schema definitions.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod etag;
pub mod filter;
pub mod patch;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod search_doc;
pub mod user_name;

pub use error::{ScimError, ScimType};
