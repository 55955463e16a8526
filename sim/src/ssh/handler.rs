//! The russh server handler of one connection: password and
//! keyboard-interactive authentication (and the `wrong_password` fault),
//! channel requests (pty and shell accepted, exec and subsystems refused),
//! and one shell task per session channel.

use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Response, Session};
use russh::{Channel, ChannelId, ChannelMsg, Pty};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::device::Device;
use super::killer::Killer;
use super::shell::{self, End, Keys, Shell};
use super::spec::Fault;
use super::stats::Counters;

/// How many unread keystroke chunks a channel buffers; more are dropped
/// (type-ahead during a long output), never blocking the SSH session.
const KEY_CHUNKS: usize = 1024;

pub(crate) struct Conn {
    pub dev: Arc<Device>,
    pub killer: Killer,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
}

impl Conn {
    fn check(&self, user: &str, password: &[u8]) -> Auth {
        let spec = &self.dev.spec;
        let ok = spec.fault != Fault::WrongPassword
            && user == spec.username
            && password == spec.password.as_bytes();
        if ok {
            Counters::bump(&self.dev.counters.authenticated);
            Auth::Accept
        } else {
            Counters::bump(&self.dev.counters.auth_rejected);
            Auth::reject()
        }
    }
}

enum Start {
    Shell,
    Exec,
}

impl Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self.check(user, password.as_bytes()))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        match response {
            None => Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            }),
            Some(mut answers) => {
                let typed = answers.next().unwrap_or_default();
                Ok(self.check(user, &typed))
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        let (mut read, write) = channel.split();
        let (key_tx, key_rx) = mpsc::channel::<Vec<u8>>(KEY_CHUNKS);
        let (start_tx, mut start_rx) = mpsc::channel::<Start>(4);
        let cancel = self.cancel.clone();
        // Reader: keeps the channel drained so the session never blocks.
        self.tracker.spawn(async move {
            loop {
                let msg = tokio::select! {
                    m = read.wait() => m,
                    () = cancel.cancelled() => None,
                };
                match msg {
                    Some(ChannelMsg::Data { data }) => {
                        let _ = key_tx.try_send(data.to_vec());
                    }
                    Some(ChannelMsg::RequestShell { .. }) => {
                        let _ = start_tx.try_send(Start::Shell);
                    }
                    Some(ChannelMsg::Exec { .. }) => {
                        let _ = start_tx.try_send(Start::Exec);
                    }
                    Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                }
            }
        });
        let dev = self.dev.clone();
        let killer = self.killer.clone();
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            let run = async {
                match start_rx.recv().await {
                    Some(Start::Shell) => {
                        let shell = Shell::new(dev, write.make_writer(), Keys::new(key_rx), killer);
                        match shell.run().await {
                            End::Exit => shell::close(&write).await,
                            End::Gone | End::Killed => {}
                        }
                    }
                    Some(Start::Exec) => {
                        // Refused (channel failure); the channel is closed.
                        shell::close(&write).await;
                    }
                    None => {}
                }
            };
            tokio::select! {
                () = run => {}
                () = cancel.cancelled() => {}
            }
        });
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Counters::bump(&self.dev.counters.shells);
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
}
