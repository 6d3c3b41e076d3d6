//! Table tests of the label selector parser, with upstream's own cases from
//! `apimachinery/pkg/labels/selector_test.go` (TestSelectorParse, TestSetSelectorParser,
//! TestRequirementConstructor, TestSelectorMatches) and the messages of `selector.go`.

use super::Requirement::*;
use super::*;

fn s(v: &str) -> String {
    v.to_owned()
}

fn set(vs: &[&str]) -> Vec<String> {
    vs.iter().map(|v| s(v)).collect()
}

/// TestSetSelectorParser's valid cases, with the requirements they parse to (sorted by key).
#[test]
fn valid_selectors_parse_as_upstream() {
    let cases: Vec<(&str, Vec<Requirement>)> = vec![
        ("", vec![]),
        ("\rx", vec![Exists(s("x"))]),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            vec![Exists(s("this-is-a-dns.domain.com/key-with-dash"))],
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            vec![In(
                s("this-is-another-dns.domain.com/key-with-dash"),
                set(&["so", "what"]),
            )],
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            vec![NotIn(
                s("0.1.2.domain/99"),
                set(&["10.10.100.1", "tick.tack.clock"]),
            )],
        ),
        ("foo  in\t (abc)", vec![In(s("foo"), set(&["abc"]))]),
        ("x notin\n (abc)", vec![NotIn(s("x"), set(&["abc"]))]),
        (
            "x  notin\t\t\t(abc,def)",
            vec![NotIn(s("x"), set(&["abc", "def"]))],
        ),
        ("x in (abc,def)", vec![In(s("x"), set(&["abc", "def"]))]),
        ("x in (abc,)", vec![In(s("x"), set(&["", "abc"]))]),
        ("x in ()", vec![In(s("x"), set(&[""]))]),
        (
            "x notin (abc,,def),bar,z in (),w",
            vec![
                Exists(s("bar")),
                Exists(s("w")),
                NotIn(s("x"), set(&["", "abc", "def"])),
                In(s("z"), set(&[""])),
            ],
        ),
        ("x,y in (a)", vec![Exists(s("x")), In(s("y"), set(&["a"]))]),
        ("x=a", vec![Equals(s("x"), s("a"))]),
        ("x==a", vec![Equals(s("x"), s("a"))]),
        ("x>1", vec![GreaterThan(s("x"), s("1"))]),
        ("x<7", vec![LessThan(s("x"), s("7"))]),
        (
            "x=a,y!=b",
            vec![Equals(s("x"), s("a")), NotEquals(s("y"), s("b"))],
        ),
        (
            "x=a,y!=b,z in (h,i,j)",
            vec![
                Equals(s("x"), s("a")),
                NotEquals(s("y"), s("b")),
                In(s("z"), set(&["h", "i", "j"])),
            ],
        ),
        ("x notin ( )", vec![NotIn(s("x"), set(&[""]))]),
        ("x notin (, a)", vec![NotIn(s("x"), set(&["", "a"]))]),
        ("a ", vec![Exists(s("a"))]),
        (
            "a in (x,y,notin, z,in)",
            vec![In(s("a"), set(&["in", "notin", "x", "y", "z"]))],
        ),
        ("x,y", vec![Exists(s("x")), Exists(s("y"))]),
        ("!x", vec![DoesNotExist(s("x"))]),
        ("notin=in", vec![Equals(s("notin"), s("in"))]),
        ("in in (in)", vec![In(s("in"), set(&["in"]))]),
        ("x=", vec![Equals(s("x"), s(""))]),
        ("x=,z= ", vec![Equals(s("x"), s("")), Equals(s("z"), s(""))]),
        ("x in (a,a,b)", vec![In(s("x"), set(&["a", "b"]))]),
        ("1foo in (bar)", vec![In(s("1foo"), set(&["bar"]))]),
        ("1234 in (bar)", vec![In(s("1234"), set(&["bar"]))]),
    ];
    for (selector, want) in cases {
        assert_eq!(
            parse_label_selector(selector),
            Ok(Selector(want)),
            "{selector:?}"
        );
    }
}

/// Upstream's invalid selectors (TestSelectorParse, TestSetSelectorParser,
/// TestRequirementConstructor) and the ones of issue 15, with upstream's messages.
#[test]
fn invalid_selectors_fail_with_upstreams_message() {
    let name_part = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let label_value = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    let integer = "for 'Gt', 'Lt' operators, the value must be an integer";
    let cases = [
        ("!app=web", s("found '=', expected: ',' or 'end of string'")),
        ("!x=a", s("found '=', expected: ',' or 'end of string'")),
        (
            "!!",
            s("unable to parse requirement: found '!', expected: identifier"),
        ),
        (
            "!",
            s("unable to parse requirement: found '', expected: identifier"),
        ),
        ("a=b=c", s("found '=', expected: ',' or 'end of string'")),
        ("x==a==b", s("found '==', expected: ',' or 'end of string'")),
        (
            "=",
            s("found '=', expected: !, identifier, or 'end of string'"),
        ),
        ("a,", s("found '', expected: identifier after ','")),
        ("x,,y", s("found ',', expected: identifier after ','")),
        (
            ",x,y",
            s("found ',', expected: !, identifier, or 'end of string'"),
        ),
        ("a in (xyz),", s("found '', expected: identifier after ','")),
        (
            "x=a||y=b",
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {label_value}"
            ),
        ),
        (
            "x nott in (y)",
            s("unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"),
        ),
        (
            "a in (xyz)b notin ()",
            s("found 'b', expected: ',' or 'end of string'"),
        ),
        (
            "a in (xyz abc)",
            s("unable to parse requirement: found 'abc', expected: ',' or ')'"),
        ),
        (
            "a notin(",
            s("unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ),
        (
            "a (",
            s("unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ),
        (
            "(",
            s("found '(', expected: !, identifier, or 'end of string'"),
        ),
        (
            "a in x",
            s("unable to parse requirement: found 'x' expected: '('"),
        ),
        (
            "a in (x,=)",
            s("unable to parse requirement: found '=', expected: ',', or identifier"),
        ),
        (
            "a=(",
            s("unable to parse requirement: found '(', expected: identifier"),
        ),
        (
            "x<a",
            format!("unable to parse requirement: values[0]: Invalid value: \"a\": {integer}"),
        ),
        (
            "foo>bar",
            format!("unable to parse requirement: values[0]: Invalid value: \"bar\": {integer}"),
        ),
        (
            "x>-",
            format!(
                "unable to parse requirement: [values[0]: Invalid value: \"-\": {integer}, values[0][x]: Invalid value: \"-\": {label_value}]"
            ),
        ),
        (
            "\"tier=frontend\"",
            format!("unable to parse requirement: <nil>: Invalid value: \"\\\"tier\": {name_part}"),
        ),
        (
            "app=we\u{1}",
            format!(
                "unable to parse requirement: values[0][app]: Invalid value: \"we\\x01\": {label_value}"
            ),
        ),
    ];
    for (selector, want) in cases {
        assert_eq!(parse_label_selector(selector), Err(want), "{selector:?}");
    }
    let long_key = "a".repeat(254);
    let err = parse_label_selector(&long_key).unwrap_err();
    assert!(
        err.starts_with("unable to parse requirement: <nil>: Invalid value: \"aaa"),
        "{err}"
    );
    assert!(parse_label_selector("app in (a, b c)").is_err());
}

/// TestSelectorParse: valid strings print back as written, less spaces.
#[test]
fn selectors_print_as_upstream() {
    let cases = [
        "x=a,y=b,z=c",
        "",
        "x!=a,y=b",
        "x=",
        "x= ",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
    ];
    for selector in cases {
        let printed = parse_label_selector(selector).unwrap().to_string();
        assert_eq!(printed, selector.replace(' ', ""), "{selector:?}");
    }
    let printed = parse_label_selector("z notin (b,a),y in (d,c)").unwrap();
    assert_eq!(printed.to_string(), "y in (c,d),z notin (a,b)");
    assert_eq!(
        parse_label_selector("x=a,a=x").unwrap().to_string(),
        parse_label_selector("a=x,x=a").unwrap().to_string()
    );
}

/// TestSelectorMatches and TestRequirementSelectorMatching.
#[test]
fn label_selector_table() {
    let labels = [("app", "web"), ("env", "prod"), ("n", "2")];
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app!=web", false),
        ("app!=db", true),
        ("env in (prod,staging)", true),
        ("env notin (prod)", false),
        ("env notin (dev)", true),
        ("app", true),
        ("!app", false),
        ("!canary", true),
        ("app=web,env in (prod, staging),!canary", true),
        ("missing in (x)", false),
        ("missing notin (x)", true),
        ("n>1", true),
        ("n<1", false),
        ("n<3", true),
        ("app>1", false),
        ("missing>1", false),
        ("missing in ()", false),
    ];
    for (selector, want) in cases {
        let parsed = parse_label_selector(selector).unwrap();
        assert_eq!(parsed.matches(&labels), want, "{selector}");
    }
}
