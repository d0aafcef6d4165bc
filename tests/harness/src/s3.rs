//! An S3-compatible server for one test: `s3s-fs` in-process on a loopback port, over a fresh
//! folder, checking SigV4 signatures with credentials made for the test.

use kit::Secret;
use kit::storage::StorageConfig;
use local::S3Server;

/// The bucket every test server has.
pub const BUCKET: &str = "aula-media";

/// A running S3-compatible server and the configuration that reaches it.
#[derive(Debug)]
pub struct TestS3 {
    server: S3Server,
    root: std::path::PathBuf,
    config: StorageConfig,
}

impl TestS3 {
    /// Starts a server over a new folder with bucket [`BUCKET`].
    pub async fn start() -> TestS3 {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let root = crate::state_dir().join(format!("s3-{id}"));
        let (access, secret) = (format!("AKTEST{}", &id[..12]), format!("secret-{id}"));
        let server = S3Server::start(&root, BUCKET, 0, &access, &secret)
            .await
            .expect("S3-compatible server starts");
        let config = StorageConfig {
            endpoint: server.endpoint(),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key_id: Secret::new(access),
            secret_access_key: Secret::new(secret),
            force_path_style: true,
            ..StorageConfig::default()
        };
        TestS3 {
            server,
            root,
            config,
        }
    }

    /// The configuration a service reaches this server with.
    pub fn config(&self) -> StorageConfig {
        self.config.clone()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The object keys stored, sorted (read from the server's folder).
    pub fn keys(&self) -> Vec<String> {
        let bucket = self.root.join(BUCKET);
        let mut keys = Vec::new();
        let mut stack = vec![bucket.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&bucket) {
                    let key = rel.to_string_lossy().into_owned();
                    // s3s-fs keeps its own metadata beside the objects.
                    if !key.starts_with(".") && !key.contains("/.") {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        keys
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
