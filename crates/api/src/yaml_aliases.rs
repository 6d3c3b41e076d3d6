//! A scan of how far a YAML document's aliases expand, run before the YAML parser decodes it:
//! a 14 KB body of 2,000 aliases of a 2,000-item list decodes to 4 million values, which took
//! seconds of CPU. go-yaml (under sigs.k8s.io/yaml, upstream's YAML decoder) refuses such a
//! document with `yaml: document contains excessive aliasing`; this module applies its rule.
//!
//! The rule, as go-yaml's decoder counts: every node decoded is one *decode* (the document
//! node, each key, value, sequence item, and each alias node); a node decoded while an alias
//! is being expanded is also one *alias decode*. After each decode the document is refused
//! when aliases > 100, decodes > 1000 and aliases / decodes > [`allowed_alias_ratio`]
//! (decodes).
//!
//! The scan reads the same libyaml event stream the decoder (serde_yaml_ng) reads, and counts
//! without expanding: it keeps the expanded size of each anchored node, and an alias adds
//! that size at once. Inside one expansion every decode is an alias decode, so the ratio only
//! rises and the allowed ratio only falls: checking once at the expansion's end decides
//! whether any decode inside it would have failed. The one difference from go-yaml: a `<<`
//! merge key counts as an ordinary key (serde_yaml_ng does not merge), one decode more.
//!
//! Example: `a: &x [1, 2]` then `b: *x` counts the document, the mapping, `a`, the sequence,
//! `1`, `2`, `b` and the alias node (8 decodes), then the alias expands to the sequence and
//! its two items: 11 decodes, 3 of them alias decodes.

use std::collections::HashMap;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// go-yaml's message for the refusal (it prefixes its errors with `yaml: `).
pub const EXCESSIVE_ALIASING: &str = "document contains excessive aliasing";

/// Decodes up to which 99% may come from aliases (about 500 KB of dense objects).
const RANGE_LOW: u64 = 400_000;
/// Decodes from which only 10% may come from aliases (about 5 MB of dense objects).
const RANGE_HIGH: u64 = 4_000_000;

/// The share of `decodes` that may come from alias expansion: 0.99 up to 400,000 decodes,
/// 0.10 from 4,000,000, linear between (go-yaml's `allowedAliasRatio`).
pub fn allowed_alias_ratio(decodes: u64) -> f64 {
    match decodes {
        d if d <= RANGE_LOW => 0.99,
        d if d >= RANGE_HIGH => 0.10,
        d => 0.99 - 0.89 * ((d - RANGE_LOW) as f64 / (RANGE_HIGH - RANGE_LOW) as f64),
    }
}

/// Whether `aliases` alias decodes out of `decodes` are too many.
pub fn excessive(aliases: u64, decodes: u64) -> bool {
    aliases > 100
        && decodes > 1000
        && aliases as f64 / decodes as f64 > allowed_alias_ratio(decodes)
}

/// [`EXCESSIVE_ALIASING`] when decoding the document would expand its aliases too far, else
/// `None` (also when the document does not parse: the decoder reports that itself).
pub fn aliasing_error(yaml: &[u8]) -> Option<&'static str> {
    match scan(yaml) {
        Scan::Excessive => Some(EXCESSIVE_ALIASING),
        Scan::Counted(_) | Scan::Unparsed => None,
    }
}

/// What a scan found.
#[derive(Debug, PartialEq)]
enum Scan {
    /// The rule refused a decode.
    Excessive,
    /// Every decode passed; the counts of the last document.
    Counted(Count),
    /// The parser stopped at an error before the end.
    Unparsed,
}

/// Decodes so far in one document.
#[derive(Debug, Default, PartialEq)]
struct Count {
    decodes: u64,
    aliases: u64,
}

impl Count {
    /// One node decoded where it stands; whether the rule now refuses.
    fn node(&mut self) -> bool {
        self.decodes = self.decodes.saturating_add(1);
        excessive(self.aliases, self.decodes)
    }

    /// An alias node, then the `expansion` nodes of its anchor decoded again.
    fn alias(&mut self, expansion: u64) -> bool {
        if self.node() {
            return true;
        }
        self.decodes = self.decodes.saturating_add(expansion);
        self.aliases = self.aliases.saturating_add(expansion);
        excessive(self.aliases, self.decodes)
    }
}

/// A collection whose end event has not come yet.
struct Open {
    anchor: Option<Box<[u8]>>,
    /// Nodes it expands to so far, itself included.
    size: u64,
}

/// The document state of a scan: counts, open collections and the expanded size of each
/// anchor (`None` while the anchored node is still open: an alias to it is the decoder's
/// error to report).
#[derive(Default)]
struct Document {
    count: Count,
    open: Vec<Open>,
    anchors: HashMap<Box<[u8]>, Option<u64>>,
}

impl Document {
    /// Adds a finished node of `size` to its parent and records its anchor.
    fn finish(&mut self, anchor: Option<Box<[u8]>>, size: u64) {
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, Some(size));
        }
        if let Some(parent) = self.open.last_mut() {
            parent.size = parent.size.saturating_add(size);
        }
    }

    /// Applies one event; whether the rule refuses.
    fn event(&mut self, event: Event) -> bool {
        match event {
            Event::DocumentStart => {
                *self = Document::default();
                self.count.node()
            }
            Event::Scalar(anchor) => {
                self.finish(anchor, 1);
                self.count.node()
            }
            Event::Start(anchor) => {
                if let Some(anchor) = &anchor {
                    self.anchors.insert(anchor.clone(), None);
                }
                self.open.push(Open { anchor, size: 1 });
                self.count.node()
            }
            Event::End => {
                if let Some(done) = self.open.pop() {
                    self.finish(done.anchor, done.size);
                }
                false
            }
            Event::Alias(anchor) => {
                let expansion = self.anchors.get(&anchor).copied().flatten().unwrap_or(0);
                self.finish(None, expansion.saturating_add(1));
                self.count.alias(expansion)
            }
            Event::Other | Event::StreamEnd => false,
        }
    }
}

/// Counts the document's decodes as go-yaml would, stopping at the first refused one.
fn scan(yaml: &[u8]) -> Scan {
    let Some(mut parser) = Parser::new(yaml) else {
        return Scan::Unparsed;
    };
    let mut document = Document::default();
    loop {
        match parser.next() {
            None => return Scan::Unparsed,
            Some(Event::StreamEnd) => return Scan::Counted(document.count),
            Some(event) => {
                if document.event(event) {
                    return Scan::Excessive;
                }
            }
        }
    }
}

/// The events the scan needs, with the anchors they carry.
enum Event {
    StreamEnd,
    DocumentStart,
    Scalar(Option<Box<[u8]>>),
    /// A sequence or a mapping starts.
    Start(Option<Box<[u8]>>),
    /// A sequence or a mapping ends.
    End,
    Alias(Box<[u8]>),
    /// Stream start, document end.
    Other,
}

/// libyaml's event parser over borrowed input: the parser serde_yaml_ng decodes with, so
/// both see the same events.
struct Parser<'input> {
    /// Boxed: libyaml's parser must not move once initialized.
    sys: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    input: PhantomData<&'input [u8]>,
}

impl<'input> Parser<'input> {
    /// A parser of UTF-8 `input`, as serde_yaml_ng sets its own up.
    fn new(input: &'input [u8]) -> Option<Parser<'input>> {
        let mut sys = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        let parser = sys.as_mut_ptr();
        // SAFETY: `yaml_parser_initialize` initializes the whole struct behind a valid
        // pointer; the input is borrowed for the parser's lifetime ('input), so the pointer
        // the parser keeps into it stays valid until `Drop` deletes the parser.
        unsafe {
            if unsafe_libyaml::yaml_parser_initialize(parser).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_encoding(parser, unsafe_libyaml::YAML_UTF8_ENCODING);
            unsafe_libyaml::yaml_parser_set_input_string(
                parser,
                input.as_ptr(),
                input.len() as u64,
            );
        }
        Some(Parser {
            sys,
            input: PhantomData,
        })
    }

    /// The next event, or `None` at a parse error.
    fn next(&mut self) -> Option<Event> {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialized in `new`; `yaml_parser_parse` fills the event
        // when it succeeds, and the event's strings are copied out before it is deleted.
        unsafe {
            let event = event.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_parse(self.sys.as_mut_ptr(), event).fail {
                return None;
            }
            let converted = convert(&*event);
            unsafe_libyaml::yaml_event_delete(event);
            Some(converted)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Parser` exists only once its libyaml parser was initialized.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// The scan's view of a libyaml event.
///
/// # Safety
/// `event` must be an event `yaml_parser_parse` filled and not yet deleted.
unsafe fn convert(event: &unsafe_libyaml::yaml_event_t) -> Event {
    // SAFETY (all reads below): the union field read is the one the event's type selects,
    // and libyaml's anchors are NUL-terminated strings or null.
    unsafe {
        match event.type_ {
            unsafe_libyaml::YAML_STREAM_END_EVENT => Event::StreamEnd,
            unsafe_libyaml::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
            unsafe_libyaml::YAML_SCALAR_EVENT => Event::Scalar(anchor(event.data.scalar.anchor)),
            unsafe_libyaml::YAML_SEQUENCE_START_EVENT => {
                Event::Start(anchor(event.data.sequence_start.anchor))
            }
            unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                Event::Start(anchor(event.data.mapping_start.anchor))
            }
            unsafe_libyaml::YAML_SEQUENCE_END_EVENT | unsafe_libyaml::YAML_MAPPING_END_EVENT => {
                Event::End
            }
            unsafe_libyaml::YAML_ALIAS_EVENT => {
                Event::Alias(anchor(event.data.alias.anchor).unwrap_or_default())
            }
            _ => Event::Other,
        }
    }
}

/// An anchor's name copied out of libyaml.
///
/// # Safety
/// `name` must be null or point to a NUL-terminated string.
unsafe fn anchor(name: *const u8) -> Option<Box<[u8]>> {
    if name.is_null() {
        return None;
    }
    // SAFETY: not null, and NUL-terminated by the caller's contract.
    let name = unsafe { CStr::from_ptr(name.cast()) };
    Some(name.to_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a: &a [x, x, …]` with `items` items, then `b: [*a, *a, …]` with `aliases` aliases.
    fn bomb(items: usize, aliases: usize) -> String {
        format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; items].join(", "),
            vec!["*a"; aliases].join(", ")
        )
    }

    #[test]
    fn allowed_ratio_table() {
        let cases = [
            (0, 0.99),
            (1000, 0.99),
            (400_000, 0.99),
            (2_200_000, 0.545),
            (4_000_000, 0.10),
            (40_000_000, 0.10),
        ];
        for (decodes, ratio) in cases {
            let allowed = allowed_alias_ratio(decodes);
            assert!((allowed - ratio).abs() < 1e-9, "{decodes}: {allowed}");
        }
    }

    #[test]
    fn excessive_table() {
        let cases = [
            // (aliases, decodes, refused)
            (1000, 1000, false), // not more than 1000 decodes
            (991, 1001, true),   // 0.99001 > 0.99
            (990, 1001, false),
            (100, 1001, false),
            (396_000, 400_000, false), // exactly 0.99
            (396_001, 400_000, true),
            (1_090_000, 2_200_000, false), // 0.4955 under 0.545
            (1_200_000, 2_200_000, true),  // 0.5454 over 0.545
            (400_000, 4_000_000, false),   // exactly 0.10
            (400_001, 4_000_000, true),
            (u64::MAX, u64::MAX, true),
        ];
        for (aliases, decodes, refused) in cases {
            assert_eq!(excessive(aliases, decodes), refused, "{aliases}/{decodes}");
        }
    }

    #[test]
    fn counts_as_go_yaml_does() {
        let count = |yaml: &str| match scan(yaml.as_bytes()) {
            Scan::Counted(count) => (count.decodes, count.aliases),
            other => panic!("{yaml:?}: {other:?}"),
        };
        assert_eq!(count("a: &x [1, 2]\nb: *x\n"), (11, 3));
        assert_eq!(count("a: 1\n"), (4, 0));
        // an alias inside an anchored node counts in that node's expansion
        assert_eq!(count("a: &x [1]\nb: &y [*x]\nc: *y\n"), (16, 6));
        // a redefined anchor: aliases after it expand the new node
        assert_eq!(count("a: &x [1, 2, 3]\nb: &x 1\nc: *x\n"), (12, 1));
        // an alias of a node still open, or of no anchor: the decoder's error to report
        assert_eq!(count("a: &x [*x]\n"), (5, 0));
        assert_eq!(count("a: *nothing\n"), (4, 0));
    }

    #[test]
    fn bombs_are_refused_and_small_reuse_is_not() {
        let billion_laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_owned()
            + &(b'b'..=b'i')
                .map(|c| {
                    let (c, p) = (c as char, (c - 1) as char);
                    format!("{c}: &{c} [{}]\n", vec![format!("*{p}"); 9].join(", "))
                })
                .collect::<String>();
        let cases: Vec<(String, bool)> = vec![
            // 2,006 decodes before `b`'s items, then 2,002 per alias, 2,001 of them alias
            // decodes: the 105th alias passes 0.99
            (bomb(2000, 2000), true),
            (bomb(2000, 104), false),
            (bomb(2000, 105), true),
            (billion_laughs, true),
            // nine decodes in ten from aliases: under the 0.99 allowed
            (bomb(9, 90), false),
            (
                "metadata:\n  labels: &l {app: web, tier: front}\n  annotations: *l\nspec:\n  selector: {matchLabels: *l}\n  template:\n    metadata: {labels: *l, annotations: *l}\n    spec: {nodeSelector: *l}\n".into(),
                false,
            ),
            // not YAML: the decoder's error
            ("a: [*a".into(), false),
            (String::new(), false),
        ];
        for (yaml, refused) in cases {
            let short: String = yaml.chars().take(40).collect();
            assert_eq!(
                aliasing_error(yaml.as_bytes()).is_some(),
                refused,
                "{short:?}"
            );
        }
        assert_eq!(
            aliasing_error(bomb(2000, 2000).as_bytes()),
            Some("document contains excessive aliasing")
        );
    }
}
