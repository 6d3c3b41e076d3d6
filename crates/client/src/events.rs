//! Events as upstream's controllers write them: one Event per occurrence (e.g. one
//! SuccessfulCreate per pod, "Created pod: web-abcde"), named `<object>.<unique suffix>`, through
//! the events.k8s.io/v1 API, with upstream's spam filter: each reporting controller may write 25
//! Events about one object at once, then one per 5 minutes (client-go's EventCorrelator).

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

/// Publishes Events for one controller.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    /// The reporting controller, e.g. `replicaset-controller`.
    controller: &'static str,
    spam: std::sync::Arc<SpamFilter>,
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
        if self.spam.check_key(&spam_key(regarding)).is_err() {
            tracing::debug!(reason, note, "event dropped by the spam filter");
            return;
        }
        let event = event(
            self.controller,
            regarding,
            kind,
            reason,
            action,
            note,
            Timestamp::now(),
        );
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        if let Err(err) = self.create(&namespace, &event).await {
            tracing::warn!(error = %err, reason, "could not publish event");
        }
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
