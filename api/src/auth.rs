//! The API's bearer token as operators keep it: a file holding one token
//! on one line (as `echo` writes it), read by the coordinator and the CLI
//! alike.

use std::io::Read;

/// Largest token file read.
pub const MAX_TOKEN_FILE: u64 = 4096;

/// Reads an API token from `path`: one token on one line, at most
/// [`MAX_TOKEN_FILE`] bytes. The error names the file, never its contents.
pub fn read_token_file(path: &std::path::Path) -> Result<zeroize::Zeroizing<String>, String> {
    let shown = path.display();
    let f = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the token file {shown}: {e}"))?;
    let mut text = zeroize::Zeroizing::new(String::new());
    f.take(MAX_TOKEN_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the token file {shown}: {e}"))?;
    if text.len() as u64 > MAX_TOKEN_FILE {
        return Err(format!(
            "the token file {shown} is larger than {MAX_TOKEN_FILE} bytes: is it the right file?"
        ));
    }
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(format!(
            "the token file {shown} must hold one token on one line"
        ));
    }
    Ok(zeroize::Zeroizing::new(token.to_string()))
}
