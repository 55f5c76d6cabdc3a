//! A read-only text with a Copy button: tokens, commands and config files to paste
//! elsewhere.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// `text` in a read-only box labelled `label`, with a button that copies it.
///
/// The clipboard API needs a secure page (HTTPS or localhost); elsewhere the button selects
/// the text and asks the user to copy it with the keyboard.
#[component]
pub fn CopyBox(
    /// The text box's id (tests and the label find it by it).
    #[prop(into)]
    id: String,
    /// What the text is, shown above it.
    #[prop(into)]
    label: String,
    /// The text.
    #[prop(into)]
    text: String,
    /// Visible lines.
    rows: u32,
) -> impl IntoView {
    let said = RwSignal::new(None::<&'static str>);
    let node = NodeRef::<leptos::html::Textarea>::new();
    let to_copy = text.clone();
    let copy = move |_| {
        let text = to_copy.clone();
        let select = move || {
            if let Some(area) = node.get_untracked() {
                let area: &web_sys::HtmlTextAreaElement = area.unchecked_ref();
                area.select();
            }
        };
        let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
        leptos::task::spawn_local(async move {
            let copied = match clipboard {
                Some(clipboard) => JsFuture::from(clipboard.write_text(&text)).await.is_ok(),
                None => false,
            };
            if copied {
                said.try_set(Some("Copied."));
            } else {
                select();
                said.try_set(Some("Selected: press Ctrl+C (⌘C) to copy."));
            }
        });
    };
    view! {
        <div class="copy-box">
            <label for=id.clone()>{label}</label>
            <textarea id=id readonly rows=rows spellcheck="false" node_ref=node>{text}</textarea>
            <div class="copy-row">
                <button type="button" on:click=copy>"Copy"</button>
                <span class="muted" role="status">{move || said.get()}</span>
            </div>
        </div>
    }
}
