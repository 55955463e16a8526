//! The description of one simulated device ([`DeviceSpec`]), its platform and
//! its injected fault, and loading a fleet of them from a TOML file
//! (`[[device]]` tables).

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SimError;

/// The network operating system a simulated device imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Cisco IOS / IOS-XE: `NAME>` then `enable` (secret) → `NAME#`.
    Ios,
    /// Arista EOS: `NAME>` then `enable` → `NAME#`.
    Eos,
    /// Juniper Junos: `USER@NAME> `.
    Junos,
}

impl Platform {
    /// The lower-case name used in specs, CLI flags and inventories.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Eos => "eos",
            Platform::Junos => "junos",
        }
    }

    /// The vendor column of an inventory row.
    pub fn vendor(self) -> &'static str {
        match self {
            Platform::Ios => "cisco",
            Platform::Eos => "arista",
            Platform::Junos => "juniper",
        }
    }

    /// A plausible hardware model for this platform.
    pub fn model(self) -> &'static str {
        match self {
            Platform::Ios => "C9300-48P",
            Platform::Eos => "DCS-7050",
            Platform::Junos => "EX4300",
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ios" | "cisco" | "cisco_ios" => Ok(Platform::Ios),
            "eos" | "arista" | "arista_eos" => Ok(Platform::Eos),
            "junos" | "juniper" | "juniper_junos" => Ok(Platform::Junos),
            other => Err(format!("unknown platform {other:?} (ios, eos, junos)")),
        }
    }
}

/// A failure the simulated device exhibits on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Behaves normally.
    #[default]
    None,
    /// Rejects every password (the device's credentials changed).
    WrongPassword,
    /// Accepts auth and the shell, prints the banner, never a prompt.
    NoPrompt,
    /// The configuration command writes about half its output, then nothing
    /// more, forever, with the connection left open.
    HangMidOutput,
    /// The configuration command writes about half its output, then the TCP
    /// connection is shut down without an SSH disconnect message.
    DisconnectMidOutput,
    /// The configuration carries cursor moves to column 9 999 999 999 999
    /// (`ESC[9999999999999C`), one alone and then thousands, each followed
    /// by a character: a naive terminal allocates the column.
    HugeCursorMove,
    /// The configuration command writes a 50 MB line without a newline,
    /// then the rest of its output.
    LongLine,
    /// The configuration command never finishes: lines keep coming at
    /// about 1 MB/s and no prompt follows.
    EndlessOutput,
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Hostname shown in the prompt and in the configuration.
    pub name: String,
    /// Listening address (any 127.0.0.0/8 address; port 0 picks a free port).
    pub listen: SocketAddr,
    pub platform: Platform,
    pub username: String,
    pub password: String,
    /// IOS: `enable` asks `Password: ` and checks it. EOS: `enable` asks for
    /// it only when set. Junos: unused.
    #[serde(default)]
    pub enable_secret: Option<String>,
    /// Simulated think time before each command's output.
    #[serde(default)]
    pub latency_ms: u64,
    /// Approximate size of `show running-config` / `show configuration`.
    #[serde(default = "default_config_bytes")]
    pub config_bytes: usize,
    /// Output is paged (24 lines per page) until the session disables it.
    #[serde(default = "default_true")]
    pub paging: bool,
    /// Offer only legacy algorithms (DH group14/group1 SHA-1, AES-CBC,
    /// hmac-sha1, ssh-rsa host key).
    #[serde(default)]
    pub legacy_only: bool,
    /// Seed of the deterministic host key.
    #[serde(default)]
    pub host_key_seed: u64,
    #[serde(default)]
    pub fault: Fault,
}

fn default_config_bytes() -> usize {
    4096
}

fn default_true() -> bool {
    true
}

impl DeviceSpec {
    /// A spec with the defaults: paging on, 4 KB config, no latency, no fault,
    /// modern algorithms, host key seed 0.
    pub fn new(
        name: impl Into<String>,
        listen: SocketAddr,
        platform: Platform,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        DeviceSpec {
            name: name.into(),
            listen,
            platform,
            username: username.into(),
            password: password.into(),
            enable_secret: None,
            latency_ms: 0,
            config_bytes: default_config_bytes(),
            paging: true,
            legacy_only: false,
            host_key_seed: 0,
            fault: Fault::None,
        }
    }

    /// Checks what serde cannot: a usable name and credentials, a loopback
    /// address.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |reason: String| SimError::BadSpec {
            name: self.name.clone(),
            reason,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad("name must be non-empty [A-Za-z0-9._-]".into()));
        }
        if self.username.is_empty() {
            return Err(bad("username must not be empty".into()));
        }
        // Other addresses only inside a named network namespace, whose
        // addresses are all its creator's (see `crate::netns`).
        if !self.listen.ip().is_loopback() && !crate::netns::in_own_namespace() {
            return Err(bad(format!(
                "listen address {} is not a loopback address (nor inside a named network namespace)",
                self.listen
            )));
        }
        Ok(())
    }
}

/// The TOML file layout: a list of `[[device]]` tables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    #[serde(default)]
    pub device: Vec<DeviceSpec>,
}

impl DeviceFile {
    /// Parses TOML text with `[[device]]` tables.
    pub fn parse(text: &str) -> Result<Vec<DeviceSpec>, SimError> {
        let file: DeviceFile = toml::from_str(text).map_err(|e| SimError::BadSpec {
            name: String::from("<toml>"),
            reason: e.to_string(),
        })?;
        Ok(file.device)
    }

    /// Reads and parses a TOML device file.
    pub fn load(path: &Path) -> Result<Vec<DeviceSpec>, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::BadSpec {
            name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_device_file() {
        let specs = DeviceFile::parse(
            r#"
            [[device]]
            name = "r1"
            listen = "127.3.0.17:2222"
            platform = "junos"
            username = "admin"
            password = "pw"
            fault = "disconnect_mid_output"
            legacy_only = true
            "#,
        )
        .unwrap();
        assert_eq!(specs[0].platform, Platform::Junos);
        assert_eq!(specs[0].fault, Fault::DisconnectMidOutput);
        for (name, fault) in [
            ("huge_cursor_move", Fault::HugeCursorMove),
            ("long_line", Fault::LongLine),
            ("endless_output", Fault::EndlessOutput),
        ] {
            let text = format!(
                "[[device]]\nname=\"x\"\nlisten=\"127.0.0.1:0\"\nplatform=\"ios\"\nusername=\"a\"\npassword=\"b\"\nfault=\"{name}\"\n"
            );
            assert_eq!(DeviceFile::parse(&text).unwrap()[0].fault, fault);
        }
        assert!(specs[0].paging && specs[0].legacy_only);
        assert_eq!(specs[0].config_bytes, 4096);
        let err = DeviceFile::parse(
            "[[device]]\nname=\"x\"\nlisten=\"127.0.0.1:0\"\nplatform=\"ios\"\nusername=\"a\"\npassword=\"b\"\nbogus=1\n",
        );
        assert!(err.is_err(), "unknown fields are refused");
    }
}
