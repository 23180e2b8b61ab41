//! A chat server: rooms, nicknames, presence, history, typing, resume after
//! a reconnect, on one axum server with the page at `/` and the WebSocket
//! at `/ws`. What each file does:
//!
//! - `main.rs`: command line, routes, the handshake (token and Origin
//!   checked before upgrading), the connection settings;
//! - `page.rs` and `page.html`: the page (plain HTML, CSS and JavaScript,
//!   served from the binary: no build step, works offline);
//! - `protocol.rs`: the JSON messages, documented there;
//! - `session.rs`: one connection: requests, limits, slow readers;
//! - `hub.rs`: rooms on this node and fan-out, each event encoded once;
//! - `store.rs`: numbered history and rosters behind a small trait, kept in
//!   memory on one node;
//! - `redis_store.rs`: the same in Redis, shared by several nodes (`--redis`);
//! - `token.rs`: the signed session token.
//!
//! Run: `cargo run --release --example chat -- [--addr 127.0.0.1:8080]`
//! and open the URL it prints, in two windows.

mod hub;
mod page;
mod protocol;
mod redis_store;
mod session;
mod store;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::handshake::OriginPolicy;
use rfc6455::io::axum_ws::WebSocketUpgrade;
use rfc6455::Config;

use hub::Hub;
use redis_store::RedisStore;
use store::{MemoryStore, Store};
use token::Signer;

const USAGE: &str =
    "usage: chat [--addr 127.0.0.1:8080] [--redis redis://127.0.0.1:6379] [--peer HOST:PORT]... [--secret S]
  --peer     another chat node the page may reconnect to (its pages are admitted as origins)
  --secret   signs the session tokens; nodes that share it accept each other's (default: random,
             or $CHAT_SECRET)";

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) hub: Arc<Hub>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) signer: Signer,
    pub(crate) origins: OriginPolicy,
    /// This node's address, shown on the page.
    pub(crate) node: String,
    /// This node's name among nodes: its address and a random part, new
    /// at every start.
    pub(crate) node_id: String,
    /// Other nodes' addresses, for the page's reconnection.
    pub(crate) peers: Vec<String>,
}

/// The connection settings: messages up to 64 KiB of text (as JSON, with
/// room for escapes), a heartbeat every 3 s whose RTT the page shows,
/// permessage-deflate compressing each message on its own, and a write buffer above the
/// slow-reader limit so queuing a message never waits.
fn config() -> Config {
    let mut config = Config::default();
    config.max_message_size = 512 << 10;
    config.max_frame_size = 512 << 10;
    config.write_buffer_limit = 2 * session::SLOW_BYTES;
    config.ping_interval = Some(Duration::from_secs(3));
    config.pong_timeout = Duration::from_secs(10);
    // Without server context takeover every connection compresses a message
    // alike: a room event is then compressed once (per window size) and the
    // same frame goes to every member, instead of once per member.
    let mut deflate = DeflateConfig::default();
    deflate.server_no_context_takeover = true;
    config.deflate = Some(deflate);
    config
}

fn unix_now() -> u64 {
    store::now_ms() / 1000
}

async fn index(State(app): State<Arc<App>>) -> Html<String> {
    Html(page::render(&app.signer.issue(unix_now()), &app.node, &app.peers))
}

async fn issue_token(State(app): State<Arc<App>>) -> String {
    app.signer.issue(unix_now())
}

/// The WebSocket route: a valid token in `?token=` and an admitted
/// `Origin`, or no upgrade.
async fn ws(State(app): State<Arc<App>>, upgrade: WebSocketUpgrade) -> Response {
    let token = token::from_query(upgrade.request().target());
    if !token.is_some_and(|token| app.signer.verify(token, unix_now())) {
        let why = "a valid ?token= is needed: open the chat page (or GET /token) for one\n";
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    let origins = app.origins.clone();
    upgrade.config(config()).origin_policy(origins).on_upgrade(move |socket| session::run(socket, app))
}

struct Args {
    addr: SocketAddr,
    redis: Option<String>,
    peers: Vec<String>,
    secret: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args { addr: ([127, 0, 0, 1], 8080).into(), redis: None, peers: Vec::new(), secret: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--addr" => {
                let addr = value()?;
                parsed.addr = addr.parse().map_err(|e| format!("invalid --addr {addr:?}: {e}"))?;
            }
            "--redis" => parsed.redis = Some(value()?),
            "--peer" => parsed.peers.push(value()?),
            "--secret" => parsed.secret = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = parse_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let mut origins = OriginPolicy::same_origin();
    for peer in &args.peers {
        origins = origins.allow(&format!("http://{peer}")).unwrap_or_else(|err| {
            eprintln!("--peer {peer}: {err}");
            std::process::exit(2);
        });
    }
    let secret = args.secret.or_else(|| std::env::var("CHAT_SECRET").ok());
    let secret = secret.map_or_else(|| rand::random::<[u8; 32]>().to_vec(), String::into_bytes);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let node = listener.local_addr()?.to_string();
    let node_id = format!("{node}#{:08x}", rand::random::<u32>());
    let hub = Arc::new(Hub::default());
    let store: Arc<dyn Store> = match &args.redis {
        None => Arc::new(MemoryStore::new(Arc::clone(&hub))),
        Some(url) => match RedisStore::connect(url, Arc::clone(&hub), &node_id).await {
            Ok(store) => Arc::new(store),
            Err(err) => {
                eprintln!("--redis {url}: {err}");
                std::process::exit(1);
            }
        },
    };
    let signer = Signer::new(&secret);
    let app = Arc::new(App { hub, store, signer, origins, node, node_id, peers: args.peers });
    println!("open http://{}/", app.node);
    let router = Router::new()
        .route("/", get(index))
        .route("/token", get(issue_token))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ws", get(ws))
        .with_state(app);
    axum::serve(listener, router).await
}
