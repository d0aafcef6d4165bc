//! An S3-compatible server on loopback, in-process: `s3s-fs` keeps objects as files under a
//! folder and checks every request's SigV4 signature (presigned URLs included). The launcher
//! serves development uploads with it; tests upload and download real bytes through it.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::error_handling::HandleError;
use axum::http::StatusCode;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Result;

/// A running server; stopped by [`S3Server::stop`] or on drop.
#[derive(Debug)]
pub struct S3Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Serves the folder `root` on `127.0.0.1:port` (0: any free port), accepting only requests
    /// signed with `access_key`/`secret_key`; creates `bucket` (a sub-folder) if missing.
    pub async fn start(
        root: &Path,
        bucket: &str,
        port: u16,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(root.join(bucket))?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| std::io::Error::other(format!("s3s-fs on {}: {e:?}", root.display())))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = HandleError::new(builder.build(), |err: s3s::HttpError| async move {
            tracing::warn!(?err, "local S3 server failed a request");
            StatusCode::INTERNAL_SERVER_ERROR
        });
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = Router::new().fallback_service(service);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(err) = served {
                tracing::warn!(%err, "local S3 server stopped");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`: the endpoint to configure clients with.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests and waits for the open ones.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
