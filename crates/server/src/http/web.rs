//! The browser client: a page and a script, embedded in the binary (no CDN, no build step).

use axum::http::header;
use axum::response::{Html, IntoResponse};

const INDEX: &str = include_str!("../../web/index.html");
const APP: &str = include_str!("../../web/app.js");

pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// A speech bubble: browsers ask for an icon on every page load.
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#0a6" d="M4 4h24a2 2 0 0 1 2 2v15a2 2 0 0 1-2 2H13l-7 6v-6H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>"##;

pub(crate) async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
}

pub(crate) async fn app() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP,
    )
}
