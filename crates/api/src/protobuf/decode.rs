//! The protobuf wire format (varints, fixed64, length-delimited fields) decoded against the
//! message tables into the JSON shape of the same object.
//!
//! Example: the envelope `k8s\0` + Unknown{typeMeta{apiVersion "v1", kind "ConfigMap"},
//! raw = ConfigMap{metadata{name "c"}, data{"a": "b"}}} decodes to
//! `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}`.
//! A zero that Go wrote for a plain field (`minReadySeconds: 0`, `terminationMessagePath: ""`)
//! is dropped as JSON's `omitempty` would drop it; a pointer field's zero (`replicas: 0`) and
//! an empty message (`emptyDir: {}`) are kept.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::schema::{Field, Kind, MapValue, Message, kind_message};

/// The magic bytes before every Kubernetes protobuf body.
pub(super) const MAGIC: &[u8] = b"k8s\0";
/// Seconds of Go's zero `time.Time`, which Go writes for an unset timestamp.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;
/// How deep objects embedded in `RawExtension`s may nest.
const MAX_EMBEDDING: u32 = 16;

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the Kubernetes magic bytes \"k8s\\x00\"")]
    MissingMagic,
    /// The bytes end inside a field.
    #[error("protobuf body is truncated in {0}")]
    Truncated(&'static str),
    /// A wire type that does not fit the field.
    #[error(
        "protobuf field {number} of {message} has wire type {wire}, which does not match its type"
    )]
    WireType {
        message: &'static str,
        number: u32,
        wire: u8,
    },
    /// A field number the message does not have; refused rather than dropped.
    #[error(
        "protobuf field {number} of {message} is not a field of that message; send the object as JSON"
    )]
    UnknownField { message: &'static str, number: u32 },
    /// A field of a newer Kubernetes than the API this server serves; refused, not dropped.
    #[error(
        "protobuf field {number} ({name}) of {message} is not served by this server's API version; send the object as JSON"
    )]
    Unserved {
        message: &'static str,
        number: u32,
        name: &'static str,
    },
    /// A kind this server has no message table for.
    #[error(
        "protobuf bodies of kind {kind:?} in version {api_version:?} are not supported by this server; send the object as JSON"
    )]
    UnsupportedKind { api_version: String, kind: String },
    /// `runtime.Unknown.contentEncoding` is set (upstream never sets it).
    #[error("protobuf body has content encoding {0:?}, which this server does not decode")]
    ContentEncoding(String),
    /// A string that is not UTF-8.
    #[error("protobuf string in {0} is not valid UTF-8")]
    Utf8(&'static str),
    /// A field holding JSON that is not JSON.
    #[error("protobuf {0} does not hold valid JSON")]
    Json(&'static str),
    /// A `double` that JSON cannot write (NaN or infinite).
    #[error("protobuf double in {0} is not a finite number")]
    Number(&'static str),
    /// Objects embedded in `RawExtension`s nest deeper than any real object.
    #[error("protobuf objects embedded in raw extensions nest too deep")]
    TooDeep,
}

/// Decodes a whole body: the envelope, then the object inside.
pub fn decode_envelope(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_embedded(body, 0)
}

fn decode_embedded(body: &[u8], depth: u32) -> Result<Value, ProtobufError> {
    if depth > MAX_EMBEDDING {
        return Err(ProtobufError::TooDeep);
    }
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Envelope::read(unknown)?;
    let schema = kind_message(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtobufError::UnsupportedKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    Decoder { depth }.message_into(envelope.raw, schema, &mut object)?;
    Ok(Value::Object(object))
}

/// A `runtime.Unknown`: the type and the raw bytes of the object.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
        };
        let mut reader = Reader::new(bytes, "runtime.Unknown");
        while let Some((number, wire)) = reader.tag()? {
            match (number, wire) {
                (1, 2) => envelope.read_type_meta(reader.bytes()?)?,
                (2, 2) => envelope.raw = reader.bytes()?,
                (3, 2) => match reader.string()? {
                    encoding if encoding.is_empty() => {}
                    encoding => return Err(ProtobufError::ContentEncoding(encoding)),
                },
                // contentType: the raw bytes are protobuf whatever it says.
                (4, 2) => reader.skip(wire)?,
                _ => {
                    return Err(ProtobufError::UnknownField {
                        message: "runtime.Unknown",
                        number,
                    });
                }
            }
        }
        Ok(envelope)
    }

    fn read_type_meta(&mut self, bytes: &[u8]) -> Result<(), ProtobufError> {
        let mut reader = Reader::new(bytes, "runtime.TypeMeta");
        while let Some((number, wire)) = reader.tag()? {
            match (number, wire) {
                (1, 2) => self.api_version = reader.string()?,
                (2, 2) => self.kind = reader.string()?,
                _ => {
                    return Err(ProtobufError::UnknownField {
                        message: "runtime.TypeMeta",
                        number,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Decoding state: how deep in embedded objects we are.
struct Decoder {
    depth: u32,
}

impl Decoder {
    /// Decodes `bytes` as `schema`, adding its fields to `out` (an inline message's fields
    /// land in its parent's object).
    fn message_into(
        &self,
        bytes: &[u8],
        schema: &'static Message,
        out: &mut Map<String, Value>,
    ) -> Result<(), ProtobufError> {
        let mut reader = Reader::new(bytes, schema.name);
        while let Some((number, wire)) = reader.tag()? {
            let field = field_of(schema, number)?;
            if field.inline {
                expect_wire(schema, field, wire, 2)?;
                let Kind::Message(nested) = field.kind else {
                    return Err(ProtobufError::UnknownField {
                        message: schema.name,
                        number,
                    });
                };
                self.message_into(reader.bytes()?, nested, out)?;
            } else if field.repeated {
                self.repeated(&mut reader, schema, field, wire, out)?;
            } else if let Kind::Map(value) = field.kind {
                expect_wire(schema, field, wire, 2)?;
                let (key, value) = self.map_entry(reader.bytes()?, schema, value)?;
                let map = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(map) = map.as_object_mut() {
                    map.insert(key, value);
                }
            } else if let Some(value) = self.value(&mut reader, schema, field, wire)?
                && (field.keep_zero || !is_zero(&value))
            {
                out.insert(field.json.to_owned(), value);
            }
        }
        Ok(())
    }

    /// One element of a repeated field, or a packed run of integers.
    fn repeated(
        &self,
        reader: &mut Reader<'_>,
        schema: &'static Message,
        field: &'static Field,
        wire: u8,
        out: &mut Map<String, Value>,
    ) -> Result<(), ProtobufError> {
        let packable = matches!(field.kind, Kind::Int32 | Kind::Int64 | Kind::Bool);
        let list = out
            .entry(field.json)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(items) = list else {
            return Ok(());
        };
        if packable && wire == 2 {
            let mut packed = Reader::new(reader.bytes()?, schema.name);
            while !packed.done() {
                items.push(varint_value(field.kind, packed.varint()?));
            }
            return Ok(());
        }
        if let Some(value) = self.value(reader, schema, field, wire)? {
            items.push(value);
        }
        Ok(())
    }

    /// One value; `None` for one JSON does not have (a zero timestamp, an empty raw object).
    fn value(
        &self,
        reader: &mut Reader<'_>,
        schema: &'static Message,
        field: &'static Field,
        wire: u8,
    ) -> Result<Option<Value>, ProtobufError> {
        let want = match field.kind {
            Kind::Int32 | Kind::Int64 | Kind::Bool => 0,
            Kind::Double => 1,
            _ => 2,
        };
        expect_wire(schema, field, wire, want)?;
        Ok(Some(match field.kind {
            Kind::Int32 | Kind::Int64 | Kind::Bool => varint_value(field.kind, reader.varint()?),
            Kind::Double => double(reader.fixed64()?, schema.name)?,
            Kind::String => Value::String(reader.string()?),
            Kind::Bytes => Value::String(base64(reader.bytes()?)),
            Kind::Message(nested) => {
                let mut object = Map::new();
                self.message_into(reader.bytes()?, nested, &mut object)?;
                Value::Object(object)
            }
            Kind::Map(_) => return Err(wire_error(schema, field, wire)),
            Kind::Time => return time(reader.bytes()?, false),
            Kind::MicroTime => return time(reader.bytes()?, true),
            Kind::Quantity => Value::String(quantity(reader.bytes()?)?),
            Kind::IntOrString => int_or_string(reader.bytes()?)?,
            Kind::FieldsV1 => raw_json(reader.bytes()?, "FieldsV1")?,
            Kind::RawExtension => return self.raw_extension(reader.bytes()?),
        }))
    }

    /// A map entry: key (field 1, string) and value (field 2).
    fn map_entry(
        &self,
        bytes: &[u8],
        schema: &'static Message,
        kind: MapValue,
    ) -> Result<(String, Value), ProtobufError> {
        let mut reader = Reader::new(bytes, schema.name);
        let mut key = String::new();
        let mut value = match kind {
            MapValue::Message(_) => Value::Object(Map::new()),
            _ => Value::String(String::new()),
        };
        while let Some((n, w)) = reader.tag()? {
            match (n, w, kind) {
                (1, 2, _) => key = reader.string()?,
                (2, 2, MapValue::String) => value = Value::String(reader.string()?),
                (2, 2, MapValue::Bytes) => value = Value::String(base64(reader.bytes()?)),
                (2, 2, MapValue::Quantity) => value = Value::String(quantity(reader.bytes()?)?),
                (2, 2, MapValue::Message(nested)) => {
                    let mut object = Map::new();
                    self.message_into(reader.bytes()?, nested, &mut object)?;
                    value = Value::Object(object);
                }
                _ => {
                    return Err(ProtobufError::UnknownField {
                        message: schema.name,
                        number: n,
                    });
                }
            }
        }
        Ok((key, value))
    }

    /// `runtime.RawExtension{raw}`: JSON, or a whole protobuf object in its own envelope.
    fn raw_extension(&self, bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
        let mut reader = Reader::new(bytes, "RawExtension");
        let mut raw: &[u8] = &[];
        while let Some((n, w)) = reader.tag()? {
            match (n, w) {
                (1, 2) => raw = reader.bytes()?,
                _ => {
                    return Err(ProtobufError::UnknownField {
                        message: "runtime.RawExtension",
                        number: n,
                    });
                }
            }
        }
        if raw.is_empty() {
            Ok(None)
        } else if raw.starts_with(MAGIC) {
            decode_embedded(raw, self.depth + 1).map(Some)
        } else {
            serde_json::from_slice(raw)
                .map(Some)
                .map_err(|_| ProtobufError::Json("RawExtension"))
        }
    }
}

fn field_of(schema: &'static Message, number: u32) -> Result<&'static Field, ProtobufError> {
    schema.by_number(number).ok_or_else(|| {
        match schema.unserved.iter().find(|u| u.number == number) {
            Some(unserved) => ProtobufError::Unserved {
                message: schema.name,
                number,
                name: unserved.name,
            },
            None => ProtobufError::UnknownField {
                message: schema.name,
                number,
            },
        }
    })
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}

fn varint_value(kind: Kind, raw: u64) -> Value {
    match kind {
        Kind::Bool => Value::Bool(raw != 0),
        Kind::Int32 => Value::from(raw as i64 as i32),
        _ => Value::from(raw as i64),
    }
}

fn double(bits: u64, what: &'static str) -> Result<Value, ProtobufError> {
    Number::from_f64(f64::from_bits(bits))
        .map(Value::Number)
        .ok_or(ProtobufError::Number(what))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn wire_error(schema: &'static Message, field: &Field, wire: u8) -> ProtobufError {
    ProtobufError::WireType {
        message: schema.name,
        number: field.number,
        wire,
    }
}

fn expect_wire(
    schema: &'static Message,
    field: &Field,
    wire: u8,
    want: u8,
) -> Result<(), ProtobufError> {
    if wire == want {
        Ok(())
    } else {
        Err(wire_error(schema, field, wire))
    }
}

/// A message whose only field, 1, is a string or bytes (`Quantity`, `FieldsV1`).
fn only_field<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a [u8], ProtobufError> {
    let mut reader = Reader::new(bytes, what);
    let mut value: &[u8] = &[];
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 2) => value = reader.bytes()?,
            _ => {
                return Err(ProtobufError::UnknownField {
                    message: what,
                    number: n,
                });
            }
        }
    }
    Ok(value)
}

fn quantity(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(only_field(bytes, "Quantity")?.to_vec())
        .map_err(|_| ProtobufError::Utf8("Quantity"))
}

fn raw_json(bytes: &[u8], what: &'static str) -> Result<Value, ProtobufError> {
    let raw = only_field(bytes, what)?;
    if raw.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(raw).map_err(|_| ProtobufError::Json(what))
}

fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes, "IntOrString");
    let (mut is_string, mut int, mut text) = (false, 0i32, String::new());
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 0) => is_string = reader.varint()? == 1,
            (2, 0) => int = reader.varint()? as i64 as i32,
            (3, 2) => text = reader.string()?,
            _ => {
                return Err(ProtobufError::UnknownField {
                    message: "IntOrString",
                    number: n,
                });
            }
        }
    }
    Ok(if is_string {
        Value::String(text)
    } else {
        Value::from(int)
    })
}

/// A `meta.v1.Time` (seconds in RFC 3339) or `MicroTime` (with six fractional digits); Go
/// writes the zero time as an empty message or as the seconds of year 1, and JSON has no
/// timestamp then.
fn time(bytes: &[u8], micro: bool) -> Result<Option<Value>, ProtobufError> {
    let what = if micro { "MicroTime" } else { "Time" };
    let mut reader = Reader::new(bytes, what);
    let (mut seconds, mut nanos) = (0i64, 0i64);
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 0) => seconds = reader.varint()? as i64,
            (2, 0) => nanos = i64::from(reader.varint()? as i64 as i32),
            _ => {
                return Err(ProtobufError::UnknownField {
                    message: what,
                    number: n,
                });
            }
        }
    }
    if bytes.is_empty() || seconds <= GO_ZERO_TIME_SECONDS {
        return Ok(None);
    }
    let t = jiff::Timestamp::from_second(seconds).map_err(|_| ProtobufError::Truncated(what))?;
    let whole = t.strftime("%Y-%m-%dT%H:%M:%S");
    Ok(Some(Value::String(if micro {
        format!("{whole}.{:06}Z", nanos.clamp(0, 999_999_999) / 1000)
    } else {
        format!("{whole}Z")
    })))
}

/// A cursor over protobuf bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, at: 0, what }
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or(ProtobufError::Truncated(self.what))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Truncated(self.what))
    }

    fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let end = self.at + 8;
        let bytes = self
            .bytes
            .get(self.at..end)
            .ok_or(ProtobufError::Truncated(self.what))?;
        self.at = end;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(le))
    }

    /// The next field's number and wire type, or `None` at the end.
    fn tag(&mut self) -> Result<Option<(u32, u8)>, ProtobufError> {
        if self.done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| ProtobufError::Truncated(self.what))?;
        Ok(Some((number, (key & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len =
            usize::try_from(self.varint()?).map_err(|_| ProtobufError::Truncated(self.what))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ProtobufError::Truncated(self.what))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn string(&mut self) -> Result<String, ProtobufError> {
        let what = self.what;
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| ProtobufError::Utf8(what))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ProtobufError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed64().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            _ => Err(ProtobufError::Truncated(self.what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A tiny encoder for tests.
    fn field(number: u32, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = varint(u64::from(number) << 3 | u64::from(wire));
        if wire == 2 {
            out.extend(varint(payload.len() as u64));
        }
        out.extend_from_slice(payload);
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [
            field(1, 2, api_version.as_bytes()),
            field(2, 2, kind.as_bytes()),
        ]
        .concat();
        let unknown = [field(1, 2, &type_meta), field(2, 2, raw)].concat();
        [MAGIC.to_vec(), unknown].concat()
    }

    #[test]
    fn decodes_a_configmap() {
        let zero_time = field(1, 0, &varint(GO_ZERO_TIME_SECONDS as u64));
        let meta = [
            field(1, 2, b"settings"),
            field(2, 2, b""),
            field(8, 2, &zero_time),
            field(9, 2, b""),
        ]
        .concat();
        let entry = [field(1, 2, b"a"), field(2, 2, b"b")].concat();
        let raw = [field(1, 2, &meta), field(2, 2, &entry)].concat();
        let value = decode_envelope(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn keeps_optional_zero_and_reads_int_or_string() {
        let surge = [field(1, 0, &varint(1)), field(3, 2, b"25%")].concat();
        let unavailable = [field(1, 0, &varint(0)), field(2, 0, &varint(0))].concat();
        let rolling = [field(1, 2, &unavailable), field(2, 2, &surge)].concat();
        let strategy = field(2, 2, &rolling);
        let spec = [
            field(1, 0, &varint(0)),
            field(4, 2, &strategy),
            field(5, 0, &varint(0)),
        ]
        .concat();
        let raw = [field(1, 2, &[]), field(2, 2, &spec)].concat();
        let value = decode_envelope(&envelope("apps/v1", "Deployment", &raw)).unwrap();
        assert_eq!(
            value["spec"]["replicas"], 0,
            "replicas is a pointer: 0 is kept"
        );
        assert!(
            value["spec"].get("minReadySeconds").is_none(),
            "a plain zero is dropped as omitempty"
        );
        assert_eq!(
            value["spec"]["strategy"]["rollingUpdate"],
            json!({"maxUnavailable": 0, "maxSurge": "25%"})
        );
    }

    /// A Pod's volume: `VolumeSource` is inline, `emptyDir: {}` survives, a plain empty
    /// string (`terminationMessagePath`) goes, a pointer's zero (`defaultMode: 0`) stays.
    #[test]
    fn inline_volume_source_and_zero_rules() {
        let empty_dir = field(2, 2, &[]);
        let source = [empty_dir].concat();
        let volume = [field(1, 2, b"scratch"), field(2, 2, &source)].concat();
        let secret = [field(1, 2, b"s"), field(3, 0, &varint(0))].concat();
        let secret_volume = [field(1, 2, b"creds"), field(2, 2, &field(6, 2, &secret))].concat();
        let container = [
            field(1, 2, b"app"),
            field(13, 2, b""),
            field(16, 0, &varint(0)),
        ]
        .concat();
        let spec = [
            field(1, 2, &volume),
            field(1, 2, &secret_volume),
            field(2, 2, &container),
            field(4, 0, &varint(0)),
        ]
        .concat();
        let raw = [field(1, 2, &field(1, 2, b"p")), field(2, 2, &spec)].concat();
        let value = decode_envelope(&envelope("v1", "Pod", &raw)).unwrap();
        assert_eq!(
            value["spec"],
            json!({
                "volumes": [
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "creds", "secret": {"secretName": "s", "defaultMode": 0}},
                ],
                "containers": [{"name": "app"}],
                "terminationGracePeriodSeconds": 0,
            })
        );
    }

    #[test]
    fn decodes_delete_options_under_any_group_version() {
        let raw = [field(1, 0, &varint(0)), field(4, 2, b"Foreground")].concat();
        for api_version in ["v1", "meta.k8s.io/v1", "apps/v1", "policy/v1"] {
            let value = decode_envelope(&envelope(api_version, "DeleteOptions", &raw)).unwrap();
            assert_eq!(value["gracePeriodSeconds"], 0, "{api_version}");
            assert_eq!(value["propagationPolicy"], "Foreground");
        }
    }

    #[test]
    fn micro_time_and_packed_integers() {
        // Lease spec: acquireTime (MicroTime, 3) with nanos.
        let micro = [
            field(1, 0, &varint(1_700_000_000)),
            field(2, 0, &varint(123_456_789)),
        ];
        let spec = [field(3, 2, &micro.concat())].concat();
        let raw = [field(1, 2, &[]), field(2, 2, &spec)].concat();
        let lease = decode_envelope(&envelope("coordination.k8s.io/v1", "Lease", &raw)).unwrap();
        assert_eq!(lease["spec"]["acquireTime"], "2023-11-14T22:13:20.123456Z");
        // PodSecurityContext.supplementalGroups (4), packed.
        let packed = [varint(1), varint(2)].concat();
        let spec = field(14, 2, &field(4, 2, &packed));
        let raw = [field(1, 2, &[]), field(2, 2, &spec)].concat();
        let pod = decode_envelope(&envelope("v1", "Pod", &raw)).unwrap();
        assert_eq!(
            pod["spec"]["securityContext"]["supplementalGroups"],
            json!([1, 2])
        );
    }

    #[test]
    fn refuses_what_it_cannot_decode() {
        let raw = field(99, 2, b"x");
        assert_eq!(
            decode_envelope(&envelope("v1", "ConfigMap", &raw)),
            Err(ProtobufError::UnknownField {
                message: "io.k8s.api.core.v1.ConfigMap",
                number: 99
            })
        );
        assert_eq!(decode_envelope(b"{}"), Err(ProtobufError::MissingMagic));
        assert!(matches!(
            decode_envelope(&envelope("v1", "Service", &[])),
            Err(ProtobufError::UnsupportedKind { .. })
        ));
        let truncated = envelope("v1", "ConfigMap", &field(1, 2, b"abc"));
        assert!(decode_envelope(&truncated[..truncated.len() - 2]).is_err());
        let immutable = field(4, 0, &varint(0));
        let value = decode_envelope(&envelope("v1", "ConfigMap", &immutable)).unwrap();
        assert_eq!(
            value["immutable"], false,
            "immutable is a *bool: false is kept"
        );
        let wrong_wire = field(2, 0, &varint(1));
        assert!(matches!(
            decode_envelope(&envelope("v1", "ConfigMap", &wrong_wire)),
            Err(ProtobufError::WireType { number: 2, .. })
        ));
    }

    /// PodSpec field 41 (`hostnameOverride`) is Kubernetes 1.34's; this server serves 1.33.
    #[test]
    fn refuses_a_newer_field_by_name() {
        let spec = field(41, 2, b"h");
        let raw = [field(1, 2, &[]), field(2, 2, &spec)].concat();
        assert_eq!(
            decode_envelope(&envelope("v1", "Pod", &raw)),
            Err(ProtobufError::Unserved {
                message: "io.k8s.api.core.v1.PodSpec",
                number: 41,
                name: "hostname_override"
            })
        );
    }
}
