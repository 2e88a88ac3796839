//! Any request through the service's HTTP router (method, path, headers and body from the
//! input): a reply, never a panic and never a 500; a request without the admin key never
//! reaches an admin handler's body parsing (401 or 429, nothing that names fields).
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;

const ADMIN: &str = "fuzz-admin-key";
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::OPTIONS];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // [method][flags] path \n header: value \n ... \n\n body
    let Some((&[method, flags], rest)) = data.split_first_chunk::<2>() else { return };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return };
    let mut lines = head.split('\n');
    let path = lines.next().unwrap_or("/");
    let mut request = Request::builder()
        .method(METHODS[usize::from(method) % METHODS.len()].clone())
        .uri(if path.starts_with('/') { path.to_owned() } else { format!("/{path}") });
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let with_key = flags & 1 == 1;
    if with_key {
        request = request.header("authorization", format!("Bearer {ADMIN}"));
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };
    let admin_route = request.uri().path().starts_with("/v1/")
        && !request.uri().path().starts_with("/v1/guest");
    let bearer_given = request.headers().contains_key("authorization");
    let router = confab_server::fuzzing::router(ADMIN);
    let response = runtime().block_on(confab_server::fuzzing::call(router, request));
    let status = response.status();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    if admin_route && !bearer_given && status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status} without the admin key"
        );
    }
});
