//! The vim25 SOAP transport and session: one HTTPS endpoint (`/sdk`),
//! `RetrieveServiceContent`, `Login`/`Logout` with the `vmware_soap_session`
//! cookie, and a transparent second login when vCenter answers
//! `NotAuthenticated` (an expired or terminated session). Certificates are
//! pinned like iDRACs' (vCenter's VMCA certificate is rarely in a trust
//! store), weak keys included (govmomi's simulator has a 1024-bit RSA
//! one): the pin is the trust, possession of the key is still proven. The
//! password lives only here, zeroised on drop, and never
//! appears in an error.

use super::error::VimError;
use super::xml::{self, Node, escape};
use crate::ops::redfish::tls::{self, Pin, PinningVerifier};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use zeroize::Zeroizing;

/// Largest answer read from vCenter.
const MAX_BODY: usize = 16 << 20;

/// A managed object reference: type and id (`HostSystem`, `host-42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    pub ty: String,
    pub value: String,
}

impl MoRef {
    pub fn new(ty: &str, value: &str) -> MoRef {
        MoRef {
            ty: ty.into(),
            value: value.into(),
        }
    }

    /// From a node like `<obj type="HostSystem">host-42</obj>`.
    pub fn from_node(n: &Node) -> Option<MoRef> {
        Some(MoRef::new(n.ty.as_deref()?, n.text.trim()))
    }

    /// As an element `<tag type="T">id</tag>`.
    pub fn xml(&self, tag: &str) -> String {
        format!(
            "<{tag} type=\"{}\">{}</{tag}>",
            escape(&self.ty),
            escape(&self.value)
        )
    }
}

/// The parts of `ServiceContent` Outpost uses.
#[derive(Debug, Clone)]
pub struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub view_manager: MoRef,
    pub session_manager: MoRef,
    pub search_index: Option<MoRef>,
    pub api_version: String,
    /// `about.fullName`, `about.version`, `about.build`, `about.instanceUuid`.
    pub full_name: String,
    pub version: String,
    pub build: String,
    pub instance_uuid: String,
}

pub struct VimClient {
    http: reqwest::Client,
    url: String,
    addr: String,
    user: String,
    password: Zeroizing<String>,
    cookie: Option<Zeroizing<String>>,
    content: Option<ServiceContent>,
    verifier: Arc<PinningVerifier>,
    timeout: Duration,
    /// Logins made (a second one after `NotAuthenticated`).
    pub logins: u32,
}

impl VimClient {
    /// A client for vCenter at `host:port` (the API is at `/sdk`).
    pub fn new(
        host: &str,
        port: u16,
        pin: Pin,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<VimClient, VimError> {
        let addr = tls::authority(host, port);
        let (builder, verifier) = tls::pinned_client(pin, &addr, timeout, 2);
        let http = builder.build().map_err(|e| VimError::Connect {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
        Ok(VimClient {
            http,
            url: format!("https://{addr}/sdk"),
            addr,
            user: user.to_string(),
            password: Zeroizing::new(password.to_string()),
            cookie: None,
            content: None,
            verifier,
            timeout,
            logins: 0,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Fingerprint of the certificate vCenter presented.
    pub fn certificate(&self) -> Option<String> {
        self.verifier.seen()
    }

    /// The service content, read once.
    pub async fn content(&mut self) -> Result<ServiceContent, VimError> {
        if let Some(c) = &self.content {
            return Ok(c.clone());
        }
        let body = "<RetrieveServiceContent xmlns=\"urn:vim25\">\
                    <_this type=\"ServiceInstance\">ServiceInstance</_this>\
                    </RetrieveServiceContent>";
        let rv = self
            .post("RetrieveServiceContent", body, None)
            .await?
            .child("returnval")
            .cloned()
            .ok_or_else(|| self.malformed("RetrieveServiceContent", "no returnval"))?;
        let mo = |name: &str| rv.child(name).and_then(MoRef::from_node);
        let need = |name: &str| {
            mo(name).ok_or_else(|| self.malformed("RetrieveServiceContent", &format!("no {name}")))
        };
        let about = |name: &str| {
            rv.path(&["about", name])
                .map(|n| n.text.trim().to_string())
                .unwrap_or_default()
        };
        let c = ServiceContent {
            root_folder: need("rootFolder")?,
            property_collector: need("propertyCollector")?,
            view_manager: need("viewManager")?,
            session_manager: need("sessionManager")?,
            search_index: mo("searchIndex"),
            api_version: about("apiVersion"),
            full_name: about("fullName"),
            version: about("version"),
            build: about("build"),
            instance_uuid: about("instanceUuid"),
        };
        self.content = Some(c.clone());
        Ok(c)
    }

    /// Logs in; the session cookie is kept for later calls.
    pub async fn login(&mut self) -> Result<(), VimError> {
        let sm = self.content().await?.session_manager;
        self.cookie = None;
        let body = format!(
            "<Login xmlns=\"urn:vim25\">{}<userName>{}</userName><password>{}</password></Login>",
            sm.xml("_this"),
            escape(&self.user),
            escape(&self.password),
        );
        let body = Zeroizing::new(body);
        match self.post("Login", &body, None).await {
            Ok(_) => {
                self.logins += 1;
                if self.cookie.is_none() {
                    return Err(self.malformed("Login", "no session cookie in the answer"));
                }
                Ok(())
            }
            Err(VimError::Fault { fault, .. }) if fault == "InvalidLogin" => Err(VimError::Auth {
                addr: self.addr.clone(),
                user: self.user.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Ends the session (best effort).
    pub async fn logout(&mut self) {
        if self.cookie.is_none() {
            return;
        }
        if let Some(c) = &self.content {
            let body = format!(
                "<Logout xmlns=\"urn:vim25\">{}</Logout>",
                c.session_manager.xml("_this")
            );
            let _ = self.post("Logout", &body, None).await;
        }
        self.cookie = None;
    }

    /// Calls `method` on `this` with the inner XML `args`; logs in again
    /// once when the session has ended. Returns the `<...Response>` element.
    pub async fn call(&mut self, method: &str, this: &MoRef, args: &str) -> Result<Node, VimError> {
        self.call_with_timeout(method, this, args, None).await
    }

    /// Like [`call`](Self::call), with a longer HTTP timeout for methods
    /// that wait on the server side (`WaitForUpdatesEx`).
    pub async fn call_with_timeout(
        &mut self,
        method: &str,
        this: &MoRef,
        args: &str,
        timeout: Option<Duration>,
    ) -> Result<Node, VimError> {
        let body = format!(
            "<{method} xmlns=\"urn:vim25\">{}{args}</{method}>",
            this.xml("_this")
        );
        if self.cookie.is_none() {
            self.login().await?;
        }
        match self.post(method, &body, timeout).await {
            Err(VimError::NotAuthenticated { .. }) => {
                tracing::info!(vcenter = %self.addr, method, "session ended; logging in again");
                self.login().await?;
                self.post(method, &body, timeout).await
            }
            r => r,
        }
    }

    fn malformed(&self, method: &str, message: &str) -> VimError {
        VimError::Malformed {
            addr: self.addr.clone(),
            method: method.to_string(),
            message: message.to_string(),
        }
    }

    fn transport(&self, e: reqwest::Error, method: &str, timeout: Duration) -> VimError {
        if e.is_timeout() {
            return VimError::Timeout {
                addr: self.addr.clone(),
                method: method.to_string(),
                secs: timeout.as_secs(),
            };
        }
        let mut chain = String::new();
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = src {
            chain.push_str(&s.to_string());
            chain.push_str(": ");
            src = s.source();
        }
        if chain.contains("certificate changed")
            && let (Some(pinned), Some(seen)) = (self.verifier.pinned(), self.verifier.seen())
        {
            return VimError::CertChanged {
                addr: self.addr.clone(),
                pinned,
                presented: seen,
            };
        }
        if let Some(r) = crate::ops::redfish::refusal::find(&e) {
            return VimError::Tls {
                addr: self.addr.clone(),
                message: r.message(None),
            };
        }
        VimError::Connect {
            addr: self.addr.clone(),
            message: chain.trim_end_matches([':', ' ']).to_string(),
        }
    }

    /// Posts one SOAP envelope and returns the body's first element, or
    /// the fault it carries.
    async fn post(
        &mut self,
        method: &str,
        inner: &str,
        timeout: Option<Duration>,
    ) -> Result<Node, VimError> {
        // One span per SOAP call, named by its method (never its body: a
        // `Login` carries the password).
        let span = tracing::info_span!(
            "vcenter.soap",
            otel.kind = "client",
            rpc.method = method,
            server.address = %self.addr,
            error.r#type = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let r = self
            .post_inner(method, inner, timeout)
            .instrument(span.clone())
            .await;
        let outcome = match &r {
            Ok(_) => "ok",
            Err(e) => {
                span.record("error.type", e.kind().as_str());
                e.kind().as_str()
            }
        };
        outpost_telemetry::metrics::global().observe(
            crate::metrics::VCENTER_SOAP.0,
            crate::metrics::VCENTER_SOAP.1,
            outpost_telemetry::metrics::SECONDS,
            &[("method", method), ("outcome", outcome)],
            started.elapsed().as_secs_f64(),
        );
        r
    }

    async fn post_inner(
        &mut self,
        method: &str,
        inner: &str,
        timeout: Option<Duration>,
    ) -> Result<Node, VimError> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
             <soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
        );
        let envelope = Zeroizing::new(envelope);
        let timeout = timeout.unwrap_or(self.timeout);
        let mut req = self
            .http
            .post(&self.url)
            .timeout(timeout)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "urn:vim25/6.5")
            .body(envelope.as_bytes().to_vec());
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", format!("vmware_soap_session={}", c.as_str()));
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport(e, method, timeout))?;
        for v in resp.headers().get_all("set-cookie") {
            if let Ok(s) = v.to_str()
                && let Some(rest) = s.trim().strip_prefix("vmware_soap_session=")
            {
                let value = rest.split(';').next().unwrap_or("").trim_matches('"');
                self.cookie = Some(Zeroizing::new(value.to_string()));
            }
        }
        let status = resp.status().as_u16();
        let too_large = || VimError::TooLarge {
            addr: self.addr.clone(),
            method: method.to_string(),
            limit: MAX_BODY,
        };
        // A `Content-Length` may refuse early; it never reserves memory.
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_BODY {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport(e, method, timeout)),
            }
        }
        let doc = match xml::parse(&body) {
            Ok(d) => d,
            Err(_) if !(200..300).contains(&status) && status != 500 => {
                return Err(VimError::Http {
                    addr: self.addr.clone(),
                    method: method.to_string(),
                    status,
                });
            }
            Err(e) => return Err(self.malformed(method, &e)),
        };
        let Some(first) = doc.child("Body").and_then(|b| b.children.first()) else {
            return Err(self.malformed(method, "no SOAP body"));
        };
        if first.name == "Fault" {
            return Err(self.fault(method, first));
        }
        if !(200..300).contains(&status) {
            return Err(VimError::Http {
                addr: self.addr.clone(),
                method: method.to_string(),
                status,
            });
        }
        Ok(first.clone())
    }

    fn fault(&self, method: &str, f: &Node) -> VimError {
        let message = f.text_of("faultstring").unwrap_or("").trim().to_string();
        // The fault's type: `<detail><InvalidLoginFault xsi:type="InvalidLogin"/>`.
        let name = f
            .child("detail")
            .and_then(|d| d.children.first())
            .map(|d| {
                d.ty.clone()
                    .unwrap_or_else(|| d.name.trim_end_matches("Fault").to_string())
            })
            .unwrap_or_else(|| "SystemError".to_string());
        if name == "NotAuthenticated" {
            return VimError::NotAuthenticated {
                addr: self.addr.clone(),
            };
        }
        VimError::Fault {
            addr: self.addr.clone(),
            method: method.to_string(),
            fault: name,
            message,
        }
    }
}
