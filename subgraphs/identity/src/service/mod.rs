//! Identity's business rules: who may do what, input validation, and the tenant transactions
//! every read and write runs in.

pub mod tenants;
pub mod users;
mod validate;
