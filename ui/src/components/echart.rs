//! One ECharts chart in a `<div>`, drawn by `charming` with the colors of the current theme.
//!
//! `echarts.min.js` (≈ 1 MB, from the npm package, copied by `scripts/build-ui` with a hashed
//! name that `index.html` gives in `<meta name="maskgate-echarts">`) is loaded from our own
//! origin when the first chart draws, so the other screens never download it. The chart
//! fills its container: it is redrawn when the light or dark theme changes and resized with
//! the window.

use charming::{Chart, WasmRenderer};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;

/// The theme's colors, read from the CSS variables of `style.css`.
#[derive(Debug, Clone)]
pub struct Palette {
    /// Body text.
    pub text: String,
    /// Secondary text: axis labels.
    pub muted: String,
    /// Grid lines.
    pub border: String,
    /// Cards' background.
    pub surface: String,
    /// Passed checks.
    pub pass: String,
    /// Failed checks.
    pub fail: String,
    /// Lines and highlights.
    pub accent: String,
}

impl Palette {
    /// The colors in force now.
    pub fn current() -> Self {
        let style = web_sys::window().and_then(|w| {
            let html = w.document()?.document_element()?;
            w.get_computed_style(&html).ok().flatten()
        });
        let read = |name: &str, fallback: &str| {
            style
                .as_ref()
                .and_then(|s| s.get_property_value(name).ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| fallback.to_owned())
        };
        Self {
            text: read("--text", "#1b1f24"),
            muted: read("--muted", "#59636e"),
            border: read("--border", "#d6dbe1"),
            surface: read("--surface", "#ffffff"),
            pass: read("--pass", "#1a7f37"),
            fail: read("--fail", "#b42318"),
            accent: read("--accent", "#0a62c2"),
        }
    }
}

/// Counts theme changes (the toggle's `data-theme` on `<html>`, or the system's scheme), so
/// charts can redraw in the new colors.
#[derive(Clone, Copy)]
pub struct ThemeChanges(RwSignal<u32>);

impl ThemeChanges {
    /// Starts watching; stops when the calling owner is cleaned up.
    pub fn watch() -> Self {
        let count = RwSignal::new(0u32);
        let bump = Closure::<dyn FnMut()>::new(move || {
            count.try_update(|n| *n += 1);
        });
        let window = web_sys::window();
        let observer = web_sys::MutationObserver::new(bump.as_ref().unchecked_ref()).ok();
        if let (Some(observer), Some(html)) = (
            observer.as_ref(),
            window
                .as_ref()
                .and_then(|w| w.document())
                .and_then(|d| d.document_element()),
        ) {
            let options = web_sys::MutationObserverInit::new();
            options.set_attributes(true);
            options.set_attribute_filter(&js_sys::Array::of1(&JsValue::from_str("data-theme")));
            let _ = observer.observe_with_options(&html, &options);
        }
        let media = window
            .as_ref()
            .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten());
        if let Some(media) = &media {
            let _ = media.add_event_listener_with_callback("change", bump.as_ref().unchecked_ref());
        }
        // Both hold the closure until the page goes away; the watch is one per screen.
        let bump = send_wrapper(bump);
        let observer = send_wrapper(observer);
        let media = send_wrapper(media);
        on_cleanup(move || {
            if let Some(observer) = observer.take().flatten() {
                observer.disconnect();
            }
            if let (Some(media), Some(bump)) = (media.take().flatten(), bump.take()) {
                let _ = media
                    .remove_event_listener_with_callback("change", bump.as_ref().unchecked_ref());
            }
        });
        Self(count)
    }

    /// Tracks the count (for effects that redraw).
    pub fn track(self) {
        self.0.track();
    }
}

/// Keeps a browser-only value in a cleanup closure (which must be `Send`); the app is
/// single-threaded wasm, so it is only ever touched on the one thread.
fn send_wrapper<T: 'static>(value: T) -> StoredValue<Option<T>, LocalStorage> {
    StoredValue::new_local(Some(value))
}

trait Take<T> {
    fn take(&self) -> Option<T>;
}

impl<T: 'static> Take<T> for StoredValue<Option<T>, LocalStorage> {
    fn take(&self) -> Option<T> {
        self.try_update_value(Option::take).flatten()
    }
}

/// A chart drawn by `make` with the theme's palette into a `<div id=id>` of `height` px.
#[component]
pub fn EChart(
    /// The container's id (the end-to-end test finds charts by it).
    #[prop(into)]
    id: String,
    /// Accessible description of what the chart shows.
    #[prop(into)]
    label: String,
    /// The container's height in pixels.
    height: u32,
    /// Builds the chart for a palette.
    make: impl Fn(&Palette) -> Chart + 'static,
) -> impl IntoView {
    let theme = use_context::<ThemeChanges>();
    let node = NodeRef::<leptos::html::Div>::new();
    let failed = RwSignal::new(None::<String>);
    let draw_id = id.clone();
    Effect::new(move |_| {
        if let Some(theme) = theme {
            theme.track();
        }
        if node.get().is_none() {
            return;
        }
        let chart = make(&Palette::current());
        let id = draw_id.clone();
        leptos::task::spawn_local(async move {
            if let Err(message) = load_echarts().await {
                failed.try_set(Some(message));
                return;
            }
            // After this frame's layout, so the container has its size.
            request_animation_frame(move || draw(&id, &chart));
        });
    });
    let resize_id = id.clone();
    let listener = window_event_listener(leptos::ev::resize, move |_| resize(&resize_id));
    let dispose_id = id.clone();
    on_cleanup(move || {
        listener.remove();
        dispose(&dispose_id);
    });
    view! {
        {move || failed.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
        <div
            class="chart"
            id=id
            node_ref=node
            role="img"
            aria-label=label
            style=format!("height: {height}px")
        ></div>
    }
}

thread_local! {
    /// The one load of `echarts.min.js`, shared by every chart of the page.
    static ECHARTS: std::cell::RefCell<Option<js_sys::Promise>> = const { std::cell::RefCell::new(None) };
}

const ECHARTS_MISSING: &str =
    "The charts library could not be loaded. Reload the page to try again.";

/// Resolves once `window.echarts` exists: at once when a page loaded it already (Trunk's),
/// else after adding the `<script>` that `<meta name="maskgate-echarts">` names.
async fn load_echarts() -> Result<(), String> {
    let has_echarts = || {
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("echarts"))
            .is_ok_and(|v| !v.is_undefined())
    };
    if has_echarts() {
        return Ok(());
    }
    let promise = ECHARTS.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                js_sys::Promise::new(&mut |resolve, reject| {
                    let added = (|| {
                        let document = web_sys::window()?.document()?;
                        let src = document
                            .query_selector("meta[name=maskgate-echarts]")
                            .ok()??
                            .get_attribute("content")?;
                        let script = document.create_element("script").ok()?;
                        script.set_attribute("src", &src).ok()?;
                        script
                            .add_event_listener_with_callback("load", &resolve)
                            .ok()?;
                        script
                            .add_event_listener_with_callback("error", &reject)
                            .ok()?;
                        document
                            .query_selector("head")
                            .ok()??
                            .append_child(&script)
                            .ok()
                    })();
                    if added.is_none() {
                        let _ = reject.call0(&JsValue::NULL);
                    }
                })
            })
            .clone()
    });
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(_) if has_echarts() => Ok(()),
        _ => {
            // Forget the failed load, so the next chart (or a return to the screen) retries.
            ECHARTS.with(|cell| cell.borrow_mut().take());
            Err(ECHARTS_MISSING.to_owned())
        }
    }
}

fn draw(id: &str, chart: &Chart) {
    // A fresh instance each time: ECharts keeps the first instance of a container.
    dispose(id);
    if let Err(error) = WasmRenderer::new_opt(None, None).render(id, chart) {
        leptos::logging::warn!("chart {id}: {error}");
    }
}

/// Calls `echarts.<method>` on the instance of the container `id`, if both exist.
fn with_instance(id: &str, method: &str) {
    let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    else {
        return;
    };
    let Ok(echarts) = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("echarts")) else {
        return;
    };
    let Ok(get) = js_sys::Reflect::get(&echarts, &JsValue::from_str("getInstanceByDom")) else {
        return;
    };
    let Ok(get) = get.dyn_into::<js_sys::Function>() else {
        return;
    };
    let Ok(instance) = get.call1(&echarts, &element) else {
        return;
    };
    if instance.is_undefined() || instance.is_null() {
        return;
    }
    if let Ok(call) = js_sys::Reflect::get(&instance, &JsValue::from_str(method))
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    {
        let _ = call.call0(&instance);
    }
}

fn resize(id: &str) {
    with_instance(id, "resize");
}

fn dispose(id: &str) {
    with_instance(id, "dispose");
}
