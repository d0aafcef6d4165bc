//! The built gateway end to end on loopback: queries planned across identity and a second
//! subgraph, token attacks refused with stable codes, subgraph errors masked, tenants bound by
//! host name, budgets shared by replicas through Redis, query limits, probes and metrics, and
//! hot reload of the supergraph.

mod common;

use std::time::{Duration, Instant};

use common::{Stack, replace, write_supergraph};
use serde_json::json;
use tenancy::Role;

const SPANNING: &str = "{ courses { title instructor { id displayName } } seen { tenant } }";

#[tokio::test]
async fn a_query_spanning_identity_and_the_catalog_is_planned_across_both_and_joined() {
    let stack = Stack::start().await;
    let alpha = stack.tenant("alpha").await;
    let beta = stack.tenant("beta").await;
    let token = stack.owner_token(&alpha);

    let reply = stack
        .gateway
        .request(SPANNING)
        .token(&token)
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-request-id", "req-42")
        // A client cannot choose its tenant: the header is replaced by the gateway's binding.
        .header("x-aula-tenant", &beta.id.to_string())
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    let courses = reply.body["data"]["courses"].as_array().expect("courses");
    assert_eq!(courses.len(), 2);
    for course in courses {
        assert_eq!(course["instructor"]["id"], alpha.owner.to_string());
        assert_eq!(course["instructor"]["displayName"], "alpha owner");
    }
    assert_eq!(reply.body["data"]["seen"]["tenant"], alpha.id.to_string());

    // The catalog got the caller's token (it verifies it again), the trace and the request id.
    let seen = stack.catalog.last_seen();
    assert!(seen.authorized);
    assert_eq!(seen.tenant.as_deref(), Some(alpha.id.to_string().as_str()));
    assert_eq!(seen.request_id.as_deref(), Some("req-42"));
    let trace = seen.traceparent.expect("traceparent forwarded");
    assert!(
        trace.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "the trace continues: {trace}"
    );

    // Anonymous on no academy's host: no tenant, so no courses, and identity's user fields
    // are not reachable either.
    let reply = stack
        .gateway
        .request("{ courses { title } seen { tenant } }")
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    assert_eq!(reply.body["data"]["courses"], json!([]));
    assert!(reply.body["data"]["seen"]["tenant"].is_null());
}

#[tokio::test]
async fn forged_unsigned_expired_misdirected_and_suspended_tokens_are_refused_at_the_gateway() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let stack = Stack::start().await;
    let alpha = stack.tenant("alpha").await;
    let env = &stack.identity;
    let good = stack.owner_token(&alpha);
    assert!(
        stack
            .gateway
            .request(SPANNING)
            .token(&good)
            .send()
            .await
            .ok()
    );

    let owner = alpha.owner.to_string();
    let claims = |ttl: u64| {
        kit::auth::claims(
            &env.identity.auth,
            alpha.id,
            &owner,
            &[Role::Owner],
            Duration::from_secs(ttl),
        )
    };
    let signer = env.identity.keys.signer();
    let foreign = env
        .foreign_keys
        .token(alpha.id, alpha.owner, &[Role::Owner]);
    let header = URL_SAFE_NO_PAD
        .encode(json!({ "alg": "none", "typ": "JWT", "kid": signer.kid() }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(600)).expect("claims"));
    let unsigned = format!("{header}.{payload}.");
    let mut expired = claims(60);
    expired.exp -= 3600;
    expired.iat -= 3600;
    let expired = signer.sign(&expired).expect("sign");
    let mut misdirected = claims(600);
    misdirected.aud = "another-service".into();
    let misdirected = signer.sign(&misdirected).expect("sign");

    for (name, token) in [
        ("another key", foreign),
        ("alg none", unsigned),
        ("expired", expired),
        ("wrong audience", misdirected),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let reply = stack.gateway.request(SPANNING).token(&token).send().await;
        assert_eq!(
            (reply.status, reply.code()),
            (401, "UNAUTHENTICATED"),
            "{name}: {:?}",
            reply.body
        );
        assert!(reply.body["data"].is_null(), "{name}");
    }
    let reply = stack
        .gateway
        .request(SPANNING)
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .send()
        .await;
    assert_eq!(reply.code(), "UNAUTHENTICATED");

    // Identity rotates its key: a token with the new, still unknown `kid` is accepted after the
    // gateway fetches the JWKS again; the old key's tokens keep working until they expire.
    let kid = env
        .identity
        .keys
        .rotate(&env.identity.db)
        .await
        .expect("rotate");
    let fresh = stack.owner_token(&alpha);
    let header = fresh.split('.').next().unwrap_or_default();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("JSON");
    assert_eq!(header["kid"], kid.as_str(), "signed with the new key");
    // Within one JWKS refresh interval (the refetch on an unknown `kid` is throttled).
    let deadline = Instant::now() + kit::auth::REFRESH_INTERVAL * 3;
    loop {
        let reply = stack.gateway.request(SPANNING).token(&fresh).send().await;
        if reply.ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        stack
            .gateway
            .request(SPANNING)
            .token(&good)
            .send()
            .await
            .ok()
    );

    // Suspension stops the tenant's unexpired tokens at once.
    let staff = identity::service::tenants::seed_user(
        &env.identity.db,
        tenancy::TenantId::PLATFORM,
        "staff@aula.test",
        "Sam Staff",
        &[Role::PlatformStaff],
        Some(common::PASSWORD),
    )
    .await
    .expect("staff");
    let staff = env.token(
        tenancy::TenantId::PLATFORM,
        tenancy::UserId::from_uuid(staff.id),
        &[Role::PlatformStaff],
    );
    let reply = stack
        .gateway
        .request(
            "mutation($id: ID!) { suspendTenant(id: $id, reason: \"fraud, ticket 7\") { status } }",
        )
        .vars(json!({ "id": alpha.id.to_string() }))
        .token(&staff)
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    let reply = stack.gateway.request(SPANNING).token(&fresh).send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, "UNAUTHENTICATED"),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn subgraph_errors_keep_public_messages_and_lose_internal_ones() {
    let stack = Stack::start().await;
    let reply = stack.gateway.request("{ broken }").send().await;
    let error = &reply.body["errors"][0];
    assert_eq!(error["message"], "internal error", "{:?}", reply.body);
    assert_eq!(reply.code(), "INTERNAL");
    assert!(!reply.body.to_string().contains("hunter2"));
    assert!(!reply.body.to_string().contains("10.0.0.3"));

    let reply = stack.gateway.request("{ rejected }").send().await;
    assert_eq!(
        reply.body["errors"][0]["message"],
        "title: must not be empty"
    );
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    // The gateway logged the masked cause for operators.
    assert!(stack.gateway.logs("subgraph error masked").await);
}

#[tokio::test]
async fn an_academys_host_binds_anonymous_visitors_and_refuses_other_tenants_tokens() {
    let stack = Stack::start().await;
    let alpha = stack.tenant("alpha").await;
    let beta = stack.tenant("beta").await;
    let gamma = stack.tenant("gamma").await;
    let query = "{ seen { tenant } courses { title } }";

    for tenant in [&alpha, &beta] {
        for host in [
            Stack::host(tenant),
            format!("{}:4000", Stack::host(tenant).to_uppercase()),
        ] {
            let reply = stack.gateway.request(query).host(&host).send().await;
            assert!(reply.ok(), "{host}: {:?}", reply.body);
            assert_eq!(
                reply.body["data"]["seen"]["tenant"],
                tenant.id.to_string(),
                "{host}"
            );
            assert_eq!(
                reply.body["data"]["courses"].as_array().map(Vec::len),
                Some(2)
            );
        }
    }
    // A visitor cannot pick another academy with the header.
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .header("x-aula-tenant", &beta.id.to_string())
        .send()
        .await;
    assert_eq!(reply.body["data"]["seen"]["tenant"], alpha.id.to_string());

    // A's token on A's host is fine; on B's host it is refused.
    let a_token = stack.owner_token(&alpha);
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .token(&a_token)
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&beta))
        .token(&a_token)
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (403, "TENANT_MISMATCH"),
        "{:?}",
        reply.body
    );

    // An unknown host binds nothing; the API host binds the token's tenant.
    let reply = stack
        .gateway
        .request(query)
        .host("nobody.aula.localhost")
        .send()
        .await;
    assert!(
        reply.body["data"]["seen"]["tenant"].is_null(),
        "{:?}",
        reply.body
    );
    let reply = stack
        .gateway
        .request(query)
        .host("api.aula.localhost")
        .token(&a_token)
        .send()
        .await;
    assert_eq!(reply.body["data"]["seen"]["tenant"], alpha.id.to_string());

    // A suspended academy's host says so (after the short route cache expires).
    let admin = stack.identity.db.admin().await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!(
            "UPDATE identity.tenants SET status = 'suspended', suspended_at = now() WHERE tenant_id = '{}'",
            gamma.id
        ),
    )
    .await
    .expect("suspend");
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&gamma))
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (403, "TENANT_SUSPENDED"),
        "{:?}",
        reply.body
    );
}

/// The checked-in configuration with each tenant's budget set to `requests` and `cost`.
fn tenant_budget(yaml: &str, requests: u64, cost: u64) -> String {
    replace(
        yaml,
        "tenant: { requests: 1200, cost: 200000 }",
        &format!("tenant: {{ requests: {requests}, cost: {cost} }}"),
    )
}

#[tokio::test]
async fn budgets_stop_one_tenant_at_its_count_spare_the_others_and_are_shared_by_replicas() {
    let stack = Stack::start_with(|yaml| {
        let yaml = tenant_budget(&yaml, 5, 200_000);
        replace(
            &yaml,
            "api_client: { requests: 600, cost: 100000 }",
            "api_client: { requests: 3, cost: 100000 }",
        )
    })
    .await;
    let alpha = stack.tenant("alpha").await;
    let beta = stack.tenant("beta").await;
    let replica = stack.replica().await;
    let (a, b) = (stack.owner_token(&alpha), stack.owner_token(&beta));
    let query = "{ seen { tenant } }";

    // Alpha's five requests, split over both replicas; beta is served in between.
    for i in 0..5 {
        let gateway = if i % 2 == 0 { &stack.gateway } else { &replica };
        let reply = gateway.request(query).token(&a).send().await;
        assert!(reply.ok(), "request {i}: {:?}", reply.body);
        if i < 2 {
            assert!(stack.gateway.request(query).token(&b).send().await.ok());
        }
    }
    for gateway in [&stack.gateway, &replica] {
        let reply = gateway.request(query).token(&a).send().await;
        assert_eq!(
            (reply.status, reply.code()),
            (429, "RATE_LIMITED"),
            "{:?}",
            reply.body
        );
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&retry), "retry after {retry}s");
        assert_eq!(reply.body["errors"][0]["extensions"]["retryAfter"], retry);
    }
    // Anonymous visitors of alpha's host count against alpha too.
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .send()
        .await;
    assert_eq!(reply.code(), "RATE_LIMITED");
    // Beta still has its own allowance.
    assert!(replica.request(query).token(&b).send().await.ok());

    // A partner client has its own, smaller budget inside its tenant's.
    let gamma = stack.tenant("gamma").await;
    let partner = stack
        .identity
        .partner(gamma.id, "aula_ci_one", "catalog:read");
    let other = stack
        .identity
        .partner(gamma.id, "aula_ci_two", "catalog:read");
    for i in 0..3 {
        let reply = stack.gateway.request(query).token(&partner).send().await;
        assert!(reply.ok(), "partner request {i}: {:?}", reply.body);
    }
    let reply = stack.gateway.request(query).token(&partner).send().await;
    assert_eq!(reply.code(), "RATE_LIMITED");
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("API client")
    );
    assert!(stack.gateway.request(query).token(&other).send().await.ok());
}

#[tokio::test]
async fn requests_failing_before_execution_count_and_a_refusal_is_remembered() {
    let stack = Stack::start_with(|yaml| tenant_budget(&yaml, 5, 200_000)).await;
    let alpha = stack.tenant("alpha").await;
    let replica = stack.replica().await;
    let token = stack.owner_token(&alpha);
    let mut redis = redis::Client::open(harness::redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = format!("aula:budget:req:tenant:{}", alpha.id);

    // Five requests that never reach execution (they do not parse) are charged as they end.
    for i in 0..5 {
        let reply = stack.gateway.request("{ seen {").token(&token).send().await;
        assert!(!reply.ok(), "request {i} should not parse");
        assert_ne!(
            reply.code(),
            "RATE_LIMITED",
            "request {i}: {:?}",
            reply.body
        );
    }
    // Five charges of 12 s (a 60 s window over 5 requests) put the bucket a minute ahead.
    let mut ahead_ms = 0;
    for _ in 0..200 {
        ahead_ms = redis::AsyncCommands::pttl(&mut redis, &key)
            .await
            .expect("pttl");
        if ahead_ms > 55_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ahead_ms > 55_000, "the bucket is {ahead_ms} ms ahead");
    let reply = stack
        .gateway
        .request("{ seen { tenant } }")
        .token(&token)
        .send()
        .await;
    assert_eq!((reply.status, reply.code()), (429, "RATE_LIMITED"));

    // The refusal is remembered: with Redis's bucket gone, this gateway still refuses (before
    // parsing, so even an unparsable request gets RATE_LIMITED), while the replica, which never
    // saw the refusal, asks Redis and serves.
    let _: () = redis::AsyncCommands::del(&mut redis, &key)
        .await
        .expect("del");
    let reply = stack.gateway.request("{ seen {").token(&token).send().await;
    assert_eq!((reply.status, reply.code()), (429, "RATE_LIMITED"));
    let reply = replica
        .request("{ seen { tenant } }")
        .token(&token)
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
}

#[tokio::test]
async fn a_cost_budget_counts_estimated_cost_not_requests() {
    let stack = Stack::start_with(|yaml| tenant_budget(&yaml, 1200, 100)).await;
    let alpha = stack.tenant("alpha").await;
    let token = stack.owner_token(&alpha);
    let cheap = "{ seen { tenant } }";
    let costly = "{ users(first: 40) { edges { node { id } } } }";
    // Forty users cost about 80 of the 100: the next one does not fit, cheap ones still do.
    let reply = stack.gateway.request(costly).token(&token).send().await;
    assert!(reply.ok(), "{:?}", reply.body);
    let estimated: u64 = reply
        .header("x-cost-estimated")
        .and_then(|s| s.parse().ok())
        .expect("estimated cost header");
    assert!(estimated > 60, "estimated {estimated}");
    let reply = stack.gateway.request(costly).token(&token).send().await;
    assert_eq!(
        (reply.status, reply.code()),
        (429, "RATE_LIMITED"),
        "{:?}",
        reply.body
    );
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("cost")
    );
    assert!(stack.gateway.request(cheap).token(&token).send().await.ok());
}

#[tokio::test]
async fn deep_aliased_and_costly_queries_are_refused_with_codes() {
    let stack = Stack::start().await;
    let alpha = stack.tenant("alpha").await;
    let token = stack.owner_token(&alpha);

    let deep = format!(
        "{{ courses {{ {} title {} }} }}",
        "prerequisite { ".repeat(12),
        "}".repeat(12)
    );
    let reply = stack.gateway.request(&deep).token(&token).send().await;
    assert_eq!(reply.code(), "MAX_DEPTH_EXCEEDED", "{:?}", reply.body);
    let shallow = format!(
        "{{ courses {{ {} title {} }} }}",
        "prerequisite { ".repeat(3),
        "}".repeat(3)
    );
    assert!(
        stack
            .gateway
            .request(&shallow)
            .token(&token)
            .send()
            .await
            .ok()
    );

    let aliases: String = (0..31)
        .map(|i| format!("a{i}: seen {{ tenant }} "))
        .collect();
    let reply = stack
        .gateway
        .request(&format!("{{ {aliases} }}"))
        .token(&token)
        .send()
        .await;
    assert_eq!(reply.code(), "MAX_ALIASES_EXCEEDED", "{:?}", reply.body);

    let cost = |first: u32| {
        format!("{{ users(first: {first}) {{ edges {{ node {{ id displayName }} }} }} }}")
    };
    let small = stack.gateway.request(&cost(10)).token(&token).send().await;
    assert!(small.ok(), "{:?}", small.body);
    // Identity serves at most 100 per page and says so; the gateway estimated the cost first.
    let large = stack
        .gateway
        .request(&cost(1000))
        .token(&token)
        .send()
        .await;
    assert_eq!(large.code(), "BAD_USER_INPUT", "{:?}", large.body);
    let estimate = |r: &common::Reply| -> u64 {
        r.header("x-cost-estimated")
            .and_then(|s| s.parse().ok())
            .expect("estimate")
    };
    assert!(
        estimate(&large) >= 50 * estimate(&small),
        "first: 1000 costs {} against {} for first: 10",
        estimate(&large),
        estimate(&small)
    );
    let too_costly: String = (0..3)
        .map(|i| format!("u{i}: users(first: 1000) {{ edges {{ node {{ id }} }} }} "))
        .collect();
    let reply = stack
        .gateway
        .request(&format!("{{ {too_costly} }}"))
        .token(&token)
        .send()
        .await;
    assert_eq!(
        reply.code(),
        "COST_ESTIMATED_TOO_EXPENSIVE",
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn probes_answer_and_metrics_count_requests() {
    let mut stack = Stack::start().await;
    assert_eq!(stack.gateway.get("/health").await.0, 200);
    assert_eq!(stack.gateway.get("/readiness").await.0, 200);
    assert_eq!(stack.gateway.get("/healthz").await.0, 200);
    let (status, body) = stack.gateway.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        body["subgraphs"],
        json!({ "identity": "up", "catalog": "up" })
    );
    assert!(
        stack
            .gateway
            .request("{ seen { tenant } }")
            .send()
            .await
            .ok()
    );
    let (status, metrics) = stack.gateway.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("http_server_request"), "{metrics}");
    // Introspection is off unless configured for development.
    let reply = stack
        .gateway
        .request("{ __schema { types { name } } }")
        .send()
        .await;
    assert!(!reply.ok(), "{:?}", reply.body);

    // So is the query UI.
    let ui = kit::server::http_client()
        .get(format!("{}/graphql", stack.gateway.url))
        .header("accept", "text/html")
        .send()
        .await
        .expect("answers");
    assert_ne!(ui.status().as_u16(), 200);

    // A subgraph going away makes the gateway not ready, and says which; alive it still is.
    if let Some(stopping) = stack.catalog.server.begin_shutdown() {
        let _ = stopping.await;
    }
    let (status, body) = stack.gateway.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["subgraphs"]["catalog"], "down");
    assert_eq!(body["subgraphs"]["identity"], "up");
    assert_eq!(stack.gateway.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn a_recomposed_supergraph_is_picked_up_without_dropping_requests() {
    let stack = Stack::start().await;
    // Start from identity alone.
    write_supergraph(&stack.dir.0, &stack.identity, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack
        .gateway
        .request("{ seen { tenant } }")
        .send()
        .await
        .ok()
    {
        assert!(
            Instant::now() < deadline,
            "the narrower supergraph was never loaded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Recompose with the catalog while a client keeps asking identity: no request fails.
    write_supergraph(&stack.dir.0, &stack.identity, Some(&stack.catalog));
    let alpha = stack.tenant("alpha").await;
    let token = stack.owner_token(&alpha);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut served = 0;
    loop {
        let reply = stack
            .gateway
            .request("{ viewer { id } }")
            .token(&token)
            .send()
            .await;
        assert!(
            reply.ok(),
            "request {served} failed during reload: {:?}",
            reply.body
        );
        served += 1;
        if stack
            .gateway
            .request("{ seen { tenant } }")
            .token(&token)
            .send()
            .await
            .ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the recomposed supergraph was never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served > 1);
}

/// Subscribes to `query` over graphql-transport-ws at the gateway's `/ws`, addressed to `host`
/// with `init` as the `connection_init` payload; returns every message up to `complete`.
async fn subscribe(
    gateway: &common::Gateway,
    host: &str,
    init: serde_json::Value,
    query: &str,
) -> Vec<serde_json::Value> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut request = format!("ws://{}/ws", gateway.addr)
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    headers.insert("host", host.parse().expect("host"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket upgrade succeeds");
    let send = |v: serde_json::Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init", "payload": init })))
        .await
        .expect("init");
    socket
        .send(send(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
        ))
        .await
        .expect("subscribe");
    let mut messages = Vec::new();
    let read = async {
        while let Some(message) = socket.next().await {
            let Ok(Message::Text(text)) = message else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON message");
            let done = value["type"] == "complete" || value["type"] == "error";
            if value["type"] != "connection_ack" && value["type"] != "ping" {
                messages.push(value);
            }
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .expect("the subscription completes within 15s");
    let _ = socket.close(None).await;
    messages
}

#[tokio::test]
async fn subscription_events_reach_a_websocket_client_and_tokens_are_checked_per_operation() {
    let stack = Stack::start().await;
    let alpha = stack.tenant("alpha").await;
    let beta = stack.tenant("beta").await;
    let token = stack.owner_token(&alpha);
    let ticks = "subscription { ticks(to: 3) }";

    let messages = subscribe(
        &stack.gateway,
        "api.aula.localhost",
        json!({ "authorization": format!("Bearer {token}") }),
        ticks,
    )
    .await;
    let events: Vec<_> = messages
        .iter()
        .filter(|m| m["type"] == "next")
        .map(|m| m["payload"]["data"]["ticks"].clone())
        .collect();
    assert_eq!(
        events,
        vec![json!(1), json!(2), json!(3)],
        "{messages:?}\n{}\n{}",
        std::fs::read_to_string(stack.dir.0.join("supergraph.graphql")).unwrap_or_default(),
        stack.gateway.log_text()
    );
    assert_eq!(
        messages.last().map(|m| m["type"].clone()),
        Some(json!("complete"))
    );

    // A forged token in connection_init is refused for the operation.
    let forged = stack
        .identity
        .foreign_keys
        .token(alpha.id, alpha.owner, &[Role::Owner]);
    let messages = subscribe(
        &stack.gateway,
        "api.aula.localhost",
        json!({ "authorization": format!("Bearer {forged}") }),
        ticks,
    )
    .await;
    assert_eq!(
        messages[0]["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .all(|m| m["payload"]["data"]["ticks"].is_null())
    );

    // Alpha's token on a connection to beta's host is refused.
    let messages = subscribe(
        &stack.gateway,
        &Stack::host(&beta),
        json!({ "authorization": format!("Bearer {token}") }),
        ticks,
    )
    .await;
    assert_eq!(
        messages[0]["payload"]["errors"][0]["extensions"]["code"], "TENANT_MISMATCH",
        "{messages:?}"
    );
}

#[tokio::test]
async fn first_party_callers_send_trusted_documents_and_partners_send_their_own() {
    let stack = Stack::start_with(|yaml| {
        replace(
            &yaml,
            r#"enforce: { from_env: AULA_TRUSTED_DOCUMENTS, default: "off" }"#,
            "enforce: first_party",
        )
    })
    .await;
    let alpha = stack.tenant("alpha").await;
    let token = stack.owner_token(&alpha);
    let query = "{ seen { tenant } }";

    let reply = stack.gateway.request(query).token(&token).send().await;
    assert_eq!(
        reply.code(),
        "PERSISTED_DOCUMENT_ID_REQUIRED",
        "{:?}",
        reply.body
    );
    assert!(reply.body["data"].is_null());

    // The apps' build registers the document; the gateway reloads the manifest by itself.
    std::fs::write(
        stack.dir.0.join("trusted-documents.json"),
        json!({ "seen-v1": query }).to_string(),
    )
    .expect("manifest");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = stack
            .gateway
            .request("")
            .document("seen-v1")
            .token(&token)
            .send()
            .await;
        if reply.ok() {
            assert_eq!(reply.body["data"]["seen"]["tenant"], alpha.id.to_string());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the manifest was not reloaded: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = stack
        .gateway
        .request("")
        .document("seen-v2")
        .token(&token)
        .send()
        .await;
    assert_eq!(
        reply.code(),
        "PERSISTED_DOCUMENT_NOT_FOUND",
        "{:?}",
        reply.body
    );
    // Anonymous visitors are first-party too.
    let reply = stack
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .send()
        .await;
    assert_eq!(reply.code(), "PERSISTED_DOCUMENT_ID_REQUIRED");

    // A partner writes its own queries.
    let partner = stack
        .identity
        .partner(alpha.id, "aula_ci_one", "catalog:read");
    let reply = stack.gateway.request(query).token(&partner).send().await;
    assert!(reply.ok(), "{:?}", reply.body);
}

#[tokio::test]
async fn the_routers_spans_continue_the_clients_trace_into_the_subgraphs_and_are_exported() {
    use std::sync::{Arc, Mutex};

    // An OTLP/HTTP collector on loopback that keeps every export's body.
    let exports: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let kept = exports.clone();
    let collector = harness::spawn(axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                if let Ok(mut e) = kept.lock() {
                    e.push(body.to_vec());
                }
                axum::http::StatusCode::OK
            }
        }),
    ))
    .await;
    let endpoint = collector.at("/v1/traces");
    let stack = Stack::start_with(|yaml| {
        let yaml = replace(
            &yaml,
            "enabled: { from_env: AULA_GATEWAY_OTLP, default: false }",
            "enabled: true\n        batch_processor: { scheduled_delay: 200ms }",
        );
        replace(
            &yaml,
            r#"endpoint: { from_env: AULA_GATEWAY_OTLP_ENDPOINT, default: "http://127.0.0.1:4318/v1/traces" }"#,
            &format!("endpoint: {endpoint}"),
        )
    })
    .await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let reply = stack
        .gateway
        .request("{ seen { tenant } }")
        .header("traceparent", &format!("00-{trace}-{client_span}-01"))
        .send()
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    let seen = stack.catalog.last_seen().traceparent.expect("traceparent");
    let parts: Vec<&str> = seen.split('-').collect();
    assert_eq!(parts.get(1), Some(&trace), "the same trace: {seen}");
    assert_ne!(
        parts.get(2),
        Some(&client_span),
        "a span of the router's: {seen}"
    );

    let trace_bytes: Vec<u8> = (0..trace.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace[i..i + 2], 16).expect("hex"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let exported = exports
            .lock()
            .map(|e| {
                e.iter()
                    .any(|b| b.windows(16).any(|w| w == trace_bytes.as_slice()))
            })
            .unwrap_or(false);
        if exported {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span of the trace was exported:\n{}",
            stack.gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The checked-in configuration with the budgets' Redis unreachable and `on_redis_error` set.
fn budgets_without_redis(yaml: &str, on_error: &str) -> String {
    let dead = local::free_port().expect("port");
    let yaml = replace(
        yaml,
        "  aula_budgets:\n    config:\n      redis_url: { from_env: AULA_REDIS_URL, default: \"redis://127.0.0.1:6379\" }",
        &format!("  aula_budgets:\n    config:\n      redis_url: redis://127.0.0.1:{dead}"),
    );
    replace(
        &yaml,
        "on_redis_error: open",
        &format!("on_redis_error: {on_error}"),
    )
}

#[tokio::test]
async fn without_redis_budgets_fail_open_or_closed_as_configured_and_say_so() {
    let query = "{ seen { tenant } }";
    let open = Stack::start_with(|yaml| budgets_without_redis(&yaml, "open")).await;
    let alpha = open.tenant("alpha").await;
    let reply = open
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .send()
        .await;
    assert!(reply.ok(), "served unmetered: {:?}", reply.body);
    assert!(open.gateway.logs("failing open").await);
    drop(open);

    let closed = Stack::start_with(|yaml| budgets_without_redis(&yaml, "closed")).await;
    let alpha = closed.tenant("alpha").await;
    let reply = closed
        .gateway
        .request(query)
        .host(&Stack::host(&alpha))
        .send()
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (503, "UNAVAILABLE"),
        "{:?}",
        reply.body
    );
    assert!(reply.header("retry-after").is_some());
    assert!(closed.gateway.logs("failing closed").await);
}
