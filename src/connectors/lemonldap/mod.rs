//! LemonLDAP::NG 2.16: the tenant's OpenID Connect relying party through the Manager REST
//! API, and its people's live sessions through the manager's sessions API.

pub mod kind;

pub use kind::{LEMONLDAP, LemonldapKind};

use crate::api::Integration;
use crate::connectors::{Connector, ConnectorKind, TargetError};
use crate::engine::Snapshot;

impl ConnectorKind for LemonldapKind {
    fn provisions(&self) -> bool {
        false // the connector comes next: nothing was ever written through it
    }
    fn connect(&self, _: &Integration, _: &Snapshot) -> Result<Box<dyn Connector>, TargetError> {
        Err(TargetError::config(
            "accord has no connector for lemonldap targets yet",
        ))
    }
}
