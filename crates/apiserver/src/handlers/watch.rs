//! WATCH: a chunked stream of newline-delimited events (ADDED, MODIFIED, DELETED, BOOKMARK,
//! ERROR), starting with the current state when no resourceVersion is given, resuming after
//! one otherwise, filtered by selectors (an object leaving the selection is DELETED), as
//! Tables when asked, and with periodic bookmarks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::{EventKind, KeyValue, Revision, WatchEvent, WatchStream};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::Call;
use super::watch_route::route_for;
use crate::Inner;
use crate::object::{from_stored, parse_resource_version, set_resource_version};
use crate::registry::{Filter, WatchStart};
use crate::response::wants_table;
use ferrokube_api::table::IncludeObject;

/// The API event for a store event under `filter`, or `None` when it concerns an object
/// outside the selection before and after.
///
/// | old matches | new matches | event                        |
/// |-------------|-------------|------------------------------|
/// | no / absent | yes         | ADDED (new)                  |
/// | yes         | yes         | MODIFIED (new)               |
/// | yes         | no / gone   | DELETED (old, at the new RV) |
pub fn plan_event(
    info: &ResourceInfo,
    filter: &Filter,
    event: &WatchEvent,
) -> Result<Option<(&'static str, Value)>, ApiError> {
    // Without selectors an update needs only the new object (its kind of event follows from
    // whether there was an old one): decoding the old one too doubles the cost per watcher.
    if filter.is_empty() && event.kind == EventKind::Put {
        let kind = if event.prev.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        return Ok(Some((kind, from_stored(info, &event.kv)?)));
    }
    let new_may_match = event.kind == EventKind::Put && filter.may_match_stored(&event.kv.value);
    let old_may_match = event
        .prev
        .as_ref()
        .is_some_and(|kv| filter.may_match_stored(&kv.value));
    if !new_may_match && !old_may_match {
        return Ok(None);
    }
    let old = event
        .prev
        .as_ref()
        .map(|kv| from_stored(info, kv))
        .transpose()?;
    let new = match event.kind {
        EventKind::Put => Some(from_stored(info, &event.kv)?),
        EventKind::Delete => None,
    };
    let old_matches = old.as_ref().is_some_and(|o| filter.matches(info, o));
    let new_matches = new.as_ref().is_some_and(|n| filter.matches(info, n));
    Ok(match (old_matches, new_matches, new, old) {
        (false, true, Some(new), _) => Some(("ADDED", new)),
        (true, true, Some(new), _) => Some(("MODIFIED", new)),
        (true, false, _, Some(mut old)) => {
            set_resource_version(&mut old, event.revision());
            Some(("DELETED", old))
        }
        _ => None,
    })
}

/// The watch's options, read from the query.
struct WatchOptions {
    start: Option<Revision>,
    timeout: Option<Duration>,
    bookmarks: bool,
    /// Events as Tables, with rows carrying this much of the object.
    table: Option<IncludeObject>,
}

impl WatchOptions {
    fn from_call(call: &Call<'_>) -> Result<Self, ApiError> {
        let start = match call.query.get("resourceVersion") {
            None | Some("0") => None,
            Some(rv) => Some(parse_resource_version(rv)?),
        };
        // Upstream's timer fires at once for a timeout below zero.
        let timeout = call
            .query
            .integer("timeoutSeconds")?
            .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(0)));
        Ok(WatchOptions {
            start,
            timeout,
            bookmarks: call.query.flag("allowWatchBookmarks"),
            table: match wants_table(call.headers) {
                true => Some(super::list::include_object(call)?),
                false => None,
            },
        })
    }
}

pub async fn watch(call: Call<'_>) -> Result<Response, ApiError> {
    crate::list_options::validate(&call.query)?;
    let options = WatchOptions::from_call(&call)?;
    let filter = Filter::from_query(call.info, &call.query)?;
    let route = route_for(call.info, &filter);
    let WatchStart {
        initial,
        start,
        stream,
    } = call
        .storage()
        .watch(call.key_namespace(), options.start, route.as_ref())
        .await?;
    let (lines, rx) = Lines::channel();
    let writer = EventWriter {
        lines,
        table: options.table,
        headers_sent: false,
        columns: call.info.strategy.columns(),
    };
    let stream = match stream {
        Ok(stream) => Some(stream),
        Err(status) => {
            writer
                .lines
                .send(event_line("ERROR", status.to_status()))
                .await;
            None
        }
    };
    let session = Session {
        server: call.server.clone(),
        resource: (call.info.group, call.info.version, call.info.plural),
        filter,
        options,
        bookmark_interval: call.server.options.bookmark_interval,
        last_revision: Revision(start.0 - 1),
    };
    if let Some(stream) = stream {
        tokio::spawn(session.run(writer, initial, stream));
    }
    // A line's room is given back as the body hands it to the connection.
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        let (line, _room) = rx.recv().await?;
        Some((Ok::<_, Infallible>(line), rx))
    }));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(body)
        .expect("valid response"))
}

/// Bytes of encoded lines a watch may have waiting for its client before its loop waits (one
/// line larger than this still goes alone), so a client that stops reading holds little.
const UNSENT_BYTES: usize = 8 << 20;

/// Lines on their way to the response body, at most `UNSENT_BYTES` of them.
struct Lines {
    tx: mpsc::Sender<(Bytes, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
}

impl Lines {
    fn channel() -> (Self, mpsc::Receiver<(Bytes, OwnedSemaphorePermit)>) {
        let (tx, rx) = mpsc::channel(64);
        let room = Arc::new(Semaphore::new(UNSENT_BYTES));
        (Lines { tx, room }, rx)
    }

    /// Queues `line` once there is room; `false` when the client has gone.
    async fn send(&self, line: Bytes) -> bool {
        let size = line.len().min(UNSENT_BYTES) as u32;
        let room = tokio::select! {
            room = self.room.clone().acquire_many_owned(size) => room,
            () = self.tx.closed() => return false,
        };
        let Ok(room) = room else { return false };
        self.tx.send((line, room)).await.is_ok()
    }

    async fn closed(&self) {
        self.tx.closed().await
    }
}

/// Writes events to the response, as Tables when asked (column definitions only once).
struct EventWriter {
    lines: Lines,
    table: Option<IncludeObject>,
    headers_sent: bool,
    columns: Vec<ferrokube_api::table::Column>,
}

impl EventWriter {
    /// Sends one event; `false` when the client has gone.
    async fn send(
        &mut self,
        kind: &str,
        object: Value,
        cells: impl FnOnce(&Value) -> Vec<Value>,
    ) -> bool {
        let object = if let Some(include) = self.table
            && kind != "BOOKMARK"
            && kind != "ERROR"
        {
            let columns = if self.headers_sent {
                Vec::new()
            } else {
                self.columns.clone()
            };
            self.headers_sent = true;
            let rv =
                json!({"resourceVersion": meta::get_str(&object, "resourceVersion").unwrap_or("")});
            let row = (cells(&object), include.row_object(&object));
            ferrokube_api::table::table(&columns, vec![row], rv)
        } else {
            object
        };
        self.lines.send(event_line(kind, object)).await
    }
}

/// One watch's loop, running after the response headers went out.
struct Session {
    server: Arc<Inner>,
    /// Group, version and plural of the watched resource.
    resource: (&'static str, &'static str, &'static str),
    filter: Filter,
    options: WatchOptions,
    bookmark_interval: Duration,
    last_revision: Revision,
}

impl Session {
    async fn run(
        mut self,
        mut writer: EventWriter,
        initial: Vec<KeyValue>,
        mut stream: WatchStream,
    ) {
        let server = self.server.clone();
        let (group, version, plural) = self.resource;
        let Some(info) = server.registry.find(group, version, plural) else {
            return;
        };
        for kv in &initial {
            let Ok(obj) = from_stored(info, kv) else {
                continue;
            };
            if self.filter.matches(info, &obj)
                && !writer
                    .send("ADDED", obj, |o| info.strategy.cells(o, Timestamp::now()))
                    .await
            {
                return;
            }
        }
        let deadline = self
            .options
            .timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut stopping = server.stopping.subscribe();
        if *stopping.borrow() {
            return;
        }
        let mut bookmarks = tokio::time::interval(self.bookmark_interval);
        bookmarks.tick().await;
        loop {
            let next = tokio::select! {
                next = stream.next_event() => next,
                _ = bookmarks.tick(), if self.options.bookmarks => {
                    let bookmark = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": {"resourceVersion": self.last_revision.0.to_string()}});
                    if !writer.send("BOOKMARK", bookmark, |_| Vec::new()).await { return; }
                    continue;
                }
                () = sleep_until(deadline) => return,
                // The only change is to true: the server is shutting down.
                _ = stopping.changed() => return,
                () = writer.lines.closed() => return,
            };
            match next {
                Some(Ok(event)) => {
                    self.last_revision = event.revision();
                    if self.filter.is_empty() && writer.table.is_none() {
                        // Every such watch of this resource sends the same line.
                        let key = (group, version, plural, event.revision());
                        let line = server.watch_lines.get_or_encode(key, || {
                            planned(info, &self.filter, &event)
                                .map(|(kind, object)| event_line(kind, object))
                        });
                        if let Some(line) = line
                            && !writer.lines.send(line).await
                        {
                            return;
                        }
                        continue;
                    }
                    if let Some((kind, obj)) = planned(info, &self.filter, &event)
                        && !writer
                            .send(kind, obj, |o| info.strategy.cells(o, Timestamp::now()))
                            .await
                    {
                        return;
                    }
                }
                Some(Err(err)) => {
                    let status = crate::registry::watch_error(err);
                    let _ = writer
                        .send("ERROR", status.to_status(), |_| Vec::new())
                        .await;
                    return;
                }
                None => return,
            }
        }
    }
}

/// `plan_event`, with an undecodable stored object logged and skipped.
fn planned(
    info: &ResourceInfo,
    filter: &Filter,
    event: &WatchEvent,
) -> Option<(&'static str, Value)> {
    plan_event(info, filter, event).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "skipping undecodable stored object in watch");
        None
    })
}

/// One event's line: `{"type":…,"object":…}` and a newline, `type` first as upstream writes
/// it and the object in upstream's field order. Clients decode the event as an adjacently
/// tagged enum (kube-rs' `WatchEvent`, for one): with the tag first they decode the object
/// straight into its type, and with it last (as a sorted map would put it) they must first
/// buffer the whole object as generic content.
fn event_line(kind: &str, object: Value) -> Bytes {
    Bytes::from(ferrokube_api::json_order::watch_event(kind, &object))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line_puts_the_type_first() {
        let object = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a\"b"}});
        let line = event_line("ADDED", object.clone());
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(r#"{"type":"ADDED","object":{"#), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parsed, json!({"type": "ADDED", "object": object}));
    }
}
