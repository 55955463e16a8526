//! Simulated Dell Update Packages and the multipart body of
//! `UpdateService/MultipartUpload`. A real DUP is a signed executable that
//! names its component and version; a simulated one starts with a line
//! `OUTPOST-SIM-DUP component=<ComponentID> version=<version>` followed by
//! any padding, so tests can make images of any size.

use super::spec::Component;

const MAGIC: &str = "OUTPOST-SIM-DUP";

/// What an image updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub component_id: String,
    pub version: String,
}

impl Image {
    /// Reads the header of a package.
    pub fn parse(bytes: &[u8]) -> Result<Image, String> {
        let bad = || "The update package is not a valid Dell Update Package.".to_string();
        let line_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let line = std::str::from_utf8(&bytes[..line_end.min(256)]).map_err(|_| bad())?;
        let mut words = line.split_whitespace();
        if words.next() != Some(MAGIC) {
            return Err(bad());
        }
        let (mut component_id, mut version) = (None, None);
        for w in words {
            match w.split_once('=') {
                Some(("component", v)) => component_id = Some(v.to_string()),
                Some(("version", v)) => version = Some(v.to_string()),
                _ => {}
            }
        }
        match (component_id, version) {
            (Some(component_id), Some(version)) if !version.is_empty() => Ok(Image {
                component_id,
                version,
            }),
            _ => Err(bad()),
        }
    }

    pub fn component_name(&self, components: &[Component]) -> String {
        components
            .iter()
            .find(|c| c.id == self.component_id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("component {}", self.component_id))
    }
}

/// A package for `component_id` at `version`, padded to `size` bytes.
pub fn make_image(component_id: &str, version: &str, size: usize) -> Vec<u8> {
    let mut v = format!("{MAGIC} component={component_id} version={version}\n").into_bytes();
    if v.len() < size {
        v.extend((0..size - v.len()).map(|i| b'A' + (i % 26) as u8));
    }
    v
}

/// One part of a multipart/form-data body.
#[derive(Debug)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub body: &'a [u8],
}

/// The boundary of a `multipart/form-data; boundary=...` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, rest) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Splits a multipart body; `Err` names what is malformed.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut pos = find(body, delim.as_bytes(), 0).ok_or("no multipart boundary in the body")?;
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(out);
        }
        let head_start = pos + 2;
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("part without headers")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let next = find(body, format!("\r\n{delim}").as_bytes(), head_end + 4)
            .ok_or("multipart body ends without its closing boundary")?;
        let (mut name, mut filename) = (None, None);
        for line in head.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for p in v.split(';') {
                if let Some((k, v)) = p.trim().split_once('=') {
                    let v = v.trim_matches('"').to_string();
                    match k {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        out.push(Part {
            name: name.ok_or("part without a name")?,
            filename,
            body: &body[head_end + 4..next],
        });
        pos = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_multipart() {
        let img = make_image("159", "2.19.1", 100);
        assert_eq!(img.len(), 100);
        assert_eq!(
            Image::parse(&img).unwrap(),
            Image {
                component_id: "159".into(),
                version: "2.19.1".into()
            }
        );
        assert!(Image::parse(b"MZ\x90\x00 not a package").is_err());
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"UpdateParameters\"\r\nContent-Type: application/json\r\n\r\n{\"Targets\":[]}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"UpdateFile\"; filename=\"bios.exe\"\r\n\r\nDATA\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=XyZ").unwrap();
        let p = parts(body, &b).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "UpdateParameters");
        assert_eq!(p[1].filename.as_deref(), Some("bios.exe"));
        assert_eq!(p[1].body, b"DATA");
        assert!(parts(&body[..60], &b).is_err());
    }
}
