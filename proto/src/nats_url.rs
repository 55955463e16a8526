//! NATS server URLs that carry credentials (`nats://user:pass@host:4222`,
//! `nats://token@host`): the client library would log such a URL, and an
//! error message would repeat it, so the credentials are split off here and
//! handed to the connection options instead. Both the coordinator and the
//! worker connect through this.

/// Credentials found in a NATS URL.
#[derive(PartialEq, Eq)]
pub enum UrlAuth {
    None,
    UserPassword { user: String, password: String },
    Token(String),
}

impl std::fmt::Debug for UrlAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlAuth::None => f.write_str("None"),
            UrlAuth::UserPassword { user, .. } => write!(f, "UserPassword({user:?}, ***)"),
            UrlAuth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Splits the credentials off a NATS URL (or a comma-separated list):
/// returns the URL(s) without them and the credentials of the first one
/// that had any, percent-decoded.
pub fn split_url(urls: &str) -> (String, UrlAuth) {
    let mut auth = UrlAuth::None;
    let clean: Vec<String> = urls
        .split(',')
        .map(|url| {
            let url = url.trim();
            let (scheme, rest) = match url.split_once("://") {
                Some((s, r)) => (Some(s), r),
                None => (None, url),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let Some((userinfo, host)) = authority.rsplit_once('@') else {
                return url.to_string();
            };
            if auth == UrlAuth::None {
                auth = match userinfo.split_once(':') {
                    Some((user, password)) => UrlAuth::UserPassword {
                        user: percent_decode(user),
                        password: percent_decode(password),
                    },
                    None => UrlAuth::Token(percent_decode(userinfo)),
                };
            }
            match scheme {
                Some(s) => format!("{s}://{host}{path}"),
                None => format!("{host}{path}"),
            }
        })
        .collect();
    (clean.join(","), auth)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
        {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(digit(hex[0]) * 16 + digit(hex[1]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_split_off() {
        let (url, auth) = split_url("nats://worker:s%40cret:x@10.0.0.1:4222");
        assert_eq!(url, "nats://10.0.0.1:4222");
        assert_eq!(
            auth,
            UrlAuth::UserPassword {
                user: "worker".into(),
                password: "s@cret:x".into()
            }
        );
        let (url, auth) = split_url("tls://tok123@a:4222, nats://b:4222");
        assert_eq!(url, "tls://a:4222,nats://b:4222");
        assert_eq!(auth, UrlAuth::Token("tok123".into()));
        let (url, auth) = split_url("nats://127.0.0.1:4222");
        assert_eq!(
            (url.as_str(), auth),
            ("nats://127.0.0.1:4222", UrlAuth::None)
        );
        assert!(!format!("{:?}", split_url("nats://u:pw@h").1).contains("pw"));
    }

    #[test]
    fn percent_decoding_keeps_odd_input() {
        assert_eq!(percent_decode("a%2Fb%"), "a/b%");
        assert_eq!(percent_decode("%zz%+f%é"), "%zz%+f%é");
    }
}
