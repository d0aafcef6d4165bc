//! DataLoaders: users that many references of one response name (a catalog page's instructors
//! arrive as one `_entities` call with many `User` representations), loaded in one query per
//! tenant instead of one each.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;
use tenancy::TenantId;
use uuid::Uuid;

use crate::IdentityError;
use crate::entity::user;
use crate::service::users;

/// Users by `(tenant, id)`.
#[derive(Debug)]
pub struct UsersById(pub DatabaseConnection);

impl Loader<(TenantId, Uuid)> for UsersById {
    type Value = user::Model;
    type Error = Arc<IdentityError>;

    async fn load(
        &self,
        keys: &[(TenantId, Uuid)],
    ) -> Result<HashMap<(TenantId, Uuid), user::Model>, Self::Error> {
        let mut found = HashMap::with_capacity(keys.len());
        for (tenant, ids) in kit::graphql::by_tenant(keys) {
            let rows = users::by_ids(&self.0, tenant, &ids)
                .await
                .map_err(Arc::new)?;
            found.extend(rows.into_iter().map(|u| ((tenant, u.id), u)));
        }
        Ok(found)
    }
}
