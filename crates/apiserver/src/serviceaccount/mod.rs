//! Service accounts' tokens: the `serviceaccounts/<name>/token` subresource that issues them
//! (TokenRequest), and TokenReview, which says whether a token is valid and whose it is.

pub mod token;
pub(crate) mod token_request;
pub(crate) mod token_review;

pub use token::Tokens;
