//! Finishing a subgraph's schema with Federation v2, limits and error codes; exporting its SDL;
//! and the accessors resolvers use for the caller and the database.

use async_graphql::{
    Context, ObjectType, SDLExportOptions, Schema, SchemaBuilder, SubscriptionType,
};
use sea_orm::DatabaseConnection;
use tenancy::{AccessError, TenantContext};

use crate::config::LimitsConfig;
use crate::error::{ErrorCodes, ResultExt};

/// Who sent the request, as established from its bearer token.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A verified token.
    Authenticated(TenantContext),
}

/// Where the request came from: the peer's address, or the first `X-Forwarded-For` hop when the
/// peer is a trusted proxy. Rate limits and audit entries use it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's IP address, when known.
    pub ip: Option<std::net::IpAddr>,
}

/// The request's [`ClientInfo`].
pub fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().copied().unwrap_or_default()
}

/// Applies Federation v2, the configured limits and the [`ErrorCodes`] extension.
pub fn finish<Q, M, S>(builder: SchemaBuilder<Q, M, S>, limits: &LimitsConfig) -> Schema<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .enable_federation()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16)
        .extension(ErrorCodes)
        .finish()
}

/// The subgraph's federated SDL, exactly as the gateway composes it. Needs no server or database.
pub fn sdl<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    finish(builder, &crate::Config::default().limits)
        .sdl_with_options(SDLExportOptions::new().federation())
}

/// The signed-in caller, or an `UNAUTHENTICATED` error.
pub fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a TenantContext> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(t)) => Ok(t),
        _ => Err(AccessError::Unauthenticated).gql(),
    }
}

/// The subgraph's database pool (connected as its own role).
pub fn db<'a>(ctx: &Context<'a>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}
