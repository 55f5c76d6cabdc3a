//! Loading, empty and error states, in plain words.

use leptos::prelude::*;

/// Shown while something loads: `Loading today's numbers…`.
#[component]
pub fn Loading(
    /// What is loading, such as `today's numbers`.
    #[prop(into)]
    what: String,
) -> impl IntoView {
    view! { <p class="state" role="status">"Loading " {what} "…"</p> }
}

/// Shown when a list has nothing in it yet.
#[component]
pub fn Empty(children: Children) -> impl IntoView {
    view! { <div class="state empty">{children()}</div> }
}

/// Shown when something could not be loaded or done, with a way to try again.
#[component]
pub fn Problem(
    /// What went wrong, in words (see `format::Failure::describe`).
    #[prop(into)]
    message: String,
    /// Tries again; no button when `None`.
    #[prop(optional)]
    retry: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        <div class="state problem" role="alert">
            <p>{message}</p>
            {retry.map(|retry| view! {
                <button type="button" on:click=move |_| retry.run(())>"Try again"</button>
            })}
        </div>
    }
}
