//! Typed ids: a user's, a group's, an IAM's and a data source's are all
//! UUIDs, so a method taking two of them would compile with them swapped.
//! These newtypes make the swap a type error, in the domain and in the storage traits alike
//! (they bind as the UUID they wrap); on the wire each is the bare UUID.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn new(id: Uuid) -> Self {
                $name(id)
            }

            /// The id as storage keeps it.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id!(
    /// An account: a user of any IAM.
    UserId
);
id!(
    /// A group of any IAM.
    GroupId
);
id!(
    /// An IAM.
    IamId
);
id!(
    /// A registered data source.
    DataSourceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_in_text_and_json() {
        let u = Uuid::now_v7();
        let id = UserId::from(u);
        assert_eq!(id.to_string(), u.to_string());
        assert_eq!(u.to_string().parse::<UserId>().unwrap(), id);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(u));
        assert_eq!(id.uuid(), u);
        assert!("not-a-uuid".parse::<GroupId>().is_err());
    }
}
