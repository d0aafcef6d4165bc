//! Object storage on S3 or an S3-compatible server: presigned uploads and downloads, `HEAD` to
//! confirm an upload, deletes. Every key lives under its tenant's prefix
//! (`tenants/<tenant_id>/…`), and every operation checks that before touching the bucket.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenancy::TenantId;

use crate::config::Secret;

/// Where objects are kept (`[storage]`, `AULA_STORAGE__*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000`; empty for AWS's regional endpoint.
    pub endpoint: String,
    /// The bucket's region.
    pub region: String,
    /// The bucket every tenant's objects live in (under `tenants/<tenant_id>/`).
    pub bucket: String,
    /// Access key id of the service's credentials.
    pub access_key_id: Secret,
    /// Secret access key of the service's credentials.
    pub secret_access_key: Secret,
    /// Path-style addresses (`endpoint/bucket/key`), needed by most S3-compatible servers.
    pub force_path_style: bool,
    /// How long a presigned upload URL is valid, in seconds.
    pub upload_ttl_secs: u64,
    /// How long a presigned download URL is valid, in seconds.
    pub download_ttl_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            access_key_id: Secret::default(),
            secret_access_key: Secret::default(),
            force_path_style: false,
            upload_ttl_secs: 15 * 60,
            download_ttl_secs: 5 * 60,
        }
    }
}

/// Why a storage operation failed. Internal: callers log it and answer `UNAVAILABLE`, except
/// [`StorageError::OutsideTenant`], which is a bug or an attack.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The configuration is unusable.
    #[error("storage configuration: {0}")]
    Config(&'static str),
    /// A key outside the caller's tenant prefix (or with `..`/empty segments) was asked for.
    #[error("key {key:?} is outside tenant {tenant}'s prefix")]
    OutsideTenant {
        /// The tenant whose operation it was.
        tenant: TenantId,
        /// The refused key.
        key: String,
    },
    /// The server failed or could not be reached.
    #[error("object storage: {0}")]
    Backend(String),
}

/// A presigned HTTP request the client performs itself, before `expires_at`.
#[derive(Clone, Debug)]
pub struct Presigned {
    /// `PUT` or `GET`.
    pub method: String,
    /// The signed URL.
    pub url: String,
    /// Headers the request must carry exactly as given (they are signed).
    pub headers: Vec<(String, String)>,
    /// When the signature stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// What `HEAD` says of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: i64,
    /// The content type it was stored with.
    pub content_type: Option<String>,
}

/// A client for one bucket.
#[derive(Clone, Debug)]
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    upload_ttl: Duration,
    download_ttl: Duration,
}

/// The prefix every key of `tenant` starts with.
pub fn tenant_prefix(tenant: TenantId) -> String {
    format!("tenants/{tenant}/")
}

/// `tenants/<tenant>/` + `parts` joined by `/`; each part must be a plain segment (letters,
/// digits, `-`, `_`, `.`; not `.` or `..`).
pub fn tenant_key(tenant: TenantId, parts: &[&str]) -> Result<String, StorageError> {
    let key = format!("{}{}", tenant_prefix(tenant), parts.join("/"));
    check_key(tenant, &key)?;
    Ok(key)
}

/// Refuses a key that is not strictly inside `tenant`'s prefix.
pub fn check_key(tenant: TenantId, key: &str) -> Result<(), StorageError> {
    let outside = || StorageError::OutsideTenant {
        tenant,
        key: key.to_owned(),
    };
    let rest = key
        .strip_prefix(&tenant_prefix(tenant))
        .ok_or_else(outside)?;
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if rest.split('/').all(plain) {
        Ok(())
    } else {
        Err(outside())
    }
}

impl Storage {
    /// A client for `config`'s bucket (no request is made).
    pub fn new(config: &StorageConfig) -> Result<Self, StorageError> {
        if config.bucket.is_empty() {
            return Err(StorageError::Config(
                "storage.bucket (AULA_STORAGE__BUCKET) is required",
            ));
        }
        let credentials = Credentials::new(
            config.access_key_id.expose(),
            config.secret_access_key.expose(),
            None,
            None,
            "aula-config",
        );
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.force_path_style)
            // Browsers upload with a plain PUT: no SDK checksum headers in the signature.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .http_client(http);
        if !config.endpoint.is_empty() {
            builder = builder.endpoint_url(&config.endpoint);
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            upload_ttl: Duration::from_secs(config.upload_ttl_secs),
            download_ttl: Duration::from_secs(config.download_ttl_secs),
        })
    }

    /// A presigned `PUT` of exactly `size` bytes of `content_type` to `key`.
    pub async fn presign_put(
        &self,
        tenant: TenantId,
        key: &str,
        content_type: &str,
        size: i64,
    ) -> Result<Presigned, StorageError> {
        check_key(tenant, key)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(presigning(self.upload_ttl)?)
            .await
            .map_err(backend)?;
        Ok(presigned(&request, self.upload_ttl))
    }

    /// A presigned `GET` of `key`; `file_name` becomes the download's suggested name.
    pub async fn presign_get(
        &self,
        tenant: TenantId,
        key: &str,
        file_name: Option<&str>,
    ) -> Result<Presigned, StorageError> {
        check_key(tenant, key)?;
        let mut get = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(name) = file_name {
            get = get.response_content_disposition(content_disposition(name));
        }
        let request = get
            .presigned(presigning(self.download_ttl)?)
            .await
            .map_err(backend)?;
        Ok(presigned(&request, self.download_ttl))
    }

    /// The stored object's size and type, or `None` if there is none at `key`.
    pub async fn head(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<ObjectInfo>, StorageError> {
        check_key(tenant, key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0),
                content_type: out.content_type().map(str::to_owned),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    /// Deletes `key` (nothing happens if it is already gone).
    pub async fn delete(&self, tenant: TenantId, key: &str) -> Result<(), StorageError> {
        check_key(tenant, key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Whether the bucket answers (readiness).
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::builder()
        .start_time(SystemTime::now())
        .expires_in(ttl)
        .build()
        .map_err(|_| StorageError::Config("presigned URL lifetime must be between 1 s and 7 days"))
}

fn presigned(request: &PresignedRequest, ttl: Duration) -> Presigned {
    Presigned {
        method: request.method().to_owned(),
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        expires_at: Utc::now() + ttl,
    }
}

/// `attachment; filename="…"` with anything but safe ASCII replaced, so a stored name cannot
/// inject header syntax.
fn content_disposition(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

fn backend(err: impl std::error::Error) -> StorageError {
    // The SDK's Display is terse ("service error"); the debug form names the cause.
    StorageError::Backend(format!("{err:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_their_tenant() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        let key = tenant_key(a, &["courses", "c1", "m.png"]).expect("plain key");
        assert_eq!(key, format!("tenants/{a}/courses/c1/m.png"));
        assert!(check_key(a, &key).is_ok());
        assert!(matches!(
            check_key(b, &key),
            Err(StorageError::OutsideTenant { .. })
        ));
        for bad in [
            format!("tenants/{a}/../{b}/x"),
            format!("tenants/{a}/x/../../{b}/y"),
            format!("tenants/{a}//x"),
            format!("tenants/{a}/"),
            format!("tenants/{a}/x%2F..%2Fy"),
            format!("tenants/{a}/x\\y"),
            format!("tenants/{a}"),
            format!("/tenants/{a}/x"),
            "tenants/x".to_owned(),
        ] {
            assert!(check_key(a, &bad).is_err(), "{bad} must be refused");
        }
        assert!(tenant_key(a, &["..", "x"]).is_err());
    }

    #[test]
    fn download_names_cannot_inject_header_syntax() {
        assert_eq!(
            content_disposition("a\"; b=c\r\n.pdf"),
            "attachment; filename=\"a__ b_c__.pdf\""
        );
    }
}
