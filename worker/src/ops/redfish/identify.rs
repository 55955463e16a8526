//! What an unauthenticated look at a Redfish endpoint says: an iDRAC
//! (Dell service root or Dell OEM data), another Redfish service, an HTTPS
//! server that asks for Basic/Digest credentials (likely a BMC), or
//! nothing of interest.

use serde_json::Value;

/// The verdict of the unauthenticated stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Idrac,
    /// A Redfish service from another vendor (named when it says).
    OtherRedfish(Option<String>),
    /// 401/403 with a Basic or Digest challenge and no readable root.
    ChallengeOnly,
    NotRedfish,
}

/// Judges a service-root answer: status, `Server` header, body, challenge.
pub fn identify(
    status: u16,
    server: Option<&str>,
    body: Option<&Value>,
    challenge: Option<&str>,
) -> Identity {
    let server_says_idrac = server.is_some_and(|s| s.to_ascii_lowercase().contains("idrac"));
    if let Some(v) =
        body.filter(|v| v.get("RedfishVersion").is_some() || v.get("@odata.id").is_some())
    {
        let vendor = v["Vendor"].as_str().map(str::to_string);
        let product = v["Product"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let dell = vendor
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case("dell"))
            || product.contains("idrac")
            || product.contains("dell")
            || v["Oem"].get("Dell").is_some();
        return if dell || server_says_idrac {
            Identity::Idrac
        } else {
            Identity::OtherRedfish(vendor.or_else(|| v["Product"].as_str().map(str::to_string)))
        };
    }
    if server_says_idrac {
        return Identity::Idrac;
    }
    let challenged = challenge.is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.starts_with("basic") || c.starts_with("digest")
    });
    if matches!(status, 401 | 403) && challenged {
        return Identity::ChallengeOnly;
    }
    Identity::NotRedfish
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_idracs_and_others() {
        let dell = json!({"RedfishVersion": "1.17.0", "Vendor": "Dell", "Product": "Integrated Dell Remote Access Controller"});
        assert_eq!(
            identify(200, Some("Apache"), Some(&dell), None),
            Identity::Idrac
        );
        let hpe = json!({"RedfishVersion": "1.6.0", "Vendor": "HPE", "Oem": {"Hpe": {}}});
        assert_eq!(
            identify(200, Some("HPE-iLO-Server/1.0"), Some(&hpe), None),
            Identity::OtherRedfish(Some("HPE".into()))
        );
        assert_eq!(
            identify(401, None, None, Some("Basic realm=\"RedfishService\"")),
            Identity::ChallengeOnly
        );
        assert_eq!(identify(200, Some("iDRAC/8"), None, None), Identity::Idrac);
        assert_eq!(
            identify(200, Some("nginx"), Some(&json!({"hello": 1})), None),
            Identity::NotRedfish
        );
        assert_eq!(identify(404, None, None, None), Identity::NotRedfish);
    }
}
