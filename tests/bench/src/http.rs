//! The HTTP scenarios: the catalog page as a student of a random academy asks for it, straight
//! to the learning subgraph, through the gateway with Aula's plugins, and through the bare
//! engine. Students sign in through identity's API first; every response is checked (status,
//! no GraphQL `errors`, the page's courses and instructor names all there), so a figure only
//! ever counts complete answers.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::load::{self, Report};
use crate::seed::{self, Shape};
use crate::{Options, platform::Platform};

/// The catalog page of `first` courses through the gateway: learning's courses, identity's
/// instructor names.
pub fn catalog(first: u64) -> String {
    format!(
        "query Catalog {{ courses(first: {first}) {{ edges {{ node {{ id title enrollmentCount \
         instructors {{ displayName }} }} }} }} }}"
    )
}

/// Learning's part of it, asked of the subgraph directly (instructors are references there).
pub fn learning(first: u64) -> String {
    format!(
        "query Catalog {{ courses(first: {first}) {{ edges {{ node {{ id title enrollmentCount \
         instructors {{ id }} }} }} }} }}"
    )
}

/// The page size of the catalog scenarios.
pub const PAGE: u64 = 20;

const SIGN_IN: &str = "mutation SignIn($input: SignInInput!) { signIn(input: $input) { \
    ... on Session { accessToken } } }";

/// How many students sign in for a run; each request picks one of them.
const STUDENTS: u64 = 500;

/// A signed-in student.
#[derive(Clone, Debug)]
pub struct Student {
    /// Their academy's host name (`bench-<t>.aula.localhost`).
    pub host: String,
    /// `Bearer <access token>`.
    pub authorization: String,
}

/// An HTTP/1.1 client keeping one connection per concurrent client alive. It lets go of a
/// connection idle for 4 s, before the router closes it (its keep-alive is 5 s): otherwise a
/// request sent as the router closes the connection fails (a scenario waiting out other
/// scenarios' rounds idles about that long).
pub fn client(concurrency: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .pool_idle_timeout(std::time::Duration::from_secs(4))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A deterministic spread of `n` over `0..len`.
fn spread(n: u64, salt: u64, len: u64) -> u64 {
    (n.wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % len
}

/// Signs in up to [`STUDENTS`] students of random academies through identity's `signIn`.
pub async fn sign_in(identity: &str, shape: Shape) -> Result<Vec<Student>, String> {
    let client = client(8)?;
    let count = STUDENTS.min(shape.tenants * shape.students);
    let mut picks: Vec<(u64, u64)> = (0..count)
        .map(|n| (spread(n, 1, shape.tenants), spread(n, 2, shape.students)))
        .collect();
    picks.sort_unstable();
    picks.dedup();
    let url = format!("{identity}/graphql");
    let mut students = Vec::with_capacity(picks.len());
    for chunk in picks.chunks(8) {
        let mut tasks = Vec::new();
        for &(t, s) in chunk {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let body = json!({
                    "query": SIGN_IN,
                    "variables": { "input": {
                        "tenant": seed::slug(t),
                        "email": seed::student_email(t, s),
                        "password": seed::PASSWORD,
                    } },
                });
                let reply: Value = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("sign-in: {e}"))?
                    .json()
                    .await
                    .map_err(|e| format!("sign-in: {e}"))?;
                let token = reply["data"]["signIn"]["accessToken"]
                    .as_str()
                    .ok_or_else(|| {
                        format!("signing student {s} of tenant {t} in failed: {reply}")
                    })?;
                Ok::<_, String>(Student {
                    host: format!("{}.aula.localhost", seed::slug(t)),
                    authorization: format!("Bearer {token}"),
                })
            }));
        }
        for task in tasks {
            students.push(task.await.map_err(|e| e.to_string())??);
        }
    }
    Ok(students)
}

/// How many courses a student of `shape` sees on a first page of `first`.
pub fn page_size(shape: Shape, first: u64) -> u64 {
    let published = shape.courses - shape.courses / 10;
    published.min(first)
}

/// Checks a catalog reply: no errors, a full page, every course with its enrollment count and
/// both instructors (by name through the gateway, by reference from the subgraph).
fn check(reply: &Value, expected: usize, names: bool) -> Result<(), String> {
    let short = || {
        let mut s = reply.to_string();
        s.truncate(400);
        s
    };
    if reply.get("errors").is_some_and(|e| !e.is_null()) {
        return Err(format!("GraphQL errors: {}", short()));
    }
    let edges = reply["data"]["courses"]["edges"]
        .as_array()
        .ok_or_else(|| format!("no courses in {}", short()))?;
    if edges.len() != expected {
        return Err(format!(
            "{} courses instead of {expected}: {}",
            edges.len(),
            short()
        ));
    }
    for edge in edges {
        let node = &edge["node"];
        let instructors = node["instructors"].as_array().map_or(0, |list| {
            list.iter()
                .filter(|i| {
                    if names {
                        i["displayName"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("Teacher "))
                    } else {
                        i["id"].is_string()
                    }
                })
                .count()
        });
        if !node["title"].is_string() || !node["enrollmentCount"].is_u64() || instructors != 2 {
            return Err(format!("an incomplete course: {node}"));
        }
    }
    Ok(())
}

/// Where a scenario sends its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The learning subgraph, no gateway.
    Subgraph,
    /// The gateway with every Aula plugin.
    Gateway,
    /// The router with Aula's plugins off.
    Bare,
}

/// The catalog page of `first` courses asked of `target` by random signed-in students, ready to
/// be measured in rounds: its client (and so its keep-alive connections) lives across them.
pub struct Catalog {
    name: String,
    target: Target,
    url: Arc<String>,
    body: Vec<u8>,
    client: reqwest::Client,
    students: Arc<Vec<Student>>,
    expected: usize,
    pids: Vec<(&'static str, u32)>,
}

impl Catalog {
    /// The page of `first` courses of a `shape` dataset from `target` of `platform`, reported as
    /// `name`.
    pub fn new(
        name: &str,
        target: Target,
        platform: &Platform,
        students: Arc<Vec<Student>>,
        (shape, first): (Shape, u64),
        options: &Options,
    ) -> Result<Self, String> {
        if students.is_empty() {
            return Err("no student signed in".into());
        }
        let (base, query) = match target {
            Target::Subgraph => (&platform.learning.url, learning(first)),
            Target::Gateway => (&platform.gateway.url, catalog(first)),
            Target::Bare => (&platform.bare.url, catalog(first)),
        };
        Ok(Self {
            name: name.to_owned(),
            target,
            url: Arc::new(format!("{base}/graphql")),
            body: bytes(&json!({ "query": query, "operationName": "Catalog" }))?,
            client: client(options.concurrency)?,
            students,
            expected: page_size(shape, first) as usize,
            pids: platform.pids(),
        })
    }

    /// One measured run of `options.duration` after `options.warmup`.
    pub async fn run(&self, options: &Options) -> Result<Report, String> {
        let (target, names) = (self.target, self.target != Target::Subgraph);
        let (url, body, client) = (self.url.clone(), self.body.clone(), self.client.clone());
        let (students, expected) = (self.students.clone(), self.expected);
        load::run(
            &self.name,
            options.concurrency,
            options.warmup,
            options.duration,
            self.pids.clone(),
            move |i| {
                let student = &students[spread(i as u64, 3, students.len() as u64) as usize];
                let mut request = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("authorization", &student.authorization)
                    .body(body.clone());
                if target != Target::Subgraph {
                    request = request
                        .header("host", &student.host)
                        .header("x-aula-csrf", "1");
                }
                async move {
                    let response = request.send().await.map_err(|e| format!("{e}"))?;
                    let status = response.status();
                    let reply: Value = response
                        .json()
                        .await
                        .map_err(|e| format!("reply ({status}): {e}"))?;
                    if !status.is_success() {
                        return Err(format!("HTTP {status}: {reply}"));
                    }
                    check(&reply, expected, names)
                }
            },
        )
        .await
    }
}

fn bytes(value: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}
