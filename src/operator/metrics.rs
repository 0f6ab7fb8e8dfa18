//! Prometheus metrics of the operator.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabel {
    pub namespace: String,
    pub integration: String,
}

/// A target by its kind (ldap, scim …), never a person.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabel {
    pub namespace: String,
    pub integration: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub namespace: String,
    pub integration: String,
    pub kind: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ResultLabel, Counter>,
    pub duration: Histogram,
    pub drifted: Family<IntegrationLabel, Gauge>,
    pub held: Family<IntegrationLabel, Gauge>,
    pub drift_repaired: Family<TargetLabel, Counter>,
    pub writes: Family<IntegrationLabel, Counter>,
    pub target_errors: Family<ErrorLabel, Counter>,
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("accord");
        let reconciles = Family::<ResultLabel, Counter>::default();
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let drifted = Family::<IntegrationLabel, Gauge>::default();
        let held = Family::<IntegrationLabel, Gauge>::default();
        let drift_repaired = Family::<TargetLabel, Counter>::default();
        let writes = Family::<IntegrationLabel, Counter>::default();
        let target_errors = Family::<ErrorLabel, Counter>::default();
        let leader = Gauge::default();
        registry.register(
            "reconciles",
            "Tenant reconciles by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time to reconcile one tenant",
            duration.clone(),
        );
        registry.register(
            "drifted_objects",
            "Objects that differ from the manifests (Observe mode)",
            drifted.clone(),
        );
        registry.register(
            "drift_repaired",
            "Entries edited by hand in a target and put back (Enforce mode), one per person and target",
            drift_repaired.clone(),
        );
        registry.register(
            "held_deletions",
            "Deletions held by the tenant's deletion threshold",
            held.clone(),
        );
        registry.register(
            "target_writes",
            "Write requests sent to targets",
            writes.clone(),
        );
        registry.register(
            "target_errors",
            "Target errors by kind",
            target_errors.clone(),
        );
        registry.register(
            "is_leader",
            "1 while this replica holds the lease",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            duration,
            drifted,
            held,
            drift_repaired,
            writes,
            target_errors,
            leader,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}
