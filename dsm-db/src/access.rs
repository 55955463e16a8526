//! What the bridge's database role may do, checked before it claims
//! anything. The app's tables have row-level security: a role that is not
//! a superuser, has no `BYPASSRLS` and is not let through by a policy
//! sees no jobs and gets no error, so a bridge would silently never claim
//! a job. `check` finds that out at start and names what is missing;
//! `check_install` does the same for `outpost dsm install`.

use super::db::DbError;
use super::row::At;
use tokio_postgres::Client;

/// The tables the bridge reads (`r`) and writes (`w`).
pub const TABLES: &[(&str, &str)] = &[
    ("jobs", "rw"),
    ("job_tasks", "rw"),
    ("servers", "rw"),
    ("credential_sets", "r"),
    ("credential_ip_ranges", "r"),
    ("server_group_members", "r"),
    ("vcenters", "rw"),
    ("vcenter_hosts", "rw"),
    ("vcenter_clusters", "rw"),
    ("activity_settings", "r"),
    ("executor_heartbeats", "rw"),
];

/// The role's problems, one line each; empty when it may run the bridge.
pub async fn check(db: &Client) -> Result<Vec<String>, DbError> {
    let row = db
        .query_one(
            "SELECT current_user::text, r.rolsuper, r.rolbypassrls
               FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await?;
    let at = At::new(&row, "pg_roles");
    let role: String = at.get(0, "rolname")?;
    let bypass = at.get::<bool>(1, "rolsuper")? || at.get::<bool>(2, "rolbypassrls")?;
    let mut problems = Vec::new();
    for (table, mode) in TABLES {
        let qualified = format!("public.{table}");
        let row = db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
            .await?;
        if !At::new(&row, "pg_class").get::<bool>(0, "exists")? {
            // Older app schemas lack some tables; the bridge checks them when used.
            if matches!(*table, "jobs" | "job_tasks" | "servers" | "credential_sets") {
                problems.push(format!(
                    "table public.{table} does not exist (is this the app's database?)"
                ));
            }
            continue;
        }
        let privs: &[&str] = if mode.contains('w') {
            &["SELECT", "INSERT", "UPDATE"]
        } else {
            &["SELECT"]
        };
        for p in privs {
            let row = db
                .query_one("SELECT has_table_privilege($1, $2)", &[&qualified, p])
                .await?;
            if !At::new(&row, "pg_class").get::<bool>(0, "privilege")? {
                problems.push(format!("role {role} lacks {p} on public.{table}"));
            }
        }
        if bypass {
            continue;
        }
        // RLS in force for this role on this table (not its owner, or FORCE).
        let row = db
            .query_one(
                "SELECT row_security_active($1::text::regclass)",
                &[&qualified],
            )
            .await?;
        if !At::new(&row, "pg_class").get::<bool>(0, "row_security_active")? {
            continue;
        }
        // A permissive policy for the role (or PUBLIC) that lets every row through.
        let wanted: &[&str] = if mode.contains('w') {
            &["SELECT", "UPDATE"]
        } else {
            &["SELECT"]
        };
        for cmd in wanted {
            let row = db
                .query_one(
                    "SELECT count(*) FROM pg_policies p
                      WHERE p.schemaname = 'public' AND p.tablename = $1
                        AND p.permissive = 'PERMISSIVE'
                        AND (p.cmd = 'ALL' OR p.cmd = $2)
                        AND (p.roles @> ARRAY['public']::name[]
                             OR EXISTS (SELECT 1 FROM unnest(p.roles) r
                                         WHERE pg_has_role(current_user, r, 'MEMBER')))
                        AND coalesce(btrim(p.qual), 'true') IN ('true', '(true)')",
                    &[table, cmd],
                )
                .await?;
            if At::new(&row, "pg_policies").get::<i64>(0, "count")? == 0 {
                problems.push(format!(
                    "row-level security hides rows of public.{table} from role {role} \
                     ({cmd}: no policy lets all rows through)"
                ));
            }
        }
    }
    if !problems.is_empty() && !bypass {
        problems.push(format!(
            "give the role BYPASSRLS (ALTER ROLE {role} BYPASSRLS), connect as Supabase's \
             service_role-backed `postgres` user, or add policies USING (true) for it"
        ));
    }
    Ok(problems)
}

/// What stops `outpost dsm install` (a trigger function in `public` and
/// a trigger on `public.jobs`), one line each.
pub async fn check_install(db: &Client) -> Result<Vec<String>, DbError> {
    let row = db
        .query_one(
            "SELECT current_user::text, has_schema_privilege('public', 'CREATE'),
                    to_regclass('public.jobs') IS NOT NULL
                      AND has_table_privilege('public.jobs', 'TRIGGER'),
                    coalesce((SELECT pg_has_role(current_user, c.relowner, 'USAGE')
                                FROM pg_class c WHERE c.oid = to_regclass('public.jobs')), false)",
            &[],
        )
        .await?;
    let at = At::new(&row, "pg_roles");
    let role: String = at.get(0, "rolname")?;
    let mut problems = Vec::new();
    if !at.get::<bool>(1, "create")? {
        problems.push(format!(
            "role {role} lacks CREATE on schema public (GRANT CREATE ON SCHEMA public TO {role})"
        ));
    }
    if !at.get::<bool>(2, "trigger")? {
        problems.push(format!(
            "role {role} lacks TRIGGER on public.jobs (GRANT TRIGGER ON public.jobs TO {role})"
        ));
    }
    if !at.get::<bool>(3, "owner")? {
        problems.push(format!(
            "role {role} does not own public.jobs: replacing the trigger needs the table's owner \
             (run `outpost dsm install` as `postgres` on Supabase)"
        ));
    }
    Ok(problems)
}
