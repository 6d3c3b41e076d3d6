//! LIST: the registry's page of the selected objects, as a typed list (each item encoded as it
//! is read, the body sent in pieces) or a Table.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use ferrokube_api::ApiError;
use ferrokube_api::json_order::{LIST_TAIL, ListPieces};
use ferrokube_api::table::IncludeObject;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Call;
use crate::registry::{Filter, ListOptions, ListSink, PageMeta};
use crate::response::{json, wants_table};

pub async fn list(call: Call<'_>) -> Result<Response, ApiError> {
    crate::list_options::validate(&call.query)?;
    let filter = Filter::from_query(call.info, &call.query)?;
    let options = ListOptions::from_query(&call.query)?;
    if wants_table(call.headers) {
        let page = call
            .storage()
            .list(call.key_namespace(), &filter, &options)
            .await?;
        let list_meta = list_meta(&page.meta);
        return Ok(json(
            200,
            &table_of(&call, &page.items, list_meta, Timestamp::now())?,
        ));
    }
    let kind = format!("{}List", call.info.kind);
    let mut items = EncodedItems::new(ListPieces::new(&kind, &call.info.api_version()));
    let meta = call
        .storage()
        .list_into(call.key_namespace(), &filter, &options, &mut items)
        .await?;
    let head =
        json!({"kind": kind, "apiVersion": call.info.api_version(), "metadata": list_meta(&meta)});
    Ok(items.into_response(&head))
}

/// A list's `metadata`: resourceVersion, and continue and remainingItemCount for a partial page.
fn list_meta(meta: &PageMeta) -> Value {
    let mut list_meta = json!({"resourceVersion": meta.revision.0.to_string()});
    if let Some(token) = &meta.continue_token {
        list_meta["continue"] = json!(token);
    }
    if let Some(remaining) = meta.remaining {
        list_meta["remainingItemCount"] = json!(remaining);
    }
    list_meta
}

/// Bytes of encoded items gathered before they are set aside as one piece of the body.
const PIECE_BYTES: usize = 64 << 10;

/// A list's items, encoded as the registry reads them: the response holds their bytes, in
/// pieces, and never the decoded objects.
struct EncodedItems {
    pieces: ListPieces,
    done: Vec<Bytes>,
    current: Vec<u8>,
    count: usize,
}

impl EncodedItems {
    fn new(pieces: ListPieces) -> Self {
        EncodedItems {
            pieces,
            done: Vec::new(),
            current: Vec::with_capacity(PIECE_BYTES * 2),
            count: 0,
        }
    }

    /// The whole list as a 200: `head` (the list without items), the items, the tail.
    fn into_response(mut self, head: &Value) -> Response {
        let mut body = vec![Bytes::from(self.pieces.head(head))];
        body.append(&mut self.done);
        body.push(Bytes::copy_from_slice(&self.current));
        body.push(Bytes::from_static(LIST_TAIL));
        let length: usize = body.iter().map(Bytes::len).sum();
        let stream = futures::stream::iter(body.into_iter().map(Ok::<_, Infallible>));
        Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, length)
            .body(Body::from_stream(stream))
            .expect("valid response")
    }
}

impl ListSink for EncodedItems {
    fn push(&mut self, object: Value) -> Result<(), ApiError> {
        if self.count > 0 {
            self.current.push(b',');
        }
        self.pieces
            .write_item(&mut self.current, &strip_type(object));
        self.count += 1;
        if self.current.len() >= PIECE_BYTES {
            // A piece of exactly its size (a vector's spare capacity would stay allocated with
            // it); the scratch buffer is reused for the next.
            self.done.push(Bytes::copy_from_slice(&self.current));
            self.current.clear();
        }
        Ok(())
    }

    fn count(&self) -> usize {
        self.count
    }
}

/// List items carry no `kind`/`apiVersion`, as upstream's typed lists.
fn strip_type(mut obj: Value) -> Value {
    if let Some(map) = obj.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    obj
}

/// A Table of objects with the resource's columns, each row's object as `includeObject` asks.
pub fn table_of(
    call: &Call<'_>,
    objects: &[Value],
    list_meta: Value,
    now: Timestamp,
) -> Result<Value, ApiError> {
    let include = include_object(call)?;
    let columns = call.info.strategy.columns();
    let rows = objects
        .iter()
        .map(|obj| (call.info.strategy.cells(obj, now), include.row_object(obj)))
        .collect();
    Ok(ferrokube_api::table::table(&columns, rows, list_meta))
}

/// The request's `includeObject`.
pub fn include_object(call: &Call<'_>) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(call.query.get("includeObject")).map_err(ApiError::bad_request)
}
