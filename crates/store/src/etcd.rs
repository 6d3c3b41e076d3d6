//! The etcd backend: the same `Store` over a real etcd v3 server, keys under a prefix
//! (default `/registry/`), compare-and-swap on `mod_revision` in a Txn, watches with `prev_kv`.

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, EventType, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

use crate::Store;
use crate::error::{EtcdRefusal, StoreError, etcd_refusal};
use crate::route::Route;
use crate::types::{
    EventKind, GetResult, KeyValue, RangeOptions, RangeResult, Revision, WatchEvent, WriteResult,
    check_write_size, prefix_end,
};
use crate::watch::WatchStream;

/// How long to wait for etcd to name its compacted revision.
const COMPACTION_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdStoreOptions {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Prefix of every key in etcd.
    pub prefix: String,
    /// How long one request to etcd may take before it fails as unavailable (a hung or
    /// unreachable etcd); watches are not bounded by it once they are established.
    pub request_timeout: Duration,
}

/// Upstream's default timeout for a write request (`handlers/rest.go`: 34 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(34);

impl EtcdStoreOptions {
    /// Options for these endpoints with the default prefix `/registry/`.
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdStoreOptions {
            endpoints,
            prefix: "/registry/".to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// A [`Store`] backed by a real etcd v3 server.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    prefix: String,
}

impl EtcdStore {
    /// Connects to etcd.
    pub async fn connect(options: EtcdStoreOptions) -> Result<Self, StoreError> {
        let connect = ConnectOptions::new().with_timeout(options.request_timeout);
        let client = Client::connect(&options.endpoints, Some(connect)).await?;
        Ok(EtcdStore {
            client,
            prefix: options.prefix,
        })
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    fn to_kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        let key = kv
            .key()
            .strip_prefix(self.prefix.as_bytes())
            .unwrap_or(kv.key());
        KeyValue {
            key: String::from_utf8_lossy(key).into_owned(),
            value: kv.value().to_vec(),
            create_revision: Revision(kv.create_revision()),
            mod_revision: Revision(kv.mod_revision()),
            version: kv.version(),
        }
    }

    /// Maps etcd's errors for a read at `requested` onto the store's own.
    async fn read_error(&self, err: etcd_client::Error, requested: Option<Revision>) -> StoreError {
        match (requested, etcd_refusal(&err)) {
            (Some(requested), Some(EtcdRefusal::Compacted)) => StoreError::Compacted {
                requested,
                compacted: self.compacted_revision().await.unwrap_or(Revision::ZERO),
            },
            (Some(requested), Some(EtcdRefusal::FutureRevision)) => StoreError::FutureRevision {
                requested,
                current: self.current_revision().await.unwrap_or(Revision::ZERO),
            },
            _ => err.into(),
        }
    }

    /// Asks etcd for its compacted revision: a watch from revision 1 of a key that is never
    /// written is answered with the compacted revision when there is one.
    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        let probe = format!("{}\u{0}compaction-probe", self.prefix);
        let options = WatchOptions::new().with_start_revision(1);
        let mut stream = self.client.clone().watch(probe, Some(options)).await?;
        let answer = tokio::time::timeout(COMPACTION_PROBE_TIMEOUT, async {
            while let Some(response) = stream.message().await? {
                if response.compact_revision() > 0 {
                    return Ok(Revision(response.compact_revision()));
                }
            }
            Ok::<_, etcd_client::Error>(Revision::ZERO)
        })
        .await;
        match answer {
            Ok(result) => Ok(result?),
            Err(_) => Ok(Revision::ZERO),
        }
    }

    /// A Txn that writes if `compare` holds, and otherwise reads the key to say why not.
    async fn guarded_write(
        &self,
        key: &str,
        compare: Compare,
        write: TxnOp,
    ) -> Result<(Revision, Option<TxnOpResponse>, Option<KeyValue>), StoreError> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([compare])
            .and_then([write])
            .or_else([TxnOp::get(full, None)]);
        let response = self.client.clone().txn(txn).await?;
        let revision = Revision(response.header().map_or(0, |h| h.revision()));
        let mut ops = response.op_responses().into_iter();
        if response.succeeded() {
            return Ok((revision, ops.next(), None));
        }
        let current = match ops.next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(|kv| self.to_kv(kv)),
            _ => None,
        };
        match current {
            Some(current) => Err(StoreError::Conflict {
                expected: Revision::ZERO,
                current: Box::new(current),
            }),
            None => Err(StoreError::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    /// Opens etcd's watch of everything under `prefix` from `start`.
    async fn open_watch(
        &self,
        prefix: &str,
        start: Revision,
    ) -> Result<etcd_client::WatchStream, StoreError> {
        let full = self.full_key(prefix);
        let options = match prefix_end(&full) {
            Some(end) => WatchOptions::new().with_range(end),
            None => WatchOptions::new().with_from_key(),
        };
        let options = options.with_prev_key().with_start_revision(start.0);
        Ok(self.client.clone().watch(full, Some(options)).await?)
    }

    /// Streams etcd's watch responses into `out` until either side ends.
    async fn pump_watch(
        self,
        mut stream: etcd_client::WatchStream,
        start: Revision,
        out: crate::watch::WatchSender,
    ) {
        let mut next = start;
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                () = out.closed() => return,
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => {
                    let _ = out
                        .send(Err(StoreError::Etcd("watch stream closed by etcd".into())))
                        .await;
                    return;
                }
                Err(err) => {
                    let _ = out.send(Err(err.into())).await;
                    return;
                }
            };
            if response.compact_revision() > 0 {
                let compacted = Revision(response.compact_revision());
                let at = next;
                let reason =
                    format!("etcd compacted revision {compacted} before the watcher read it");
                let _ = out.send(Err(StoreError::WatchLagged { at, reason })).await;
                return;
            }
            if response.canceled() {
                let reason = response.cancel_reason().to_owned();
                let _ = out
                    .send(Err(StoreError::Etcd(format!(
                        "watch canceled by etcd: {reason}"
                    ))))
                    .await;
                return;
            }
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                let event = WatchEvent {
                    kind: match event.event_type() {
                        EventType::Put => EventKind::Put,
                        EventType::Delete => EventKind::Delete,
                    },
                    kv: self.to_kv(kv),
                    prev: event.prev_kv().map(|kv| self.to_kv(kv)),
                };
                next = event.revision().next();
                if out.send(Ok(std::sync::Arc::new(event))).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult, StoreError> {
        let mut options = GetOptions::new();
        if let Some(revision) = revision {
            options = options.with_revision(revision.0);
        }
        let response = match self
            .client
            .clone()
            .get(self.full_key(key), Some(options))
            .await
        {
            Ok(response) => response,
            Err(err) => return Err(self.read_error(err, revision).await),
        };
        Ok(GetResult {
            kv: response.kvs().first().map(|kv| self.to_kv(kv)),
            revision: revision.unwrap_or(Revision(response.header().map_or(0, |h| h.revision()))),
        })
    }

    async fn range(&self, prefix: &str, options: RangeOptions) -> Result<RangeResult, StoreError> {
        let full_prefix = self.full_key(prefix);
        let start = match options.start_key.as_deref() {
            Some(start) if start > prefix => self.full_key(start),
            _ => full_prefix.clone(),
        };
        let mut get = match prefix_end(&full_prefix) {
            Some(end) => GetOptions::new().with_range(end),
            None => GetOptions::new().with_from_key(),
        };
        if let Some(limit) = options.limit.filter(|l| *l > 0) {
            get = get.with_limit(limit as i64);
        }
        if let Some(revision) = options.revision {
            get = get.with_revision(revision.0);
        }
        let response = match self.client.clone().get(start, Some(get)).await {
            Ok(response) => response,
            Err(err) => return Err(self.read_error(err, options.revision).await),
        };
        Ok(RangeResult {
            items: response.kvs().iter().map(|kv| self.to_kv(kv)).collect(),
            more: response.more(),
            revision: options
                .revision
                .unwrap_or(Revision(response.header().map_or(0, |h| h.revision()))),
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        let full = self.full_key(key);
        let compare = Compare::create_revision(full.clone(), CompareOp::Equal, 0);
        match self
            .guarded_write(key, compare, TxnOp::put(full, value, None))
            .await
        {
            Ok((revision, _, _)) => Ok(WriteResult {
                revision,
                prev: None,
            }),
            Err(StoreError::Conflict { .. }) => Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            }),
            Err(err) => Err(err),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<WriteResult, StoreError> {
        check_write_size(key, &value)?;
        let full = self.full_key(key);
        let compare = Compare::mod_revision(full.clone(), CompareOp::Equal, expected.0);
        let put = TxnOp::put(full, value, Some(PutOptions::new().with_prev_key()));
        match self.guarded_write(key, compare, put).await {
            Ok((revision, Some(TxnOpResponse::Put(put)), _)) => Ok(WriteResult {
                revision,
                prev: put.prev_key().map(|kv| self.to_kv(kv)),
            }),
            Ok((revision, _, _)) => Ok(WriteResult {
                revision,
                prev: None,
            }),
            Err(StoreError::Conflict { current, .. }) => {
                Err(StoreError::Conflict { expected, current })
            }
            Err(err) => Err(err),
        }
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<WriteResult, StoreError> {
        let full = self.full_key(key);
        let compare = match expected {
            Some(expected) => Compare::mod_revision(full.clone(), CompareOp::Equal, expected.0),
            None => Compare::create_revision(full.clone(), CompareOp::Greater, 0),
        };
        let delete = TxnOp::delete(
            full,
            Some(etcd_client::DeleteOptions::new().with_prev_key()),
        );
        match self.guarded_write(key, compare, delete).await {
            Ok((revision, Some(TxnOpResponse::Delete(deleted)), _)) => Ok(WriteResult {
                revision,
                prev: deleted.prev_kvs().first().map(|kv| self.to_kv(kv)),
            }),
            Ok((revision, _, _)) => Ok(WriteResult {
                revision,
                prev: None,
            }),
            Err(StoreError::Conflict { current, .. }) => Err(StoreError::Conflict {
                expected: expected.unwrap_or(Revision::ZERO),
                current,
            }),
            Err(err) => Err(err),
        }
    }

    /// etcd has no routing: a routed watch gets every event under `prefix`.
    async fn watch_routed(
        &self,
        prefix: &str,
        start: Option<Revision>,
        _route: Option<&Route>,
    ) -> Result<WatchStream, StoreError> {
        // etcd reports a compacted start asynchronously; a read just below `start` tells now,
        // and makes a start equal to the compacted revision fail, as the embedded backends do.
        if let Some(start) = start.filter(|s| s.0 > 1) {
            let probe = GetOptions::new()
                .with_revision(start.0 - 1)
                .with_count_only();
            if let Err(err) = self
                .client
                .clone()
                .get(self.full_key(prefix), Some(probe))
                .await
            {
                if etcd_refusal(&err) == Some(EtcdRefusal::Compacted) {
                    let compacted = self.compacted_revision().await?;
                    return Err(StoreError::Compacted {
                        requested: start,
                        compacted,
                    });
                }
                if etcd_refusal(&err) != Some(EtcdRefusal::FutureRevision) {
                    return Err(err.into());
                }
            }
        }
        // "From now" is pinned to a revision here, so that a write made after `watch` returns
        // is seen even if etcd registers the watch later.
        let start = match start {
            Some(start) => start,
            None => self.current_revision().await?.next(),
        };
        let etcd_stream = self.open_watch(prefix, start).await?;
        let (tx, stream) = WatchStream::channel();
        tokio::spawn(self.clone().pump_watch(etcd_stream, start, tx));
        Ok(stream)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let options = CompactionOptions::new().with_physical();
        match self.client.clone().compact(revision.0, Some(options)).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.read_error(err, Some(revision)).await),
        }
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .client
            .clone()
            .get(self.prefix.as_bytes().to_vec(), Some(options))
            .await?;
        Ok(Revision(response.header().map_or(0, |h| h.revision())))
    }

    async fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        let full = self.full_key(prefix);
        let options = match prefix_end(&full) {
            Some(end) => GetOptions::new().with_range(end),
            None => GetOptions::new().with_from_key(),
        }
        .with_count_only();
        let response = self.client.clone().get(full, Some(options)).await?;
        Ok(response.count() as u64)
    }
}
