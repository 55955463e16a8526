//! Mapping the jobs that probe iDRACs by address: `test_credentials` in
//! every shape of the app's dialogs, and `discovery_scan` with the app's
//! order of credential sets.

use super::*;

/// `test_credentials`: an address with the set the dialog chose, or the
/// login typed into it, or (refresh and assign dialogs) servers by id
/// with their own logins.
pub(super) fn map_test(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let Target::Address(ip) = &l.target else {
        return per_server(l, "redfish.inventory", json!({"port": port}), true);
    };
    let mut secrets = Secrets::default();
    let legacy = l.servers.first().is_some_and(|s| s.legacy_tls);
    let credential = if let Some(set) = c.credential_set_ids.first() {
        let s = l
            .sets
            .iter()
            .find(|s| s.id == *set)
            .ok_or_else(|| format!("credential set {set} does not exist"))?;
        secrets.add(&Choice::Set(s.id));
        Some(s.name.clone())
    } else if let Some(user) = c.details["username"].as_str().filter(|u| !u.is_empty()) {
        let name = format!("dsm-job-{}", c.id.simple());
        secrets.inline = Some(Inline {
            name: name.clone(),
            username: user.to_string(),
            password: Zeroizing::new(c.details["password"].as_str().unwrap_or("").to_string()),
        });
        Some(name)
    } else if let Some(s) = l.servers.first() {
        let ch = creds::resolve(s.id, &s.ip, &s.creds, &l.sets);
        secrets.add(&ch);
        ch.name(&l.sets)
    } else {
        return Err("No credentials provided".into());
    };
    Ok(Mapped {
        doc: doc("redfish.inventory", vec![ip.clone()], json!({"port": port})),
        rows: Vec::new(),
        logins: vec![Login {
            address: ip.clone(),
            credential,
            legacy_tls: legacy,
        }],
        secrets,
        vcenters: Vec::new(),
        extra: Value::Null,
        notes: Vec::new(),
    })
}

/// `discovery_scan`: address runs with the job's sets and the sets whose
/// ranges hold an address (tried first, lowest range priority first), or
/// a refresh of known servers with each one's own login first.
pub(super) fn map_discovery(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let mut secrets = Secrets::default();
    let mut sets: Vec<CredSet> = Vec::new();
    let mut push = |s: CredSet, secrets: &mut Secrets, id: Option<Uuid>| {
        if let Some(id) = id {
            secrets.add(&Choice::Set(id));
        }
        if !sets.iter().any(|x| x.name() == s.name()) {
            sets.push(s);
        }
    };
    // The add-server dialog's typed login (`details.manual_credentials`)
    // is tried first; it leaves the job's row when the job is claimed.
    let typed = &c.details["manual_credentials"];
    if let Some(user) = typed["username"].as_str().filter(|u| !u.is_empty()) {
        let name = format!("dsm-job-{}", c.id.simple());
        secrets.inline = Some(Inline {
            name: name.clone(),
            username: user.to_string(),
            password: Zeroizing::new(typed["password"].as_str().unwrap_or("").to_string()),
        });
        push(
            CredSet::Scoped(ScopedCred {
                name,
                ranges: Vec::new(),
                priority: Some(i64::MIN),
            }),
            &mut secrets,
            None,
        );
    }
    let targets: Vec<String> = match &l.target {
        Target::Ranges(runs) => runs.clone(),
        Target::Address(a) => vec![a.clone()],
        Target::Servers(_) | Target::Cluster(_) | Target::Group(_) => {
            let list = servers(l)?;
            for s in list {
                let ch = creds::resolve(s.id, &s.ip, &s.creds, &l.sets);
                if let Some(name) = ch.name(&l.sets) {
                    secrets.add(&ch);
                    push(
                        CredSet::Scoped(ScopedCred {
                            name,
                            ranges: vec![s.ip.clone()],
                            priority: Some(i64::MIN),
                        }),
                        &mut secrets,
                        None,
                    );
                }
            }
            list.iter().map(|s| s.ip.clone()).collect()
        }
        Target::Vcenters(_) | Target::All => {
            return Err("discovery needs target_scope.ip_range, ip_list or server_ids".into());
        }
    };
    // Sets with ranges: tried first where their ranges hold the address.
    for s in l.sets.iter().filter(|s| !s.ranges.is_empty()) {
        let prio = s.ranges.iter().map(|(_, p)| *p).min().unwrap_or(s.priority);
        push(
            CredSet::Scoped(ScopedCred {
                name: s.name.clone(),
                ranges: s.ranges.iter().map(|(r, _)| r.clone()).collect(),
                priority: Some(i64::from(prio)),
            }),
            &mut secrets,
            Some(s.id),
        );
    }
    // The job's sets (by set priority), else the app's default iDRAC set.
    let wanted = job_sets(c);
    let mut chosen: Vec<&SetRow> = wanted
        .iter()
        .map(|id| {
            l.sets
                .iter()
                .find(|s| s.id == *id)
                .ok_or_else(|| format!("credential set {id} does not exist"))
        })
        .collect::<Result<_, _>>()?;
    if chosen.is_empty() {
        chosen.extend(creds::default_set(&l.sets));
    }
    for s in chosen {
        push(
            CredSet::Scoped(ScopedCred {
                name: s.name.clone(),
                ranges: Vec::new(),
                priority: Some(i64::from(s.priority)),
            }),
            &mut secrets,
            Some(s.id),
        );
    }
    let mut params = json!({"port": port});
    if !sets.is_empty() {
        params["credentials"] = serde_json::to_value(&sets).map_err(|e| e.to_string())?;
    }
    Ok(Mapped {
        doc: doc("redfish.discover", targets, params),
        rows: Vec::new(),
        logins: Vec::new(),
        secrets,
        vcenters: Vec::new(),
        extra: Value::Null,
        notes: Vec::new(),
    })
}
