//! The console's static assets, embedded in the binary and served under a
//! content-hashed path (`/admin/assets/{hash}/{name}`) with a year's
//! `immutable` caching and an ETag: a new build changes the hash, so a
//! browser never keeps a stale file.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/vendor/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/console/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../assets/console/console.css"),
    },
    Asset {
        name: "icons.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../assets/console/icons.svg"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../assets/console/favicon.svg"),
    },
];

/// The URL of each asset, for templates.
pub struct Urls {
    pub htmx: String,
    pub js: String,
    pub css: String,
    pub icons: String,
    pub favicon: String,
    hashes: Vec<String>,
}

fn hash(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

static URLS: LazyLock<Urls> = LazyLock::new(|| {
    let hashes: Vec<String> = ASSETS.iter().map(|a| hash(a.bytes)).collect();
    let url = |i: usize| format!("/admin/assets/{}/{}", hashes[i], ASSETS[i].name);
    Urls {
        htmx: url(0),
        js: url(1),
        css: url(2),
        icons: url(3),
        favicon: url(4),
        hashes: hashes.clone(),
    }
});

pub fn urls() -> &'static Urls {
    &URLS
}

pub async fn serve(Path((h, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let urls = urls();
    let Some(i) = ASSETS
        .iter()
        .position(|a| a.name == name)
        .filter(|&i| urls.hashes[i] == h)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", urls.hashes[i]);
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag_value = HeaderValue::from_str(&etag).expect("hex is a valid header");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(ASSETS[i].content_type),
            ),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache),
        ],
        ASSETS[i].bytes,
    )
        .into_response()
}
