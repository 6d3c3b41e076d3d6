//! Watches for the log-structured backends (memory, SQLite): broadcasts of committed events (one
//! per channel of `route`: everything, a resource, or an indexed field's value), and one task
//! per watcher that serves from its channel while it keeps up and from the revision log when
//! it does not, so that a watcher never blocks a writer and never skips.
//!
//! Worked example: a watcher from revision 5 when the store is at 8 reads 5..=8 from the log
//! (`CatchingUp`), then takes 9, 10, … from the broadcast (`Live`). If its consumer stops
//! reading, the broadcast overwrites what it has not taken; the next receive reports the lag
//! and the watcher goes back to `CatchingUp` from the first revision it has not delivered.
//! If compaction has removed that revision meanwhile, the stream ends with `WatchLagged`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::error::StoreError;
use crate::route::{ChannelKey, IndexedField, Route, channel_for, channels_of, resource_of};
use crate::types::{Revision, WatchEvent, has_prefix};

/// Events a watcher's consumer may leave unread before the watcher task waits.
const DELIVERY_BUFFER: usize = 128;
/// Events the broadcast keeps for live watchers before a slow one must catch up from the log.
pub(crate) const BROADCAST_CAPACITY: usize = 4096;
/// Revisions read from the log per catch-up step.
const CATCH_UP_PAGE: i64 = 1000;

/// A stream of changes under one prefix, in revision order. Dropping it ends the watch.
///
/// Items are `Ok(event)` until the watch ends; an `Err` is always the last item. Events are
/// shared between the watchers that receive them (a pod write seen by 100 watches is one copy).
pub struct WatchStream {
    rx: mpsc::Receiver<Result<Arc<WatchEvent>, StoreError>>,
}

impl WatchStream {
    /// A stream and the sender a backend's watcher task feeds it through.
    pub(crate) fn channel() -> (
        mpsc::Sender<Result<Arc<WatchEvent>, StoreError>>,
        WatchStream,
    ) {
        let (tx, rx) = mpsc::channel(DELIVERY_BUFFER);
        (tx, WatchStream { rx })
    }

    /// The next change, or `None` when the watch has ended.
    pub async fn next_event(&mut self) -> Option<Result<Arc<WatchEvent>, StoreError>> {
        self.rx.recv().await
    }
}

impl Stream for WatchStream {
    type Item = Result<Arc<WatchEvent>, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Revisions `from..=through` of the log, filtered to one prefix.
pub(crate) struct HistoryPage {
    pub events: Vec<WatchEvent>,
    /// The last revision this page covers (whether or not it matched the prefix).
    pub through: Revision,
    /// The store's current revision when the page was read.
    pub current: Revision,
}

/// Read access to a backend's revision log.
#[async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Events under `prefix` with revisions in `from..from + max_revisions`, read in one snapshot;
    /// `Compacted` if `from` is at or below the compacted revision.
    async fn read_history(
        self: Arc<Self>,
        prefix: &str,
        from: Revision,
        max_revisions: i64,
    ) -> Result<HistoryPage, StoreError>;

    /// The current and the compacted revision.
    async fn revisions(self: Arc<Self>) -> Result<(Revision, Revision), StoreError>;
}

/// Events an indexed channel (one node's pods, say) keeps for its watchers before a slow one
/// must catch up from the log. Few, because it keeps the last ones even when all were taken.
const INDEXED_CAPACITY: usize = 128;

/// An event on one channel, with the revision of the event before it on that channel (so a
/// watcher knows it missed none of the channel's events).
#[derive(Clone)]
struct Delivery {
    event: Arc<WatchEvent>,
    previous: Revision,
}

/// One broadcast channel of the hub.
struct Channel {
    tx: broadcast::Sender<Delivery>,
    /// The revision of the last event sent on it; 0 before the first.
    previous: Revision,
}

/// The hub's channels and the indexed fields its routed watches use, per resource.
#[derive(Default)]
struct Channels {
    channels: HashMap<ChannelKey, Channel>,
    indexed: HashMap<String, Vec<IndexedField>>,
}

impl Channels {
    /// A receiver on the channel of a watch of `prefix` with `route`, made when it is the first.
    fn subscribe(&mut self, prefix: &str, route: Option<&Route>) -> broadcast::Receiver<Delivery> {
        let key = channel_for(prefix, route);
        if let (ChannelKey::Indexed { resource, .. }, Some(route)) = (&key, route) {
            let fields = self.indexed.entry(resource.clone()).or_default();
            if !fields.iter().any(|f| f.name == route.field.name) {
                fields.push(route.field);
            }
        }
        let capacity = match key {
            ChannelKey::Indexed { .. } => INDEXED_CAPACITY,
            _ => BROADCAST_CAPACITY,
        };
        let channel = self.channels.entry(key).or_insert_with(|| Channel {
            tx: broadcast::channel(capacity).0,
            previous: Revision(0),
        });
        channel.tx.subscribe()
    }

    /// Drops indexed channels nobody listens on any more (a deleted node's, say), and the
    /// indexes no channel uses.
    fn sweep(&mut self) {
        self.channels.retain(|key, channel| {
            !matches!(key, ChannelKey::Indexed { .. }) || channel.tx.receiver_count() > 0
        });
        let channels = &self.channels;
        for (resource, fields) in self.indexed.iter_mut() {
            fields.retain(|field| {
                channels.keys().any(|key| {
                    matches!(key, ChannelKey::Indexed { resource: r, field: f, .. }
                        if r == resource && *f == field.name)
                })
            });
        }
        self.indexed.retain(|_, fields| !fields.is_empty());
    }

    fn publish(&mut self, event: WatchEvent) {
        let indexed = resource_of(&event.kv.key)
            .and_then(|resource| self.indexed.get(resource))
            .map_or(&[][..], Vec::as_slice);
        let keys = channels_of(&event, indexed);
        let revision = event.revision();
        let event = Arc::new(event);
        for key in keys {
            if let Some(channel) = self.channels.get_mut(&key) {
                let delivery = Delivery {
                    event: event.clone(),
                    previous: channel.previous,
                };
                // An error only means nobody is listening on this channel right now.
                let _ = channel.tx.send(delivery);
                channel.previous = revision;
            }
        }
    }
}

/// The broadcast side of watches: writers publish each committed event here, in revision
/// order, and it goes to the channels of the watches that can want it (see `route`).
#[derive(Clone)]
pub(crate) struct WatchHub {
    /// Lock order: taken last (the memory store publishes while holding its state lock);
    /// nothing else is locked while it is held, and sends on the channels never wait.
    channels: Arc<Mutex<Channels>>,
}

impl WatchHub {
    pub fn new() -> Self {
        WatchHub {
            channels: Arc::default(),
        }
    }

    /// Publishes a committed event; never waits on a watcher. Callers publish in revision order.
    pub fn publish(&self, event: WatchEvent) {
        self.channels.lock().expect("watch hub lock").publish(event);
    }

    /// Starts a watcher task over `history` and returns its stream; with a `route`, the task
    /// hears only the resource's events that have the route's field value before or after.
    pub async fn watch<H: History>(
        &self,
        history: Arc<H>,
        prefix: &str,
        start: Option<Revision>,
        route: Option<&Route>,
    ) -> Result<WatchStream, StoreError> {
        // Subscribe before reading the current revision, so nothing falls between the two.
        let live = {
            let mut channels = self.channels.lock().expect("watch hub lock");
            channels.sweep();
            channels.subscribe(prefix, route)
        };
        let (current, compacted) = history.clone().revisions().await?;
        let next = match start {
            Some(start) if start <= compacted => {
                return Err(StoreError::Compacted {
                    requested: start,
                    compacted,
                });
            }
            Some(start) => start,
            None => current.next(),
        };
        let (tx, stream) = WatchStream::channel();
        let watcher = Watcher {
            history,
            prefix: prefix.to_owned(),
            route: route.cloned(),
            live,
            out: tx,
        };
        tokio::spawn(watcher.run(next));
        Ok(stream)
    }
}

/// Where a watcher is; `next` is the first revision it has not yet delivered or skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatcherState {
    /// Reading from the log.
    CatchingUp { next: Revision },
    /// Taking events from the broadcast.
    Live { next: Revision },
    /// The consumer went away or the stream ended with an error.
    Done,
}

struct Watcher<H> {
    history: Arc<H>,
    prefix: String,
    /// Events the log has under `prefix` but that the route leaves out are skipped.
    route: Option<Route>,
    live: broadcast::Receiver<Delivery>,
    out: mpsc::Sender<Result<Arc<WatchEvent>, StoreError>>,
}

impl<H: History> Watcher<H> {
    async fn run(mut self, next: Revision) {
        let mut state = WatcherState::CatchingUp { next };
        loop {
            state = match state {
                WatcherState::CatchingUp { next } => self.catch_up(next).await,
                WatcherState::Live { next } => self.take_live(next).await,
                WatcherState::Done => return,
            };
        }
    }

    /// Delivers one page from the log; goes live once the page reaches the current revision.
    async fn catch_up(&mut self, next: Revision) -> WatcherState {
        let read = self
            .history
            .clone()
            .read_history(&self.prefix, next, CATCH_UP_PAGE);
        let page = match read.await {
            Ok(page) => page,
            // The start was checked when the watch opened: a compaction met now overtook this
            // watcher while it was behind.
            Err(StoreError::Compacted { compacted, .. }) => {
                let reason = format!(
                    "revision {next} was compacted (compacted revision {compacted}) before the watcher read it"
                );
                return self
                    .fail(StoreError::WatchLagged { at: next, reason })
                    .await;
            }
            Err(err) => return self.fail(err).await,
        };
        for event in page.events {
            if self.route.as_ref().is_some_and(|r| !r.concerns(&event)) {
                continue;
            }
            if self.out.send(Ok(Arc::new(event))).await.is_err() {
                return WatcherState::Done;
            }
        }
        let next = page.through.next().max(next);
        if page.through >= page.current {
            WatcherState::Live { next }
        } else {
            WatcherState::CatchingUp { next }
        }
    }

    /// Delivers the next broadcast event, or falls back to the log on a lag or a gap.
    async fn take_live(&mut self, next: Revision) -> WatcherState {
        let received = tokio::select! {
            received = self.live.recv() => received,
            () = self.out.closed() => return WatcherState::Done,
        };
        match received {
            Ok(Delivery { event, previous }) => match classify(event.revision(), previous, next) {
                Arrival::AlreadySeen => WatcherState::Live { next },
                Arrival::Gap => WatcherState::CatchingUp { next },
                Arrival::Next => {
                    let next = event.revision().next();
                    if has_prefix(&event.kv.key, &self.prefix)
                        && self.out.send(Ok(event)).await.is_err()
                    {
                        return WatcherState::Done;
                    }
                    WatcherState::Live { next }
                }
            },
            Err(broadcast::error::RecvError::Lagged(_)) => WatcherState::CatchingUp { next },
            Err(broadcast::error::RecvError::Closed) => self.fail(StoreError::Closed).await,
        }
    }

    async fn fail(&mut self, err: StoreError) -> WatcherState {
        let _ = self.out.send(Err(err)).await;
        WatcherState::Done
    }
}

/// How a channel's event relates to the first revision a watcher has not yet covered.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    /// Already delivered from the log.
    AlreadySeen,
    /// The channel's first event from `next` on.
    Next,
    /// The channel had an event from `next` on before this one, which the watcher did not
    /// get: catch up from the log.
    Gap,
}

/// `revision` is the event's, `previous` that of the channel's event before it.
fn classify(revision: Revision, previous: Revision, next: Revision) -> Arrival {
    if revision < next {
        Arrival::AlreadySeen
    } else if previous < next {
        Arrival::Next
    } else {
        Arrival::Gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        // (revision, previous on the channel, next expected, arrival)
        let cases = [
            (4, 3, 5, Arrival::AlreadySeen),
            (5, 4, 5, Arrival::Next),
            // Revisions 5-8 went to other channels.
            (9, 2, 5, Arrival::Next),
            // Revision 6 was on this channel and never arrived.
            (9, 6, 5, Arrival::Gap),
            (6, 5, 5, Arrival::Gap),
        ];
        for (revision, previous, next, want) in cases {
            assert_eq!(
                classify(Revision(revision), Revision(previous), Revision(next)),
                want,
                "{revision} after {previous} vs {next}"
            );
        }
    }

    fn node_of(stored: &[u8]) -> Option<String> {
        Some(String::from_utf8_lossy(stored).into_owned()).filter(|v| !v.is_empty())
    }

    #[test]
    fn sweep_drops_indexed_channels_nobody_hears() {
        let route = |value: &str| Route {
            field: IndexedField {
                name: "spec.nodeName",
                value_of: node_of,
            },
            value: value.to_owned(),
        };
        let mut channels = Channels::default();
        let everything = channels.subscribe("pods/", None);
        let n1 = channels.subscribe("pods/", Some(&route("n1")));
        let n2 = channels.subscribe("pods/", Some(&route("n2")));
        drop(n1);
        channels.sweep();
        let mut kept: Vec<ChannelKey> = channels.channels.keys().cloned().collect();
        kept.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(
            kept,
            [
                channel_for("pods/", Some(&route("n2"))),
                channel_for("pods/", None)
            ]
        );
        assert_eq!(channels.indexed["pods/"].len(), 1);
        drop(n2);
        channels.sweep();
        assert!(channels.indexed.is_empty(), "no index left in use");
        // The resource's own channel stays, even with no receiver.
        drop(everything);
        channels.sweep();
        assert_eq!(channels.channels.len(), 1);
    }
}
