//! The admin console over HTTP on both databases: security headers and
//! asset caching, CSRF refusal, sessions (cookie flags, hashed ids, idle
//! and absolute expiry, sign-out), what a page shows and what the server
//! refuses by permission, the SCIM token shown once, the OIDC sign-in.

mod audit;
mod bulk;
mod events;
mod governance;
mod lists;
pub(crate) mod oidc;
mod pages;
mod rules;
mod security;
mod sessions;

use reqwest::Response;
use reqwest::redirect::Policy;

use crate::leak::Client;

use crate::app::TestApp;

/// A browser, as far as the server can tell: no redirects followed, one
/// session cookie kept by hand.
pub struct Browser {
    pub origin: String,
    pub client: Client,
    pub cookie: Option<String>,
    /// The console's other cookies (the notice after an action, the page
    /// to return to after signing in), by name.
    pub others: std::collections::BTreeMap<String, String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            origin: app.origin.clone(),
            client: Client::wrap(
                reqwest::Client::builder()
                    .redirect(Policy::none())
                    .build()
                    .expect("client"),
            ),
            cookie: None,
            others: Default::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Keeps the session cookie a response sets (or clears).
    pub fn keep(&mut self, r: &Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (name, rest) = v.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            if name == "scim_bridge_session" {
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            } else if value.is_empty() {
                self.others.remove(name);
            } else {
                self.others.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// The `Cookie` header this browser sends, if any.
    fn cookies(&self) -> Option<String> {
        let session = self
            .cookie
            .iter()
            .map(|c| format!("scim_bridge_session={c}"));
        let others = self.others.iter().map(|(k, v)| format!("{k}={v}"));
        let all: Vec<String> = session.chain(others).collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// A GET as htmx makes it (a boosted link, a table refresh).
    pub async fn htmx_get(&mut self, path: &str) -> Response {
        let mut req = self
            .client
            .get(self.url(path))
            .header("hx-request", "true")
            .header("hx-current-url", self.url(path));
        if let Some(c) = self.cookies() {
            req = req.header("cookie", c);
        }
        let r = req.send().await.expect("get");
        self.keep(&r);
        r
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = self.cookies() {
            req = req.header("cookie", c);
        }
        let r = req.send().await.expect("get");
        self.keep(&r);
        r
    }

    /// The page's text (asserting 200).
    pub async fn page(&mut self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// A form POST with these fields (the CSRF token is the caller's).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some(c) = self.cookies() {
            req = req.header("cookie", c);
        }
        let r = req.send().await.expect("post");
        self.keep(&r);
        r
    }

    /// The CSRF token of the signed-in session, read from a page.
    pub async fn csrf(&mut self) -> String {
        let page = self.page("/admin/users").await;
        csrf_in(&page)
    }

    /// Signs in with an admin token; asserts it worked.
    pub async fn sign_in(&mut self, token: &str) {
        self.sign_in_to(token, "/admin/users").await
    }

    /// Signs in with an admin token; asserts it worked and led to `page`.
    pub async fn sign_in_to(&mut self, token: &str, page: &str) {
        let r = self.post("/admin/signin", &[("token", token)]).await;
        assert_eq!(r.status(), 303, "sign-in");
        assert_eq!(r.headers()["location"], page);
        assert!(self.cookie.is_some(), "a session cookie");
    }
}

pub fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}
