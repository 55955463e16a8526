//! `outpost vault ...`: manages a zone's credential vault file (the one a
//! zone's workers unlock with `--vault`): init, add, list, remove,
//! set-default, and import of a VelocityCollector `collector.db` vault.
//! Secrets are read from a no-echo prompt or stdin, never from argv, and
//! never printed.

use outpost_vault::{Credential, Secret, Vault, VaultParams};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VaultArgs {
    /// The vault file.
    #[arg(long, env = "OUTPOST_VAULT", default_value_os_t = default_path())]
    pub vault: PathBuf,
    #[command(subcommand)]
    pub cmd: VaultCmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum VaultCmd {
    /// Create an empty vault (the password comes from OUTPOST_VAULT_PASS or a prompt).
    Init,
    /// Add a credential set.
    Add {
        name: String,
        #[arg(long)]
        username: String,
        /// Make it the default credential.
        #[arg(long)]
        default: bool,
        /// Read the password (first line) from stdin instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        /// Also store an enable secret (next stdin line with --password-stdin, else a prompt).
        #[arg(long)]
        enable_secret_stdin: bool,
        /// Ask for an enable secret on the terminal.
        #[arg(long)]
        enable: bool,
        /// Replace a credential of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List credential sets (never their secrets).
    List,
    /// Remove a credential set.
    Remove { name: String },
    /// Make a credential set the default.
    SetDefault { name: String },
    /// Import the credentials of a VelocityCollector vault (collector.db).
    ImportVcollector {
        path: PathBuf,
        /// Replace credentials of the same name.
        #[arg(long)]
        replace: bool,
    },
}

fn default_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".outpost/vault.json")
}

/// argon2 cost: the default, or a cheap one when `OUTPOST_VAULT_KDF_COST=test` (tests only).
fn params() -> VaultParams {
    match std::env::var("OUTPOST_VAULT_KDF_COST").as_deref() {
        Ok("test") => VaultParams::for_tests(),
        _ => VaultParams::default(),
    }
}

fn secret_from(env: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    anyhow::bail!("{prompt} needed: set {env} or run on a terminal")
}

fn read_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    what: &str,
) -> anyhow::Result<String> {
    match lines.next() {
        Some(Ok(l)) if !l.is_empty() => Ok(l.trim_end_matches('\r').to_string()),
        _ => anyhow::bail!("expected the {what} on stdin"),
    }
}

/// Runs the command; returns the exit code (0 ok, 2 error).
pub fn run(args: VaultArgs) -> u8 {
    match execute(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("outpost vault: {e:#}");
            2
        }
    }
}

fn execute(args: VaultArgs) -> anyhow::Result<()> {
    let path = args.vault;
    if let VaultCmd::Init = args.cmd {
        let pass = secret_from("OUTPOST_VAULT_PASS", "New vault password: ")?;
        if pass.is_empty() {
            anyhow::bail!("the vault password is empty");
        }
        Vault::create(&path, &pass, params())?;
        println!("vault created: {}", path.display());
        return Ok(());
    }
    let pass = secret_from("OUTPOST_VAULT_PASS", "Vault password: ")?;
    let mut vault = Vault::open(&path, &pass)?;
    match args.cmd {
        VaultCmd::Init => unreachable!("handled above"),
        VaultCmd::List => {
            println!("{:<20} {:<20} {:<8} ENABLE", "NAME", "USERNAME", "DEFAULT");
            for c in vault.list() {
                println!(
                    "{:<20} {:<20} {:<8} {}",
                    c.name,
                    c.username,
                    if c.is_default { "*" } else { "" },
                    if c.has_enable_secret { "yes" } else { "no" }
                );
            }
            return Ok(());
        }
        VaultCmd::Add {
            name,
            username,
            default,
            password_stdin,
            enable_secret_stdin,
            enable,
            replace,
        } => {
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            let password = if password_stdin {
                read_line(&mut lines, "password")?
            } else {
                rpassword::prompt_password(format!("Password for {username}: "))?
            };
            let enable_secret = if enable_secret_stdin {
                Some(read_line(&mut lines, "enable secret")?)
            } else if enable {
                Some(rpassword::prompt_password("Enable secret: ")?)
            } else {
                None
            };
            let cred = Credential {
                name: name.clone(),
                username,
                password: Secret::new(password),
                enable_secret: enable_secret.map(Secret::new),
                is_default: default || vault.list().is_empty(),
            };
            if replace {
                vault.upsert(cred)?
            } else {
                vault.add(cred)?
            }
            vault.save()?;
            println!("credential {name} added");
        }
        VaultCmd::Remove { name } => {
            vault.remove(&name)?;
            vault.save()?;
            println!("credential {name} removed");
        }
        VaultCmd::SetDefault { name } => {
            vault.set_default(&name)?;
            vault.save()?;
            println!("credential {name} is the default");
        }
        VaultCmd::ImportVcollector { path: db, replace } => {
            let vc_pass = secret_from(
                "VELOCITYCMDB_VAULT_PASS",
                "VelocityCollector vault password: ",
            )?;
            let imported = outpost_vault::vcollector::import_vcollector(&db, &vc_pass)?;
            let mut n = 0;
            for cred in imported.credentials {
                let name = cred.name.clone();
                if replace {
                    vault.upsert(cred)?
                } else {
                    vault.add(cred)?
                }
                println!("imported {name}");
                n += 1;
            }
            for s in &imported.skipped {
                println!("skipped {s}");
            }
            vault.save()?;
            println!("{n} credentials imported from {}", db.display());
        }
    }
    Ok(())
}
