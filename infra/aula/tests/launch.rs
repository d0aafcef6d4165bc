//! The README's run command, end to end: `aula` with no arguments starts PostgreSQL, Redis,
//! migrations, the demo tenant, every service and the gateway; each answers its health and
//! readiness probes; the demo token works, also through the gateway; Ctrl-C stops everything; a
//! second run reuses the kept data.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

struct Launch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn forward(from: impl std::io::Read, to: mpsc::Sender<String>) {
    for line in BufReader::new(from).lines().map_while(Result::ok) {
        if to.send(line).is_err() {
            break;
        }
    }
}

fn launch(data_dir: &std::path::Path, base_port: u16) -> Launch {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aula"))
        .env("AULA_DEV_DATA_DIR", data_dir)
        .env("AULA_DEV_PORT", base_port.to_string())
        .env("AULA_DEV_LOG_FORMAT", "json")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        // The gateway binary the workspace's test build made beside `aula`, not a fresh cargo
        // build of it (which `cargo run` would do).
        .env_remove("CARGO")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aula starts");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err_tx = tx.clone();
    std::thread::spawn(move || forward(stdout, tx));
    std::thread::spawn(move || forward(stderr, err_tx));
    Launch {
        child,
        lines,
        seen: Vec::new(),
    }
}

impl Launch {
    /// Reads output until a line contains `marker`.
    fn wait_for(&mut self, marker: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(marker);
                    self.seen.push(line);
                    if done {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {marker:?} within {timeout:?}; output so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    fn after(&self, prefix: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|l| l.split(prefix).nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn token(&self) -> String {
        let at = self
            .seen
            .iter()
            .position(|l| l.contains("Demo owner access token"))
            .expect("token banner");
        self.seen[at + 1].trim().to_owned()
    }

    /// Sends Ctrl-C (SIGINT) and waits for a clean exit.
    fn interrupt(mut self) -> Vec<String> {
        self.stop_and_collect()
    }

    fn stop_and_collect(&mut self) -> Vec<String> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).expect("signal");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "aula exited with {status}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "aula did not stop within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

/// A failing test still stops the platform it started (Ctrl-C, then a kill after 60 s).
impl Drop for Launch {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn graphql(url: &str, token: &str, query: &str) -> Value {
    kit::server::http_client()
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("graphql request")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platform_starts_answers_and_stops_cleanly() {
    let data_dir = std::env::temp_dir().join(format!("aula-launch-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let base_port = local::free_port().expect("port") - 1;

    let mut run = launch(&data_dir, base_port);
    run.wait_for("Press Ctrl-C", Duration::from_secs(180));
    let health = run.after("health: ");
    let ready = run.after("readiness: ");
    let graphql_urls = run.after("GraphQL (GraphiQL in a browser): ");
    assert!(
        !health.is_empty() && health.len() == ready.len(),
        "{:#?}",
        run.seen
    );
    let http = kit::server::http_client();
    for url in health.iter().chain(&ready) {
        let resp = http.get(url).send().await.expect("reachable");
        assert_eq!(resp.status().as_u16(), 200, "{url}");
    }
    let identity = graphql_urls[0].trim_end_matches("/graphql").to_owned();
    let token = run.token();
    let body = graphql(&identity, &token, "{ viewer { email } tenant { slug } }").await;
    assert_eq!(
        body["data"],
        json!({ "viewer": { "email": "owner@demo.aula.test" }, "tenant": { "slug": "demo" } })
    );
    let body = graphql(
        &identity,
        &token,
        "mutation { updateProfile(input: { displayName: \"Kept Name\" }) { displayName } }",
    )
    .await;
    assert_eq!(
        body["data"]["updateProfile"]["displayName"], "Kept Name",
        "{body}"
    );

    // The gateway serves the same API, planned over the subgraphs, with the same token.
    let gateway = run
        .seen
        .iter()
        .find(|l| l.trim_start().starts_with("gateway") && l.contains("GraphQL"))
        .and_then(|l| l.split("GraphQL (GraphiQL in a browser): ").nth(1))
        .expect("the gateway's URL")
        .trim()
        .trim_end_matches("/graphql")
        .to_owned();
    let body = graphql(
        &gateway,
        &token,
        "{ viewer { displayName } tenant { slug } }",
    )
    .await;
    assert_eq!(
        body["data"],
        json!({ "viewer": { "displayName": "Kept Name" }, "tenant": { "slug": "demo" } }),
        "{body}"
    );

    // In development the gateway serves its query UI.
    let ui = kit::server::http_client()
        .get(format!("{gateway}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(ui.status().as_u16(), 200);
    assert!(ui.text().await.unwrap_or_default().contains("<html"));

    // The demo catalog, planned across learning and identity: staff see the draft too, and
    // each course's instructor comes from identity.
    let body = graphql(
        &gateway,
        &token,
        "{ courses(first: 10) { edges { node { title status instructors { displayName } } } } }",
    )
    .await;
    let courses = body["data"]["courses"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(courses.len(), 3, "{body}");
    assert_eq!(
        courses[0]["node"]["instructors"],
        json!([{ "displayName": "Kept Name" }]),
        "{body}"
    );
    // An anonymous visitor of the demo academy's address sees the two published courses.
    let body: Value = kit::server::http_client()
        .post(format!("{gateway}/graphql"))
        .header("host", "demo.aula.localhost")
        .json(&json!({ "query": "{ courses(first: 10) { edges { node { title free } } } }" }))
        .send()
        .await
        .expect("gateway answers")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["courses"]["edges"],
        json!([
            { "node": { "title": "Getting started with Aula", "free": true } },
            { "node": { "title": "Teaching with Rust", "free": false } },
        ]),
        "{body}"
    );

    let out = run.interrupt();
    for stopped in [
        "identity stopped",
        "learning stopped",
        "gateway stopped",
        "Redis stopped",
        "PostgreSQL stopped",
    ] {
        assert!(
            out.iter().any(|l| l.contains(stopped)),
            "{stopped}: {out:#?}"
        );
    }
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "PostgreSQL is down"
    );
    for url in &health {
        assert!(
            http.get(url).send().await.is_err(),
            "{url} no longer answers"
        );
    }

    // The data folder is kept: a second run reuses the cluster and the seeded, edited data.
    let mut again = launch(&data_dir, base_port);
    again.wait_for("Press Ctrl-C", Duration::from_secs(120));
    let identity = again.after("GraphQL (GraphiQL in a browser): ")[0]
        .trim_end_matches("/graphql")
        .to_owned();
    let body = graphql(
        &identity,
        &again.token(),
        "{ viewer { displayName } users { edges { node { id } } } }",
    )
    .await;
    assert_eq!(body["data"]["viewer"]["displayName"], "Kept Name", "{body}");
    assert_eq!(
        body["data"]["users"]["edges"].as_array().map(Vec::len),
        Some(4),
        "seeded once: {body}"
    );

    // Its parent stops reading (as when a terminal or test runner goes away): the launcher must
    // still shut everything down instead of dying on a broken pipe.
    drop(std::mem::replace(&mut again.lines, mpsc::channel().1));
    again.interrupt();
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "PostgreSQL stopped despite the closed pipe"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
