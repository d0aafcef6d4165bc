//! What learning itself does with its outbox events, as the kit's relay hands them over:
//! deletes the stored objects of deleted media, and keeps the Meilisearch catalog index in step
//! with courses. Every action is idempotent (the relay delivers at least once).

use std::sync::Arc;

use kit::outbox::{Handler, OutboxEvent};
use kit::storage::Storage;
use sea_orm::{DatabaseConnection, EntityTrait};
use tenancy::{TenantContext, TenantTx};
use uuid::Uuid;

use super::meili::CourseDocument;
use super::search::Engine;
use crate::entity::course;

/// Learning's outbox handler.
#[derive(Debug)]
pub struct Events {
    db: DatabaseConnection,
    storage: Arc<Storage>,
    engine: Arc<Engine>,
}

impl Events {
    /// A handler acting on `db`, `storage` and the search `engine`.
    pub fn new(db: DatabaseConnection, storage: Arc<Storage>, engine: Arc<Engine>) -> Self {
        Self {
            db,
            storage,
            engine,
        }
    }
}

#[async_trait::async_trait]
impl Handler for Events {
    async fn handle(&self, event: &OutboxEvent) -> Result<(), String> {
        let field = |name: &str| event.payload.get(name).and_then(|v| v.as_str());
        match event.topic.as_str() {
            "media.deleted" => {
                let key = field("key").ok_or("media.deleted without a key")?;
                // Storage refuses keys outside the event's tenant prefix.
                self.storage
                    .delete(event.tenant, key)
                    .await
                    .map_err(|e| e.to_string())
            }
            topic if topic.starts_with("course.") => {
                let Engine::Meilisearch(meili) = &*self.engine else {
                    return Ok(());
                };
                let id: Uuid = field("courseId")
                    .and_then(|v| v.parse().ok())
                    .ok_or("course event without a courseId")?;
                // Read the course as it is now: events may arrive late or twice.
                let ctx = TenantContext::anonymous(event.tenant);
                let tx = TenantTx::begin(&self.db, &ctx)
                    .await
                    .map_err(|e| e.to_string())?;
                let found = course::Entity::find_by_id((event.tenant.as_uuid(), id))
                    .one(&*tx)
                    .await
                    .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                match found {
                    Some(c) => meili.upsert(&CourseDocument::from(&c)).await,
                    None => meili.remove(id).await,
                }
                .map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}
