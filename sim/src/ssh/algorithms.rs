//! Which SSH algorithms a device offers and the russh server configuration
//! built from its spec: modern devices use russh's defaults with an Ed25519
//! host key; legacy-only devices offer nothing but DH group14/group1 SHA-1,
//! AES-CBC, hmac-sha1 and an `ssh-rsa` host key, like old IOS images.

use std::borrow::Cow;
use std::time::Duration;

use russh::keys::{Algorithm, PrivateKey};
use russh::server::Config;
use russh::{MethodKind, MethodSet, Preferred, SshId, cipher, compression, kex, mac};

use super::spec::{DeviceSpec, Platform};

const LEGACY_KEX: &[kex::Name] = &[kex::DH_G14_SHA1, kex::DH_G1_SHA1];
const LEGACY_KEYS: &[Algorithm] = &[Algorithm::Rsa { hash: None }];
const LEGACY_CIPHERS: &[cipher::Name] = &[cipher::AES_128_CBC, cipher::AES_256_CBC];
const LEGACY_MACS: &[mac::Name] = &[mac::HMAC_SHA1];
const NO_COMPRESSION: &[compression::Name] = &[compression::NONE];

/// The only algorithms a legacy-only device offers. The same list works as
/// a russh client's `Preferred` to reach such a device.
pub fn legacy_preferred() -> Preferred {
    Preferred {
        kex: Cow::Borrowed(LEGACY_KEX),
        host_key_certificates: Cow::Borrowed(&[]),
        key: Cow::Borrowed(LEGACY_KEYS),
        cipher: Cow::Borrowed(LEGACY_CIPHERS),
        mac: Cow::Borrowed(LEGACY_MACS),
        compression: Cow::Borrowed(NO_COMPRESSION),
    }
}

fn server_id(platform: Platform) -> &'static str {
    match platform {
        Platform::Ios => "SSH-2.0-Cisco-1.25",
        Platform::Eos => "SSH-2.0-OpenSSH_8.7",
        Platform::Junos => "SSH-2.0-OpenSSH_7.5",
    }
}

/// The russh server configuration of one device, with its host key.
pub(crate) fn server_config(spec: &DeviceSpec, host_key: PrivateKey) -> Config {
    Config {
        server_id: SshId::Standard(Cow::Borrowed(server_id(spec.platform))),
        methods: MethodSet::from(&[MethodKind::Password, MethodKind::KeyboardInteractive][..]),
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        preferred: if spec.legacy_only {
            legacy_preferred()
        } else {
            Preferred::default()
        },
        // A hung device keeps the connection open far longer than any
        // client timeout.
        inactivity_timeout: Some(Duration::from_secs(3600)),
        nodelay: true,
        ..Default::default()
    }
}
