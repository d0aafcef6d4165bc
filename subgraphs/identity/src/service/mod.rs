//! Identity's business rules: who may do what, input validation, and the tenant transactions
//! every read and write runs in.

pub mod audit;
pub mod clients;
pub mod invitations;
pub mod links;
pub mod mfa;
pub mod outbox;
pub mod platform;
pub mod sessions;
pub mod sign_in;
pub mod sso;
pub mod tenants;
pub mod throttle;
pub mod users;
mod validate;
