//! Responses whose body is streamed (group members, see
//! `directory::stream`). A body that turns out small is collected and sent
//! whole, exactly as any other response (with its Content-Length); a large
//! one goes out chunk by chunk, so the server never holds it.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::SCIM_CONTENT_TYPE;
use super::error::ApiError;
use crate::directory::Error;
use crate::directory::stream::Chunks;

/// Bodies up to this size are sent whole.
const WHOLE: usize = 256 * 1024;

/// Reads the body's first chunks before answering, so that a failure to
/// read the members at all is a proper 500; later failures abort the body
/// (see `directory::stream`).
pub async fn streamed(status: StatusCode, mut chunks: Chunks) -> Result<Response, ApiError> {
    let mut head: Vec<Vec<u8>> = Vec::new();
    let mut size = 0;
    while size <= WHOLE {
        match chunks.next().await {
            None => return Ok(with_type((status, head.concat()).into_response())),
            Some(Err(e)) => return Err(Error::from(e).into()),
            Some(Ok(c)) => {
                size += c.len();
                head.push(c);
            }
        }
    }
    let body = futures_util::stream::iter(head.into_iter().map(Ok)).chain(chunks);
    Ok(with_type((status, Body::from_stream(body)).into_response()))
}

fn with_type(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    resp
}
