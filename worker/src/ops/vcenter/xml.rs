//! A small XML tree for vim25 SOAP answers: element local names, the
//! `type` attribute (`xsi:type` or a managed object reference's `type`),
//! text and children. Answers are small and their shape varies by method,
//! so walking a tree is simpler and safer than typed deserialisation; the
//! reader is bounded in depth and the caller bounds the body size.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Deepest nesting accepted; vim25 answers stay far below it.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one answer: a tree node costs far more than
/// the few bytes of an empty element, so the body cap alone does not bound
/// memory.
const MAX_NODES: usize = 1_000_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// Local name (no namespace prefix).
    pub name: String,
    /// `xsi:type` (prefix removed) or a moref's `type` attribute.
    pub ty: Option<String>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |n, name| n.child(name))
    }

    /// The first descendant (or self) named `name`, depth first.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// Text of the child `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => s.into_owned(),
    }
}

/// Parses a document into its root element.
pub fn parse(body: &[u8]) -> Result<Node, String> {
    let mut reader = Reader::from_reader(body);
    // Text is kept exactly (an entity splits it into pieces: "a &amp; b"
    // must stay "a & b"); whitespace between child elements is dropped.
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut buf = Vec::new();
    let mut nodes = 0usize;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH} levels"));
                }
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(format!("XML with more than {MAX_NODES} elements"));
                }
                let mut node = Node {
                    name: local(e.name().as_ref()),
                    ..Node::default()
                };
                // A reference carries both (`<val type="Folder"
                // xsi:type="ManagedObjectReference">`): its own `type` is
                // the one that says what it refers to, whatever the order.
                let mut xsi_type = None;
                for a in e.attributes().flatten() {
                    if local(a.key.as_ref()) == "type" {
                        let v = a
                            .unescape_value()
                            .map_err(|e| format!("malformed XML attribute: {e}"))?;
                        let v = match v.rsplit_once(':') {
                            Some((_, l)) => l.to_string(),
                            None => v.into_owned(),
                        };
                        if a.key.as_ref().contains(&b':') {
                            xsi_type = Some(v);
                        } else {
                            node.ty = Some(v);
                        }
                    }
                }
                if node.ty.is_none() {
                    node.ty = xsi_type;
                }
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().ok_or("unbalanced XML end tag")?;
                if !node.children.is_empty() && node.text.trim().is_empty() {
                    node.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    let s = t.decode().map_err(|e| format!("malformed XML text: {e}"))?;
                    n.text.push_str(&unescape(&s)?);
                }
            }
            Event::CData(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(n) = stack.last_mut() {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    n.text.push_str(&unescape(&format!("&{name};"))?);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("XML document ends inside an element".into());
    }
    root.ok_or_else(|| "empty XML document".to_string())
}

fn unescape(s: &str) -> Result<String, String> {
    quick_xml::escape::unescape(s)
        .map(|c| c.into_owned())
        .map_err(|e| format!("malformed XML entity: {e}"))
}

/// Escapes text for an element body.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_elements_are_refused() {
        let mut doc = String::from("<r>");
        for _ in 0..=MAX_NODES {
            doc.push_str("<a/>");
        }
        doc.push_str("</r>");
        let e = parse(doc.as_bytes()).unwrap_err();
        assert!(e.contains("elements"), "{e}");
    }

    #[test]
    fn reads_names_types_and_text() {
        let doc = br#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="x" xmlns:xsi="y"><soapenv:Body>
            <R xmlns="urn:vim25"><returnval><obj type="HostSystem">host-1</obj>
            <val xsi:type="xsd:boolean">true</val><name>a &amp; b</name><e/></returnval></R>
            </soapenv:Body></soapenv:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        let rv = root.find("returnval").unwrap();
        assert_eq!(rv.child("obj").unwrap().ty.as_deref(), Some("HostSystem"));
        assert_eq!(rv.text_of("obj"), Some("host-1"));
        assert_eq!(rv.child("val").unwrap().ty.as_deref(), Some("boolean"));
        assert_eq!(rv.text_of("name"), Some("a & b"));
        assert!(rv.child("e").is_some());
    }

    #[test]
    fn a_references_own_type_wins_over_its_xsi_type_in_either_order() {
        for doc in [
            r#"<val type="Folder" xsi:type="ManagedObjectReference">group-d1</val>"#,
            r#"<val xsi:type="ManagedObjectReference" type="Folder">group-d1</val>"#,
        ] {
            assert_eq!(
                parse(doc.as_bytes()).unwrap().ty.as_deref(),
                Some("Folder"),
                "{doc}"
            );
        }
    }

    #[test]
    fn refuses_broken_documents() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("deeper"));
    }

    #[test]
    fn escapes_text() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
