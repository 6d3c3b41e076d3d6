//! A cheap scan of a YAML document's nesting depth, run before the YAML parser: the parser
//! spends time quadratic in the depth of flow collections (`[[[[…`), so a 200 KB body of
//! brackets took 25 s of CPU before its error. Deeper than [`MAX_DEPTH`] (serde_json's
//! recursion limit, which the JSON path has) is refused at once.
//!
//! Depth counts flow collections (`[`, `{`) outside quoted scalars and comments, block
//! collections by indentation (each deeper indent of a line opens one), and the `- ` markers
//! that open a sequence item inline (`- - - a`).
//!
//! Example: `a: [1, {b: [2]}]` has depth 4 (the block mapping, `[`, `{`, `[`); `a: "[[["`
//! has depth 1.

/// The deepest nesting accepted, as serde_json's recursion limit.
pub const MAX_DEPTH: usize = 128;

/// Where the document first nests deeper than `MAX_DEPTH`: `recursion limit exceeded at line
/// L column C`, or `None`.
pub fn nesting_error(yaml: &[u8]) -> Option<String> {
    let mut scan = Scan::default();
    for (number, line) in yaml.split(|b| *b == b'\n').enumerate() {
        if let Some(column) = scan.line(line) {
            return Some(format!(
                "recursion limit exceeded at line {} column {}",
                number + 1,
                column + 1
            ));
        }
    }
    None
}

/// What the scan carries from one line to the next.
#[derive(Default)]
struct Scan {
    /// Indents of the open block collections.
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// Inside a quoted scalar that continues on the next line: its quote.
    quote: Option<u8>,
}

impl Scan {
    /// Scans one line; the column where the depth passes the limit, if it does.
    fn line(&mut self, line: &[u8]) -> Option<usize> {
        let mut i = 0;
        if self.quote.is_none() && self.flow == 0 {
            let indent = line.iter().take_while(|b| **b == b' ').count();
            let rest = &line[indent..];
            if rest.is_empty() || rest[0] == b'#' || rest == b"\r" {
                return None;
            }
            while self.indents.last().is_some_and(|top| *top >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
            i = indent;
            // `- - - a`: each marker opens a sequence inside the last.
            while line.get(i) == Some(&b'-') && matches!(line.get(i + 1), Some(b' ') | None) {
                self.indents.push(i + 1);
                i += 2;
                if self.indents.len() > MAX_DEPTH {
                    return Some(i);
                }
            }
            if self.indents.len() > MAX_DEPTH {
                return Some(indent);
            }
        }
        self.rest(line, i)
    }

    /// Flow brackets, quotes and comments from `i` to the end of the line.
    fn rest(&mut self, line: &[u8], mut i: usize) -> Option<usize> {
        while i < line.len() {
            let byte = line[i];
            match self.quote {
                Some(b'"') if byte == b'\\' => i += 1,
                Some(q) if byte == q => {
                    if q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        self.quote = None;
                    }
                }
                Some(_) => {}
                None => match byte {
                    b'"' | b'\'' if starts_scalar(line, i) => self.quote = Some(byte),
                    b'#' if i == 0 || matches!(line[i - 1], b' ' | b'\t') => return None,
                    b'[' | b'{' => {
                        self.flow += 1;
                        if self.indents.len() + self.flow > MAX_DEPTH {
                            return Some(i);
                        }
                    }
                    b']' | b'}' => self.flow = self.flow.saturating_sub(1),
                    _ => {}
                },
            }
            i += 1;
        }
        None
    }
}

/// Whether a quote at `i` opens a quoted scalar (after a space, an indicator or the line's
/// start), rather than being a character inside a plain scalar (`it's`).
fn starts_scalar(line: &[u8], i: usize) -> bool {
    i == 0 || matches!(line[i - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(yaml: &str) -> bool {
        nesting_error(yaml.as_bytes()).is_none()
    }

    #[test]
    fn nesting_table() {
        let deep = |n: usize| "[".repeat(n);
        let cases: Vec<(String, bool)> = vec![
            ("a: [1, {b: [2]}]".into(), true),
            (deep(127), true),
            (deep(128), false),
            (format!("a: {}", deep(127)), true),
            (format!("a: {}", deep(128)), false),
            (deep(200_000), false),
            // brackets inside quotes and comments do not count
            (format!("a: \"{}\"", deep(500)), true),
            (format!("a: '{}'", deep(500)), true),
            (format!("a: 'it''s {}'", deep(500)), true),
            (format!("a: \"\\\" {}\"", deep(500)), true),
            (format!("a: 1 # {}", deep(500)), true),
            (format!("# {}", deep(500)), true),
            // a quoted scalar over two lines
            (format!("a: \"x\n  {}\"", deep(500)), true),
            // a plain scalar with a quote in it does not open a quoted one
            (format!("a: it's\nb: {}", deep(200)), false),
            // block nesting by indentation
            (
                (0..130)
                    .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                    .collect(),
                false,
            ),
            (
                (0..100)
                    .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                    .collect(),
                true,
            ),
            // siblings at one indent stay at one depth
            ((0..1000).map(|i| format!("k{i}: v\n")).collect(), true),
            ("- ".repeat(130) + "a", false),
            ("- ".repeat(100) + "a", true),
        ];
        for (yaml, ok) in cases {
            let short: String = yaml.chars().take(40).collect();
            assert_eq!(depth_ok(&yaml), ok, "{short:?}");
        }
        assert_eq!(
            nesting_error(b"a:\n  b: [[[[").map(|_| ()),
            None,
            "4 flow levels and 2 block levels"
        );
        assert_eq!(
            nesting_error(deep(200).as_bytes()).unwrap(),
            "recursion limit exceeded at line 1 column 128"
        );
    }
}
