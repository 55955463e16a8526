//! Abrupt TCP teardown: a duplicate of the connection's socket that can shut
//! it down from outside the SSH session, so a device can "drop off the
//! network" mid-output (no SSH disconnect message) and `stop()` can end
//! every session at once.

use std::net::Shutdown;
use std::sync::Arc;

use tokio::net::TcpStream;

/// Shuts a TCP connection down in both directions on demand.
#[derive(Clone, Debug)]
pub struct Killer(Option<Arc<std::net::TcpStream>>);

impl Killer {
    /// Wraps an accepted stream: returns the stream to hand to the SSH
    /// session and the killer holding a duplicate of its socket.
    pub fn wrap(stream: TcpStream) -> std::io::Result<(TcpStream, Killer)> {
        let _ = stream.set_nodelay(true);
        let std_stream = stream.into_std()?;
        let dup = std_stream.try_clone().ok().map(Arc::new);
        let stream = TcpStream::from_std(std_stream)?;
        Ok((stream, Killer(dup)))
    }

    /// Shuts the socket down in both directions: the peer sees the TCP
    /// connection end without an SSH disconnect, the session sees EOF.
    pub fn kill(&self) {
        if let Some(s) = &self.0 {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
