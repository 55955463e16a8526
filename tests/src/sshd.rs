//! A real OpenSSH `sshd` for the SSH collector's tests: started on a free
//! loopback port with its own config and host key, allowing password logins
//! of one dedicated test account only. The account (`outpost-sshtest`) is
//! created when missing, with a random password kept in a root-only file so
//! parallel test processes agree on it.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const USER: &str = "outpost-sshtest";

pub struct Sshd {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn sshd_bin() -> PathBuf {
    std::env::var_os("OUTPOST_SSHD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"))
}

/// The test account's password, creating the account when needed.
pub fn account_password() -> Result<String> {
    let store = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
        .join(".cache/outpost-sshtest.pw");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.with_extension("lock"))
        .context("opening the test account lock")?;
    // SAFETY: flock on a file descriptor we own.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let exists = std::process::Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if exists
        && let Ok(pw) = std::fs::read_to_string(&store)
        && !pw.trim().is_empty()
    {
        return Ok(pw.trim().to_string());
    }
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the OpenSSH tests need the account {USER}: run them as root once (CI does), or create it with a password in {}",
            store.display()
        );
    }
    if !exists {
        let st = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", USER])
            .status()
            .context("running useradd")?;
        if !st.success() {
            bail!("useradd {USER} failed");
        }
    }
    let pw = format!(
        "op-{}{}",
        uuid::Uuid::now_v7().simple(),
        uuid::Uuid::now_v7().simple()
    );
    let mut child = std::process::Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .context("running chpasswd")?;
    use std::io::Write;
    child
        .stdin
        .take()
        .context("chpasswd stdin")?
        .write_all(format!("{USER}:{pw}\n").as_bytes())?;
    if !child.wait()?.success() {
        bail!("chpasswd failed");
    }
    std::fs::create_dir_all(store.parent().unwrap_or(Path::new("/tmp")))?;
    std::fs::write(&store, &pw)?;
    std::fs::set_permissions(&store, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(pw)
}

impl Sshd {
    /// Starts sshd with a fresh host key.
    pub async fn start() -> Result<Sshd> {
        let dir = tempfile::tempdir()?;
        Self::start_in(dir, None).await
    }

    /// Starts sshd again on the same port with a NEW host key.
    pub async fn restart_with_new_key(mut self) -> Result<Sshd> {
        let port = self.port;
        let _ = self.child.kill().await;
        let _ = std::fs::remove_file(self.dir.path().join("host_ed25519"));
        let _ = std::fs::remove_file(self.dir.path().join("host_ed25519.pub"));
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Self::start_in(dir, Some(port)).await
    }

    async fn start_in(dir: tempfile::TempDir, port: Option<u16>) -> Result<Sshd> {
        std::fs::create_dir_all("/run/sshd").ok();
        let key = dir.path().join("host_ed25519");
        if !key.exists() {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .status()
                .await
                .context("running ssh-keygen")?;
            if !st.success() {
                bail!("ssh-keygen failed");
            }
        }
        let port = match port {
            Some(p) => p,
            None => std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port(),
        };
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication no\nPermitRootLogin no\nAllowUsers {USER}\nStrictModes no\nLogLevel ERROR\nPrintMotd no\n",
                key.display(),
                dir.path().join("sshd.pid").display()
            ),
        )?;
        let child = Command::new(sshd_bin())
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("starting {} (install openssh-server)", sshd_bin().display())
            })?;
        let until = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if tokio::time::Instant::now() > until {
                bail!("sshd did not listen on 127.0.0.1:{port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Sshd { child, port, dir })
    }
}
