//! NATS server URLs that carry credentials (`nats://user:pass@host:4222`).
//! The client library logs the URL it connects to; so the credentials are
//! taken out of the URL and handed over separately, and only the URL
//! without them is ever shown.

/// A NATS URL split into where to connect and who to be.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUrl {
    /// The URL without user information: safe to log.
    pub address: String,
    /// `user:password` from the URL, if any.
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsUrl")
            .field("address", &self.address)
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Splits the user information off each server of a (comma-separated)
/// NATS URL. Percent-escapes in the user and password are decoded.
pub fn split(url: &str) -> NatsUrl {
    let mut user = None;
    let servers: Vec<String> = url
        .split(',')
        .map(|one| {
            let one = one.trim();
            let (scheme, rest) = match one.split_once("://") {
                Some((s, r)) => (Some(s), r),
                None => (None, one),
            };
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = match authority.rsplit_once('@') {
                Some((info, host)) => {
                    let (u, p) = info.split_once(':').unwrap_or((info, ""));
                    if user.is_none() {
                        user = Some((unescape(u), unescape(p)));
                    }
                    host
                }
                None => authority,
            };
            match scheme {
                Some(s) => format!("{s}://{host}{path}"),
                None => format!("{host}{path}"),
            }
        })
        .collect();
    NatsUrl {
        address: servers.join(","),
        user,
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if b[i] == b'%'
            && let Some(v) = hex
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let u = split("nats://outpost:s%40cret@10.0.0.1:4222");
        assert_eq!(u.address, "nats://10.0.0.1:4222");
        assert_eq!(u.user, Some(("outpost".into(), "s@cret".into())));
        assert!(!format!("{u:?}").contains("cret"));
    }

    #[test]
    fn plain_and_multiple_urls() {
        let u = split("nats://a:4222, tls://u:p@b:4222");
        assert_eq!(u.address, "nats://a:4222,tls://b:4222");
        assert_eq!(u.user, Some(("u".into(), "p".into())));
        assert_eq!(split("127.0.0.1:4222").user, None);
        assert_eq!(split("nats://x@h").user, Some(("x".into(), String::new())));
        // A lone or short escape is kept as it is.
        assert_eq!(split("nats://u:%4@h").user, Some(("u".into(), "%4".into())));
        assert_eq!(split("nats://u:%@h").user, Some(("u".into(), "%".into())));
    }
}
