//! Events (`events.k8s.io/v1`). A repeat of an Event (same object, type, reason and
//! action) within six minutes is counted into the first one's `series` instead of
//! creating another, as kube's `Recorder` and client-go do, so a Warning raised on
//! every reconcile stays one Event. kube's `Recorder` remembers every Event of the
//! last six minutes and scans them all on each publish: on the first pass over 10,000
//! services (about 100,000 condition Events) the operator grew past 360 MB (185 MB
//! converged with this recorder) and its publisher fell minutes behind. Here what is
//! remembered is bounded, and forgotten oldest first without a scan.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use serde_json::json;

/// How long a repeat still counts into an earlier Event (kube's and client-go's figure).
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);
/// Series remembered at most (about 200 bytes each); past it the oldest is forgotten,
/// and its next repeat starts a new Event.
const SERIES_CAPACITY: usize = 8192;

/// Publishes Events for one reporting controller.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    series: Mutex<Series>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            series: Mutex::new(Series::new(SERIES_CAPACITY)),
        }
    }

    /// Creates the Event, or counts it into the series of an earlier one. Cluster-scoped
    /// objects' Events go to the `default` namespace.
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let key = series_key(ev, regarding);
        let api: Api<K8sEvent> = Api::namespaced(
            self.client.clone(),
            regarding.namespace.as_deref().unwrap_or("default"),
        );
        let now = jiff::Timestamp::now();
        let repeat = self.series().repeat(&key, Instant::now());
        if let Some((name, count)) = repeat {
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // the Event is gone (the API server's TTL, a deletion): start over
                Err(kube::Error::Api(e)) if e.code == 404 => self.series().forget(&key),
                Err(e) => return Err(e),
            }
        }
        let event = self.event(ev, regarding, now);
        let name = event.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &event).await?;
        self.series().begin(key, name, Instant::now());
        Ok(())
    }

    fn series(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference, now: jiff::Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(controller),
                    now.as_nanosecond()
                )),
                namespace: regarding.namespace.clone(),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            note: ev.note.clone(),
            type_: Some(type_name(ev.type_).into()),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            ..Default::default()
        }
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// What makes two Events one series: the object (by uid, so a recreated object starts
/// afresh), the type, the reason and the action.
fn series_key(ev: &Event, regarding: &ObjectReference) -> String {
    let part = |s: &Option<String>| s.as_deref().unwrap_or("").to_owned();
    [
        part(&regarding.kind),
        part(&regarding.namespace),
        part(&regarding.name),
        part(&regarding.uid),
        type_name(ev.type_).into(),
        ev.reason.clone(),
        ev.action.clone(),
    ]
    .join("\u{0}")
}

/// The open series, by key, and the order they began in.
struct Series {
    open: HashMap<String, Open>,
    /// (when it began, key), oldest first; an entry whose series was forgotten or
    /// begun again since is skipped when it comes up.
    order: VecDeque<(Instant, String)>,
    capacity: usize,
}

struct Open {
    /// The Event the repeats count into.
    name: String,
    count: i32,
    since: Instant,
}

impl Series {
    fn new(capacity: usize) -> Self {
        Series {
            open: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Counts a repeat into the open series of `key`: the Event's name and new count.
    fn repeat(&mut self, key: &str, now: Instant) -> Option<(String, i32)> {
        while let Some((since, _)) = self.order.front()
            && now.duration_since(*since) >= SERIES_TTL
        {
            self.pop_oldest();
        }
        let open = self.open.get_mut(key)?;
        open.count = open.count.saturating_add(1);
        Some((open.name.clone(), open.count))
    }

    /// Opens a series for a newly created Event.
    fn begin(&mut self, key: String, name: String, now: Instant) {
        while self.open.len() >= self.capacity && !self.order.is_empty() {
            self.pop_oldest();
        }
        self.order.push_back((now, key.clone()));
        self.open.insert(
            key,
            Open {
                name,
                count: 1,
                since: now,
            },
        );
    }

    fn forget(&mut self, key: &str) {
        self.open.remove(key);
    }

    fn pop_oldest(&mut self) {
        if let Some((since, key)) = self.order.pop_front()
            && self.open.get(&key).is_some_and(|o| o.since == since)
        {
            self.open.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_count_into_the_first_event_until_the_series_expires() {
        let mut s = Series::new(10);
        let t0 = Instant::now();
        assert_eq!(s.repeat("a", t0), None);
        s.begin("a".into(), "svc.1".into(), t0);
        assert_eq!(s.repeat("a", t0), Some(("svc.1".into(), 2)));
        assert_eq!(
            s.repeat("a", t0 + SERIES_TTL / 2),
            Some(("svc.1".into(), 3))
        );
        assert_eq!(s.repeat("b", t0), None, "another key is another series");
        // six minutes after it began, a repeat starts a new Event
        assert_eq!(s.repeat("a", t0 + SERIES_TTL), None);
        assert!(s.open.is_empty() && s.order.is_empty());
    }

    #[test]
    fn past_capacity_the_oldest_series_is_forgotten() {
        let mut s = Series::new(2);
        let t0 = Instant::now();
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            s.begin(
                key.into(),
                format!("e{i}"),
                t0 + Duration::from_secs(i as u64),
            );
        }
        assert_eq!(s.open.len(), 2);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(s.repeat("a", later), None);
        assert_eq!(s.repeat("b", later), Some(("e1".into(), 2)));
        assert_eq!(s.repeat("c", later), Some(("e2".into(), 2)));
    }

    #[test]
    fn a_forgotten_series_begun_again_is_not_expired_by_its_old_entry() {
        let mut s = Series::new(10);
        let t0 = Instant::now();
        s.begin("a".into(), "old".into(), t0);
        s.forget("a");
        let t1 = t0 + SERIES_TTL / 2;
        s.begin("a".into(), "new".into(), t1);
        // the first entry's six minutes are up, the second's are not
        assert_eq!(s.repeat("a", t0 + SERIES_TTL), Some(("new".into(), 2)));
        assert_eq!(s.repeat("a", t1 + SERIES_TTL), None);
    }

    #[test]
    fn the_series_key_tells_objects_types_and_reasons_apart() {
        let obj = |uid: &str| ObjectReference {
            kind: Some("AIMService".into()),
            namespace: Some("ns".into()),
            name: Some("svc".into()),
            uid: Some(uid.into()),
            ..Default::default()
        };
        let ev = |type_, reason: &str| Event {
            type_,
            reason: reason.into(),
            note: Some("a note".into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let k = series_key(&ev(EventType::Warning, "Failed"), &obj("1"));
        let mut same = ev(EventType::Warning, "Failed");
        same.note = Some("another note".into());
        assert_eq!(
            series_key(&same, &obj("1")),
            k,
            "the note is not part of it"
        );
        assert_ne!(series_key(&ev(EventType::Normal, "Failed"), &obj("1")), k);
        assert_ne!(series_key(&ev(EventType::Warning, "Other"), &obj("1")), k);
        assert_ne!(series_key(&ev(EventType::Warning, "Failed"), &obj("2")), k);
    }
}
