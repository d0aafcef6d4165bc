//! sea-orm entities of the `identity` schema.

pub mod api_client;
pub mod audit_entry;
pub mod directory;
pub mod invitation;
pub mod outbox;
pub mod password;
pub mod recovery_code;
pub mod refresh_token;
pub mod single_use_token;
pub mod sso_identity;
pub mod sso_provider;
pub mod tenant;
pub mod totp;
pub mod user;
