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
        // Keys of one batch may come from several requests, so from several tenants: one
        // tenant transaction each.
        let mut by_tenant: HashMap<TenantId, Vec<Uuid>> = HashMap::new();
        for (tenant, course) in keys {
            by_tenant.entry(*tenant).or_default().push(*course);
        }
        let mut found = HashMap::with_capacity(keys.len());
        for (tenant, courses) in by_tenant {
            let counts = enrollments::counts(&self.0, tenant, &courses)
                .await
                .map_err(Arc::new)?;
            found.extend(counts.into_iter().map(|(c, n)| ((tenant, c), n)));
        }
        Ok(found)
    }
}
