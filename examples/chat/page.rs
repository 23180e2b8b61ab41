//! The page: `page.html` from the binary, with this node's settings put in
//! (the session token, and the other nodes the page may reconnect to).

const PAGE: &str = include_str!("page.html");

/// The page for a browser that gets `token`.
pub(crate) fn render(token: &str, node: &str, peers: &[String]) -> String {
    let config = serde_json::json!({ "token": token, "node": node, "peers": peers });
    // `</` cannot end the script element from inside the JSON.
    PAGE.replace("__CHAT_CONFIG__", &config.to_string().replace("</", "<\\/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_settings_go_into_the_script() {
        let page = super::render("T.1.2", "127.0.0.1:8080", &["127.0.0.1:8081".into()]);
        assert!(page.contains(r#"{"node":"127.0.0.1:8080","peers":["127.0.0.1:8081"],"token":"T.1.2"}"#), "{page}");
        assert!(!page.contains("__CHAT_CONFIG__"));
    }
}
