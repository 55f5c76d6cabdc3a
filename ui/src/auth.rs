//! The login session: kept in `localStorage`, ended by logout, expiry or a 401.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use maskgate_api_types::Role;
use serde::{Deserialize, Serialize};

use crate::clock;

const STORAGE_KEY: &str = "maskgate.session";

/// A logged-in user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The account name, as typed at login.
    pub username: String,
    /// Admin or viewer.
    pub role: Role,
    /// When the server stops accepting the token.
    pub expires_at: DateTime<Utc>,
}

/// The session of this browser, and the message the login screen shows after one ended.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    /// The current session; `None`: the login screen shows.
    pub session: RwSignal<Option<Session>>,
    /// Why the last session ended, for the login screen.
    pub notice: RwSignal<Option<String>>,
}

impl Auth {
    /// The session saved by an earlier visit, unless it has expired.
    pub fn restore() -> Self {
        let saved = storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str::<Session>(&text).ok());
        let (session, notice) = match saved {
            Some(session) if session.expires_at > clock::now() => (Some(session), None),
            Some(_) => {
                forget();
                (
                    None,
                    Some("Your session has expired. Please log in again.".to_owned()),
                )
            }
            None => (None, None),
        };
        let auth = Self {
            session: RwSignal::new(session.clone()),
            notice: RwSignal::new(notice),
        };
        if let Some(session) = session {
            auth.expire_at(&session);
        }
        auth
    }

    /// Starts a session after a successful login.
    pub fn start(&self, session: Session) {
        if let Some(storage) = storage()
            && let Ok(text) = serde_json::to_string(&session)
        {
            let _ = storage.set_item(STORAGE_KEY, &text);
        }
        self.expire_at(&session);
        self.notice.set(None);
        self.session.set(Some(session));
    }

    /// Ends the session; `notice` says why on the login screen (`None` for a logout).
    pub fn end(&self, notice: Option<String>) {
        forget();
        self.notice.set(notice);
        self.session.set(None);
    }

    /// Whether the logged-in user is an admin (reactive: tracks the session).
    pub fn is_admin(&self) -> bool {
        self.session
            .with(|s| s.as_ref().is_some_and(|s| s.role == Role::Admin))
    }

    /// The current token, without subscribing to changes.
    pub fn token(&self) -> Option<String> {
        self.session
            .with_untracked(|s| s.as_ref().map(|s| s.token.clone()))
    }

    /// Sends the user to the login screen when the session runs out, even if the page
    /// makes no request then.
    fn expire_at(&self, session: &Session) {
        let auth = *self;
        let token = session.token.clone();
        // Browsers run longer timeouts at once; the server's 401 covers sessions that long.
        let left = (session.expires_at - clock::now())
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(24 * 86_400));
        set_timeout(
            move || {
                if auth.token().as_deref() == Some(token.as_str()) {
                    auth.end(Some(
                        "Your session has expired. Please log in again.".to_owned(),
                    ));
                }
            },
            left,
        );
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn forget() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(STORAGE_KEY);
    }
}
