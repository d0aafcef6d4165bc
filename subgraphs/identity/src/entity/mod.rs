//! sea-orm entities of the `identity` schema.

pub mod tenant;
pub mod user;
