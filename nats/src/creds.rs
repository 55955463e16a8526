//! The NATS creds-file format, as `nsc` writes it and the NATS clients read
//! it: an optional user JWT block, then the user's nkey seed between
//! `-----BEGIN USER NKEY SEED-----` and `------END USER NKEY SEED------`.
//! Outpost's identities are nkey users named in `nats-server.conf` (no
//! operator/JWT mode), so [`render_seed_only`] writes the seed block alone;
//! [`parse`] reads both kinds.
//!
//! A seed is a secret: [`UserSeed`] never shows it in `Debug`, and no error
//! here repeats any part of the file.

use std::fmt;

const JWT_BEGIN: &str = "BEGIN NATS USER JWT";
const SEED_BEGIN_LINE: &str = "-----BEGIN USER NKEY SEED-----";
const SEED_END_LINE: &str = "------END USER NKEY SEED------";

/// A user nkey seed (`SU…`), checked to decode as one.
#[derive(Clone)]
pub struct UserSeed(String);

impl UserSeed {
    /// Checks that `seed` decodes as a user nkey seed.
    pub fn new(seed: &str) -> Option<UserSeed> {
        let seed = seed.trim();
        let pair = nkeys::KeyPair::from_seed(seed).ok()?;
        (pair.key_pair_type() == nkeys::KeyPairType::User).then(|| UserSeed(seed.to_string()))
    }

    /// A fresh random user identity.
    pub(crate) fn generate() -> Option<UserSeed> {
        let pair = nkeys::KeyPair::new_user();
        UserSeed::new(&pair.seed().ok()?)
    }

    /// The public key (`U…`) that `nats-server.conf` names.
    pub fn public_key(&self) -> String {
        // Checked in `new`, so this decodes.
        nkeys::KeyPair::from_seed(&self.0)
            .map(|p| p.public_key())
            .unwrap_or_default()
    }

    /// The seed itself, for the connection options and the creds file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserSeed({}, ***)", self.public_key())
    }
}

/// What a creds file holds.
#[derive(Debug)]
pub enum Creds {
    /// A user JWT and its seed (operator mode): the whole file goes to
    /// `ConnectOptions::credentials`.
    Jwt,
    /// A seed alone: an nkey user of the server's configuration.
    Seed(UserSeed),
}

/// Reads a creds file's contents. `None` when it holds neither a JWT block
/// nor a valid user seed block.
pub fn parse(contents: &str) -> Option<Creds> {
    if contents
        .lines()
        .any(|l| is_marker(l) && l.contains(JWT_BEGIN))
    {
        return Some(Creds::Jwt);
    }
    seed_block(contents)
        .and_then(UserSeed::new)
        .map(Creds::Seed)
}

/// The seed between the seed block's markers.
fn seed_block(contents: &str) -> Option<&str> {
    let mut lines = contents.lines().map(str::trim);
    lines.find(|l| is_marker(l) && l.contains("BEGIN USER NKEY SEED"))?;
    let seed = lines.find(|l| !l.is_empty())?;
    let end = lines.find(|l| !l.is_empty())?;
    (is_marker(end) && end.contains("END USER NKEY SEED")).then_some(seed)
}

fn is_marker(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("---") && line.ends_with("---")
}

/// The creds file of an nkey user: a header saying whose it is, the usual
/// warning and the seed block.
pub fn render_seed_only(seed: &UserSeed, whose: &str) -> String {
    format!(
        "# Outpost NATS identity: {whose}.\n\
         # Public key: {public}\n\
         \n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\
         \n\
         {SEED_BEGIN_LINE}\n\
         {seed}\n\
         {SEED_END_LINE}\n\
         \n\
         *************************************************************\n",
        public = seed.public_key(),
        seed = seed.expose(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_seed_only_file() {
        let seed = UserSeed::generate().unwrap();
        let text = render_seed_only(&seed, "zone a");
        match parse(&text) {
            Some(Creds::Seed(back)) => assert_eq!(back.expose(), seed.expose()),
            other => panic!("{other:?}"),
        }
        assert!(seed.public_key().starts_with('U'));
        assert!(!format!("{seed:?}").contains(seed.expose()));
    }

    #[test]
    fn recognises_a_jwt_file() {
        let seed = UserSeed::generate().unwrap();
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAi.x.y\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            seed.expose()
        );
        assert!(matches!(parse(&text), Some(Creds::Jwt)));
    }

    #[test]
    fn refuses_what_is_not_a_user_seed() {
        assert!(parse("").is_none());
        assert!(
            parse("-----BEGIN USER NKEY SEED-----\nSUNOPE\n------END USER NKEY SEED------\n")
                .is_none()
        );
        // An account seed is not a user seed.
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        let text =
            format!("-----BEGIN USER NKEY SEED-----\n{account}\n------END USER NKEY SEED------\n");
        assert!(parse(&text).is_none());
        // No end marker.
        let seed = UserSeed::generate().unwrap();
        let text = format!("-----BEGIN USER NKEY SEED-----\n{}\n", seed.expose());
        assert!(parse(&text).is_none());
    }
}
