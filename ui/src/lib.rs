//! The MaskGate admin app: Leptos, rendered in the browser from wasm, served by
//! `maskgate serve` on the API's origin.
//!
//! Layout: [`App`] and the router here; `api` holds the one typed fetch helper, `auth` the
//! session, `live` the event stream and the state it feeds; screens are in `routes/`,
//! shared pieces in `components/`. The modules declared `pub` below hold the screens' pure
//! logic (words for numbers and errors, filters, chart sums, the rules form, a new door's
//! settings, a model's test results) and build on the host too, where their unit tests run;
//! the rest is wasm32-only.

pub mod chart_data;
pub mod door_setup;
pub mod format;
pub mod history_filter;
pub mod model_facts;
pub mod rule_form;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod auth;
#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod native;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod theme;

#[cfg(target_arch = "wasm32")]
pub use app::App;

#[cfg(target_arch = "wasm32")]
mod app {
    use leptos::prelude::*;
    use leptos_router::components::{Redirect, Route, Router, Routes};
    use leptos_router::path;

    use crate::api::Api;
    use crate::auth::Auth;
    use crate::components::Header;
    use crate::live::Live;
    use crate::routes::{
        AlertPage, AlertsPage, ChartsPage, DoorsPage, HistoryPage, LivePage, Login, ModelsPage,
        NotFound, RulesPage,
    };

    /// The whole app: the login screen while no session stands, else the screens.
    #[component]
    pub fn App() -> impl IntoView {
        let auth = Auth::restore();
        provide_context(auth);
        view! {
            <Router>
                <Show
                    when=move || auth.session.with(Option::is_some)
                    fallback=|| view! { <Login/> }
                >
                    <Shell/>
                </Show>
            </Router>
        }
    }

    /// The logged-in app: the live stream, the top bar and the routes. Logging out
    /// unmounts it, which closes the stream.
    #[component]
    fn Shell() -> impl IntoView {
        let auth = expect_context::<Auth>();
        let api = Api::new(auth);
        provide_context(api);
        provide_context(Live::start(api));
        view! {
            <Header/>
            <main id="main" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=|| view! { <Redirect path="/live"/> }/>
                    <Route path=path!("/login") view=|| view! { <Redirect path="/live"/> }/>
                    <Route path=path!("/live") view=LivePage/>
                    <Route path=path!("/history") view=HistoryPage/>
                    <Route path=path!("/charts") view=ChartsPage/>
                    <Route path=path!("/alerts") view=AlertsPage/>
                    <Route path=path!("/alerts/rules") view=RulesPage/>
                    <Route path=path!("/alerts/:id") view=AlertPage/>
                    <Route path=path!("/doors") view=DoorsPage/>
                    <Route path=path!("/models") view=ModelsPage/>
                </Routes>
            </main>
        }
    }
}
