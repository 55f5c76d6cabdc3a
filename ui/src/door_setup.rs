//! What a newly registered door needs: the commands that store its token and the
//! `edge.toml` that points it at this server. Shown once, right after registration, since
//! the server keeps only the token's hash.

/// Where the Debian package's agent reads its token.
pub const TOKEN_PATH: &str = "/etc/maskgate-edge/device-token";

/// Where the Debian package's agent reads its settings.
pub const CONFIG_PATH: &str = "/etc/maskgate-edge/edge.toml";

/// A TOML basic string: quotes and backslashes escaped, control characters as `\uXXXX`.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `[server]` part of a door's `edge.toml`: this server's URL and the token file.
///
/// `server_url` is the address the door reaches the server at; the app passes its own
/// origin, which is right when doors and managers use the same address.
pub fn edge_toml(door: &str, server_url: &str) -> String {
    format!(
        "# {CONFIG_PATH} for the door {door} (see edge-agent/examples/edge.toml for every key)\n\
         uplink = \"http\"\n\
         \n\
         [server]\n\
         # The address this door reaches the MaskGate server at.\n\
         url = {url}\n\
         token_file = {path}\n",
        door = door,
        url = toml_string(server_url.trim_end_matches('/')),
        path = toml_string(TOKEN_PATH),
    )
}

/// Shell commands, run on the door, that store `token` where the agent reads it, readable
/// only by root and the agent's group.
pub fn token_commands(token: &str) -> String {
    // Tokens are `mgd_` and URL-safe characters; quote anyway so the line is safe to paste.
    let quoted = format!("'{}'", token.replace('\'', "'\\''"));
    format!(
        "printf '%s\\n' {quoted} | sudo tee {TOKEN_PATH} >/dev/null\n\
         sudo chgrp maskgate-edge {TOKEN_PATH} && sudo chmod 0640 {TOKEN_PATH}\n\
         sudo systemctl restart maskgate-edge\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Config {
        uplink: String,
        server: Server,
    }

    #[derive(serde::Deserialize)]
    struct Server {
        url: String,
        token_file: String,
    }

    #[test]
    fn the_edge_toml_is_valid_toml_that_points_at_this_server() {
        let text = edge_toml("front-door", "https://gate.example.org:8443/");
        assert!(text.starts_with("# /etc/maskgate-edge/edge.toml for the door front-door"));
        let config: Config = toml::from_str(&text).expect("valid TOML");
        assert_eq!(config.uplink, "http");
        assert_eq!(config.server.url, "https://gate.example.org:8443");
        assert_eq!(config.server.token_file, TOKEN_PATH);
    }

    #[test]
    fn odd_characters_in_the_url_stay_inside_the_string() {
        let text = edge_toml("d", "http://a\"b\\c\n");
        let config: Config = toml::from_str(&text).expect("valid TOML");
        assert_eq!(config.server.url, "http://a\"b\\c\n");
    }

    #[test]
    fn the_token_commands_quote_the_token() {
        let commands = token_commands("mgd_abc");
        assert!(commands.starts_with(
            "printf '%s\\n' 'mgd_abc' | sudo tee /etc/maskgate-edge/device-token >/dev/null\n"
        ));
        assert!(commands.contains("chmod 0640"));
        assert!(token_commands("it's").contains("'it'\\''s'"));
    }
}
