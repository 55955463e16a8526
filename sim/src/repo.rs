//! A firmware repository: the plain HTTP server a `SimpleUpdate` image
//! URI points at, serving fixed files on a loopback port (404 for the
//! rest), for tests where the iDRAC fetches its image itself.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `files` (path, bytes) on 127.0.0.1; returns the address.
pub async fn serve(files: Vec<(String, Vec<u8>)>) -> std::io::Result<SocketAddr> {
    serve_for(|_| files).await
}

/// Serves the files `make` gives for the address the server got (for a
/// file that names its own server, as a catalog names its base location).
pub async fn serve_for(
    make: impl FnOnce(SocketAddr) -> Vec<(String, Vec<u8>)>,
) -> std::io::Result<SocketAddr> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let files = Arc::new(make(addr));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let resp = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, b)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(b);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = s.write_all(&resp).await;
            });
        }
    });
    Ok(addr)
}
