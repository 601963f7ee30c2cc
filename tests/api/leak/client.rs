//! The tests' HTTP client: reqwest's, with every request's credentials and
//! identity values noted (see `super::extract`) before it is sent, when
//! `SCIM_BRIDGE_LEAK_DIR` is set. Same method names as reqwest, so the tests
//! read as before.

use std::fmt::Display;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use reqwest::{IntoUrl, Method, Response};
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct Client(reqwest::Client);

impl Client {
    pub fn new() -> Client {
        Client(reqwest::Client::new())
    }

    /// Any reqwest client (custom TLS roots, redirects, timeouts).
    pub fn wrap(client: reqwest::Client) -> Client {
        Client(client)
    }

    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> RequestBuilder {
        RequestBuilder(self.0.request(method, url))
    }

    pub fn get<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn put<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    pub fn patch<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    pub fn delete<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
}

#[derive(Debug)]
pub struct RequestBuilder(reqwest::RequestBuilder);

impl RequestBuilder {
    pub fn header<K, V>(self, key: K, value: V) -> RequestBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<axum::http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<axum::http::Error>,
    {
        RequestBuilder(self.0.header(key, value))
    }

    pub fn bearer_auth<T: Display>(self, token: T) -> RequestBuilder {
        RequestBuilder(self.0.bearer_auth(token))
    }

    pub fn basic_auth<U: Display, P: Display>(
        self,
        user: U,
        password: Option<P>,
    ) -> RequestBuilder {
        RequestBuilder(self.0.basic_auth(user, password))
    }

    pub fn body<T: Into<reqwest::Body>>(self, body: T) -> RequestBuilder {
        RequestBuilder(self.0.body(body))
    }

    pub fn json<T: Serialize + ?Sized>(self, json: &T) -> RequestBuilder {
        RequestBuilder(self.0.json(json))
    }

    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> RequestBuilder {
        RequestBuilder(self.0.form(form))
    }

    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> RequestBuilder {
        RequestBuilder(self.0.query(query))
    }

    pub fn timeout(self, timeout: Duration) -> RequestBuilder {
        RequestBuilder(self.0.timeout(timeout))
    }

    pub async fn send(self) -> reqwest::Result<Response> {
        let (client, request) = self.0.build_split();
        let request = request?;
        super::note_request(&request);
        let response = client.execute(request).await?;
        super::note_response(&response);
        Ok(response)
    }
}
