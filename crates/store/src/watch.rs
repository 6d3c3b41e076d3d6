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
//!
//! Memory is bounded by bytes, not only by events: the hub keeps the last `WINDOW_BYTES` of
//! events alive (the broadcast rings hold only weak references), and a watcher's consumer may
//! leave at most `DELIVERY_BYTES` unread. A watcher whose consumer stopped reading (its
//! delivery was full) and that the window left behind ends with `WatchLagged` (a 410 to API
//! clients, as upstream's watch cache drops an unresponsive watcher); one that was merely slow
//! to take its events catches up from the log.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::error::StoreError;
use crate::route::{ChannelKey, IndexedField, Route, channel_for, channels_of, resource_of};
use crate::types::{Revision, WatchEvent, has_prefix};

/// Events a watcher's consumer may leave unread before the watcher task waits.
const DELIVERY_BUFFER: usize = 128;
/// Bytes of events (keys, values and previous values) a watcher's consumer may leave unread
/// before the watcher task waits; one event larger than this still goes through alone.
pub(crate) const DELIVERY_BYTES: usize = 8 << 20;
/// Events the broadcast keeps for live watchers before a slow one must catch up from the log.
pub(crate) const BROADCAST_CAPACITY: usize = 4096;
/// Bytes of the most recent events the hub keeps alive for watchers that have not taken them.
pub(crate) const WINDOW_BYTES: usize = 64 << 20;
/// Revisions read from the log per catch-up step.
const CATCH_UP_PAGE: i64 = 1000;

/// What an event costs to hold: its key, value and previous value, and a little overhead.
fn weight(event: &WatchEvent) -> usize {
    let kv = |kv: &crate::types::KeyValue| kv.key.len() + kv.value.len() + 64;
    kv(&event.kv) + event.prev.as_ref().map_or(0, kv)
}

type Item = Result<Arc<WatchEvent>, StoreError>;

/// An item in a watch stream's channel, with the bytes of room it took.
struct Delivered {
    item: Item,
    permits: u32,
}

/// A stream of changes under one prefix, in revision order. Dropping it ends the watch.
///
/// Items are `Ok(event)` until the watch ends; an `Err` is always the last item. Events are
/// shared between the watchers that receive them (a pod write seen by 100 watches is one copy).
pub struct WatchStream {
    rx: mpsc::Receiver<Delivered>,
    /// Bytes the sender may still put in the channel; given back as items are taken.
    room: Arc<Semaphore>,
}

/// The sending side of a [`WatchStream`]: at most `DELIVERY_BUFFER` events and
/// `DELIVERY_BYTES` bytes of them wait unread.
pub(crate) struct WatchSender {
    tx: mpsc::Sender<Delivered>,
    room: Arc<Semaphore>,
}

/// The stream's consumer has gone.
#[derive(Debug)]
pub(crate) struct Closed;

impl WatchSender {
    /// Sends `item` once there is room for it; `Ok(true)` when it had to wait for the consumer
    /// to take earlier items first.
    pub async fn send(&self, item: Item) -> Result<bool, Closed> {
        let permits = match &item {
            Ok(event) => weight(event).min(DELIVERY_BYTES) as u32,
            Err(_) => 0,
        };
        let mut waited = false;
        match self.room.try_acquire_many(permits) {
            Ok(permit) => permit.forget(),
            Err(_) => {
                waited = true;
                tokio::select! {
                    permit = self.room.acquire_many(permits) => {
                        permit.expect("the room semaphore is never closed").forget();
                    }
                    () = self.tx.closed() => return Err(Closed),
                }
            }
        }
        waited |= self.tx.capacity() == 0;
        self.tx
            .send(Delivered { item, permits })
            .await
            .map_err(|_| Closed)?;
        Ok(waited)
    }

    /// Resolves when the stream's consumer has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

impl WatchStream {
    /// A stream and the sender a backend's watcher task feeds it through.
    pub(crate) fn channel() -> (WatchSender, WatchStream) {
        let (tx, rx) = mpsc::channel(DELIVERY_BUFFER);
        let room = Arc::new(Semaphore::new(DELIVERY_BYTES));
        (
            WatchSender {
                tx,
                room: room.clone(),
            },
            WatchStream { rx, room },
        )
    }

    /// The next change, or `None` when the watch has ended.
    pub async fn next_event(&mut self) -> Option<Item> {
        let delivered = self.rx.recv().await?;
        Some(self.taken(delivered))
    }

    fn taken(&self, delivered: Delivered) -> Item {
        self.room.add_permits(delivered.permits as usize);
        delivered.item
    }
}

impl Stream for WatchStream {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(delivered)) => Poll::Ready(Some(self.taken(delivered))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
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
/// watcher knows it missed none of the channel's events). The event itself is alive only while
/// the hub's window keeps it.
#[derive(Clone)]
struct Delivery {
    event: Weak<WatchEvent>,
    revision: Revision,
    previous: Revision,
}

/// The most recent events, kept alive for watchers that have not taken them yet: at most
/// `limit` bytes of them (and always the latest) and at most `BROADCAST_CAPACITY` events.
struct Window {
    events: VecDeque<(Arc<WatchEvent>, usize)>,
    bytes: usize,
    limit: usize,
}

impl Window {
    fn new(limit: usize) -> Self {
        Window {
            events: VecDeque::new(),
            bytes: 0,
            limit,
        }
    }

    fn keep(&mut self, event: Arc<WatchEvent>) {
        let size = weight(&event);
        self.events.push_back((event, size));
        self.bytes += size;
        while self.events.len() > 1
            && (self.bytes > self.limit || self.events.len() > BROADCAST_CAPACITY)
        {
            if let Some((_, size)) = self.events.pop_front() {
                self.bytes -= size;
            }
        }
    }
}

/// One broadcast channel of the hub.
struct Channel {
    tx: broadcast::Sender<Delivery>,
    /// The revision of the last event sent on it; 0 before the first.
    previous: Revision,
}

/// The hub's channels and the indexed fields its routed watches use, per resource.
struct Channels {
    channels: HashMap<ChannelKey, Channel>,
    indexed: HashMap<String, Vec<IndexedField>>,
    window: Window,
}

impl Channels {
    fn new(window_bytes: usize) -> Self {
        Channels {
            channels: HashMap::new(),
            indexed: HashMap::new(),
            window: Window::new(window_bytes),
        }
    }

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
        let mut heard = false;
        for key in keys {
            if let Some(channel) = self.channels.get_mut(&key) {
                let delivery = Delivery {
                    event: Arc::downgrade(&event),
                    revision,
                    previous: channel.previous,
                };
                // An error only means nobody is listening on this channel right now.
                heard |= channel.tx.send(delivery).is_ok();
                channel.previous = revision;
            }
        }
        if heard {
            self.window.keep(event);
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
        Self::with_window(WINDOW_BYTES)
    }

    /// A hub that keeps at most `window_bytes` of recent events alive.
    pub fn with_window(window_bytes: usize) -> Self {
        WatchHub {
            channels: Arc::new(Mutex::new(Channels::new(window_bytes))),
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
            stalled: false,
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
    out: WatchSender,
    /// Whether the last delivery had to wait for the consumer to take earlier ones.
    stalled: bool,
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
            match self.out.send(Ok(Arc::new(event))).await {
                Ok(waited) => self.stalled = waited,
                Err(Closed) => return WatcherState::Done,
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
        let Delivery {
            event,
            revision,
            previous,
        } = match received {
            Ok(delivery) => delivery,
            // More events than the ring holds went by: the log has them.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return WatcherState::CatchingUp { next };
            }
            Err(broadcast::error::RecvError::Closed) => return self.fail(StoreError::Closed).await,
        };
        match classify(revision, previous, next) {
            Arrival::AlreadySeen => WatcherState::Live { next },
            Arrival::Gap => WatcherState::CatchingUp { next },
            Arrival::Next => {
                // Gone from the window before this watcher took it.
                let Some(event) = event.upgrade() else {
                    return self.left_behind(next).await;
                };
                if has_prefix(&event.kv.key, &self.prefix) {
                    match self.out.send(Ok(event)).await {
                        Ok(waited) => self.stalled = waited,
                        Err(Closed) => return WatcherState::Done,
                    }
                }
                WatcherState::Live {
                    next: revision.next(),
                }
            }
        }
    }

    /// The window's bytes moved on past `next` before this watcher took it: a watcher whose
    /// consumer stopped reading ends, one that was only slow catches up from the log.
    async fn left_behind(&mut self, next: Revision) -> WatcherState {
        if !self.stalled {
            return WatcherState::CatchingUp { next };
        }
        let reason = format!(
            "its reader left more than {} MiB of events unread while the watch window moved on",
            DELIVERY_BYTES >> 20
        );
        self.fail(StoreError::WatchLagged { at: next, reason })
            .await
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
        let mut channels = Channels::new(WINDOW_BYTES);
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

    use crate::Store;
    use crate::memory::MemoryStore;

    const MIB: usize = 1 << 20;

    /// Writes `count` versions of `key` with a 1 MiB value each; returns the last revision.
    async fn write_big(
        store: &MemoryStore,
        key: &str,
        count: usize,
        last: Option<Revision>,
    ) -> Revision {
        let mut last = last;
        for i in 0..count {
            let value = vec![b'a' + (i % 26) as u8; MIB];
            last = Some(match last {
                None => store.create(key, value).await.unwrap().revision,
                Some(expected) => store.update(key, value, expected).await.unwrap().revision,
            });
        }
        last.expect("at least one write")
    }

    /// Lets the watcher tasks run until they wait.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn the_window_keeps_the_latest_events_within_its_bytes() {
        let event = |revision: i64, size: usize| {
            let kv = crate::types::KeyValue {
                key: "cm/a".into(),
                value: vec![0; size],
                create_revision: Revision(1),
                mod_revision: Revision(revision),
                version: revision,
            };
            Arc::new(WatchEvent {
                kind: crate::types::EventKind::Put,
                kv,
                prev: None,
            })
        };
        let mut window = Window::new(10 * MIB);
        for revision in 1..=20 {
            window.keep(event(revision, MIB));
        }
        assert!(window.bytes <= 10 * MIB, "{} bytes kept", window.bytes);
        assert_eq!(
            window.events.len(),
            9,
            "nine 1 MiB events and their keys fit in 10 MiB"
        );
        assert_eq!(window.events.back().unwrap().0.revision(), Revision(20));
        // One event larger than the window is still kept, alone.
        window.keep(event(21, 11 * MIB));
        assert_eq!(window.events.len(), 1);
        // Small events are bounded by count.
        for revision in 22..(22 + BROADCAST_CAPACITY as i64 + 10) {
            window.keep(event(revision, 10));
        }
        assert_eq!(window.events.len(), BROADCAST_CAPACITY);
    }

    #[tokio::test]
    async fn a_watcher_whose_reader_stops_ends_lagged_once_the_window_moves_on() {
        let store = MemoryStore::with_watch_window(16 * MIB);
        let mut watch = store.watch("cm/", None).await.unwrap();
        settle().await;
        // 1 + 2 + 2 + 2 MiB fill the 8 MiB delivery; the fifth event waits for room.
        let last = write_big(&store, "cm/a", 5, None).await;
        settle().await;
        // The reader is away while 20 more go by, 40 MiB against a 16 MiB window.
        write_big(&store, "cm/a", 20, Some(last)).await;
        let mut revisions = Vec::new();
        let end = loop {
            match watch.next_event().await {
                Some(Ok(event)) => revisions.push(event.revision().0),
                Some(Err(err)) => break err,
                None => panic!("the stream ended without an error"),
            }
        };
        assert_eq!(
            revisions,
            [1, 2, 3, 4, 5],
            "what was delivered or held, in order"
        );
        assert!(
            matches!(
                end,
                StoreError::WatchLagged {
                    at: Revision(6),
                    ..
                }
            ),
            "{end:?}"
        );
        assert!(
            watch.next_event().await.is_none(),
            "the error is the last item"
        );
    }

    #[tokio::test]
    async fn a_watcher_that_was_only_slow_catches_up_from_the_log() {
        let store = MemoryStore::with_watch_window(4 * MIB);
        let mut watch = store.watch("cm/", None).await.unwrap();
        settle().await;
        // The watcher is live; its task does not run while these are written: its delivery is empty, so
        // it finds the window moved on without having waited, and reads the log.
        write_big(&store, "cm/a", 30, None).await;
        for want in 1..=30 {
            let event = watch.next_event().await.unwrap().unwrap();
            assert_eq!(event.revision(), Revision(want));
        }
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_gets_every_event_of_a_small_window() {
        let store = MemoryStore::with_watch_window(2 * MIB);
        let mut watch = store.watch("cm/", None).await.unwrap();
        let mut last = None;
        for want in 1..=20 {
            last = Some(write_big(&store, "cm/a", 1, last).await);
            let event = watch.next_event().await.unwrap().unwrap();
            assert_eq!(event.revision(), Revision(want));
        }
    }
}
