//! A real OpenID provider on loopback for single sign-on tests, and a browser-like driver for
//! its login form.
//!
//! The provider is the npm package `oidc-provider`, run by Node from `tests/harness/oidc/`
//! (`provider.mjs` says what it supports). Each [`OidcProvider`] is its own process on a free
//! port, with the accounts and clients of a [`ProviderSpec`]; dropping it stops the process.
//! Its node modules are installed with `npm ci` the first time they are missing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long the provider may take to say it is listening.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The line the provider prints once it listens, followed by its issuer.
const READY: &str = "AULA_OIDC_READY ";
/// Requests a sign-in may take before it is given up as a loop.
const MAX_HOPS: usize = 20;
/// What to do when Node is not there.
const NODE_MISSING: &str = "Node.js (20.12 or later) runs the test OpenID provider: \
    install it with 'apt-get install nodejs npm'";

/// A user the provider can sign in.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// What the user types in the login field.
    pub login: String,
    /// What the user types in the password field.
    pub password: String,
    /// The subject identifier (`sub`) of the user's tokens.
    pub sub: String,
    /// The `email` claim.
    pub email: String,
    /// The `email_verified` claim.
    pub email_verified: bool,
    /// The `name` claim.
    pub name: String,
}

/// A relying party registered at the provider (a confidential client, authenticating at the
/// token endpoint with `client_secret_basic` or `client_secret_post`).
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// The redirect URIs the client may use, matched exactly.
    pub redirect_uris: Vec<String>,
}

/// Who the provider knows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProviderSpec {
    /// Users who can sign in.
    pub accounts: Vec<Account>,
    /// Relying parties.
    pub clients: Vec<Client>,
}

/// An OpenID provider process listening on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    issuer: String,
    child: Child,
    // The provider exits when its stdin closes, so it never outlives the test process.
    _stdin: ChildStdin,
}

impl OidcProvider {
    /// Starts a provider on a free loopback port with `spec`'s accounts and clients, installing
    /// its node modules first if they are missing. Panics if it cannot start.
    pub async fn start(spec: ProviderSpec) -> OidcProvider {
        tokio::task::spawn_blocking(ensure_installed)
            .await
            .expect("install the OpenID provider's node modules");
        let config = json!({
            "port": 0,
            "accounts": spec.accounts,
            "clients": spec.clients,
        });
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("AULA_OIDC_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => panic!("{NODE_MISSING}"),
                _ => panic!("start the OpenID provider with node: {e}"),
            });
        let stdin = child.stdin.take().expect("the provider's stdin is piped");
        let stdout = child.stdout.take().expect("the provider's stdout is piped");
        let stderr = child.stderr.take().expect("the provider's stderr is piped");

        // Its stderr is kept for the failure message, and read to the end so it never blocks.
        let log = Arc::new(Mutex::new(String::new()));
        let log_writer = Arc::clone(&log);
        let log_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut log) = log_writer.lock()
                    && log.len() < 64 * 1024
                {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });

        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix(READY) {
                    return Some(issuer.trim().to_owned());
                }
            }
            None
        })
        .await;
        let Ok(Some(issuer)) = ready else {
            let why = match ready {
                Err(_) => format!("it did not say it was ready within {READY_TIMEOUT:?}"),
                Ok(_) => match child.wait().await {
                    Ok(status) => format!("it exited ({status})"),
                    Err(e) => format!("it stopped: {e}"),
                },
            };
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), log_task).await;
            let log = log.lock().map(|l| l.clone()).unwrap_or_default();
            panic!("the OpenID provider did not start: {why}; its stderr:\n{log}");
        };
        // Whatever it prints later is read and dropped.
        tokio::spawn(async move {
            let mut rest = lines.into_inner();
            let mut sink = Vec::new();
            let _ = rest.read_to_end(&mut sink).await;
        });

        OidcProvider {
            issuer,
            child,
            _stdin: stdin,
        }
    }

    /// The issuer, `http://127.0.0.1:<port>`; discovery is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `login` in with `password` the way a browser would, in a fresh session: opens
    /// `authorize_url` (an authorization request to this provider), follows its redirects,
    /// fills in the login form and stops at the first redirect off the provider, returning
    /// that URL: the client's `redirect_uri` with `code` and `state` (or `error`). `Err` when
    /// the login form comes back (a wrong password) or the provider answers with an error page.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        login: &str,
        password: &str,
    ) -> Result<String, String> {
        kit::server::install_crypto();
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the browser's HTTP client");
        let origin = Url::parse(&self.issuer)
            .expect("the issuer is a URL")
            .origin();
        let mut url = Url::parse(authorize_url)
            .map_err(|e| format!("authorization URL {authorize_url:?}: {e}"))?;
        if url.origin() != origin {
            return Err(format!("{url} is not on the provider {}", self.issuer));
        }
        let mut fields: Option<Vec<(String, String)>> = None;
        let mut submitted = false;
        for _ in 0..MAX_HOPS {
            if url.origin() != origin {
                return Ok(url.into());
            }
            let request = match fields.take() {
                Some(fields) => browser.post(url.clone()).form(&fields),
                None => browser.get(url.clone()),
            };
            let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{url} answered {status} without a Location"))?;
                url = url
                    .join(location)
                    .map_err(|e| format!("{url} redirected to {location:?}: {e}"))?;
                continue;
            }
            let body = response.text().await.map_err(|e| format!("{url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{url} answered {status}: {body}"));
            }
            let form = Form::parse(&body).ok_or_else(|| format!("{url} shows no form: {body}"))?;
            let mut submit = form.hidden;
            if form.has_password {
                if submitted {
                    let error = between(&body, "class=\"error\">", "<").unwrap_or_default();
                    return Err(format!(
                        "the provider showed its login form again after {login:?} submitted a password: {error}"
                    ));
                }
                submitted = true;
                submit.push(("login".into(), login.into()));
                submit.push(("password".into(), password.into()));
            }
            url = url
                .join(&form.action)
                .map_err(|e| format!("{url} has a form posting to {:?}: {e}", form.action))?;
            fields = Some(submit);
        }
        Err(format!(
            "no redirect off the provider after {MAX_HOPS} requests, last at {url}"
        ))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Reaped here (it dies within milliseconds), not left a zombie until the test ends.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `tests/harness/oidc`, where `provider.mjs` and its `package-lock.json` are.
fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Runs `npm ci` in the provider's folder unless the locked `oidc-provider` is installed; one
/// test process at a time (the others wait, then find it installed).
fn ensure_installed() {
    let dir = provider_dir();
    let lock =
        File::create(crate::state_dir().join("oidc-npm.lock")).expect("create npm lock file");
    lock.lock()
        .expect("lock the OpenID provider's node modules");
    if installed(&dir) {
        return;
    }
    eprintln!("harness: installing the OpenID provider's node modules (npm ci)");
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!("{NODE_MISSING}"),
            _ => panic!("run npm ci in {}: {e}", dir.display()),
        });
    assert!(
        out.status.success() && installed(&dir),
        "npm ci in {} failed ({}):\n{}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Whether `node_modules` holds the `oidc-provider` version `package-lock.json` names.
fn installed(dir: &Path) -> bool {
    let read = |path: PathBuf| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let locked = read(dir.join("package-lock.json")).and_then(|l| {
        l["packages"]["node_modules/oidc-provider"]["version"]
            .as_str()
            .map(str::to_owned)
    });
    let present = read(dir.join("node_modules/oidc-provider/package.json"))
        .and_then(|p| p["version"].as_str().map(str::to_owned));
    locked.is_some() && locked == present
}

/// The first form of an HTML page: where it posts, its hidden fields, and whether it asks for
/// a password. Enough for the provider's own pages, not for HTML at large.
#[derive(Debug)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    has_password: bool,
}

impl Form {
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let html = &html[start..];
        let end = html.find("</form>").unwrap_or(html.len());
        let html = &html[..end];
        let tag_end = html.find('>')?;
        let action = attribute(&html[..tag_end], "action").unwrap_or_default();
        let mut hidden = Vec::new();
        let mut has_password = false;
        for input in html.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            match attribute(tag, "type").as_deref() {
                Some("password") => has_password = true,
                Some("hidden") => {
                    if let Some(name) = attribute(tag, "name") {
                        hidden.push((name, attribute(tag, "value").unwrap_or_default()));
                    }
                }
                _ => {}
            }
        }
        Some(Form {
            action,
            hidden,
            has_password,
        })
    }
}

/// The value of a double-quoted attribute in the text of a tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&needle) {
        let at = from + i;
        if tag[..at].ends_with(|c: char| c.is_ascii_whitespace()) {
            let rest = &tag[at + needle.len()..];
            return Some(unescape(&rest[..rest.find('"')?]));
        }
        from = at + needle.len();
    }
    None
}

/// The text after the first `start` and up to the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Undoes HTML escaping of `&amp;`, `&lt;`, `&gt;`, `&quot;` and numeric references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_gives_its_action_hidden_fields_and_password_field() {
        let html = r#"<p>hi</p><form method="post" action="/interaction/a&amp;b">
            <input type="hidden" name="prompt" value="consent &#34;ok&#34;">
            <input type="password" name="password"></form><form action="/other">"#;
        let form = Form::parse(html).expect("a form");
        assert_eq!(form.action, "/interaction/a&b");
        assert_eq!(
            form.hidden,
            [("prompt".to_owned(), "consent \"ok\"".to_owned())]
        );
        assert!(form.has_password);
        assert!(Form::parse("<p>no form</p>").is_none());
    }
}
