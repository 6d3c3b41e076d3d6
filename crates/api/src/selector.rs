//! Label and field selectors: the string forms of `?labelSelector=` and `?fieldSelector=`, and
//! the structured `LabelSelector` of workloads.
//!
//! Example: `app=web,tier!=db,env in (prod,staging),!canary` matches labels
//! `{app: web, env: prod}` and not `{app: web, env: prod, canary: "1"}`.

mod field;
mod lexer;
mod parser;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub use field::{FieldSelector, parse_field_selector};
pub use parser::parse_label_selector;

/// One label requirement (`==` parses as `Equals`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// `key>value`: the label and the value both integers, the label greater.
    GreaterThan(String, String),
    /// `key<value`.
    LessThan(String, String),
}

impl Requirement {
    /// The label key this requirement is about.
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k)
            | Requirement::GreaterThan(k, _)
            | Requirement::LessThan(k, _) => k,
        }
    }

    fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        let integers = |k: &str, v: &str| {
            let label = get(k)?.parse::<i64>().ok()?;
            Some((label, v.parse::<i64>().ok()?))
        };
        match self {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v),
            Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.contains(&v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(&v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::GreaterThan(k, v) => integers(k, v).is_some_and(|(l, r)| l > r),
            Requirement::LessThan(k, v) => integers(k, v).is_some_and(|(l, r)| l < r),
        }
    }
}

/// Upstream's string form: `!k`, `k`, `k=v`, `k!=v`, `k>v`, `k<v`, `k in (a,b)` (sorted).
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |vs: &[String]| {
            let mut vs = vs.to_vec();
            vs.sort();
            vs.join(",")
        };
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", set(vs)),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", set(vs)),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
            Requirement::GreaterThan(k, v) => write!(f, "{k}>{v}"),
            Requirement::LessThan(k, v) => write!(f, "{k}<{v}"),
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

/// The requirements' string forms joined by `,`, as upstream prints a selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
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
mod tests;
