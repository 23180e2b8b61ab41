//! One WebSocket end, either role, either adapter, running a short script
//! (send, close, read to the end, ...) and reporting what it saw, so each
//! fault scenario is written once and run four ways.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rfc6455::handshake::Accept;
use rfc6455::io::{blocking, tokio_ws, Error};
use rfc6455::{CloseCode, Config, DataKind, Message, MessagePart};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// Which adapter drives the end under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `io::tokio_ws`.
    Tokio,
    /// `io::tokio_ws` split into halves: a task reads from the start
    /// (reporting what arrives) while the script's writes and close go
    /// through the write half; `Read` waits for the reading task to end.
    TokioSplit,
    /// As `TokioSplit`, but nobody reads until the script's `Read`: the
    /// write half is on its own until then.
    TokioSplitLateReader,
    /// `io::blocking`, on a thread of its own.
    Blocking,
}

/// One step of an end's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Sends a message (and writes it out).
    Send(Message),
    /// Queues a message without writing it out.
    Feed(Message),
    /// Sends one fragment of a binary message (`first`, `last`).
    Part(Bytes, bool, bool),
    /// Starts the close handshake.
    Close(CloseCode),
    /// Waits.
    Sleep(Duration),
    /// Waits until the test opens the gate (tokio ends only).
    Gate(Arc<Notify>),
    /// Reads until the connection ends, reporting each message.
    Read,
    /// Reads until the connection ends, sending each message back.
    Echo,
}

/// What an end reports, in order.
#[derive(Debug)]
pub enum Report {
    /// The opening handshake completed.
    Open,
    /// A whole message arrived.
    Received(Message),
    /// The script's `Close` step begins.
    Closing,
    /// The script ended: `Ok` after a normal close, or the error that ended it.
    Done(Result<(), Error>),
}

/// The reports of a running end.
#[derive(Debug)]
pub struct Endpoint {
    reports: mpsc::UnboundedReceiver<(Instant, Report)>,
}

/// How an end finished: the messages it received, its result, and when.
#[derive(Debug)]
pub struct Finish {
    /// The messages received after the last one awaited with [`Endpoint::received`].
    pub messages: Vec<Message>,
    /// `Ok` after a normal close, else the error that ended the connection.
    pub result: Result<(), Error>,
    /// When the end reported it.
    pub at: Instant,
    /// When the script's `Close` step began, if it had one.
    pub closing: Option<Instant>,
}

impl Endpoint {
    /// The next report (panics after 30 s: a scenario never waits that long).
    pub async fn next(&mut self) -> (Instant, Report) {
        tokio::time::timeout(Duration::from_secs(30), self.reports.recv())
            .await
            .expect("no report from the end within 30 s")
            .expect("the end stopped without reporting Done")
    }

    /// Waits for the opening handshake; panics if the end failed first.
    pub async fn opened(&mut self) -> Instant {
        match self.next().await {
            (at, Report::Open) => at,
            (_, other) => panic!("expected the handshake to complete, got {other:?}"),
        }
    }

    /// Waits for the next message; panics on anything else.
    pub async fn received(&mut self) -> Message {
        match self.next().await {
            (_, Report::Received(message)) => message,
            (_, other) => panic!("expected a message, got {other:?}"),
        }
    }

    /// Collects messages until the end reports `Done`.
    pub async fn finish(&mut self) -> Finish {
        let mut messages = Vec::new();
        let mut closing = None;
        loop {
            match self.next().await {
                (_, Report::Open) => panic!("opened twice"),
                (_, Report::Received(message)) => messages.push(message),
                (at, Report::Closing) => closing = Some(at),
                (at, Report::Done(result)) => return Finish { messages, result, at, closing },
            }
        }
    }
}

/// Binds 127.0.0.1 (a free port) and runs `steps` as the server of the first connection.
pub fn serve_one(adapter: Adapter, config: Config, steps: Vec<Step>) -> (SocketAddr, Endpoint) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (tx, reports) = mpsc::unbounded_channel();
    match adapter {
        Adapter::Tokio | Adapter::TokioSplit | Adapter::TokioSplitLateReader => {
            listener.set_nonblocking(true).expect("non-blocking listener");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            tokio::spawn(async move {
                let result = async {
                    let (tcp, _) = listener.accept().await?;
                    let ws = tokio_ws::accept_tcp(tcp, &config, |_| Ok(Accept::new())).await?;
                    Ok(ws)
                };
                match result.await {
                    Ok(ws) if adapter != Adapter::Tokio => run_tokio_split(ws, adapter, steps, &tx).await,
                    Ok(ws) => run_tokio(ws, steps, &tx).await,
                    Err(err) => report(&tx, Report::Done(Err(err))),
                }
            });
        }
        Adapter::Blocking => {
            std::thread::spawn(move || {
                let result = listener
                    .accept()
                    .map_err(Error::from)
                    .and_then(|(tcp, _)| blocking::accept_tcp(tcp, &config, |_| Ok(Accept::new())));
                match result {
                    Ok(ws) => run_blocking(ws, steps, &tx),
                    Err(err) => report(&tx, Report::Done(Err(err))),
                }
            });
        }
    }
    (addr, Endpoint { reports })
}

/// Dials `url` and runs `steps` as its client.
pub fn connect(adapter: Adapter, url: String, config: Config, steps: Vec<Step>) -> Endpoint {
    let (tx, reports) = mpsc::unbounded_channel();
    match adapter {
        Adapter::Tokio | Adapter::TokioSplit | Adapter::TokioSplitLateReader => {
            tokio::spawn(async move {
                match tokio_ws::connect_with(url.as_str(), &config).await {
                    Ok((ws, _)) if adapter != Adapter::Tokio => run_tokio_split(ws, adapter, steps, &tx).await,
                    Ok((ws, _)) => run_tokio(ws, steps, &tx).await,
                    Err(err) => report(&tx, Report::Done(Err(err))),
                }
            });
        }
        Adapter::Blocking => {
            std::thread::spawn(move || match blocking::connect_with(url.as_str(), &config) {
                Ok((ws, _)) => run_blocking(ws, steps, &tx),
                Err(err) => report(&tx, Report::Done(Err(err))),
            });
        }
    }
    Endpoint { reports }
}

type Reports = mpsc::UnboundedSender<(Instant, Report)>;

fn report(tx: &Reports, report: Report) {
    let _ = tx.send((Instant::now(), report));
}

fn part(data: Bytes, first: bool, last: bool) -> MessagePart {
    MessagePart { kind: DataKind::Binary, data, first, last }
}

async fn run_tokio<S>(mut ws: tokio_ws::WebSocketStream<S>, steps: Vec<Step>, tx: &Reports)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    report(tx, Report::Open);
    let result = async {
        for step in steps {
            match step {
                Step::Send(message) => ws.send(message).await?,
                Step::Feed(message) => ws.feed(message).await?,
                Step::Part(data, first, last) => ws.send_part(part(data, first, last)).await?,
                Step::Close(code) => {
                    report(tx, Report::Closing);
                    ws.close(code, "").await?
                }
                Step::Sleep(pause) => tokio::time::sleep(pause).await,
                Step::Gate(gate) => gate.notified().await,
                Step::Read => {
                    while let Some(message) = ws.recv().await? {
                        report(tx, Report::Received(message));
                    }
                }
                Step::Echo => {
                    while let Some(message) = ws.recv().await? {
                        report(tx, Report::Received(message.clone()));
                        ws.send(message).await?;
                    }
                }
            }
        }
        Ok(())
    };
    let result = result.await;
    report(tx, Report::Done(result));
}

async fn run_tokio_split<S>(ws: tokio_ws::WebSocketStream<S>, adapter: Adapter, steps: Vec<Step>, tx: &Reports)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    report(tx, Report::Open);
    let (mut reader, mut writer) = ws.into_split();
    let reader_tx = tx.clone();
    let start = Arc::new(Notify::new());
    if adapter == Adapter::TokioSplit {
        start.notify_one();
    }
    let go = Arc::clone(&start);
    let mut reading = tokio::spawn(async move {
        go.notified().await;
        while let Some(message) = reader.recv().await? {
            report(&reader_tx, Report::Received(message));
        }
        Ok::<(), Error>(())
    });
    let result = async {
        for step in steps {
            match step {
                Step::Send(message) => writer.send(message).await?,
                Step::Feed(message) => writer.feed(message).await?,
                Step::Part(data, first, last) => writer.send_part(part(data, first, last)).await?,
                Step::Close(code) => {
                    report(tx, Report::Closing);
                    writer.close(code, "").await?
                }
                Step::Sleep(pause) => tokio::time::sleep(pause).await,
                Step::Gate(gate) => gate.notified().await,
                Step::Read => {
                    start.notify_one();
                    return (&mut reading).await.expect("the reading task panicked");
                }
                Step::Echo => panic!("a split end reads in a task of its own: no echo"),
            }
        }
        Ok(())
    };
    let result = result.await;
    report(tx, Report::Done(result));
}

fn run_blocking<S: std::io::Read + std::io::Write>(mut ws: blocking::WebSocket<S>, steps: Vec<Step>, tx: &Reports) {
    report(tx, Report::Open);
    let run = || -> Result<(), Error> {
        for step in steps {
            match step {
                Step::Send(message) => ws.send(message)?,
                Step::Feed(message) => ws.feed(message)?,
                Step::Part(data, first, last) => ws.send_part(part(data, first, last))?,
                Step::Close(code) => {
                    report(tx, Report::Closing);
                    ws.close(code, "")?
                }
                Step::Sleep(pause) => std::thread::sleep(pause),
                Step::Gate(_) => panic!("a gate is for tokio ends (the peer) only"),
                Step::Read => {
                    while let Some(message) = ws.read()? {
                        report(tx, Report::Received(message));
                    }
                }
                Step::Echo => {
                    while let Some(message) = ws.read()? {
                        report(tx, Report::Received(message.clone()));
                        ws.send(message)?;
                    }
                }
            }
        }
        Ok(())
    };
    let result = run();
    report(tx, Report::Done(result));
}
