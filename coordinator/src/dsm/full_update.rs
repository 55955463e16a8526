//! `full_server_update`: the app's `create-job` writes the parent and one
//! `firmware_update` sub-job per component (iDRAC, BIOS, CPLD, RAID, NIC,
//! Backplane, in `component_order`), each asking for `version: "latest"`
//! with no image. The bridge claims the parent, then runs the sub-jobs one
//! after the other, each as its own Outpost job with the newest package of
//! its component in the app's firmware library (`firmware_packages`,
//! uploaded and served, applicable to every target server's model).
//! A component the library has no package for is skipped (the sub-job
//! says so); the parent ends `failed` when a sub-job failed. The parent's
//! progress (`extra`: children, next, failed) is kept with its ownership,
//! so a restarted coordinator goes on with the next sub-job.

use super::db::DbError;
use super::row::At;
use serde_json::{Value, json};
use std::cmp::Ordering;
use tokio_postgres::Client;
use uuid::Uuid;

/// A library package (version, URL), or why there is none.
pub type Package = Result<(String, String), String>;

/// A sub-job: its id and component.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub id: Uuid,
    pub component: String,
}

/// The parent's sub-jobs not yet ended, in component order.
pub async fn children(db: &Client, parent: Uuid) -> Result<Vec<Child>, DbError> {
    let rows = db
        .query(
            "SELECT id, coalesce(details->>'component', '') FROM public.jobs
              WHERE parent_job_id = $1 AND status IN ('pending', 'running')
              ORDER BY component_order NULLS LAST, created_at, id",
            &[&parent],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let a = At::new(r, "jobs");
            Ok(Child {
                id: a.get(0, "id")?,
                component: a.get(1, "details")?,
            })
        })
        .collect()
}

/// Compares Dell versions part by part, numbers as numbers
/// (`10.1.2` after `9.8.0`, which a text sort gets wrong).
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// The package for `component` on servers of `models`: the newest
/// uploaded one with a URL the iDRACs can fetch, applicable to them all.
pub async fn package(db: &Client, component: &str, models: &[String]) -> Result<Package, DbError> {
    let rows = db
        .query(
            "SELECT filename, dell_version, served_url, coalesce(applicable_models, '{}')
               FROM public.firmware_packages
              WHERE upper(component_type) = upper($1) AND upload_status = 'completed'",
            &[&component],
        )
        .await?;
    let mut best: Option<(String, String)> = None;
    let mut unserved = None;
    for r in &rows {
        let a = At::new(r, "firmware_packages");
        let name: String = a.get(0, "filename")?;
        let version: String = a.get(1, "dell_version")?;
        let url: Option<String> = a.opt(2, "served_url")?;
        let applicable: Vec<String> = a.get(3, "applicable_models")?;
        let fits = applicable.is_empty()
            || models.iter().all(|m| {
                let m = m.to_ascii_lowercase();
                applicable.iter().any(|x| {
                    let x = x.to_ascii_lowercase();
                    !x.is_empty() && (m.contains(&x) || x.contains(&m))
                })
            });
        if !fits {
            continue;
        }
        let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
            unserved = Some(name);
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(v, _)| version_cmp(&version, v) == Ordering::Greater)
        {
            best = Some((version, url.trim().to_string()));
        }
    }
    Ok(best.ok_or_else(|| match unserved {
        Some(n) => format!("the firmware library's {component} package {n} has no served URL"),
        None => format!("no {component} package in the firmware library for these servers"),
    }))
}

/// Claims a sub-job for `executor` (again, after a restart); false when
/// it ended or something else took it.
pub async fn claim_child(db: &Client, child: Uuid, executor: &str) -> Result<bool, DbError> {
    Ok(db
        .execute(
            "UPDATE public.jobs SET status = 'running', started_at = coalesce(started_at, now()),
                    details = (CASE WHEN jsonb_typeof(details) = 'object' THEN details ELSE '{}'::jsonb END)
                              || jsonb_build_object('outpost_executor', $2::text)
              WHERE id = $1 AND (status = 'pending'
                    OR (status = 'running' AND details->>'outpost_executor' = $2))",
            &[&child, &executor],
        )
        .await?
        == 1)
}

/// A job's status, if it still exists.
pub async fn status(db: &Client, id: Uuid) -> Result<Option<String>, DbError> {
    let row = db
        .query_opt("SELECT status::text FROM public.jobs WHERE id = $1", &[&id])
        .await?;
    Ok(match row {
        Some(r) => Some(At::new(&r, "jobs").get(0, "status")?),
        None => None,
    })
}

/// Ends a sub-job without running it, saying why.
pub async fn skip_child(db: &Client, child: Uuid, why: &str) -> Result<(), DbError> {
    let line = super::details::console("WARN", &format!("skipped: {why}"));
    db.execute(
        "UPDATE public.jobs SET status = 'completed', completed_at = now(),
                details = (CASE WHEN jsonb_typeof(details) = 'object' THEN details ELSE '{}'::jsonb END)
                          || jsonb_build_object('skipped', true, 'message', $2::text,
                                                'progress_percent', 100, 'console_log',
                                                jsonb_build_array($3::text))
          WHERE id = $1 AND status IN ('pending', 'running')",
        &[&child, &why, &line],
    )
    .await?;
    Ok(())
}

/// The parent's progress as the app's job view reads it.
pub async fn parent_progress(
    db: &Client,
    parent: Uuid,
    extra: &Value,
    step: &str,
) -> Result<(), DbError> {
    let total = extra["children"].as_array().map(Vec::len).unwrap_or(0);
    let next = extra["next"].as_u64().unwrap_or(0) as usize;
    let patch = json!({
        "total_components": total,
        "failed_components": extra["failed"],
        "current_step": step,
        "progress_percent": (next * 100 / total.max(1)).min(100),
    });
    super::report::write_details(db, parent, &patch, &[super::details::console("INFO", step)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dell_versions_compare_as_numbers() {
        assert_eq!(version_cmp("10.1.2", "9.8.0"), Ordering::Greater);
        assert_eq!(version_cmp("2.19.1", "2.19.1"), Ordering::Equal);
        assert_eq!(version_cmp("7.00.00.171", "7.00.00.99"), Ordering::Greater);
        assert_eq!(version_cmp("1.2", "1.2.1"), Ordering::Less);
        assert_eq!(version_cmp("A05", "A04"), Ordering::Greater);
    }
}
