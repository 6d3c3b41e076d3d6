//! Label and field selectors: the string forms of `?labelSelector=` and `?fieldSelector=`, and
//! the structured `LabelSelector` of workloads.
//!
//! Example: `app=web,tier!=db,env in (prod,staging),!canary` matches labels
//! `{app: web, env: prod}` and not `{app: web, env: prod, canary: "1"}`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v),
            Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.contains(&v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(&v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        }
    }
}

/// A parsed label selector; empty matches everything.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        let get = |k: &str| {
            labels
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        self.0.iter().all(|r| r.matches(&get))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{}', expected: '('", rest.trim()))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

/// Parses the string form of a label selector.
pub fn parse_label_selector(s: &str) -> Result<Selector, String> {
    let mut requirements = Vec::new();
    for part in split_top_level(s)
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let requirement = if let Some(key) = part.strip_prefix('!') {
            Requirement::DoesNotExist(key.trim().to_owned())
        } else if let Some((key, value)) = part.split_once("!=") {
            Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = part.split_once("==") {
            Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = part.split_once('=') {
            Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, rest)) = part.split_once(" notin ") {
            Requirement::NotIn(key.trim().to_owned(), parse_set(rest)?)
        } else if let Some((key, rest)) = part.split_once(" in ") {
            Requirement::In(key.trim().to_owned(), parse_set(rest)?)
        } else if part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            Requirement::Exists(part.to_owned())
        } else {
            return Err(format!("unable to parse requirement: {part:?}"));
        };
        check_requirement(&requirement)?;
        requirements.push(requirement);
    }
    Ok(Selector(requirements))
}

/// A requirement's key must be a qualified name and its values label values, as upstream's
/// `NewRequirement` checks, with its message: `unable to parse requirement: <nil>: Invalid
/// value: "\"tier": name part must consist of …` for `-l '"tier=frontend"'`.
fn check_requirement(requirement: &Requirement) -> Result<(), String> {
    let (key, values): (&str, &[String]) = match requirement {
        Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, std::slice::from_ref(v)),
        Requirement::In(k, vs) | Requirement::NotIn(k, vs) => (k, vs),
        Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, &[]),
    };
    let invalid = |value: &str, errors: Vec<String>| {
        format!(
            "unable to parse requirement: <nil>: Invalid value: {value:?}: {}",
            errors.join("; ")
        )
    };
    let key_errors = crate::validation::qualified_name_errors(key);
    if !key_errors.is_empty() {
        return Err(invalid(key, key_errors));
    }
    for value in values {
        let errors = crate::validation::label_value_errors(value);
        if !errors.is_empty() {
            return Err(invalid(value, errors));
        }
    }
    Ok(())
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`, comma-separated.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Fields this selector names.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(f, _, _)| f.as_str())
    }

    /// Whether the object's field values satisfy every term.
    pub fn matches(&self, fields: &[(&str, String)]) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = fields
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            (actual == value) == *equal
        })
    }
}

/// Parses a field selector.
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, String> {
    let mut terms = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
            (f, false, v)
        } else if let Some((f, v)) = part.split_once("==") {
            (f, true, v)
        } else if let Some((f, v)) = part.split_once('=') {
            (f, true, v)
        } else {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            ));
        };
        terms.push((field.trim().to_owned(), equal, value.trim().to_owned()));
    }
    Ok(FieldSelector(terms))
}

/// Whether a structured `LabelSelector` matches labels (an empty selector matches everything).
pub fn label_selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        let requirement = match e.operator.as_str() {
            "In" => Requirement::In(e.key.clone(), values),
            "NotIn" => Requirement::NotIn(e.key.clone(), values),
            "Exists" => Requirement::Exists(e.key.clone()),
            "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
            _ => return false,
        };
        requirement.matches(&|k| labels.get(k).cloned())
    });
    match_labels && expressions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_keys_and_values_are_refused_as_upstream() {
        let err = parse_label_selector("\"tier=frontend\"").unwrap_err();
        assert_eq!(
            err,
            "unable to parse requirement: <nil>: Invalid value: \"\\\"tier\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert!(parse_label_selector("app=we b").is_err());
        assert!(parse_label_selector("app in (a, b c)").is_err());
        assert!(parse_label_selector("example.com/app=web,!x").is_ok());
    }

    #[test]
    fn label_selector_table() {
        let labels = [("app", "web"), ("env", "prod")];
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
        ];
        for (selector, want) in cases {
            let parsed = parse_label_selector(selector).unwrap();
            assert_eq!(parsed.matches(&labels), want, "{selector}");
        }
        assert!(parse_label_selector("a in x").is_err());
        assert!(parse_label_selector("a b").is_err());
    }

    #[test]
    fn field_selector_table() {
        let fields = [
            ("metadata.name", "x".to_owned()),
            ("spec.nodeName", "".to_owned()),
        ];
        let cases = [
            ("metadata.name=x", true),
            ("metadata.name==x", true),
            ("metadata.name!=x", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("metadata.name=x,spec.nodeName=n1", false),
        ];
        for (selector, want) in cases {
            assert_eq!(
                parse_field_selector(selector).unwrap().matches(&fields),
                want,
                "{selector}"
            );
        }
        assert!(parse_field_selector("metadata.name").is_err());
    }
}
