//! A bounded property test of the selector parsers: 20,000 random and mutated label selectors
//! and 5,000 field selectors from a seeded RNG. The parsers never panic, and every selector they
//! accept parses again from its printed form to the same requirements.

use std::panic::catch_unwind;

use ferrokube_api::selector::{parse_field_selector, parse_label_selector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const LABEL_ROUNDS: usize = 20_000;
const FIELD_ROUNDS: usize = 5_000;

/// Valid selectors to mutate, from upstream's tests.
const SEEDS: &[&str] = &[
    "x=a,y=b,z=c",
    "x!=a,y=b",
    "x= ,z= ",
    "!x",
    "x>1,z<5",
    "this-is-a-dns.domain.com/key-with-dash in (so,what)",
    "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
    "x notin (abc,def),bar,z in (),w",
    "a in (x,y,notin, z,in)",
    "x notin (, a)",
    "notin=in",
    "app==web,!canary",
];

/// Pieces random selectors are made of: the lexer's special bytes, keywords, whitespace,
/// identifiers, and a few bytes no identifier may hold.
const PIECES: &[&str] = &[
    "=", "==", "!", "!=", "(", ")", ",", ">", "<", " ", "\t", "\n", "in", "notin", "a", "x", "app",
    "web", "1", "-1", "k8s.io/", "/", ".", "-", "_", "\"", "|", "é", "\u{1}", "99",
];

fn random_selector(rng: &mut StdRng) -> String {
    (0..rng.random_range(0..12))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

/// A seed with a few pieces inserted, deleted or replaced.
fn mutated_selector(rng: &mut StdRng) -> String {
    let mut chars: Vec<String> = SEEDS[rng.random_range(0..SEEDS.len())]
        .chars()
        .map(String::from)
        .collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=chars.len());
        let piece = PIECES[rng.random_range(0..PIECES.len())].to_owned();
        match rng.random_range(0..3) {
            0 => chars.insert(at, piece),
            1 if at < chars.len() => drop(chars.remove(at)),
            _ if at < chars.len() => chars[at] = piece,
            _ => chars.push(piece),
        }
    }
    chars.concat()
}

#[test]
fn label_selectors_never_panic_and_print_back() {
    let mut rng = StdRng::seed_from_u64(15);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..LABEL_ROUNDS {
        let selector = if round % 2 == 0 {
            random_selector(&mut rng)
        } else {
            mutated_selector(&mut rng)
        };
        let parsed = catch_unwind(|| parse_label_selector(&selector))
            .unwrap_or_else(|_| panic!("parser panicked on {selector:?}"));
        match parsed {
            Ok(parsed) => {
                accepted += 1;
                let printed = parsed.to_string();
                assert_eq!(
                    parse_label_selector(&printed),
                    Ok(parsed),
                    "{selector:?} printed as {printed:?}"
                );
            }
            Err(message) => {
                refused += 1;
                assert!(!message.is_empty(), "{selector:?}");
            }
        }
    }
    // Both outcomes must be common, or the generator tests nothing.
    assert!(accepted > 1_000 && refused > 1_000, "{accepted} {refused}");
}

#[test]
fn field_selectors_never_panic_and_print_back() {
    let pieces = [
        "metadata.name",
        "spec.nodeName",
        "=",
        "==",
        "!=",
        ",",
        "\\",
        "\\,",
        "\\=",
        "x",
        " ",
        "é",
    ];
    let mut rng = StdRng::seed_from_u64(16);
    let mut accepted = 0;
    for _ in 0..FIELD_ROUNDS {
        let selector: String = (0..rng.random_range(0..8))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let parsed = catch_unwind(|| parse_field_selector(&selector))
            .unwrap_or_else(|_| panic!("parser panicked on {selector:?}"));
        if let Ok(parsed) = parsed {
            accepted += 1;
            let printed = parsed.to_string();
            let mut again = parse_field_selector(&printed).expect(&printed);
            let mut want = parsed.clone();
            again.0.sort();
            want.0.sort();
            assert_eq!(again, want, "{selector:?} printed as {printed:?}");
        }
    }
    assert!(accepted > 500, "{accepted}");
}
