//! The screens.

mod alert;
mod alerts;
mod charts;
mod doors;
mod history;
mod live;
mod login;
mod models;
mod rules;

pub use alert::AlertPage;
pub use alerts::AlertsPage;
pub use charts::ChartsPage;
pub use doors::DoorsPage;
pub use history::HistoryPage;
pub use live::LivePage;
pub use login::Login;
pub use models::ModelsPage;
pub use rules::RulesPage;

use leptos::prelude::*;
use leptos_router::components::A;

/// Shown for a path the app does not know.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <p>"There is no such page. " <A href="/live">"Go to the live view"</A> "."</p>
        </section>
    }
}
