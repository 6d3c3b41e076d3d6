//! Reads: one object, a page of a list (selectors, `limit`/`continue` paging, resourceVersion
//! semantics), and the start of a watch.
//!
//! Paging example: `limit=2` over keys a, b, c returns a and b with a continue token naming
//! revision R and start key `b\0`; the next call reads c at revision R, so the pages form one
//! consistent snapshot.

use base64::Engine;
use ferrokube_api::ApiError;
use ferrokube_store::{KeyValue, RangeOptions, Revision, Route, StoreError, WatchStream};
use serde_json::{Value, json};

use super::{Filter, Storage, Stored};
use crate::object::{from_stored, parse_resource_version};
use crate::query::Query;

/// Items read from the store per page while filtering.
const SCAN_PAGE: u64 = 500;

/// How long a read at a future resourceVersion waits for the store (upstream's `blockTimeout`).
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// How often it looks at the store's revision meanwhile.
const FRESHNESS_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Upstream's `NewTooLargeResourceVersionError(wanted, current, 1)`.
fn too_large_resource_version(wanted: Revision, current: Revision) -> ApiError {
    let mut err = ApiError::timeout(format!(
        "Timeout: Too large resource version: {}, current: {}",
        wanted.0, current.0
    ));
    err.details = Some(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }));
    err
}

/// The options of a list, as the query gives them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListOptions {
    pub limit: Option<u64>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

impl ListOptions {
    /// The options of the query; `limit` not an integer is a 400, as upstream's.
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        Ok(ListOptions {
            limit: query
                .integer("limit")?
                .and_then(|l| u64::try_from(l).ok())
                .filter(|l| *l > 0),
            continue_token: query.get("continue").map(str::to_owned),
            resource_version: query.get("resourceVersion").map(str::to_owned),
            resource_version_match: query.get("resourceVersionMatch").map(str::to_owned),
        })
    }

    /// Whether a future resourceVersion waits for the store, as upstream's watch cache does
    /// for "not older than" reads (`NotOlderThan`, or no match and no limit); `0` never waits.
    fn waits_for(&self) -> Option<&str> {
        let rv = self.resource_version.as_deref().filter(|rv| *rv != "0")?;
        let not_older_than = match self.resource_version_match.as_deref() {
            Some(m) => m == "NotOlderThan",
            None => self.limit.is_none(),
        };
        (not_older_than && self.continue_token.is_none()).then_some(rv)
    }

    /// The revision a list reads at: now, unless `resourceVersionMatch=Exact` names one.
    fn revision(&self) -> Result<Option<Revision>, ApiError> {
        let rv = self.resource_version.as_deref();
        match (self.resource_version_match.as_deref(), rv) {
            (Some("Exact"), Some(rv)) => Ok(Some(parse_resource_version(rv)?)),
            (Some("Exact"), None) => Err(ApiError::bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"\"",
            )),
            (Some("NotOlderThan") | None, rv) => {
                if let Some(rv) = rv {
                    parse_resource_version(rv)?;
                }
                Ok(None)
            }
            (Some(other), _) => Err(ApiError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
            ))),
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub meta: PageMeta,
}

/// A page's list metadata: its revision, and where the next page starts.
#[derive(Debug)]
pub struct PageMeta {
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

/// Where a list puts the objects it selects, one at a time, as it reads them.
pub trait ListSink {
    fn push(&mut self, object: Value) -> Result<(), ApiError>;
    /// How many objects it has taken.
    fn count(&self) -> usize;
}

impl ListSink for Vec<Value> {
    fn push(&mut self, object: Value) -> Result<(), ApiError> {
        Vec::push(self, object);
        Ok(())
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// What a watch starts from: the objects it first reports as ADDED (none when it resumes
/// from a resourceVersion), and the stream of changes after them (or why there is none).
pub struct WatchStart {
    pub initial: Vec<KeyValue>,
    /// The first revision the stream delivers.
    pub start: Revision,
    pub stream: Result<WatchStream, ApiError>,
}

/// The continue token: which revision the list reads at and the key it resumes from.
fn encode_continue(revision: Revision, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision.0, "start": start});
    base64::engine::general_purpose::STANDARD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((Revision(rv), start.to_owned()))
}

impl Storage<'_> {
    /// The current object, or 404.
    pub async fn get(&self, namespace: Option<&str>, name: &str) -> Result<Stored, ApiError> {
        self.find(namespace, name)
            .await?
            .ok_or_else(|| ApiError::not_found(&self.resource(), name))
    }

    /// The current object, if there is one.
    pub async fn find(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Stored>, ApiError> {
        let got = self
            .store()
            .get(&self.key(namespace, name), None)
            .await
            .map_err(|e| self.error(e, name))?;
        got.kv
            .map(|kv| {
                Ok(Stored {
                    object: from_stored(self.info, &kv)?,
                    revision: kv.mod_revision,
                })
            })
            .transpose()
    }

    /// One page of the objects under `namespace` (all, for none) that `filter` selects.
    pub async fn list(
        &self,
        namespace: Option<&str>,
        filter: &Filter,
        options: &ListOptions,
    ) -> Result<Page, ApiError> {
        let mut items = Vec::new();
        let meta = self
            .list_into(namespace, filter, options, &mut items)
            .await?;
        Ok(Page { items, meta })
    }

    /// `list`, handing each selected object to `sink` as it is read instead of collecting
    /// them (a served list encodes each one at once, and never holds the decoded objects).
    pub async fn list_into(
        &self,
        namespace: Option<&str>,
        filter: &Filter,
        options: &ListOptions,
        sink: &mut impl ListSink,
    ) -> Result<PageMeta, ApiError> {
        let prefix = self.info.key_prefix(self.key_namespace(namespace));
        let limit = options.limit;
        let (mut revision, mut start) = match options.continue_token.as_deref() {
            Some(token) => {
                let (rv, start) = decode_continue(token)?;
                if options
                    .resource_version
                    .as_deref()
                    .is_some_and(|rv| rv != "0")
                {
                    return Err(ApiError::bad_request(
                        "specifying resource version is not allowed when using continue",
                    ));
                }
                (Some(rv), Some(format!("{prefix}{start}")))
            }
            None => (options.revision()?, None),
        };
        if let Some(rv) = options.waits_for() {
            self.wait_for_revision(parse_resource_version(rv)?).await?;
        }
        loop {
            let want = limit.map_or(SCAN_PAGE, |l| (l - sink.count() as u64).max(1));
            let range = RangeOptions {
                start_key: start.clone(),
                limit: Some(want),
                revision,
            };
            let page = self
                .store()
                .range(&prefix, range)
                .await
                .map_err(|e| self.list_error(e))?;
            revision = Some(page.revision);
            let last_key = page.items.last().map(|kv| kv.key.clone());
            for kv in page
                .items
                .iter()
                .filter(|kv| filter.may_match_stored(&kv.value))
            {
                let object = from_stored(self.info, kv)?;
                if filter.matches(self.info, &object) {
                    sink.push(object)?;
                }
            }
            let full = limit.is_some_and(|l| sink.count() as u64 >= l);
            match (page.more, last_key) {
                (true, Some(last)) if full => {
                    let resume = last.strip_prefix(&prefix).unwrap_or(&last);
                    let token = encode_continue(page.revision, &format!("{resume}\u{0}"));
                    let remaining = if filter.is_empty() {
                        let total = self
                            .store()
                            .count(&prefix)
                            .await
                            .map_err(|e| self.list_error(e))?;
                        let seen = self.prefix_position(&prefix, &last).await?;
                        Some(total.saturating_sub(seen))
                    } else {
                        None
                    };
                    return Ok(PageMeta {
                        revision: page.revision,
                        continue_token: Some(token),
                        remaining,
                    });
                }
                (true, Some(last)) => start = Some(format!("{last}\u{0}")),
                _ => {
                    return Ok(PageMeta {
                        revision: page.revision,
                        continue_token: None,
                        remaining: None,
                    });
                }
            }
        }
    }

    /// Waits up to 3 s for the store to reach `wanted`, as upstream's watch cache waits
    /// (`waitUntilFreshAndBlock`), then answers upstream's 504: `Timeout: Too large resource
    /// version: 99, current: 12`, cause `ResourceVersionTooLarge`, retry after 1 s.
    pub async fn wait_for_revision(&self, wanted: Revision) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
        loop {
            let current = self
                .store()
                .current_revision()
                .await
                .map_err(|e| self.error(e, ""))?;
            if current >= wanted {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(too_large_resource_version(wanted, current));
            }
            tokio::time::sleep(FRESHNESS_POLL).await;
        }
    }

    /// How many keys under `prefix` sort at or before `last` (for remainingItemCount).
    async fn prefix_position(&self, prefix: &str, last: &str) -> Result<u64, ApiError> {
        let mut n = 0;
        let mut start: Option<String> = None;
        loop {
            let options = RangeOptions {
                start_key: start.clone(),
                limit: Some(SCAN_PAGE),
                revision: None,
            };
            let page = self
                .store()
                .range(prefix, options)
                .await
                .map_err(|e| self.list_error(e))?;
            for kv in &page.items {
                if kv.key.as_str() > last {
                    return Ok(n);
                }
                n += 1;
            }
            match page.items.last() {
                Some(kv) if page.more => start = Some(format!("{}\u{0}", kv.key)),
                _ => return Ok(n),
            }
        }
    }

    fn list_error(&self, err: StoreError) -> ApiError {
        match err {
            StoreError::Compacted { .. } => {
                ApiError::gone("The resourceVersion for the provided list is too old.")
            }
            other => self.error(other, ""),
        }
    }

    /// Starts a watch under `namespace`: after revision `after` when given, else from the
    /// current objects (reported first) on. `route` lets the store leave out events the
    /// watch's field selector cannot match.
    pub async fn watch(
        &self,
        namespace: Option<&str>,
        after: Option<Revision>,
        route: Option<&Route>,
    ) -> Result<WatchStart, ApiError> {
        let prefix = self.info.key_prefix(self.key_namespace(namespace));
        let (initial, start) = match after {
            Some(rv) => (Vec::new(), rv.next()),
            None => {
                let range = self
                    .store()
                    .range(&prefix, RangeOptions::default())
                    .await
                    .map_err(|e| self.error(e, ""))?;
                (range.items, range.revision.next())
            }
        };
        let stream = match self.store().watch_routed(&prefix, Some(start), route).await {
            Ok(stream) => Ok(stream),
            Err(StoreError::Compacted {
                requested,
                compacted,
            }) => Err(ApiError::gone(format!(
                "too old resource version: {} ({})",
                requested.0 - 1,
                compacted.0
            ))),
            Err(err) => return Err(self.error(err, "")),
        };
        Ok(WatchStart {
            initial,
            start,
            stream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    #[test]
    fn continue_token_round_trips() {
        let token = encode_continue(Revision(42), "web\u{0}");
        assert_eq!(
            decode_continue(&token).unwrap(),
            (Revision(42), "web\u{0}".to_owned())
        );
        assert!(decode_continue("not-base64!").is_err());
    }

    #[test]
    fn list_revision_table() {
        let options = |rv: Option<&str>, rv_match: Option<&str>| ListOptions {
            resource_version: rv.map(str::to_owned),
            resource_version_match: rv_match.map(str::to_owned),
            ..ListOptions::default()
        };
        assert_eq!(options(None, None).revision(), Ok(None));
        assert_eq!(options(Some("7"), None).revision(), Ok(None));
        assert_eq!(
            options(Some("7"), Some("Exact")).revision(),
            Ok(Some(Revision(7)))
        );
        assert_eq!(
            options(None, Some("Exact")).revision().unwrap_err().code,
            400
        );
        assert_eq!(options(Some("x"), None).revision().unwrap_err().code, 400);
        assert_eq!(
            options(Some("7"), Some("Newest"))
                .revision()
                .unwrap_err()
                .code,
            400
        );
    }

    #[tokio::test]
    async fn pages_of_a_list_form_one_snapshot() {
        let server = testing::server().await;
        let storage = Storage::of(&server.inner, "", "v1", "configmaps");
        for name in ["a", "b", "c"] {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
            storage
                .create(Some("default"), cm, &Default::default())
                .await
                .unwrap();
        }
        let everything = Filter::new(Default::default(), Default::default());
        let first = ListOptions {
            limit: Some(2),
            ..ListOptions::default()
        };
        let page = storage
            .list(Some("default"), &everything, &first)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.meta.remaining, Some(1));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}});
        storage
            .create(Some("default"), cm, &Default::default())
            .await
            .unwrap();
        let next = ListOptions {
            continue_token: page.meta.continue_token,
            ..ListOptions::default()
        };
        let rest = storage
            .list(Some("default"), &everything, &next)
            .await
            .unwrap();
        let names: Vec<&str> = rest.items.iter().map(ferrokube_api::meta::name).collect();
        assert_eq!(names, ["c"], "the snapshot of the first page, without d");
        assert_eq!(rest.meta.continue_token, None);
    }
}
