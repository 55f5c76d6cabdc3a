//! The line under a form that says how the last thing the user did there went.

use leptos::prelude::*;

/// How an action the user took turned out, in words for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked: what happened, e.g. `Assigned door-model@2. The door switches at its next check.`
    Done(String),
    /// It did not: why, e.g. a `format::Failure::describe` sentence.
    Failed(String),
}

/// Shows `outcome` once there is one: a success as a status line, a failure as an alert
/// (read out at once by screen readers).
#[component]
pub fn Notice(
    /// The outcome to show; nothing while `None`.
    #[prop(into)]
    outcome: Signal<Option<Outcome>>,
) -> impl IntoView {
    move || {
        outcome.get().map(|outcome| match outcome {
            Outcome::Done(text) => {
                view! { <p class="notice ok" role="status">{text}</p> }.into_any()
            }
            Outcome::Failed(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
        })
    }
}
