//! The checks upstream runs on the ListOptions of a list, a watch or a deletecollection
//! before reading anything (`ValidateListOptions`, with the WatchList feature off as in 1.33).
//!
//! Example: `?watch=1&resourceVersionMatch=NotOlderThan` answers 422 `ListOptions.meta.k8s.io
//! "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch
//! unless sendInitialEvents is provided`.

use ferrokube_api::ApiError;
use ferrokube_api::field::{FieldError, FieldPath};

use crate::query::Query;

const EXACT: &str = "Exact";
const NOT_OLDER_THAN: &str = "NotOlderThan";

/// The options the checks look at.
#[derive(Debug, Default)]
struct Options<'a> {
    watch: bool,
    resource_version: &'a str,
    resource_version_match: &'a str,
    continue_token: &'a str,
    send_initial_events: Option<bool>,
}

/// 422 Invalid when the query's ListOptions break one of upstream's rules.
pub fn validate(query: &Query) -> Result<(), ApiError> {
    let options = Options {
        watch: query.flag("watch"),
        resource_version: query.get("resourceVersion").unwrap_or(""),
        resource_version_match: query.get("resourceVersionMatch").unwrap_or(""),
        continue_token: query.get("continue").unwrap_or(""),
        send_initial_events: query
            .has("sendInitialEvents")
            .then(|| query.flag("sendInitialEvents")),
    };
    let errors = match options.watch {
        true => watch_errors(&options),
        false => list_errors(&options),
    };
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", &errors)),
    }
}

fn match_path() -> FieldPath {
    FieldPath::new("resourceVersionMatch")
}

fn list_errors(options: &Options<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let matching = options.resource_version_match;
    if !matching.is_empty() {
        if options.resource_version.is_empty() {
            errors.push(FieldError::forbidden(
                match_path(),
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if !options.continue_token.is_empty() {
            errors.push(FieldError::forbidden(
                match_path(),
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if matching != EXACT && matching != NOT_OLDER_THAN {
            errors.push(FieldError::not_supported(
                match_path(),
                matching,
                &[EXACT, NOT_OLDER_THAN, ""],
            ));
        }
        if matching == EXACT && options.resource_version == "0" {
            errors.push(FieldError::forbidden(
                match_path(),
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if options.send_initial_events.is_some() {
        errors.push(FieldError::forbidden(
            FieldPath::new("sendInitialEvents"),
            "sendInitialEvents is forbidden for list",
        ));
    }
    errors
}

fn watch_errors(options: &Options<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let matching = options.resource_version_match;
    if options.send_initial_events.is_some() {
        if matching != NOT_OLDER_THAN {
            errors.push(FieldError::forbidden(
                match_path(),
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        errors.push(FieldError::forbidden(
            FieldPath::new("sendInitialEvents"),
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        ));
    }
    if !matching.is_empty() {
        if options.send_initial_events.is_none() {
            errors.push(FieldError::forbidden(
                match_path(),
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if matching != NOT_OLDER_THAN {
            errors.push(FieldError::not_supported(
                match_path(),
                matching,
                &[NOT_OLDER_THAN],
            ));
        }
        if !options.continue_token.is_empty() {
            errors.push(FieldError::forbidden(
                match_path(),
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> Option<String> {
        validate(&Query::parse(Some(query))).err().map(|e| {
            assert_eq!((e.code, e.reason), (422, "Invalid"), "{query}");
            e.message
        })
    }

    #[test]
    fn list_options_table() {
        let prefix = "ListOptions.meta.k8s.io \"\" is invalid: ";
        let cases: [(&str, Option<&str>); 12] = [
            ("", None),
            ("resourceVersion=5&resourceVersionMatch=NotOlderThan", None),
            ("resourceVersion=5&resourceVersionMatch=Exact", None),
            ("resourceVersion=0&continue=abc", None),
            ("watch=1&resourceVersion=5", None),
            (
                "resourceVersionMatch=NotOlderThan",
                Some(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                ),
            ),
            (
                "resourceVersion=0&resourceVersionMatch=Exact",
                Some(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ),
            ),
            (
                "resourceVersion=5&resourceVersionMatch=Newest",
                Some(
                    "resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\"",
                ),
            ),
            (
                "resourceVersion=5&resourceVersionMatch=Exact&continue=abc",
                Some(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided",
                ),
            ),
            (
                "sendInitialEvents=true",
                Some("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
            ),
            (
                "watch=1&resourceVersionMatch=NotOlderThan",
                Some(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ),
            ),
            (
                "watch=1&sendInitialEvents=true",
                Some(
                    "[resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled]",
                ),
            ),
        ];
        for (query, want) in cases {
            let want = want.map(|w| format!("{prefix}{w}"));
            assert_eq!(message(query), want, "{query}");
        }
    }
}
