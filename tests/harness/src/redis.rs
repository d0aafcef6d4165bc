//! Redis for tests: `AULA_TEST_REDIS_URL`, the machine's server on 6379, or one the harness
//! starts (daemonized, shared by every test process of the run).

use std::fs::File;
use std::sync::OnceLock;

static URL: OnceLock<String> = OnceLock::new();

/// A Redis URL tests can use.
pub fn redis_url() -> String {
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("AULA_TEST_REDIS_URL") {
            return url;
        }
        if local::redis_ping(6379) {
            return "redis://127.0.0.1:6379".to_owned();
        }
        let dir = crate::state_dir();
        let lock = File::create(dir.join("redis.lock")).expect("create redis lock file");
        lock.lock().expect("lock the harness Redis");
        let server =
            local::RedisServer::start_shared(&dir.join("redis.pid"), local::Install::from_env())
                .unwrap_or_else(|e| panic!("no Redis reachable and none could be started: {e}"));
        eprintln!("harness: started Redis on port {}", server.port());
        server.url()
    })
    .clone()
}
