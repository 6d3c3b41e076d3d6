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
