//! The MaskGate server the app shows: its URL, the check that it is one, and the small JSON file
//! that remembers it between starts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use maskgate_api_types::Health;
use serde::{Deserialize, Serialize};
use url::Url;

/// How long the connect page waits for `GET /healthz`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The base URL of a MaskGate server: http or https, no credentials, no query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(Url);

impl ServerUrl {
    /// Reads what a person typed; `maskgate.example.org:8080` gets `https://` in front.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("Enter the address of your MaskGate server.".into());
        }
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let mut url = Url::parse(&with_scheme)
            .map_err(|e| format!("\"{raw}\" is not a web address ({e})."))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "\"{raw}\" is not an http:// or https:// address of a server."
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "Leave the user name and password out of the address; the app asks for them."
                    .into(),
            );
        }
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self(url))
    }

    /// The URL itself (ends with `/`).
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The admin app's page of alert `id` on this server.
    pub fn alert_page(&self, id: i64) -> Url {
        let mut url = self.0.clone();
        // The base ends with `/`, so this appends to it (a server behind a path keeps its path).
        url.set_path(&format!("{}alerts/{id}", self.0.path()));
        url
    }

    /// The URL pattern of every page of the server's origin, for a remote capability.
    pub fn origin_pattern(&self) -> String {
        format!("{}/*", self.0.origin().ascii_serialization())
    }

    /// `GET /healthz` must answer `{"status":"ok"}`; the error says what went wrong in words.
    pub async fn check(&self) -> Result<(), String> {
        let health = self
            .0
            .join("healthz")
            .map_err(|e| format!("Cannot build the health URL: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(CHECK_TIMEOUT)
            .build()
            .map_err(|e| format!("Cannot make an HTTP client: {e}"))?;
        let response = client
            .get(health.clone())
            .send()
            .await
            .map_err(|e| format!("Cannot reach {self}: {}", describe(&e)))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        match serde_json::from_str::<Health>(&body) {
            Ok(h) if status.is_success() && h.status == "ok" => Ok(()),
            Ok(h) => Err(format!(
                "{self} is a MaskGate server, but it is not healthy ({status}, status \"{}\"): its database may be down.",
                h.status
            )),
            Err(_) => Err(format!(
                "{self} answers, but it is not a MaskGate server: GET {health} gave {status} without a MaskGate health report."
            )),
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

/// The most useful words about a failed request: the innermost cause (refused, DNS, TLS…).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", CHECK_TIMEOUT.as_secs());
    }
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// What the settings file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    server_url: String,
}

/// `server.json` in the app's config directory.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    /// The file in `dir` (created when saving).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            path: dir.join("server.json"),
        }
    }

    /// The remembered server; `None` if there is none or the file is unreadable.
    pub fn load(&self) -> Option<ServerUrl> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let saved: Saved = serde_json::from_str(&text).ok()?;
        ServerUrl::parse(&saved.server_url).ok()
    }

    /// Remembers `server`.
    pub fn save(&self, server: &ServerUrl) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let saved = Saved {
            server_url: server.to_string(),
        };
        std::fs::write(&self.path, serde_json::to_string_pretty(&saved)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_read_as_people_type_them() {
        let cases = [
            (
                "https://maskgate.example.org:8080",
                "https://maskgate.example.org:8080/",
            ),
            (
                "maskgate.example.org:8080",
                "https://maskgate.example.org:8080/",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
            (
                "  http://10.0.0.5:8080/maskgate?x=1#y ",
                "http://10.0.0.5:8080/maskgate/",
            ),
        ];
        for (typed, want) in cases {
            let url = ServerUrl::parse(typed).expect(typed);
            assert_eq!(url.as_url().as_str(), want, "typed {typed:?}");
        }
    }

    #[test]
    fn an_alert_opens_under_the_server_s_own_path() {
        let root = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            root.alert_page(42).as_str(),
            "http://127.0.0.1:8080/alerts/42"
        );
        let behind_a_path = ServerUrl::parse("https://example.org/maskgate").unwrap();
        assert_eq!(
            behind_a_path.alert_page(7).as_str(),
            "https://example.org/maskgate/alerts/7"
        );
    }

    #[test]
    fn other_schemes_and_credentials_are_refused() {
        for typed in [
            "",
            "ftp://example.org",
            "file:///etc",
            "https://a:b@example.org",
        ] {
            assert!(ServerUrl::parse(typed).is_err(), "accepted {typed:?}");
        }
    }

    #[test]
    fn the_capability_covers_the_origin_only() {
        let url = ServerUrl::parse("http://10.0.0.5:8080/maskgate/").expect("valid");
        assert_eq!(url.origin_pattern(), "http://10.0.0.5:8080/*");
    }

    /// A server on a free port that answers one request with `response`; its base URL.
    fn answer_once(response: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("has an address").port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accepts");
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            stream.write_all(response.as_bytes()).expect("answers");
        });
        format!("http://127.0.0.1:{port}")
    }

    fn check(url: &str) -> Result<(), String> {
        let server = ServerUrl::parse(url).expect("valid");
        tauri::async_runtime::block_on(server.check())
    }

    #[test]
    fn a_healthy_maskgate_server_passes_the_check() {
        let url = answer_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}",
        );
        check(&url).expect("a MaskGate server");
    }

    #[test]
    fn another_web_server_is_not_taken_for_maskgate() {
        let url = answer_once(
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: 9\r\nconnection: close\r\n\r\nNot Found",
        );
        let error = check(&url).expect_err("not MaskGate");
        assert!(error.contains("not a MaskGate server"), "{error}");
    }

    #[test]
    fn an_unreachable_server_is_reported_as_such() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.local_addr().expect("has an address").port()
        };
        let error = check(&format!("http://127.0.0.1:{port}")).expect_err("nothing listens");
        assert!(
            error.starts_with("Cannot reach http://127.0.0.1:"),
            "{error}"
        );
    }

    #[test]
    fn a_saved_server_is_loaded_on_the_next_start() {
        let dir = std::env::temp_dir().join(format!("maskgate-admin-test-{}", std::process::id()));
        let file = SettingsFile::new(dir.clone());
        assert_eq!(file.load(), None);
        let url = ServerUrl::parse("https://maskgate.example.org:8080").expect("valid");
        file.save(&url).expect("saves");
        assert_eq!(file.load(), Some(url));
        std::fs::remove_dir_all(dir).expect("cleans up");
    }
}
