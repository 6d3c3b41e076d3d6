//! Query parameters of API requests, parsed once into typed options.

use std::collections::HashMap;

use ferrokube_api::ApiError;
use ferrokube_api::selector::{
    FieldSelector, Selector, parse_field_selector, parse_label_selector,
};

/// The raw query, first value per name.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Query(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean parameter as upstream reads one: present with any value but `false` or `0`
    /// (in any case) is true, so the Python client's `watch=True` watches.
    pub fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0")
    }

    /// Whether the query names the parameter at all (even with an empty value).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// An integer parameter as upstream's query conversion reads one (`strconv.ParseInt`,
    /// base 10): absent is `None`; present but not an integer (even empty) is a 400 with Go's
    /// message, e.g. `strconv.ParseInt: parsing "abc": invalid syntax`.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.0.get(name) else {
            return Ok(None);
        };
        value.parse::<i64>().map(Some).map_err(|err| {
            let why = match err.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            ApiError::bad_request(format!(
                "strconv.ParseInt: parsing {}: {why}",
                ferrokube_api::field::go_quote(value)
            ))
        })
    }

    pub fn label_selector(&self) -> Result<Selector, ApiError> {
        parse_label_selector(self.get("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)
    }

    pub fn field_selector(&self) -> Result<FieldSelector, ApiError> {
        parse_field_selector(self.get("fieldSelector").unwrap_or("")).map_err(ApiError::bad_request)
    }

    /// `dryRun=All`; any other value is rejected as upstream does.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    /// `fieldValidation`: Strict, Warn (the default) or Ignore; any other value is a 400
    /// whether or not the body has unknown fields.
    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// What to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_go_parses_them() {
        let cases = [
            ("limit=5", Ok(Some(5))),
            ("limit=-3", Ok(Some(-3))),
            ("other=1", Ok(None)),
            (
                "limit=abc",
                Err("strconv.ParseInt: parsing \"abc\": invalid syntax"),
            ),
            (
                "limit=",
                Err("strconv.ParseInt: parsing \"\": invalid syntax"),
            ),
            (
                "limit=1.5",
                Err("strconv.ParseInt: parsing \"1.5\": invalid syntax"),
            ),
            (
                "limit=99999999999999999999",
                Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range"),
            ),
            (
                "limit=%01",
                Err("strconv.ParseInt: parsing \"\\x01\": invalid syntax"),
            ),
        ];
        for (query, want) in cases {
            let got = Query::parse(Some(query)).integer("limit");
            let got = got.map_err(|e| {
                assert_eq!(e.code, 400);
                e.message
            });
            assert_eq!(got, want.map_err(str::to_owned), "{query}");
        }
    }

    #[test]
    fn flags_table() {
        let cases = [
            ("watch=true", true),
            ("watch=True", true),
            ("watch=1", true),
            ("watch=yes", true),
            ("watch=", true),
            ("watch=false", false),
            ("watch=False", false),
            ("watch=0", false),
            ("other=true", false),
        ];
        for (query, want) in cases {
            assert_eq!(Query::parse(Some(query)).flag("watch"), want, "{query}");
        }
    }
}
