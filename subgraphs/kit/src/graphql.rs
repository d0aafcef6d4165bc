//! Finishing a subgraph's schema with Federation v2, limits and error codes; exporting its SDL;
//! and the accessors resolvers use for the caller and the database.

use async_graphql::{
    Context, ObjectType, SDLExportOptions, Schema, SchemaBuilder, SubscriptionType,
};
use sea_orm::DatabaseConnection;
use tenancy::{AccessError, TenantContext};

use crate::config::LimitsConfig;
use crate::error::ResultExt;

/// Who sent the request, as established from its bearer token.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No token, and no academy named.
    Anonymous,
    /// No token, on an academy's address: the gateway bound the request to that tenant
    /// (`x-aula-tenant`). Public data of that tenant only.
    Visitor(TenantContext),
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

/// Applies Federation v2 and the configured limits. No extension: errors are coded after
/// execution ([`crate::document::execute`]), which keeps fields off async-graphql's extension
/// path.
pub fn finish<Q, M, S>(builder: SchemaBuilder<Q, M, S>, limits: &LimitsConfig) -> Schema<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .enable_federation()
        // Subscriptions are composed too: the gateway serves them over WebSocket.
        .enable_subscription_in_federation()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16)
        .finish()
}

/// The subgraph's federated SDL, exactly as the gateway composes it. Needs no server or database.
pub fn sdl<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let sdl = finish(builder, &crate::Config::default().limits)
        .sdl_with_options(SDLExportOptions::new().federation());
    with_list_sizes(&sdl)
}

/// What marks a Relay connection field for the gateway's cost model: its size is its `first`
/// or `last` (the larger when both are given), applied to the `edges` and `nodes` under it.
const LIST_SIZE: &str = r#"@listSize(slicingArguments: ["first", "last"], sizedFields: ["edges", "nodes"], requireOneSlicingArgument: false)"#;

/// `sdl` with every Relay connection field sized by its `first`/`last` (`@listSize`, imported
/// from Federation v2.9), so a `first: 1000` costs a hundred times a `first: 10`.
fn with_list_sizes(sdl: &str) -> String {
    let mut out = String::with_capacity(sdl.len() + 4096);
    for line in sdl.lines() {
        out.push_str(line);
        let field = line.trim_end();
        if field.starts_with('\t')
            && field.ends_with("Connection!")
            && field.contains("first: Int")
            && field.contains("last: Int")
        {
            out.push(' ');
            out.push_str(LIST_SIZE);
        }
        out.push('\n');
    }
    let Some(start) = out.find("https://specs.apollo.dev/federation/v2.") else {
        return out;
    };
    let version = start + "https://specs.apollo.dev/federation/".len();
    let end = out[version..].find('"').map_or(version, |i| version + i);
    out.replace_range(version..end, "v2.9");
    out.replacen(
        r#"import: ["@key""#,
        r#"import: ["@key", "@cost", "@listSize""#,
        1,
    )
}

/// The signed-in caller, or an `UNAUTHENTICATED` error.
pub fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a TenantContext> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(t)) => Ok(t),
        _ => Err(AccessError::Unauthenticated).gql(),
    }
}

/// The tenant context of a request that may be anonymous: the signed-in caller's, or an
/// anonymous visitor's bound to an academy by its address. Refused when neither (for public
/// reads, such as a catalog, that need to know whose).
pub fn visitor<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a TenantContext> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(t) | Caller::Visitor(t)) => Ok(t),
        _ => Err(AccessError::Unauthenticated).gql(),
    }
}

/// The subgraph's database pool (connected as its own role).
pub fn db<'a>(ctx: &Context<'a>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

/// A DataLoader batch's `(tenant, id)` keys grouped by tenant: keys of one batch may come from
/// several requests, and each tenant's ids are loaded in that tenant's own transaction.
pub fn by_tenant(
    keys: &[(tenancy::TenantId, uuid::Uuid)],
) -> std::collections::HashMap<tenancy::TenantId, Vec<uuid::Uuid>> {
    let mut grouped: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
    for (tenant, id) in keys {
        grouped.entry(*tenant).or_default().push(*id);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_fields_are_sized_by_first_and_last() {
        let sdl = "type Query {\n\tusers(first: Int, after: String, last: Int, before: String): UserConnection!\n\tviewer: User!\n}\nextend schema @link(\n\turl: \"https://specs.apollo.dev/federation/v2.5\",\n\timport: [\"@key\", \"@tag\"]\n)\n";
        let out = with_list_sizes(sdl);
        assert!(
            out.contains(&format!("UserConnection! {LIST_SIZE}\n")),
            "{out}"
        );
        assert!(out.contains("\tviewer: User!\n"), "{out}");
        assert!(out.contains("federation/v2.9\""), "{out}");
        assert!(
            out.contains(r#"import: ["@key", "@cost", "@listSize", "@tag"]"#),
            "{out}"
        );
    }
}
