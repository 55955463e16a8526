//! Request routing of a simulated service: authentication (sessions and
//! Basic), the resources, the actions (reset, SimpleUpdate, multipart
//! upload, job deletion) and the faults that bend the answers.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::device::{Device, Stats, UpdateSource};
use super::image::{self, Image};
use super::resources::{self as res, INVENTORY, JOBS, MANAGER, SYSTEM, TASKS, UPDATE};
use super::spec::{Malformed, Vendor};

/// What the service answers.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "content-type",
                "application/json;odata.metadata=minimal".into(),
            )],
            body: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        }
    }
    fn ok(v: &Value) -> Reply {
        Reply::json(StatusCode::OK, v)
    }
    fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
    fn error(status: StatusCode, id: &str, message: &str) -> Reply {
        Reply::json(status, &res::error(id, message))
    }
    fn not_found(path: &str) -> Reply {
        Reply::error(
            StatusCode::NOT_FOUND,
            "Base.1.12.ResourceMissingAtURI",
            &format!("The resource at the URI {path} was not found."),
        )
    }
    fn header(mut self, k: &'static str, v: String) -> Reply {
        self.headers.push((k, v));
        self
    }
}

/// Largest upload accepted.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;
/// Largest JSON request body accepted.
pub const MAX_JSON: usize = 1024 * 1024;

fn unauthorized() -> Reply {
    Reply::error(
        StatusCode::UNAUTHORIZED,
        "Base.1.12.NoValidSession",
        "There is no valid session established with the implementation.",
    )
    .header("www-authenticate", "Basic realm=\"RedfishService\"".into())
}

/// Who is asking: a session, Basic credentials, or nobody.
fn authenticated(dev: &Device, headers: &HeaderMap) -> bool {
    if let Some(t) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return dev.lock().sessions.contains_key(t);
    }
    let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
        return false;
    };
    let ok = raw == format!("{}:{}", dev.spec.username, dev.spec.password).as_bytes();
    if ok {
        Stats::bump(&dev.stats.basic_requests);
    } else {
        Stats::bump(&dev.stats.failed_logins);
    }
    ok
}

fn parse_json(body: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "Base.1.12.MalformedJSON",
            &format!("The request body submitted was malformed JSON: {e}"),
        )
    })
}

fn malformed(kind: Malformed, path: &str) -> Reply {
    let body = match kind {
        Malformed::BadJson => {
            Bytes::from(format!("{{\"@odata.id\": \"{path}\", \"Model\": \"PowerEd"))
        }
        Malformed::MissingFields => Bytes::from(format!("{{\"@odata.id\": \"{path}\"}}")),
        Malformed::HugeBody => {
            let mut v = format!("{{\"@odata.id\": \"{path}\", \"Description\": \"").into_bytes();
            v.extend(std::iter::repeat_n(b'x', 8 * 1024 * 1024));
            v.extend_from_slice(b"\"}");
            Bytes::from(v)
        }
    };
    Reply {
        status: StatusCode::OK,
        headers: vec![("content-type", "application/json".into())],
        body,
    }
}

/// Answers one request.
pub async fn route(
    dev: &Arc<Device>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    Stats::bump(&dev.stats.requests);
    let faults = dev.faults();
    if faults.slow_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.slow_ms)).await;
    }
    let path = path.split('?').next().unwrap_or(path);
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let dell = dev.spec.vendor == Vendor::Dell;
    if body.len() > MAX_JSON && !path.ends_with("/MultipartUpload") {
        return Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Base.1.12.GeneralError",
            "The request body is too large.",
        );
    }
    // Unauthenticated resources.
    match (method, path) {
        (&Method::GET, "/redfish") => return Reply::ok(&json!({ "v1": "/redfish/v1/" })),
        (&Method::GET, "/redfish/v1") => {
            return match faults.malformed_root {
                Some(kind) => malformed(kind, path),
                None => Reply::ok(&res::service_root(&dev.spec)),
            };
        }
        (&Method::POST, "/redfish/v1/SessionService/Sessions") => return login(dev, body),
        _ => {}
    }
    if !path.starts_with("/redfish/v1") {
        return Reply::not_found(path);
    }
    if !authenticated(dev, headers) {
        return unauthorized();
    }
    if method == Method::GET {
        if let Some(kind) = faults.malformed
            && (path == SYSTEM || path == "/redfish/v1/Systems/1" || path.starts_with(INVENTORY))
        {
            return malformed(kind, path);
        }
        return get(dev, path, dell);
    }
    if !dell {
        return Reply::not_found(path);
    }
    match (method, path) {
        (&Method::DELETE, p) if p.starts_with("/redfish/v1/SessionService/Sessions/") => {
            let id = &p["/redfish/v1/SessionService/Sessions/".len()..];
            let mut s = dev.lock();
            let before = s.sessions.len();
            s.sessions.retain(|_, sid| sid != id);
            if s.sessions.len() == before {
                return Reply::not_found(p);
            }
            Stats::bump(&dev.stats.sessions_deleted);
            Reply::empty(StatusCode::OK)
        }
        (&Method::POST, p) if p == format!("{SYSTEM}/Actions/ComputerSystem.Reset") => {
            let v = match parse_json(body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let Some(t) = v["ResetType"].as_str() else {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Base.1.12.PropertyMissing",
                    "The property ResetType is a required property and must be included in the request.",
                );
            };
            match dev.reset_host(t) {
                Ok(()) => Reply::empty(StatusCode::NO_CONTENT),
                Err(m) => Reply::error(StatusCode::CONFLICT, "IDRAC.2.8.PSU501", &m),
            }
        }
        (&Method::POST, p) if p == format!("{MANAGER}/Actions/Manager.Reset") => {
            dev.reset_idrac();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, p) if p == format!("{UPDATE}/Actions/UpdateService.SimpleUpdate") => {
            simple_update(dev, body).await
        }
        (&Method::POST, p) if p == format!("{UPDATE}/MultipartUpload") => {
            multipart(dev, headers, body)
        }
        (&Method::DELETE, p) if p.starts_with(&format!("{JOBS}/")) => {
            delete_job(dev, &p[JOBS.len() + 1..])
        }
        (
            &Method::POST,
            "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellJobService/Actions/DellJobService.DeleteJobQueue",
        ) => {
            let v = match parse_json(body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            match v["JobID"].as_str() {
                Some("JID_CLEARALL") => {
                    let ids: Vec<String> = dev.jobs().into_iter().map(|j| j.id).collect();
                    for id in ids {
                        let _ = dev.delete_job(&id);
                    }
                    Reply::empty(StatusCode::OK)
                }
                Some(id) => delete_job(dev, id),
                None => Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Base.1.12.PropertyMissing",
                    "The property JobID is a required property.",
                ),
            }
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Base.1.12.OperationNotAllowed",
            &format!("{method} is not allowed on {path}."),
        ),
    }
}

fn login(dev: &Device, body: &[u8]) -> Reply {
    if dev.faults().no_sessions {
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Base.1.12.OperationNotAllowed",
            "Sessions are not supported.",
        );
    }
    let v = match parse_json(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(user), Some(pass)) = (v["UserName"].as_str(), v["Password"].as_str()) else {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "Base.1.12.PropertyMissing",
            "UserName and Password are required.",
        );
    };
    if user != dev.spec.username || pass != dev.spec.password {
        Stats::bump(&dev.stats.failed_logins);
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "Base.1.12.InsufficientPrivilege",
            "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.",
        );
    }
    let (id, token) = dev.lock().open_session(&dev.stats);
    let location = format!("/redfish/v1/SessionService/Sessions/{id}");
    Reply::json(StatusCode::CREATED, &res::session(&id, user))
        .header("x-auth-token", token)
        .header("location", location)
}

fn get(dev: &Device, path: &str, dell: bool) -> Reply {
    let s = dev.lock();
    let v = match path {
        "/redfish/v1/Systems" => res::systems(&dev.spec),
        p if p == SYSTEM && dell => res::system(dev, &s),
        "/redfish/v1/Systems/1" if !dell => res::system(dev, &s),
        "/redfish/v1/SessionService" => json!({
            "@odata.id": "/redfish/v1/SessionService",
            "@odata.type": "#SessionService.v1_1_8.SessionService",
            "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": true,
            "SessionTimeout": 1800,
            "Sessions": { "@odata.id": "/redfish/v1/SessionService/Sessions" },
        }),
        "/redfish/v1/AccountService" => res::account_service(),
        "/redfish/v1/TaskService" => res::task_service(),
        p if p == TASKS => {
            let members: Vec<String> = s.tasks.keys().map(|id| format!("{TASKS}/{id}")).collect();
            res::collection(TASKS, "TaskCollection", "Task Collection", &members)
        }
        p if p.starts_with("/redfish/v1/SessionService/Sessions/") => {
            let id = &p["/redfish/v1/SessionService/Sessions/".len()..];
            if !s.sessions.values().any(|sid| sid == id) {
                return Reply::not_found(path);
            }
            res::session(id, &dev.spec.username)
        }
        "/redfish/v1/SessionService/Sessions" => {
            let members: Vec<String> = s
                .sessions
                .values()
                .map(|id| format!("/redfish/v1/SessionService/Sessions/{id}"))
                .collect();
            res::collection(path, "SessionCollection", "Session Collection", &members)
        }
        _ if !dell => return Reply::not_found(path),
        "/redfish/v1/Managers" => res::managers(),
        p if p == MANAGER => res::manager(&s),
        p if p == format!("{MANAGER}/EthernetInterfaces") => res::manager_nics(),
        p if p == format!("{MANAGER}/EthernetInterfaces/NIC.1") => res::manager_nic(&dev.spec),
        p if p == UPDATE => res::update_service(),
        p if p == INVENTORY => res::inventory(&s),
        p if p.starts_with(&format!("{INVENTORY}/")) => {
            match res::inventory_member(&s, &p[INVENTORY.len() + 1..]) {
                Some(v) => v,
                None => return Reply::not_found(path),
            }
        }
        p if p == JOBS => {
            let members: Vec<String> = s.jobs.keys().map(|id| format!("{JOBS}/{id}")).collect();
            res::collection(JOBS, "DellJobCollection", "JobQueue", &members)
        }
        p if p.starts_with(&format!("{JOBS}/")) => match s.jobs.get(&p[JOBS.len() + 1..]) {
            Some(j) => res::job(j),
            None => return Reply::not_found(path),
        },
        p if p.starts_with(&format!("{TASKS}/")) => {
            let id = &p[TASKS.len() + 1..];
            match (s.tasks.contains_key(id), s.jobs.get(id)) {
                (true, Some(j)) => res::task(j),
                _ => return Reply::not_found(path),
            }
        }
        _ => return Reply::not_found(path),
    };
    Reply::ok(&v)
}

fn apply_time(v: &Value) -> Result<(), Reply> {
    match v.get("@Redfish.OperationApplyTime").and_then(Value::as_str) {
        None | Some("Immediate") | Some("OnReset") => Ok(()),
        Some(other) => Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "Base.1.12.PropertyValueNotInList",
            &format!(
                "The value {other} for the property @Redfish.OperationApplyTime is not in the list of acceptable values."
            ),
        )),
    }
}

fn busy(dev: &Device) -> Option<Reply> {
    dev.jobs()
        .iter()
        .any(|j| {
            j.job_type == "FirmwareUpdate"
                && matches!(
                    j.state.as_str(),
                    "New" | "Downloading" | "Downloaded" | "Running"
                )
        })
        .then(|| {
            Reply::error(
                StatusCode::CONFLICT,
                "SUP0108",
                "An update is already in progress.",
            )
        })
}

fn accepted(jid: &str) -> Reply {
    Reply::json(
        StatusCode::ACCEPTED,
        &json!({ "@odata.id": format!("{TASKS}/{jid}"), "Id": jid }),
    )
    .header("location", format!("{TASKS}/{jid}"))
}

async fn simple_update(dev: &Arc<Device>, body: &[u8]) -> Reply {
    let v = match parse_json(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = apply_time(&v) {
        return r;
    }
    let Some(uri) = v["ImageURI"].as_str().map(str::to_string) else {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "Base.1.12.PropertyMissing",
            "The property ImageURI is a required property and must be included in the request.",
        );
    };
    if let Some(r) = busy(dev) {
        return r;
    }
    Stats::bump(&dev.stats.simple_updates);
    // The download runs inside the job, like the iDRAC's.
    let jid = dev.start_update(UpdateSource::Uri(uri));
    accepted(&jid)
}

/// The HTTP client the iDRAC downloads images with (HTTP only, so its
/// TLS configuration trusts nothing).
fn repo_client() -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Downloads an image over HTTP (the simulator does not speak HTTPS to
/// repositories). `Err` says why the transfer failed; `Ok(Err)` is a file
/// that arrived but is not a package.
pub(super) async fn fetch(uri: &str) -> Result<Result<Image, String>, String> {
    let failed = |why: String| format!("{uri}: {why}");
    if !uri.starts_with("http://") {
        return Err(failed("only HTTP is simulated".into()));
    }
    let resp = repo_client()
        .map_err(failed)?
        .get(uri)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("HTTP {}", resp.status())));
    }
    let bytes = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
    Ok(Image::parse(&bytes))
}

fn multipart(dev: &Arc<Device>, headers: &HeaderMap, body: &[u8]) -> Reply {
    let bad = |m: String| Reply::error(StatusCode::BAD_REQUEST, "Base.1.12.GeneralError", &m);
    let Some(boundary) = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(image::boundary)
    else {
        return bad("MultipartUpload needs a multipart/form-data body.".into());
    };
    let parts = match image::parts(body, &boundary) {
        Ok(p) => p,
        Err(e) => return bad(format!("Malformed multipart body: {e}.")),
    };
    let Some(params) = parts.iter().find(|p| p.name == "UpdateParameters") else {
        return bad("The UpdateParameters part is missing.".into());
    };
    let Some(file) = parts.iter().find(|p| p.name == "UpdateFile") else {
        return bad("The UpdateFile part is missing.".into());
    };
    if file.filename.is_none() {
        return bad("The UpdateFile part has no filename.".into());
    }
    let v = match parse_json(params.body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = apply_time(&v) {
        return r;
    }
    if let Some(r) = busy(dev) {
        return r;
    }
    Stats::bump(&dev.stats.uploads);
    let jid = dev.start_update(UpdateSource::Pushed(Image::parse(file.body)));
    accepted(&jid)
}

fn delete_job(dev: &Device, jid: &str) -> Reply {
    match dev.delete_job(jid) {
        Ok(()) => Reply::empty(StatusCode::OK),
        Err((404, m)) => Reply::error(StatusCode::NOT_FOUND, "SUP011", &m),
        Err((_, m)) => Reply::error(StatusCode::BAD_REQUEST, "SUP016", &m),
    }
}

/// Header value helper for the server.
pub fn header_value(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
