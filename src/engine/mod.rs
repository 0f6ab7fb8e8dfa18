//! The pure engine: `compile` (snapshot + clock → desired state per target) and `diff`
//! (desired vs actual → plan). No I/O happens here; the CLI and the operator feed it
//! snapshots and observed states and carry out its plans through `crate::targets`.

pub mod build;
pub mod compile;
pub mod diff;
pub mod lifecycle;
pub mod plan;
pub mod problem;
pub mod snapshot;
pub mod state;
pub mod tree;

pub use compile::{Compiled, compile};
pub use diff::diff;
pub use plan::{Plan, TargetPlan};
pub use problem::{Kind, ObjectRef, Problem, Violation};
pub use snapshot::{SecretData, Snapshot};
pub use state::{DesiredTarget, Object, ObjectKey, ObjectKind, ObservedState, TargetRole};
