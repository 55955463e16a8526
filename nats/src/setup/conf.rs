//! Rendering `nats-server.conf`: listen address, JetStream store, optional
//! monitoring, TLS for every client, and the accounts: the coordinator's
//! (`OUTPOST`, with JetStream) exporting to each zone's account
//! (`ZONE_<zone>`) exactly what that zone may reach, one nkey user per
//! account with its allow-lists (see `outpost_proto::layout::permissions`
//! for why a zone needs an account of its own). No anonymous user
//! (`no_auth_user`) exists.
//!
//! Quoting, as nats-server's conf lexer reads it:
//! - an unquoted value starting with `$` is a variable reference (`$JS.API.X`
//!   fails with "variable reference for 'JS.API.X' … can not be found"),
//!   and unquoted values starting with a digit become numbers; a
//!   double-quoted string is taken literally, so every string here is
//!   double-quoted;
//! - inside double quotes only `\"`, `\\`, `\t`, `\n`, `\r` and `\xHH` are
//!   escapes (any other backslash is an error), so [`quote`] escapes
//!   exactly those and writes other control characters as `\xHH`.
//!
//! nats-server opens `cert_file`, `key_file` and `store_dir` relative to
//! its working directory, not to the conf, so every path is written
//! absolute and the conf works from any directory.

use super::SetupError;
use outpost_proto::layout::permissions::{COORDINATOR_ACCOUNT, Import, ImportKind, Permissions};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Seconds a client has to finish the TLS handshake (the server's default,
/// half a second, is short for a loaded host).
const TLS_TIMEOUT_SECS: u32 = 5;

/// One user of the conf.
pub(crate) struct User<'a> {
    /// Shown as a comment above the user.
    pub label: String,
    pub public_key: &'a str,
    pub permissions: Permissions,
    /// The user's own account and what it imports from the coordinator's;
    /// `None`: a user of the coordinator's account.
    pub account: Option<(String, Vec<Import>)>,
}

/// Subjects a site's leaf connection carries in neither direction: the
/// site and the hub hold streams and buckets of the same names, and only
/// stream sourcing may carry their messages across (see the coordinator's
/// `sites::layout`).
pub const LEAF_DENY: [&str; 4] = ["outpost.event.>", "$KV.>", "$O.>", "$JS.EVENT.>"];

/// One site's leaf connection as the hub admits it.
pub(crate) struct LeafUser<'a> {
    pub user: &'a str,
    /// bcrypt hash of its password.
    pub password_hash: &'a str,
}

/// The server's leaf node side.
pub(crate) enum Leaf<'a> {
    /// The hub: admits the sites' leaf connections (TLS, one user each,
    /// bound to the coordinator's account).
    Accept {
        listen: &'a str,
        users: Vec<LeafUser<'a>>,
    },
    /// A site: connects to the hub (URLs with the site's user and
    /// password), verifying the hub's certificate against `ca_file`.
    Connect {
        urls: Vec<String>,
        ca_file: &'a Path,
    },
}

/// Everything the conf says.
pub(crate) struct ConfInput<'a> {
    pub listen: &'a str,
    pub store_dir: &'a Path,
    pub monitor: Option<&'a str>,
    pub cert_file: &'a Path,
    pub key_file: &'a Path,
    pub users: Vec<User<'a>>,
    /// The JetStream domain (the hub's with sites, or a site's name).
    pub domain: Option<&'a str>,
    pub leaf: Option<Leaf<'a>>,
}

/// `s` as a double-quoted conf string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path_str(path: &Path) -> Result<String, SetupError> {
    path.to_str()
        .map(quote)
        .ok_or_else(|| SetupError::NonUtf8Path {
            path: path.to_path_buf(),
        })
}

/// `{ allow: [...] }`. nats-server reads an empty allow list as "no
/// restriction", so nothing allowed is written as `{ deny: [">"] }`.
fn rule(items: &[String], indent: &str) -> String {
    if items.is_empty() {
        return "{ deny: [\">\"] }".to_string();
    }
    let mut out = format!("{{\n{indent}  allow: [\n");
    for item in items {
        let _ = writeln!(out, "{indent}    {}", quote(item));
    }
    let _ = write!(out, "{indent}  ]\n{indent}}}");
    out
}

/// The conf text.
pub(crate) fn render(input: &ConfInput<'_>) -> Result<String, SetupError> {
    let mut out = String::new();
    out.push_str(
        "# Written by the Outpost NATS setup (outpost nats setup). Re-run it rather than\n\
         # editing this file: the next run overwrites it. After a change, reload the\n\
         # server: nats-server --signal reload=<pid> (or kill -HUP <pid>).\n\n",
    );
    let _ = writeln!(out, "listen: {}", quote(input.listen));
    if let Some(monitor) = input.monitor {
        let _ = writeln!(out, "http: {}", quote(monitor));
    }
    let domain = match input.domain {
        Some(d) => format!("\n  domain: {}", quote(d)),
        None => String::new(),
    };
    let _ = write!(
        out,
        "\njetstream {{\n  store_dir: {}{domain}\n}}\n\n",
        path_str(input.store_dir)?
    );
    let _ = write!(
        out,
        "# Every client must speak TLS: with a tls block nats-server refuses plaintext.\n\
         tls {{\n  cert_file: {}\n  key_file: {}\n  timeout: {TLS_TIMEOUT_SECS}\n}}\n\n",
        path_str(input.cert_file)?,
        path_str(input.key_file)?,
    );
    // What the coordinator's account exports, to which zone accounts.
    let mut exports: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    let mut coordinator_users = String::new();
    let mut zone_accounts = String::new();
    for user in &input.users {
        let label: String = user
            .label
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let block = format!(
            "      # {label}\n      {{\n        nkey: {}\n        permissions: {{\n          \
             publish: {}\n          subscribe: {}\n        }}\n      }}\n",
            quote(user.public_key),
            rule(&user.permissions.publish, "          "),
            rule(&user.permissions.subscribe, "          "),
        );
        let Some((account, imports)) = &user.account else {
            coordinator_users.push_str(&block);
            continue;
        };
        let _ = write!(
            zone_accounts,
            "  {}: {{\n    users: [\n{block}    ]\n    imports: [\n",
            quote(account)
        );
        for i in imports {
            let (kind, export) = match i.kind {
                ImportKind::Service => ("service", "service"),
                ImportKind::StreamingService => ("service", "streaming"),
                ImportKind::Stream => ("stream", "stream"),
            };
            exports
                .entry((i.subject.clone(), export))
                .or_default()
                .push(account.clone());
            let to = if i.local == i.subject {
                String::new()
            } else {
                format!(", to: {}", quote(&i.local))
            };
            let _ = writeln!(
                zone_accounts,
                "      {{ {kind}: {{ account: {}, subject: {} }}{to} }}",
                quote(COORDINATOR_ACCOUNT),
                quote(&i.subject)
            );
        }
        zone_accounts.push_str("    ]\n  }\n");
    }
    let _ = write!(
        out,
        "accounts {{\n  {}: {{\n    jetstream: enabled\n    users: [\n{coordinator_users}    ]\n    exports: [\n",
        quote(COORDINATOR_ACCOUNT)
    );
    for ((subject, export), accounts) in &exports {
        let list: Vec<String> = accounts.iter().map(|a| quote(a)).collect();
        let (kind, reply) = match *export {
            "stream" => ("stream", ""),
            "streaming" => ("service", ", response_type: \"stream\""),
            _ => ("service", ""),
        };
        let _ = writeln!(
            out,
            "      {{ {kind}: {}{reply}, accounts: [{}] }}",
            quote(subject),
            list.join(", ")
        );
    }
    out.push_str("    ]\n  }\n");
    out.push_str(&zone_accounts);
    out.push_str("}\n");
    let deny: Vec<String> = LEAF_DENY.iter().map(|s| quote(s)).collect();
    match &input.leaf {
        // A hub without sites admits no leaf node at all (an empty user
        // list would admit anyone).
        Some(Leaf::Accept { users, .. }) if users.is_empty() => {}
        Some(Leaf::Accept { listen, users }) => {
            let _ = write!(
                out,
                "\n# Sites' leaf nodes: TLS, one user per site, bound to the coordinator's account.\n\
                 leafnodes {{\n  listen: {}\n  tls {{\n    cert_file: {}\n    key_file: {}\n    timeout: {TLS_TIMEOUT_SECS}\n  }}\n  authorization {{\n    users: [\n",
                quote(listen),
                path_str(input.cert_file)?,
                path_str(input.key_file)?,
            );
            for u in users {
                let _ = writeln!(
                    out,
                    "      {{ user: {}, password: {}, account: {} }}",
                    quote(u.user),
                    quote(u.password_hash),
                    quote(COORDINATOR_ACCOUNT)
                );
            }
            out.push_str("    ]\n  }\n}\n");
        }
        Some(Leaf::Connect { urls, ca_file }) => {
            let urls: Vec<String> = urls.iter().map(|u| quote(u)).collect();
            let _ = write!(
                out,
                "\n# The link to the hub: only stream sourcing carries events, buckets and\n\
                 # objects across it.\nleafnodes {{\n  reconnect: \"2s\"\n  remotes: [\n    {{\n      urls: [{}]\n      account: {}\n      tls {{\n        ca_file: {}\n        timeout: {TLS_TIMEOUT_SECS}\n      }}\n      deny_imports: [{}]\n      deny_exports: [{}]\n    }}\n  ]\n}}\n",
                urls.join(", "),
                quote(COORDINATOR_ACCOUNT),
                path_str(ca_file)?,
                deny.join(", "),
                deny.join(", "),
            );
        }
        None => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_the_lexer_would_read_otherwise() {
        assert_eq!(quote("$JS.API.>"), r#""$JS.API.>""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("a\nb\tc\u{1}"), r#""a\nb\tc\x01""#);
        assert_eq!(quote("é/ü"), "\"é/ü\"");
    }

    #[test]
    fn renders_users_with_quoted_subjects() {
        let input = ConfInput {
            listen: "0.0.0.0:4222",
            store_dir: Path::new("/var/lib/nats"),
            monitor: Some("127.0.0.1:8222"),
            cert_file: Path::new("/b/server.pem"),
            key_file: Path::new("/b/server-key.pem"),
            domain: None,
            leaf: None,
            users: vec![User {
                label: "zone a".to_string(),
                public_key: "UABC",
                permissions: Permissions {
                    publish: vec!["$KV.outpost_leases.a.>".to_string()],
                    subscribe: vec![],
                },
                account: Some((
                    "ZONE_a".to_string(),
                    vec![Import {
                        subject: "$KV.outpost_leases.a.>".to_string(),
                        local: "$KV.outpost_leases.a.>".to_string(),
                        kind: ImportKind::Service,
                    }],
                )),
            }],
        };
        let text = render(&input).unwrap();
        assert!(text.contains("listen: \"0.0.0.0:4222\""), "{text}");
        assert!(text.contains("http: \"127.0.0.1:8222\""), "{text}");
        assert!(text.contains("\"$KV.outpost_leases.a.>\""), "{text}");
        assert!(text.contains("nkey: \"UABC\""), "{text}");
        assert!(text.contains("subscribe: { deny: [\">\"] }"), "{text}");
        assert!(!text.contains("no_auth_user"));
        assert!(
            text.contains("\"OUTPOST\": {\n    jetstream: enabled"),
            "{text}"
        );
        assert!(
            text.contains("{ service: \"$KV.outpost_leases.a.>\", accounts: [\"ZONE_a\"] }"),
            "{text}"
        );
        assert!(
            text.contains(
                "{ service: { account: \"OUTPOST\", subject: \"$KV.outpost_leases.a.>\" } }"
            ),
            "{text}"
        );
    }
}
