//! What a DSM job is aimed at. The app's dialogs, wizards and edge
//! functions write `target_scope` in a dozen shapes (`{server_ids}` with
//! or without `type: "specific" | "servers"`, a bare array of ids,
//! `{ip_address}`, `{ip_range}`, `{ip_list}`, `{type: "cluster",
//! cluster_name}`, `{cluster_id}` holding a cluster's *name*,
//! `{type: "group", group_id}`, `{server_group_id}`, `{vcenter_ids}`,
//! `{type: "all"}`, `{}` and null), and some wizards put the cluster in
//! `details`. `parse` turns them all into one [`Target`].

use serde_json::Value;
use uuid::Uuid;

/// A DSM job's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Servers by id.
    Servers(Vec<Uuid>),
    /// One iDRAC address (credential tests).
    Address(String),
    /// Address runs: CIDRs, `a-b` ranges or addresses (discovery).
    Ranges(Vec<String>),
    /// The servers linked to the hosts of a vCenter cluster, by name.
    Cluster(String),
    /// The members of a server group.
    Group(Uuid),
    /// vCenters by id.
    Vcenters(Vec<Uuid>),
    /// Nothing named: all (what "all" means is the job type's business).
    All,
}

fn uuids(v: &Value, what: &str) -> Result<Vec<Uuid>, String> {
    let Some(a) = v.as_array() else {
        return Err(format!("target_scope.{what} is not a list"));
    };
    a.iter()
        .map(|x| {
            x.as_str()
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
                .ok_or_else(|| format!("target_scope.{what} holds {x}, which is not an id"))
        })
        .collect()
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads `target_scope`, with `details` for the wizards that name the
/// cluster there.
pub fn parse(scope: &Value, details: &Value) -> Result<Target, String> {
    if scope.is_array() {
        // "Run now" of a maintenance window writes the server ids bare.
        return uuids(scope, "[]").map(Target::Servers);
    }
    if !(scope.is_object() || scope.is_null()) {
        return Err("target_scope is neither an object nor a list".into());
    }
    let kind = scope["type"].as_str().unwrap_or("");
    if !scope["server_ids"].is_null() && kind != "group" && kind != "cluster" {
        return uuids(&scope["server_ids"], "server_ids").map(Target::Servers);
    }
    if let Some(ip) = text(&scope["ip_address"]) {
        return Ok(Target::Address(ip));
    }
    if let Some(r) = text(&scope["ip_range"]) {
        return Ok(Target::Ranges(vec![r]));
    }
    for key in ["ip_list", "ip_ranges"] {
        if let Some(a) = scope[key].as_array() {
            let runs: Vec<String> = a
                .iter()
                .map(|v| text(v).ok_or_else(|| format!("target_scope.{key} holds {v}")))
                .collect::<Result<_, _>>()?;
            if runs.is_empty() {
                return Err(format!("target_scope.{key} is empty"));
            }
            return Ok(Target::Ranges(runs));
        }
    }
    if kind == "group" || !scope["server_group_id"].is_null() {
        let v = if kind == "group" {
            &scope["group_id"]
        } else {
            &scope["server_group_id"]
        };
        return text(v)
            .and_then(|s| Uuid::parse_str(&s).ok())
            .map(Target::Group)
            .ok_or_else(|| "target_scope names a server group without a valid id".into());
    }
    let cluster = text(&scope["cluster_name"])
        .or_else(|| text(&scope["cluster_id"]))
        .or_else(|| text(&details["cluster_id"]))
        .or_else(|| text(&details["cluster_name"]));
    if let Some(c) = cluster {
        return Ok(Target::Cluster(c));
    }
    if kind == "cluster" {
        return Err("target_scope.type is cluster but no cluster_name is given".into());
    }
    if !scope["vcenter_ids"].is_null() {
        return uuids(&scope["vcenter_ids"], "vcenter_ids").map(Target::Vcenters);
    }
    Ok(Target::All)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "0c6f3bd6-5b8e-4a44-9f51-2d5a3f2f6a01";

    #[test]
    fn every_shape_the_app_writes() {
        let a = Uuid::parse_str(A).unwrap();
        let none = json!({});
        for s in [
            json!({"type": "specific", "server_ids": [A]}),
            json!({"type": "servers", "server_ids": [A]}),
            json!({"server_ids": [A]}),
            json!([A]),
        ] {
            assert_eq!(parse(&s, &none), Ok(Target::Servers(vec![a])), "{s}");
        }
        assert_eq!(
            parse(&json!({"ip_address": " 10.0.0.5 "}), &none),
            Ok(Target::Address("10.0.0.5".into()))
        );
        assert_eq!(
            parse(
                &json!({"ip_list": ["10.0.0.0/30", "10.0.1.1-10.0.1.4"]}),
                &none
            ),
            Ok(Target::Ranges(vec![
                "10.0.0.0/30".into(),
                "10.0.1.1-10.0.1.4".into()
            ]))
        );
        assert_eq!(
            parse(&json!({"type": "cluster", "cluster_name": "prod"}), &none),
            Ok(Target::Cluster("prod".into()))
        );
        assert_eq!(
            parse(&json!({"cluster_id": "prod"}), &none),
            Ok(Target::Cluster("prod".into()))
        );
        assert_eq!(
            parse(&json!({}), &json!({"cluster_id": "prod"})),
            Ok(Target::Cluster("prod".into()))
        );
        assert_eq!(
            parse(
                &json!({"type": "group", "group_id": A, "group_name": "g"}),
                &none
            ),
            Ok(Target::Group(a))
        );
        assert_eq!(
            parse(&json!({"server_group_id": A}), &none),
            Ok(Target::Group(a))
        );
        assert_eq!(
            parse(&json!({"vcenter_ids": [A]}), &none),
            Ok(Target::Vcenters(vec![a]))
        );
        assert_eq!(parse(&json!({"type": "all"}), &none), Ok(Target::All));
        assert_eq!(parse(&Value::Null, &none), Ok(Target::All));
        assert!(parse(&json!({"server_ids": ["nope"]}), &none).is_err());
        assert!(parse(&json!({"type": "cluster"}), &none).is_err());
        assert!(parse(&json!("x"), &none).is_err());
    }
}
