//! Strongly typed identifiers for tenants and users, so the two can never be swapped.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The identifier of a tenant (an academy, a school, a training company).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

/// The identifier of a user. A user belongs to exactly one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

/// A string that is not a valid identifier.
#[derive(Debug, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct ParseIdError {
    kind: &'static str,
}

macro_rules! id_impls {
    ($name:ident, $kind:literal) => {
        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// A new, time-ordered (UUIDv7) identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ParseIdError { kind: $kind })
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_impls!(TenantId, "tenant");
id_impls!(UserId, "user");

impl TenantId {
    /// The reserved tenant that platform staff belong to. No customer tenant can have this id.
    pub const PLATFORM: TenantId =
        TenantId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));

    /// Whether this is the reserved platform tenant.
    pub fn is_platform(&self) -> bool {
        *self == Self::PLATFORM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let t = TenantId::generate();
        assert_eq!(t.to_string().parse::<TenantId>().ok(), Some(t));
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }

    #[test]
    fn generated_ids_are_time_ordered() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert!(a < b, "UUIDv7 ids sort by creation time");
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn platform_tenant_is_reserved() {
        assert!(TenantId::PLATFORM.is_platform());
        assert!(!TenantId::generate().is_platform());
    }
}
