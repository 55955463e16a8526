//! The server inventory a `rolling_update` selects from by cluster or by
//! group: `[[servers]]` sources in the coordinator's config, CSV files with
//! a header row (`name,idrac` required; `vcenter_host,cluster,groups`
//! optional, groups separated by `;`). Read at plan time, so edits need no
//! restart.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const COLUMNS: &[&str] = &["name", "idrac", "vcenter_host", "cluster", "groups"];

/// A `[[servers]]` entry of the coordinator's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSource {
    pub path: PathBuf,
}

/// One server: its iDRAC and, when linked, its vCenter host and cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub idrac: String,
    pub vcenter_host: Option<String>,
    pub cluster: Option<String>,
    pub groups: Vec<String>,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn read_one(path: &Path) -> Result<Vec<Server>, String> {
    let at = |m: String| format!("server inventory {}: {m}", path.display());
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| at(e.to_string()))?;
    let headers = rd.headers().map_err(|e| at(e.to_string()))?.clone();
    for h in headers.iter() {
        if !COLUMNS.contains(&h) {
            return Err(at(format!(
                "unknown column {h:?}; known: {}",
                COLUMNS.join(",")
            )));
        }
    }
    for need in ["name", "idrac"] {
        if !headers.iter().any(|h| h == need) {
            return Err(at(format!("missing column {need:?}")));
        }
    }
    let col = |r: &csv::StringRecord, name: &str| -> String {
        headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| r.get(i))
            .unwrap_or("")
            .to_string()
    };
    let mut out = Vec::new();
    for (n, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| at(format!("row {}: {e}", n + 2)))?;
        let name = col(&rec, "name");
        let idrac = col(&rec, "idrac");
        if name.trim().is_empty() || idrac.trim().is_empty() {
            return Err(at(format!(
                "row {}: name and idrac must not be empty",
                n + 2
            )));
        }
        out.push(Server {
            name: name.trim().to_string(),
            idrac: idrac.trim().to_string(),
            vcenter_host: opt(&col(&rec, "vcenter_host")),
            cluster: opt(&col(&rec, "cluster")),
            groups: col(&rec, "groups").split(';').filter_map(opt).collect(),
        });
    }
    Ok(out)
}

/// Every server of every source, in order.
pub fn read(sources: &[ServerSource]) -> Result<Vec<Server>, String> {
    let mut all = Vec::new();
    for s in sources {
        all.extend(read_one(&s.path)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_servers_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            "name,idrac,vcenter_host,cluster,groups\nr1,10.0.0.1,esx1,Prod,gpu;rack4\nr2,10.0.0.2,,,\n",
        )
        .unwrap();
        let s = read(&[ServerSource { path: p.clone() }]).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].vcenter_host.as_deref(), Some("esx1"));
        assert_eq!(s[0].cluster.as_deref(), Some("Prod"));
        assert_eq!(s[0].groups, vec!["gpu", "rack4"]);
        assert_eq!(s[1].vcenter_host, None);
        assert!(s[1].groups.is_empty());

        std::fs::write(&p, "name,idrac,colour\nr1,10.0.0.1,red\n").unwrap();
        let e = read(&[ServerSource { path: p.clone() }]).unwrap_err();
        assert!(e.contains("colour"), "{e}");
        std::fs::write(&p, "name\nr1\n").unwrap();
        assert!(
            read(&[ServerSource { path: p.clone() }])
                .unwrap_err()
                .contains("idrac")
        );
        std::fs::write(&p, "name,idrac\nr1,\n").unwrap();
        assert!(
            read(&[ServerSource { path: p.clone() }])
                .unwrap_err()
                .contains("row 2")
        );
        let e = read(&[ServerSource {
            path: dir.path().join("none.csv"),
        }])
        .unwrap_err();
        assert!(e.contains("none.csv"), "{e}");
    }
}
