//! A real browser for the console's tests: Debian's `chromium`, headless,
//! driven over the W3C WebDriver protocol by its `chromedriver` (both from
//! apt; `OUTPOST_CHROMIUM` and `OUTPOST_CHROMEDRIVER` name others). The
//! client here is the handful of WebDriver commands the tests use, over
//! HTTP on loopback; the browser's own network chatter is switched off
//! (the flags of the machine's notes), so it talks only to the page's
//! origin.

use crate::nats::free_port;
use crate::procs::Proc;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long the tests wait for the page to reach a state.
pub const PATIENCE: Duration = Duration::from_secs(60);

fn tool(var: &str, default: &str) -> Result<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if !path.exists() {
        bail!(
            "{} not found: install Debian's chromium and chromium-driver (apt), or set {var}",
            path.display()
        );
    }
    Ok(path)
}

/// A headless Chromium with one WebDriver session.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a browser session with a window of a
    /// laptop's size.
    pub async fn start() -> Result<Browser> {
        let chromium = tool("OUTPOST_CHROMIUM", "/usr/bin/chromium")?;
        let driver_bin = tool("OUTPOST_CHROMEDRIVER", "/usr/bin/chromedriver")?;
        let port = free_port()?;
        let port_arg = format!("--port={port}");
        let mut driver = Proc::spawn("chromedriver", driver_bin, &[OsStr::new(&port_arg)], &[])?;
        driver
            .wait_for_line(|l| l.contains("started successfully"), PATIENCE)
            .await?;
        let profile = tempfile::tempdir()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--window-size=1366,860",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no WebDriver session: {answer}"))?;
        Ok(Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let answer: Value = req.send().await?.json().await?;
        if let Some(err) = answer["value"]["error"].as_str() {
            bail!(
                "WebDriver {path}: {err}: {}",
                answer["value"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(answer["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Loads `url` and waits for the document.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// The first element matching `css`, if any now.
    pub async fn find(&self, css: &str) -> Result<Option<Element>> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        Ok(found
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e[ELEMENT].as_str())
            .map(|id| Element(id.to_string())))
    }

    /// Waits until an element matching `css` is on the page.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        until(&format!("an element {css}"), async || self.find(css).await).await
    }

    /// Waits until `css` matches and its text satisfies `pred`; returns it.
    pub async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> Result<String> {
        until(&format!("the text of {css} as expected"), async || {
            let Some(e) = self.find(css).await? else {
                return Ok(None);
            };
            let t = self.text(&e).await?;
            if pred(&t) {
                Ok(Some(t))
            } else {
                anyhow::bail!("text is {t:?}")
            }
        })
        .await
    }

    pub async fn click(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .map(drop)
    }

    /// Types `text` into `e` (after what it holds).
    pub async fn type_into(&self, e: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await
            .map(drop)
    }

    pub async fn clear(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await
            .map(drop)
    }

    pub async fn text(&self, e: &Element) -> Result<String> {
        Ok(self
            .get(&format!("/element/{}/text", e.0))
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub async fn attribute(&self, e: &Element, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("/element/{}/attribute/{name}", e.0))
            .await?
            .as_str()
            .map(str::to_string))
    }

    /// The page's location.
    pub async fn url(&self) -> Result<String> {
        Ok(self
            .get("/url")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Accepts the open `confirm` dialog, waiting for it to open.
    pub async fn accept_dialog(&self) -> Result<()> {
        until("a dialog", async || {
            self.post("/alert/accept", json!({}))
                .await
                .map(|_| Some(()))
        })
        .await
    }

    /// The browser's cookies for the page's origin, as WebDriver reports
    /// them (with `httpOnly` and `sameSite`).
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        Ok(self
            .get("/cookie")
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let b64 = self.get("/screenshot").await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().context("screenshot is not text")?)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Errors and warnings the page logged (`console.error`, CSP
    /// violations, failed loads), from Chrome's log.
    pub async fn page_errors(&self) -> Result<Vec<String>> {
        let base = self.session.clone();
        let answer: Value = self
            .http
            .post(format!("{base}/se/log"))
            .json(&json!({ "type": "browser" }))
            .send()
            .await?
            .json()
            .await?;
        Ok(answer["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter_map(|e| e["message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Polls `check` until it gives a value (`None` and errors: not yet), up
/// to [`PATIENCE`]; the last error is in the failure.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Result<Option<T>>) -> Result<T> {
    crate::wait_until(what, PATIENCE, async || match check().await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err("not yet".to_string()),
        Err(e) => Err(format!("{e:#}")),
    })
    .await
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's browser goes with chromedriver (killed on drop);
        // ending the session first lets Chromium clean its profile.
        let http = self.http.clone();
        let url = self.session.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = http.delete(url).send().await;
            });
        }
    }
}
