//! When each tenant is reconciled, as a pure state machine over instants that the caller
//! passes in (so it is tested without a clock): changes are debounced per tenant (a GitOps
//! sync of hundreds of objects becomes one plan, but a tenant that keeps changing is not
//! starved), every tenant is re-read on its sync interval with a little jitter, a tenant
//! whose reconcile was degraded is retried sooner with a doubling backoff, and a tenant is
//! never reconciled twice at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::TenantKey;

#[derive(Debug, Default)]
pub struct Scheduler {
    /// Tenants waiting: when their first and their latest change arrived.
    pending: BTreeMap<TenantKey, (Instant, Instant)>,
    /// When each tenant is next re-read without a change.
    next_full: BTreeMap<TenantKey, Instant>,
    /// Degraded reconciles in a row, per tenant.
    failures: BTreeMap<TenantKey, u32>,
    running: BTreeSet<TenantKey>,
    debounce: Duration,
}

/// How a finished reconcile left its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Healthy,
    Degraded,
    /// The Tenant is gone: no more periodic re-reads.
    Gone,
}

impl Scheduler {
    pub fn new(debounce: Duration) -> Self {
        Self {
            debounce,
            ..Default::default()
        }
    }

    /// Something of `key`'s changed at `now`.
    pub fn changed(&mut self, key: TenantKey, now: Instant) {
        self.pending
            .entry(key)
            .and_modify(|e| e.1 = now)
            .or_insert((now, now));
    }

    /// The tenants whose quiet time is over (or who waited ten quiet times under constant
    /// change), or whose re-read is due, and that are not running: they start now. Each gets
    /// its next re-read at `interval(key) + jitter(key)` from now.
    pub fn due(
        &mut self,
        now: Instant,
        interval: impl Fn(&TenantKey) -> Duration,
        jitter: impl Fn(&TenantKey, Duration) -> Duration,
    ) -> Vec<TenantKey> {
        for (key, at) in &self.next_full {
            if *at <= now {
                // Due by the clock: no debounce to wait for.
                let settled = now.checked_sub(self.debounce).unwrap_or(now);
                self.pending.entry(key.clone()).or_insert((settled, settled));
            }
        }
        let quiet = self.debounce;
        let ready: Vec<TenantKey> = self
            .pending
            .iter()
            .filter(|(k, (first, last))| {
                !self.running.contains(*k)
                    && (now.duration_since(*last) >= quiet
                        || now.duration_since(*first) >= quiet * 10)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &ready {
            self.pending.remove(key);
            self.running.insert(key.clone());
            let every = interval(key);
            self.next_full.insert(key.clone(), now + every + jitter(key, every));
        }
        ready
    }

    /// A reconcile of `key` ended. A degraded one is retried after 5 s, doubling with each
    /// degraded one in a row, never later than the tenant's sync interval.
    pub fn finished(&mut self, key: &TenantKey, how: Finished, now: Instant, interval: Duration) {
        self.running.remove(key);
        match how {
            Finished::Gone => {
                self.next_full.remove(key);
                self.failures.remove(key);
            }
            Finished::Degraded => {
                let n = self.failures.entry(key.clone()).or_insert(0);
                *n += 1;
                self.next_full.insert(key.clone(), now + retry_after(*n, interval));
            }
            Finished::Healthy => {
                self.failures.remove(key);
            }
        }
    }

    /// When a degraded tenant is retried, for logs.
    pub fn retry_at(&self, key: &TenantKey) -> Option<Instant> {
        self.failures.contains_key(key).then(|| self.next_full.get(key).copied()).flatten()
    }
}

/// When to try a degraded tenant again: 5 s, doubling per failure in a row, never later than
/// its sync interval.
pub fn retry_after(failures: u32, interval: Duration) -> Duration {
    let backoff = Duration::from_secs(5).saturating_mul(1 << failures.saturating_sub(1).min(16));
    backoff.min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str) -> TenantKey {
        ("ns".into(), t.into())
    }
    const MIN: Duration = Duration::from_secs(60);
    fn five_min(_: &TenantKey) -> Duration {
        Duration::from_secs(300)
    }
    fn no_jitter(_: &TenantKey, _: Duration) -> Duration {
        Duration::ZERO
    }

    #[test]
    fn changes_wait_for_a_quiet_moment_but_not_for_ever() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut sch = Scheduler::new(s);
        sch.changed(key("a"), t0);
        assert!(sch.due(t0 + s / 2, five_min, no_jitter).is_empty(), "still in the quiet time");
        sch.changed(key("a"), t0 + s / 2);
        assert!(sch.due(t0 + s, five_min, no_jitter).is_empty(), "a later change restarts it");
        assert_eq!(sch.due(t0 + s * 3 / 2, five_min, no_jitter), [key("a")]);
        // A tenant that never stops changing still runs after ten quiet times.
        let mut busy = Scheduler::new(s);
        for i in 0..20 {
            busy.changed(key("b"), t0 + s * i / 2);
            assert!(busy.due(t0 + s * i / 2, five_min, no_jitter).is_empty(), "step {i}");
        }
        busy.changed(key("b"), t0 + s * 10);
        assert_eq!(busy.due(t0 + s * 10, five_min, no_jitter), [key("b")]);
    }

    #[test]
    fn a_running_tenant_is_not_started_twice_and_runs_again_after() {
        let t0 = Instant::now();
        let mut sch = Scheduler::new(Duration::ZERO);
        sch.changed(key("a"), t0);
        assert_eq!(sch.due(t0, five_min, no_jitter), [key("a")]);
        sch.changed(key("a"), t0 + MIN);
        assert!(sch.due(t0 + MIN, five_min, no_jitter).is_empty(), "it is still running");
        sch.finished(&key("a"), Finished::Healthy, t0 + MIN, Duration::from_secs(300));
        assert_eq!(sch.due(t0 + MIN, five_min, no_jitter), [key("a")], "the change waited");
    }

    #[test]
    fn every_tenant_is_reread_on_its_interval_with_jitter() {
        let t0 = Instant::now();
        let mut sch = Scheduler::new(Duration::ZERO);
        sch.changed(key("a"), t0);
        let jitter = |_: &TenantKey, every: Duration| every / 10;
        assert_eq!(sch.due(t0, five_min, jitter), [key("a")]);
        sch.finished(&key("a"), Finished::Healthy, t0, Duration::from_secs(300));
        assert!(sch.due(t0 + Duration::from_secs(329), five_min, jitter).is_empty());
        assert_eq!(sch.due(t0 + Duration::from_secs(330), five_min, jitter), [key("a")]);
    }

    #[test]
    fn degraded_tenants_are_retried_sooner_and_gone_ones_never() {
        let t0 = Instant::now();
        let every = Duration::from_secs(300);
        let mut sch = Scheduler::new(Duration::ZERO);
        sch.changed(key("a"), t0);
        sch.due(t0, five_min, no_jitter);
        sch.finished(&key("a"), Finished::Degraded, t0, every);
        assert_eq!(sch.retry_at(&key("a")), Some(t0 + Duration::from_secs(5)));
        assert_eq!(sch.due(t0 + Duration::from_secs(5), five_min, no_jitter), [key("a")]);
        sch.finished(&key("a"), Finished::Degraded, t0 + Duration::from_secs(5), every);
        assert_eq!(sch.retry_at(&key("a")), Some(t0 + Duration::from_secs(15)), "doubled");
        sch.due(t0 + Duration::from_secs(15), five_min, no_jitter);
        sch.finished(&key("a"), Finished::Healthy, t0 + Duration::from_secs(15), every);
        assert_eq!(sch.retry_at(&key("a")), None);
        sch.due(t0 + Duration::from_secs(315), five_min, no_jitter);
        sch.finished(&key("a"), Finished::Gone, t0 + Duration::from_secs(315), every);
        assert!(sch.due(t0 + Duration::from_secs(10_000), five_min, no_jitter).is_empty());
    }

    #[test]
    fn backoff_doubles_up_to_the_sync_interval() {
        let waits: Vec<u64> = (1..=8).map(|n| retry_after(n, Duration::from_secs(300)).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(retry_after(1, Duration::from_secs(2)), Duration::from_secs(2));
        assert_eq!(retry_after(u32::MAX, Duration::from_secs(300)), Duration::from_secs(300));
    }
}
