//! Proxies for the `hg` command, decided by the rules the HTTP client (archives, git) follows.
//!
//! The HTTP client takes its proxy from the environment as curl does: `HTTPS_PROXY` or
//! `https_proxy` for `https://` URLs, `http_proxy` (and `HTTP_PROXY` outside CGI) for
//! `http://` URLs, `ALL_PROXY`/`all_proxy` for both, except for hosts listed in
//! `NO_PROXY`/`no_proxy`. Mercurial only reads `http_proxy`, for both schemes, and never
//! proxies `localhost`; so the decision is made here with the same matcher and handed to `hg`
//! as its `http_proxy` variable (credentials stay out of the command line and its error
//! messages) with `--config http_proxy.always=true`.

use hyper_util::client::proxy::matcher::Matcher;

/// What `hg` needs to reach a URL the way the HTTP client would: proxy and trust settings.
#[derive(Debug, Default)]
pub(crate) struct HgNetwork {
    /// `--config` values.
    pub config: Vec<String>,
    /// hg's `http_proxy` variable.
    pub proxy_env: ProxyEnv,
}

/// What to do with hg's `http_proxy` variable.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum ProxyEnv {
    /// Leave it (not a network URL).
    #[default]
    Keep,
    /// Remove it: the URL goes direct.
    Remove,
    /// Set it to this proxy URL.
    Set(String),
}

/// The proxy settings of `hg` for `url` (nothing for local paths).
pub(crate) fn for_hg(url: &str) -> HgNetwork {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return HgNetwork::default();
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return HgNetwork::default();
    }
    let Some(intercept) = Matcher::from_env().intercept(&uri) else {
        return HgNetwork {
            config: Vec::new(),
            proxy_env: ProxyEnv::Remove,
        };
    };
    let Some(authority) = intercept.uri().authority() else {
        return HgNetwork::default();
    };
    let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    let proxy = match credentials(&intercept) {
        Some((user, password)) => format!("http://{user}:{password}@{host_port}"),
        None => format!("http://{host_port}"),
    };
    tracing::debug!(url, proxy = %host_port, "hg goes through the proxy");
    HgNetwork {
        config: vec![
            // hg prefers a configured host to the variable.
            "http_proxy.host=".to_owned(),
            // The matcher already applied NO_PROXY; without this hg would skip localhost.
            "http_proxy.always=true".to_owned(),
        ],
        proxy_env: ProxyEnv::Set(proxy),
    }
}

/// The proxy's user and password, from `http://USER:PASSWORD@HOST:PORT`.
fn credentials(
    intercept: &hyper_util::client::proxy::matcher::Intercept,
) -> Option<(String, String)> {
    if let Some((user, password)) = intercept.raw_auth() {
        return Some((user.to_owned(), password.to_owned()));
    }
    let header = intercept.basic_auth()?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ")?;
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
