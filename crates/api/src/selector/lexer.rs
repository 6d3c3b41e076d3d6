//! The label selector lexer, upstream's (`apimachinery/pkg/labels/selector.go` `Lexer`): it
//! works on bytes, an identifier runs until whitespace or one of `=!(),<>`, and an operator
//! is the longest run of those that is a token.

/// A token of a label selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// The token a literal spells, if any (identifiers, end of string and errors have none).
fn keyword(literal: &[u8]) -> Option<Token> {
    Some(match literal {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector into tokens and their literals, ending with `EndOfString`.
pub fn scan(s: &str) -> Vec<(Token, String)> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut items = Vec::new();
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let (token, literal, next) = match bytes.get(pos) {
            None => (Token::EndOfString, String::new(), pos),
            Some(&b) if is_special(b) => scan_special(bytes, pos),
            Some(_) => scan_identifier(bytes, pos),
        };
        pos = next;
        items.push((token, literal));
        if token == Token::EndOfString {
            return items;
        }
    }
}

/// An identifier or a keyword (`in`, `notin`) from `start`.
fn scan_identifier(bytes: &[u8], start: usize) -> (Token, String, usize) {
    let end = bytes[start..]
        .iter()
        .position(|&b| is_special(b) || is_whitespace(b))
        .map_or(bytes.len(), |n| start + n);
    let literal = &bytes[start..end];
    // Identifiers end only at ASCII bytes, so the slice is whole UTF-8.
    let text = String::from_utf8_lossy(literal).into_owned();
    (keyword(literal).unwrap_or(Token::Identifier), text, end)
}

/// The longest operator from `start`.
fn scan_special(bytes: &[u8], start: usize) -> (Token, String, usize) {
    let mut end = start;
    let mut last: Option<(Token, usize)> = None;
    while end < bytes.len() && is_special(bytes[end]) {
        end += 1;
        match keyword(&bytes[start..end]) {
            Some(token) => last = Some((token, end)),
            None if last.is_some() => break,
            None => {}
        }
    }
    match last {
        Some((token, end)) => (
            token,
            String::from_utf8_lossy(&bytes[start..end]).into_owned(),
            end,
        ),
        None => (
            Token::Error,
            format!(
                "error expected: keyword found '{}'",
                String::from_utf8_lossy(&bytes[start..end])
            ),
            end,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Token::*;

    /// Upstream's TestLexer: the first token of each string.
    #[test]
    fn first_tokens_as_upstream() {
        let cases = [
            ("", EndOfString),
            (",", Comma),
            ("notin", NotIn),
            ("in", In),
            ("=", Equals),
            ("==", DoubleEquals),
            (">", GreaterThan),
            ("<", LessThan),
            ("!", DoesNotExist),
            ("!=", NotEquals),
            ("(", OpenPar),
            (")", ClosedPar),
            ("~", Identifier),
            ("||", Identifier),
        ];
        for (s, want) in cases {
            let (token, literal) = scan(s).remove(0);
            assert_eq!((token, literal.as_str()), (want, s), "{s:?}");
        }
    }

    /// Upstream's TestLexerSequence and TestParserLookahead.
    #[test]
    fn sequences_as_upstream() {
        let cases: [(&str, &[Token]); 11] = [
            (
                "key in ( value )",
                &[Identifier, In, OpenPar, Identifier, ClosedPar],
            ),
            (
                "key notin ( value )",
                &[Identifier, NotIn, OpenPar, Identifier, ClosedPar],
            ),
            (
                "key in ( value1, value2 )",
                &[
                    Identifier, In, OpenPar, Identifier, Comma, Identifier, ClosedPar,
                ],
            ),
            ("key", &[Identifier]),
            ("!key", &[DoesNotExist, Identifier]),
            ("()", &[OpenPar, ClosedPar]),
            ("", &[]),
            (
                "x in (),y",
                &[Identifier, In, OpenPar, ClosedPar, Comma, Identifier],
            ),
            (
                "== != (), = notin",
                &[
                    DoubleEquals,
                    NotEquals,
                    OpenPar,
                    ClosedPar,
                    Comma,
                    Equals,
                    NotIn,
                ],
            ),
            ("key>2", &[Identifier, GreaterThan, Identifier]),
            ("key<1", &[Identifier, LessThan, Identifier]),
        ];
        for (s, want) in cases {
            let tokens: Vec<Token> = scan(s).into_iter().map(|(t, _)| t).collect();
            let mut expected = want.to_vec();
            expected.push(EndOfString);
            assert_eq!(tokens, expected, "{s:?}");
        }
        let literals: Vec<String> = scan("!!").into_iter().map(|(_, l)| l).collect();
        assert_eq!(literals, ["!", "!", ""]);
        let literals: Vec<String> = scan("a!==b").into_iter().map(|(_, l)| l).collect();
        assert_eq!(literals, ["a", "!=", "=", "b", ""]);
    }
}
