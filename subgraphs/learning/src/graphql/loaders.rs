//! DataLoaders: values many objects of one response need, loaded in one query per tenant
//! instead of one per object (a catalog page asks for twenty courses' enrollment counts).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;
use tenancy::TenantId;
use uuid::Uuid;

use crate::LearningError;
use crate::service::enrollments;

/// Enrollment counts by `(tenant, course)`.
#[derive(Debug)]
pub struct EnrollmentCounts(pub DatabaseConnection);

impl Loader<(TenantId, Uuid)> for EnrollmentCounts {
    type Value = i64;
    type Error = Arc<LearningError>;

    async fn load(
        &self,
        keys: &[(TenantId, Uuid)],
    ) -> Result<HashMap<(TenantId, Uuid), i64>, Self::Error> {
        let mut found = HashMap::with_capacity(keys.len());
        for (tenant, courses) in kit::graphql::by_tenant(keys) {
            let counts = enrollments::counts(&self.0, tenant, &courses)
                .await
                .map_err(Arc::new)?;
            found.extend(counts.into_iter().map(|(c, n)| ((tenant, c), n)));
        }
        Ok(found)
    }
}
