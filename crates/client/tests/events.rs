//! The Event recorder against an in-process API server: the same Event again is one Event
//! whose series counts it, as `kubectl describe` then shows ("x3 over …").

use ferrokube_client::events::{Kind, Recorder};
use ferrokube_testing::InProcess;
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use kube::api::{Api, ListParams};

#[tokio::test]
async fn a_repeated_event_is_one_event_with_a_series() {
    let api = InProcess::start().await;
    let recorder = Recorder::new(api.client(), "kubelet");
    let pod = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some("web".into()),
        namespace: Some("default".into()),
        uid: Some("u1".into()),
        ..Default::default()
    };
    for _ in 0..3 {
        recorder
            .publish(
                &pod,
                Kind::Warning,
                "Unhealthy",
                "Unhealthy",
                "Readiness probe failed: 503",
            )
            .await;
    }
    recorder
        .publish(
            &pod,
            Kind::Normal,
            "Killing",
            "Killing",
            "Stopping container web",
        )
        .await;
    // Read through core/v1, as kubectl describe does.
    let events: Api<CoreEvent> = Api::default_namespaced(api.client());
    let list = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 2, "{list:?}");
    let unhealthy = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("Unhealthy"))
        .unwrap();
    let series = unhealthy.series.as_ref().expect("a series");
    assert_eq!(series.count, Some(3));
    assert!(series.last_observed_time.is_some());
    let killing = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("Killing"))
        .unwrap();
    assert!(killing.series.is_none(), "a singleton has no series");
}
