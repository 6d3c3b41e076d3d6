//! Events as upstream's controllers write them: one Event per occurrence (e.g. one
//! SuccessfulCreate per pod, "Created pod: web-abcde"), named `<object>.<unique suffix>`, through
//! the events.k8s.io/v1 API, with upstream's spam filter: each reporting controller may write 25
//! Events about one object at once, then one per 5 minutes (client-go's EventCorrelator).
//!
//! The same Event again (same object, reason, action, note and type) within 6 minutes of the
//! last is not a new object: the first one's `series` counts it, as client-go's events
//! recorder does, and `kubectl describe` shows "(x7 over 14s)". Example: a readiness probe that
//! fails 12 times writes one Unhealthy Event, its series at count 12.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Events one controller may write about one object at once (client-go's spam filter burst).
const SPAM_BURST: u32 = 25;
/// After the burst, one more Event per object this often (client-go: a QPS of 1/300).
const SPAM_REFILL: std::time::Duration = std::time::Duration::from_secs(300);

type SpamFilter = governor::DefaultKeyedRateLimiter<String>;

/// How long after its last occurrence an Event's series may go on (client-go's finishTime).
const SERIES_WINDOW: std::time::Duration = std::time::Duration::from_secs(6 * 60);
/// Series kept before the finished ones are forgotten.
const SERIES_KEPT: usize = 4096;

/// An Event written before, that the same Event again adds to.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    namespace: String,
    count: i32,
    last: Timestamp,
}

/// Publishes Events for one controller.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    /// The reporting controller, e.g. `replicaset-controller`.
    controller: &'static str,
    spam: std::sync::Arc<SpamFilter>,
    /// Lock order: the only lock; held to look up or record, never across a request.
    series: std::sync::Arc<std::sync::Mutex<Series>>,
}

/// Recent Events by a hash of what makes them the same (`series_key`): a hash, not the text,
/// so that 10,000 pods' Events cost ~100 bytes each while their series may go on.
type Series = std::collections::HashMap<u64, Seen>;

/// What makes two Events the same one again (client-go's `getKey`): the object (its
/// `spam_key`), reason, action, note and type.
fn series_key(object: &str, kind: Kind, reason: &str, action: &str, note: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (object, kind == Kind::Warning, reason, action, note).hash(&mut hasher);
    hasher.finish()
}

/// What to do with an Event: create it, or add to the series of one written before.
#[derive(Debug, PartialEq)]
enum Write {
    Create,
    Repeat {
        name: String,
        namespace: String,
        count: i32,
    },
}

/// Records an occurrence at `now` of the Event `key` names, and says what to write: the
/// count goes up while occurrences come within `SERIES_WINDOW` of each other. `created` is
/// the Event that a `Create` will make (its name and namespace), kept for the next time.
fn record(series: &mut Series, key: u64, created: (&str, &str), now: Timestamp) -> Write {
    let window = jiff::SignedDuration::try_from(SERIES_WINDOW).expect("a small window");
    if let Some(seen) = series.get_mut(&key)
        && now.duration_since(seen.last) <= window
    {
        seen.count += 1;
        seen.last = now;
        return Write::Repeat {
            name: seen.name.clone(),
            namespace: seen.namespace.clone(),
            count: seen.count,
        };
    }
    if series.len() >= SERIES_KEPT {
        series.retain(|_, seen| now.duration_since(seen.last) <= window);
        if series.len() >= SERIES_KEPT {
            // All recent: forget them (as client-go's LRU of 4,096 forgets its oldest); a
            // repeat of one of them is then a new Event.
            series.clear();
        }
    }
    series.insert(
        key,
        Seen {
            name: created.0.to_owned(),
            namespace: created.1.to_owned(),
            count: 1,
            last: now,
        },
    );
    Write::Create
}

/// The spam filter's key: the object an Event is about (the reporting controller is the
/// recorder's own).
fn spam_key(regarding: &ObjectReference) -> String {
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    [
        field(&regarding.api_version),
        field(&regarding.kind),
        field(&regarding.namespace),
        field(&regarding.name),
        field(&regarding.uid),
    ]
    .join("/")
}

fn spam_filter() -> SpamFilter {
    let quota = governor::Quota::with_period(SPAM_REFILL)
        .expect("non-zero period")
        .allow_burst(std::num::NonZeroU32::new(SPAM_BURST).expect("non-zero burst"));
    governor::RateLimiter::keyed(quota)
}

/// The Event for one occurrence, as upstream's recorder fills it.
pub fn event(
    controller: &str,
    regarding: &ObjectReference,
    kind: Kind,
    reason: &str,
    action: &str,
    note: &str,
    now: Timestamp,
) -> Event {
    let name = regarding.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        reporting_controller: Some(controller.to_owned()),
        reporting_instance: Some(controller.to_owned()),
        action: Some(action.to_owned()),
        reason: Some(reason.to_owned()),
        regarding: Some(regarding.clone()),
        note: Some(note.to_owned()),
        type_: Some(match kind {
            Kind::Normal => "Normal".to_owned(),
            Kind::Warning => "Warning".to_owned(),
        }),
        deprecated_source: Some(EventSource {
            component: Some(controller.to_owned()),
            host: None,
        }),
        deprecated_first_timestamp: Some(Time(now)),
        deprecated_last_timestamp: Some(Time(now)),
        deprecated_count: Some(1),
        ..Default::default()
    }
}

impl Recorder {
    pub fn new(client: kube::Client, controller: &'static str) -> Self {
        Recorder {
            client,
            controller,
            spam: std::sync::Arc::new(spam_filter()),
            series: Default::default(),
        }
    }

    /// Publishes an Event; a failure is logged, never fatal to the caller.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: Kind,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let object = spam_key(regarding);
        if self.spam.check_key(&object).is_err() {
            tracing::debug!(reason, note, "event dropped by the spam filter");
            return;
        }
        let now = Timestamp::now();
        let event = event(self.controller, regarding, kind, reason, action, note, now);
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let key = series_key(&object, kind, reason, action, note);
        let name = event.metadata.name.clone().unwrap_or_default();
        let write = record(
            &mut self.series.lock().expect("series lock"),
            key,
            (&name, &namespace),
            now,
        );
        let written = match write {
            Write::Create => self.create(&namespace, &event).await,
            Write::Repeat {
                name,
                namespace,
                count,
            } => self.repeat(&namespace, &name, count, now).await,
        };
        if let Err(err) = written {
            tracing::warn!(error = %err, reason, "could not publish event");
        }
    }

    /// Adds an occurrence to the series of the Event `name`: its count and last time.
    async fn repeat(
        &self,
        namespace: &str,
        name: &str,
        count: i32,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let series = k8s_openapi::api::events::v1::EventSeries {
            count,
            last_observed_time: MicroTime(now),
        };
        let patch = serde_json::json!({"series": series});
        let request = kube::core::Request::new(api.resource_url()).patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        );
        crate::send(&self.client, request).await.map(drop)
    }

    /// POSTs `event`, reading the answer only for its status: nothing uses the created Event,
    /// and decoding the 50,000 that 10,000 pods bring took about 1.5% of a busy server's CPU.
    async fn create(&self, namespace: &str, event: &Event) -> Result<(), kube::Error> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let body = serde_json::to_vec(event).map_err(kube::Error::SerdeError)?;
        let request =
            kube::core::Request::new(api.resource_url()).create(&PostParams::default(), body);
        crate::send(&self.client, request).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spam_filter_passes_25_events_per_object_then_holds() {
        let filter = spam_filter();
        let object = |name: &str| ObjectReference {
            kind: Some("ReplicaSet".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let key = spam_key(&object("web-1"));
        let passed = (0..40).filter(|_| filter.check_key(&key).is_ok()).count();
        assert_eq!(passed, 25);
        assert!(filter.check_key(&spam_key(&object("web-2"))).is_ok());
    }

    #[test]
    fn the_same_event_again_counts_in_its_series_within_six_minutes() {
        let mut series = Series::new();
        let at = |seconds: i64| Timestamp::from_second(1_800_000_000 + seconds).unwrap();
        let object = ObjectReference {
            kind: Some("Pod".into()),
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let unhealthy = |note: &str| {
            series_key(
                &spam_key(&object),
                Kind::Warning,
                "Unhealthy",
                "Unhealthy",
                note,
            )
        };
        let first = ("web.1", "default");
        let failed = unhealthy("Readiness probe failed: 503");
        assert_eq!(record(&mut series, failed, first, at(0)), Write::Create);
        let repeat = |count| Write::Repeat {
            name: "web.1".into(),
            namespace: "default".into(),
            count,
        };
        assert_eq!(
            record(&mut series, failed, ("web.2", "default"), at(10)),
            repeat(2)
        );
        assert_eq!(
            record(&mut series, failed, ("web.3", "default"), at(370)),
            repeat(3)
        );
        // Another note is another Event; so is a Normal one with the same words.
        let other = unhealthy("Readiness probe failed: 500");
        assert_eq!(
            record(&mut series, other, ("web.4", "default"), at(371)),
            Write::Create
        );
        let normal = series_key(
            &spam_key(&object),
            Kind::Normal,
            "Unhealthy",
            "Unhealthy",
            "Readiness probe failed: 503",
        );
        assert_ne!(normal, failed);
        // More than 6 minutes after the last: a new Event, whose series starts again.
        assert_eq!(
            record(&mut series, failed, ("web.5", "default"), at(731)),
            Write::Create
        );
        let again = Write::Repeat {
            name: "web.5".into(),
            namespace: "default".into(),
            count: 2,
        };
        assert_eq!(
            record(&mut series, failed, ("web.6", "default"), at(732)),
            again
        );
    }

    #[test]
    fn series_are_bounded() {
        let mut series = Series::new();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        for key in 0..(SERIES_KEPT as u64 * 3) {
            record(&mut series, key, ("e", "default"), now);
            assert!(series.len() <= SERIES_KEPT);
        }
    }

    #[test]
    fn event_fields_as_upstream() {
        let regarding = ObjectReference {
            kind: Some("ReplicaSet".into()),
            name: Some("web-5d8f".into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let e = event(
            "replicaset-controller",
            &regarding,
            Kind::Normal,
            "SuccessfulCreate",
            "Create",
            "Created pod: web-5d8f-abcde",
            now,
        );
        assert!(e.metadata.name.unwrap().starts_with("web-5d8f."));
        assert_eq!(e.reason.as_deref(), Some("SuccessfulCreate"));
        assert_eq!(e.note.as_deref(), Some("Created pod: web-5d8f-abcde"));
        assert_eq!(
            e.deprecated_source.unwrap().component.as_deref(),
            Some("replicaset-controller")
        );
    }
}
