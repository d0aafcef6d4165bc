//! A small federated "catalog" subgraph the gateway tests put beside identity (until learning
//! exists): courses whose `instructor` is an identity `User`, a field that reports the headers
//! the gateway forwarded, a recursive field for depth limits, an error that would leak an
//! internal message, a user-facing error with a public code, and a subscription served over
//! WebSocket (graphql-transport-ws). It is plain async-graphql on axum, without the kit, so that
//! nothing but the gateway stands between its raw errors and the client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{
    ComplexObject, Context, EmptyMutation, ErrorExtensions, ID, Object, SDLExportOptions, Schema,
    SimpleObject, Subscription,
};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use futures_util::Stream;
use harness::{TestServer, spawn};
use tenancy::{TenantId, UserId};

/// What the catalog saw of one request.
#[derive(Clone, Debug, Default, SimpleObject)]
pub struct Seen {
    /// `x-aula-tenant`.
    pub tenant: Option<String>,
    /// Whether an `Authorization` header arrived.
    pub authorized: bool,
    /// `traceparent`.
    pub traceparent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
}

impl Seen {
    fn from(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            tenant: text("x-aula-tenant"),
            authorized: headers.contains_key("authorization"),
            traceparent: text("traceparent"),
            request_id: text("x-request-id"),
        }
    }
}

/// A stub of identity's user: the catalog only knows its id.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "User", unresolvable = "id")]
pub struct UserRef {
    id: ID,
}

/// A course.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Course {
    id: ID,
    title: String,
    instructor: UserRef,
}

#[ComplexObject]
impl Course {
    /// The course to take first (itself, so queries can nest as deep as they like).
    async fn prerequisite(&self) -> Course {
        self.clone()
    }
}

/// Instructors per tenant: each tenant's courses are taught by its assigned user.
type Instructors = Arc<Mutex<HashMap<TenantId, UserId>>>;

/// The catalog's root queries.
#[derive(Debug)]
pub struct Query;

#[Object]
impl Query {
    /// The bound tenant's courses (none without a tenant).
    async fn courses(&self, ctx: &Context<'_>) -> Vec<Course> {
        let seen = ctx.data_unchecked::<Seen>();
        let tenant = seen
            .tenant
            .as_deref()
            .and_then(|t| t.parse::<TenantId>().ok());
        let instructor = tenant.and_then(|t| {
            ctx.data_unchecked::<Instructors>()
                .lock()
                .ok()
                .and_then(|m| m.get(&t).copied())
        });
        let Some(instructor) = instructor else {
            return Vec::new();
        };
        ["Rust for educators", "Federation in practice"]
            .iter()
            .enumerate()
            .map(|(i, title)| Course {
                id: ID(format!("course-{i}")),
                title: (*title).to_owned(),
                instructor: UserRef {
                    id: ID(instructor.to_string()),
                },
            })
            .collect()
    }

    /// The headers this request arrived with.
    async fn seen(&self, ctx: &Context<'_>) -> Seen {
        ctx.data_unchecked::<Seen>().clone()
    }

    /// Fails the way a careless subgraph does: an internal message, no code.
    async fn broken(&self) -> async_graphql::Result<String> {
        Err("connection to 10.0.0.3:5432 refused: password=hunter2".into())
    }

    /// Fails the way Aula's subgraphs refuse bad input: a message for the user and a code.
    async fn rejected(&self) -> async_graphql::Result<String> {
        Err(async_graphql::Error::new("title: must not be empty")
            .extend_with(|_, e| e.set("code", "BAD_USER_INPUT")))
    }
}

/// The catalog's subscriptions.
#[derive(Debug)]
pub struct Subscriptions;

#[Subscription(name = "Subscription")]
impl Subscriptions {
    /// Counts from 1 to `to`, one number per event.
    async fn ticks(&self, to: i32) -> impl Stream<Item = i32> {
        futures_util::stream::iter(1..=to.clamp(0, 100))
    }
}

type CatalogSchema = Schema<Query, EmptyMutation, Subscriptions>;

/// The running catalog.
#[derive(Debug)]
pub struct Catalog {
    /// The server.
    pub server: TestServer,
    /// Every request's headers, in arrival order.
    pub log: Arc<Mutex<Vec<Seen>>>,
    instructors: Instructors,
}

fn schema(instructors: &Instructors) -> CatalogSchema {
    Schema::build(Query, EmptyMutation, Subscriptions)
        .enable_federation()
        .enable_subscription_in_federation()
        .data(instructors.clone())
        .finish()
}

/// The catalog's federated SDL.
pub fn sdl() -> String {
    schema(&Instructors::default()).sdl_with_options(SDLExportOptions::new().federation())
}

#[derive(Clone)]
struct AppState {
    schema: CatalogSchema,
    log: Arc<Mutex<Vec<Seen>>>,
}

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let seen = Seen::from(&headers);
    if let Ok(mut log) = state.log.lock() {
        log.push(seen.clone());
    }
    state
        .schema
        .execute(req.into_inner().data(seen))
        .await
        .into()
}

impl Catalog {
    /// Starts the catalog on a loopback port: queries at `/graphql`, subscriptions at `/ws`.
    pub async fn start() -> Catalog {
        let instructors = Instructors::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let schema = schema(&instructors);
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(AppState {
                schema: schema.clone(),
                log: log.clone(),
            })
            .route_service("/ws", GraphQLSubscription::new(schema));
        Catalog {
            server: spawn(app).await,
            log,
            instructors,
        }
    }

    /// Makes `user` the instructor of `tenant`'s courses.
    pub fn assign(&self, tenant: TenantId, user: UserId) {
        if let Ok(mut m) = self.instructors.lock() {
            m.insert(tenant, user);
        }
    }

    /// What the catalog saw of the latest request.
    pub fn last_seen(&self) -> Seen {
        self.log
            .lock()
            .ok()
            .and_then(|l| l.last().cloned())
            .expect("the catalog received a request")
    }
}
