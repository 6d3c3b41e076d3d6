//! Watches for the log-structured backends (memory, SQLite): a broadcast of committed events,
//! and one task per watcher that serves from the broadcast while it keeps up and from the
//! revision log when it does not, so that a watcher never blocks a writer and never skips.
//!
//! Worked example: a watcher from revision 5 when the store is at 8 reads 5..=8 from the log
//! (`CatchingUp`), then takes 9, 10, … from the broadcast (`Live`). If its consumer stops
//! reading, the broadcast overwrites what it has not taken; the next receive reports the lag
//! and the watcher goes back to `CatchingUp` from the first revision it has not delivered.
//! If compaction has removed that revision meanwhile, the stream ends with `WatchLagged`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::error::StoreError;
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

/// The broadcast side of watches: writers publish each committed event here, in revision order.
#[derive(Clone)]
pub(crate) struct WatchHub {
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl WatchHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        WatchHub { tx }
    }

    /// Publishes a committed event; never waits. Callers publish in revision order.
    pub fn publish(&self, event: WatchEvent) {
        // An error only means nobody is watching right now.
        let _ = self.tx.send(Arc::new(event));
    }

    /// Starts a watcher task over `history` and returns its stream.
    pub async fn watch<H: History>(
        &self,
        history: Arc<H>,
        prefix: &str,
        start: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        // Subscribe before reading the current revision, so nothing falls between the two.
        let live = self.tx.subscribe();
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
    live: broadcast::Receiver<Arc<WatchEvent>>,
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
            Ok(event) => match classify(event.revision(), next) {
                Arrival::AlreadySeen => WatcherState::Live { next },
                Arrival::Gap => WatcherState::CatchingUp { next },
                Arrival::Next => {
                    if has_prefix(&event.kv.key, &self.prefix)
                        && self.out.send(Ok(event)).await.is_err()
                    {
                        return WatcherState::Done;
                    }
                    WatcherState::Live { next: next.next() }
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

/// How a broadcast event relates to the revision a watcher expects next.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    /// Already delivered from the log.
    AlreadySeen,
    /// Exactly the expected revision.
    Next,
    /// Revisions are missing in between: catch up from the log.
    Gap,
}

fn classify(revision: Revision, next: Revision) -> Arrival {
    match revision.cmp(&next) {
        std::cmp::Ordering::Less => Arrival::AlreadySeen,
        std::cmp::Ordering::Equal => Arrival::Next,
        std::cmp::Ordering::Greater => Arrival::Gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let cases = [
            (4, 5, Arrival::AlreadySeen),
            (5, 5, Arrival::Next),
            (6, 5, Arrival::Gap),
        ];
        for (revision, next, want) in cases {
            assert_eq!(
                classify(Revision(revision), Revision(next)),
                want,
                "{revision} vs {next}"
            );
        }
    }
}
