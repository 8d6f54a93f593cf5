//! Prometheus metrics (`/metrics`): what an operator of the operator needs to see —
//! reconcile rates, errors and latency per kind, the active rule pack and how its
//! reloads went, queue depth, the writes the shell makes, and the cache's health.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    /// `infrastructure` (retried with backoff) or `user` (a condition, not retried hot).
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `apply`, `delete`, `status`, `finalizer`, `event`.
    pub verb: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PackLabels {
    pub digest: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `activated` or `rejected`.
    pub result: String,
}

type Histograms = Family<KindLabel, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabel, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histograms,
    pub plan_duration: Histograms,
    pub queue_depth: Family<KindLabel, Gauge>,
    pub writes: Family<WriteLabels, Counter>,
    pub pack_info: Family<PackLabels, Gauge>,
    pub pack_reloads: Family<ResultLabel, Counter>,
    /// 1 while the last offered pack was rejected (the previous pack is still active).
    pub pack_rejected: Gauge,
    pub leader: Gauge,
    pub cache_synced: Gauge,
    pub snapshot_builds: Counter,
    pub snapshot_objects: Gauge,
    pub snapshot_build_duration: Histogram,
    pub watch_errors: Family<KindLabel, Counter>,
    pub invalid_objects: Family<KindLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aimctl");
        let m = Metrics {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(seconds_histogram),
            plan_duration: Family::new_with_constructor(seconds_histogram),
            queue_depth: Family::default(),
            writes: Family::default(),
            pack_info: Family::default(),
            pack_reloads: Family::default(),
            pack_rejected: Gauge::default(),
            leader: Gauge::default(),
            cache_synced: Gauge::default(),
            snapshot_builds: Counter::default(),
            snapshot_objects: Gauge::default(),
            snapshot_build_duration: seconds_histogram(),
            watch_errors: Family::default(),
            invalid_objects: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles run, per kind",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, per kind and error class",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of one reconcile (plan, writes, status, events)",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "plan_duration_seconds",
            "Time the pure planner took for one object",
            m.plan_duration.clone(),
        );
        registry.register(
            "queue_depth",
            "Objects triggered and waiting for their reconcile",
            m.queue_depth.clone(),
        );
        registry.register(
            "writes",
            "Write requests the operator sent, per verb and kind",
            m.writes.clone(),
        );
        registry.register(
            "rule_pack_info",
            "The active rule pack (digest of its files and where it came from)",
            m.pack_info.clone(),
        );
        registry.register(
            "rule_pack_reloads",
            "Rule packs offered at runtime, by result",
            m.pack_reloads.clone(),
        );
        registry.register(
            "rule_pack_rejected",
            "1 while the newest offered pack is rejected and an older pack stays active",
            m.pack_rejected.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without election)",
            m.leader.clone(),
        );
        registry.register(
            "cache_synced",
            "1 once every watched kind has been listed",
            m.cache_synced.clone(),
        );
        registry.register(
            "snapshot_builds",
            "Snapshots rebuilt from the caches",
            m.snapshot_builds.clone(),
        );
        registry.register(
            "snapshot_objects",
            "Objects in the current snapshot",
            m.snapshot_objects.clone(),
        );
        registry.register(
            "snapshot_build_duration_seconds",
            "Time to rebuild the snapshot",
            m.snapshot_build_duration.clone(),
        );
        registry.register(
            "watch_errors",
            "Watch stream errors, per kind (each is retried with backoff)",
            m.watch_errors.clone(),
        );
        registry.register(
            "invalid_objects",
            "Objects skipped because they do not match their API schema",
            m.invalid_objects.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn kind(kind: &str) -> KindLabel {
        KindLabel { kind: kind.into() }
    }

    pub fn wrote(&self, verb: &str, kind: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                verb: verb.into(),
                kind: kind.into(),
            })
            .inc();
    }

    pub fn observe(histograms: &Histograms, kind: &str, elapsed: Duration) {
        histograms
            .get_or_create(&Self::kind(kind))
            .observe(elapsed.as_secs_f64());
    }

    /// Records the active pack (exactly one `rule_pack_info` series is 1).
    pub fn active_pack(&self, digest: &str, source: &str) {
        self.pack_info.clear();
        self.pack_info
            .get_or_create(&PackLabels {
                digest: digest.into(),
                source: source.into(),
            })
            .set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_families() {
        let m = Metrics::new();
        m.reconciles
            .get_or_create(&Metrics::kind("AIMService"))
            .inc();
        Metrics::observe(
            &m.reconcile_duration,
            "AIMService",
            Duration::from_millis(3),
        );
        m.active_pack("abc", "builtin");
        m.active_pack("def", "folder");
        let text = m.encode();
        assert!(text.contains("aimctl_reconciles_total{kind=\"AIMService\"} 1"));
        assert!(text.contains("aimctl_reconcile_duration_seconds_bucket"));
        assert!(text.contains("aimctl_rule_pack_info{digest=\"def\",source=\"folder\"} 1"));
        assert!(!text.contains("digest=\"abc\""));
    }
}
