//! A tokio echo server on 127.0.0.1 for the tests that need a live peer
//! (the reconnecting client over faults, the soak). Included with `#[path]`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;

use rfc6455::handshake::Accept;
use rfc6455::io::tokio_ws;
use rfc6455::Config;
use tokio::net::TcpListener;

/// Binds a free port and echoes every message of every connection with
/// `config`, each connection in a task of its own, until the runtime ends.
pub async fn echo_server(config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = config.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_ws::accept_tcp(tcp, &config, |_| Ok(Accept::new())).await else { return };
                while let Ok(Some(message)) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}
