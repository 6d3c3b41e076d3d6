//! The protobuf wire format (varints, length-delimited fields) decoded against `schema`.
//!
//! Example: the envelope `k8s\0` + Unknown{typeMeta{apiVersion "v1", kind "ConfigMap"},
//! raw = ConfigMap{metadata{name "c"}, data{"a": "b"}}} decodes to
//! `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}`.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::schema::{Field, Kind, Message, message};

/// The magic bytes before every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";
/// Seconds of Go's zero `time.Time`, which Go writes for an unset timestamp.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

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
    /// A field this server does not know; it is refused rather than dropped.
    #[error(
        "protobuf field {number} of {message} is not supported by this server; send the object as JSON"
    )]
    UnknownField { message: &'static str, number: u32 },
    /// A kind this server does not decode from protobuf.
    #[error(
        "protobuf bodies of kind {0:?} are not supported by this server; send the object as JSON"
    )]
    UnsupportedKind(String),
    /// A string that is not UTF-8.
    #[error("protobuf string in {0} is not valid UTF-8")]
    Utf8(&'static str),
    /// A field holding JSON that is not JSON.
    #[error("protobuf fieldsV1 is not valid JSON")]
    Json,
}

/// Decodes a whole body: the envelope, then the object inside.
pub fn decode_envelope(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut reader = Reader::new(unknown, "runtime.Unknown");
    while let Some((number, wire)) = reader.tag()? {
        match (number, wire) {
            (1, 2) => {
                let mut type_meta = Reader::new(reader.bytes()?, "runtime.TypeMeta");
                while let Some((n, w)) = type_meta.tag()? {
                    match (n, w) {
                        (1, 2) => api_version = type_meta.string()?,
                        (2, 2) => kind = type_meta.string()?,
                        _ => type_meta.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = reader.bytes()?,
            _ => reader.skip(wire)?,
        }
    }
    let schema = message(&kind).ok_or_else(|| ProtobufError::UnsupportedKind(kind.clone()))?;
    let mut object = decode_message(raw, schema)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

fn decode_message(
    bytes: &[u8],
    schema: &'static Message,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut reader = Reader::new(bytes, schema.name);
    while let Some((number, wire)) = reader.tag()? {
        let field = schema.fields.iter().find(|f| f.number == number).ok_or(
            ProtobufError::UnknownField {
                message: schema.name,
                number,
            },
        )?;
        if field.repeated && wire == 2 && matches!(field.kind, Kind::Int32 | Kind::Int64) {
            // Packed repeated integers.
            let mut packed = Reader::new(reader.bytes()?, schema.name);
            while !packed.done() {
                let v = packed.varint()? as i64;
                push(&mut out, field.json, json!(v));
            }
            continue;
        }
        let value = decode_value(&mut reader, schema, field, wire)?;
        match value {
            Some(value) if field.repeated => push(&mut out, field.json, value),
            Some(Value::Object(entry)) if is_map(field.kind) => {
                let target = out.entry(field.json).or_insert_with(|| json!({}));
                if let Some(map) = target.as_object_mut() {
                    map.extend(entry);
                }
            }
            Some(value) if field.optional || !is_zero(&value) => {
                out.insert(field.json.to_owned(), value);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn is_map(kind: Kind) -> bool {
    matches!(kind, Kind::MapStr | Kind::MapBytes | Kind::MapQuantity)
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        Value::Null => true,
        _ => false,
    }
}

fn push(out: &mut Map<String, Value>, name: &str, value: Value) {
    let list = out.entry(name).or_insert_with(|| json!([]));
    if let Some(items) = list.as_array_mut() {
        items.push(value);
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
        Err(ProtobufError::WireType {
            message: schema.name,
            number: field.number,
            wire,
        })
    }
}

/// One field's value; `None` for a value JSON would not have (a zero timestamp).
fn decode_value(
    reader: &mut Reader<'_>,
    schema: &'static Message,
    field: &Field,
    wire: u8,
) -> Result<Option<Value>, ProtobufError> {
    let base64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(Some(match field.kind {
        Kind::Str => {
            expect_wire(schema, field, wire, 2)?;
            json!(reader.string()?)
        }
        Kind::Int32 => {
            expect_wire(schema, field, wire, 0)?;
            json!(reader.varint()? as i64 as i32)
        }
        Kind::Int64 => {
            expect_wire(schema, field, wire, 0)?;
            json!(reader.varint()? as i64)
        }
        Kind::Bool => {
            expect_wire(schema, field, wire, 0)?;
            json!(reader.varint()? != 0)
        }
        Kind::Bytes => {
            expect_wire(schema, field, wire, 2)?;
            json!(base64(reader.bytes()?))
        }
        Kind::Msg(name) => {
            expect_wire(schema, field, wire, 2)?;
            let nested = message(name).expect("schema references are checked by a test");
            Value::Object(decode_message(reader.bytes()?, nested)?)
        }
        Kind::MapStr | Kind::MapBytes | Kind::MapQuantity => {
            expect_wire(schema, field, wire, 2)?;
            let (key, value) = map_entry(reader.bytes()?, field.kind)?;
            let value = match field.kind {
                Kind::MapBytes => json!(base64(&value)),
                _ => json!(String::from_utf8(value).map_err(|_| ProtobufError::Utf8(schema.name))?),
            };
            json!({ key: value })
        }
        Kind::Time => {
            expect_wire(schema, field, wire, 2)?;
            return time(reader.bytes()?);
        }
        Kind::IntOrString => {
            expect_wire(schema, field, wire, 2)?;
            int_or_string(reader.bytes()?)?
        }
        Kind::Quantity => {
            expect_wire(schema, field, wire, 2)?;
            json!(quantity(reader.bytes()?)?)
        }
        Kind::FieldsV1 => {
            expect_wire(schema, field, wire, 2)?;
            let mut inner = Reader::new(reader.bytes()?, "FieldsV1");
            let mut raw = Value::Object(Map::new());
            while let Some((n, w)) = inner.tag()? {
                match (n, w) {
                    (1, 2) => {
                        raw = serde_json::from_slice(inner.bytes()?)
                            .map_err(|_| ProtobufError::Json)?
                    }
                    _ => inner.skip(w)?,
                }
            }
            raw
        }
    }))
}

/// A map entry: key (field 1, string) and value (field 2: string, bytes or Quantity).
fn map_entry(bytes: &[u8], kind: Kind) -> Result<(String, Vec<u8>), ProtobufError> {
    let mut reader = Reader::new(bytes, "map entry");
    let (mut key, mut value) = (String::new(), Vec::new());
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 2) => key = reader.string()?,
            (2, 2) if kind == Kind::MapQuantity => value = quantity(reader.bytes()?)?.into_bytes(),
            (2, 2) => value = reader.bytes()?.to_vec(),
            _ => reader.skip(w)?,
        }
    }
    Ok((key, value))
}

fn quantity(bytes: &[u8]) -> Result<String, ProtobufError> {
    let mut reader = Reader::new(bytes, "Quantity");
    let mut text = String::new();
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 2) => text = reader.string()?,
            _ => reader.skip(w)?,
        }
    }
    Ok(text)
}

fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(bytes, "IntOrString");
    let (mut is_string, mut int, mut text) = (false, 0i32, String::new());
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 0) => is_string = reader.varint()? == 1,
            (2, 0) => int = reader.varint()? as i64 as i32,
            (3, 2) => text = reader.string()?,
            _ => reader.skip(w)?,
        }
    }
    Ok(if is_string { json!(text) } else { json!(int) })
}

/// A `meta.v1.Time`; Go writes the zero time as an empty message (or, from older encoders,
/// as the seconds of year 1), and JSON has no timestamp then.
fn time(bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut reader = Reader::new(bytes, "Time");
    let mut seconds = 0i64;
    while let Some((n, w)) = reader.tag()? {
        match (n, w) {
            (1, 0) => seconds = reader.varint()? as i64,
            _ => reader.skip(w)?,
        }
    }
    if seconds <= GO_ZERO_TIME_SECONDS {
        return Ok(None);
    }
    let t = jiff::Timestamp::from_second(seconds).map_err(|_| ProtobufError::Truncated("Time"))?;
    Ok(Some(json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())))
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
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            _ => Err(ProtobufError::Truncated(self.what)),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), ProtobufError> {
        if self.at + n > self.bytes.len() {
            return Err(ProtobufError::Truncated(self.what));
        }
        self.at += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn refuses_what_it_cannot_decode() {
        let raw = field(99, 2, b"x");
        assert_eq!(
            decode_envelope(&envelope("v1", "ConfigMap", &raw)),
            Err(ProtobufError::UnknownField {
                message: "ConfigMap",
                number: 99
            })
        );
        assert_eq!(decode_envelope(b"{}"), Err(ProtobufError::MissingMagic));
        assert!(matches!(
            decode_envelope(&envelope("v1", "Service", &[])),
            Err(ProtobufError::UnsupportedKind(_))
        ));
        let truncated = envelope("v1", "ConfigMap", &field(1, 2, b"abc"));
        assert!(decode_envelope(&truncated[..truncated.len() - 2]).is_err());
    }
}
