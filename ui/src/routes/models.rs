//! The models screen: the registry's classifier models with their test results; for admins,
//! uploading a model and rolling it out to some doors (a canary) or all; for everyone, how a
//! model does at the doors that run it against the other models.

use leptos::prelude::*;
use leptos::task::spawn_local;
use maskgate_api_types::{
    AssignmentList, DeviceList, Model, ModelList, ModelOutcome, Rollout, RolloutStatus,
};
use wasm_bindgen::JsCast;

use crate::api::Api;
use crate::auth::Auth;
use crate::components::{Empty, Loading, Notice, Outcome, Problem};
use crate::format;
use crate::live::Loaded;
use crate::model_facts::{self, ModelFacts};

/// Every model in the registry, newest first.
#[component]
pub fn ModelsPage() -> impl IntoView {
    let api = expect_context::<Api>();
    let auth = expect_context::<Auth>();
    let models: RwSignal<Loaded<Vec<Model>>> = RwSignal::new(None);
    let load = move || {
        spawn_local(async move {
            let answer = api.get::<ModelList>("/api/v1/models").await;
            models.try_set(Some(answer.map(|l| l.items).map_err(|f| f.describe())));
        });
    };
    load();
    let retry = Callback::new(move |()| load());
    let uploaded = Callback::new(move |model: Model| {
        models.update(|list| {
            if let Some(Ok(list)) = list {
                list.insert(0, model);
            }
        });
    });
    view! {
        <div class="page">
            <h1>"Models"</h1>
            {move || auth.is_admin().then(|| view! { <Upload uploaded/> })}
            {move || match models.get() {
                None => view! { <Loading what="models"/> }.into_any(),
                Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <Empty>
                        <p>"No models are in the registry yet."</p>
                        <p class="muted">
                            "Doors run the model they were installed with. Train one with "
                            <code>"train/"</code>
                            " and upload its manifest and ONNX file here."
                        </p>
                    </Empty>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <div class="list models">
                        {list.into_iter().map(|model| view! { <ModelCard model/> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
        </div>
    }
}

/// The file chosen in the `<input type=file>` with this id.
fn chosen_file(id: &str) -> Option<web_sys::File> {
    let input = web_sys::window()?
        .document()?
        .get_element_by_id(id)?
        .dyn_into::<web_sys::HtmlInputElement>()
        .ok()?;
    input.files()?.get(0)
}

/// The admins' upload form: a manifest and its ONNX file.
#[component]
fn Upload(uploaded: Callback<Model>) -> impl IntoView {
    let api = expect_context::<Api>();
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Outcome>);
    let form_ref = NodeRef::<leptos::html::Form>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (Some(manifest), Some(model)) =
            (chosen_file("upload-manifest"), chosen_file("upload-model"))
        else {
            message.set(Some(Outcome::Failed(
                "Choose both files: the manifest (.json) and the model (.onnx).".to_owned(),
            )));
            return;
        };
        let Ok(form) = web_sys::FormData::new() else {
            return;
        };
        if form
            .append_with_blob_and_filename("manifest", &manifest, &manifest.name())
            .and_then(|()| form.append_with_blob_and_filename("model", &model, &model.name()))
            .is_err()
        {
            message.set(Some(Outcome::Failed(
                "This browser could not read the files.".to_owned(),
            )));
            return;
        }
        busy.set(true);
        message.set(Some(Outcome::Done(format!(
            "Uploading {} ({})… the server checks it by loading it.",
            model.name(),
            model_facts::size(model.size() as u64)
        ))));
        spawn_local(async move {
            match api.post_form::<Model>("/api/v1/models", form).await {
                Ok(model) => {
                    message.try_set(Some(Outcome::Done(format!(
                        "{} is in the registry.",
                        model.model_id()
                    ))));
                    uploaded.run(model);
                    if let Some(form) = form_ref.get_untracked() {
                        form.reset();
                    }
                }
                Err(failure) => {
                    message.try_set(Some(Outcome::Failed(failure.describe())));
                }
            }
            busy.try_set(false);
        });
    };
    view! {
        <section class="card upload" aria-labelledby="upload-title">
            <h2 id="upload-title">"Upload a model"</h2>
            <form class="inline-form" on:submit=submit node_ref=form_ref>
                <label>
                    "Manifest (.json)"
                    <input id="upload-manifest" type="file" accept=".json,application/json"/>
                </label>
                <label>
                    "Model (.onnx)"
                    <input id="upload-model" type="file" accept=".onnx"/>
                </label>
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Uploading…" } else { "Upload" }}
                </button>
            </form>
            <Notice outcome=message/>
        </section>
    }
}

fn outcome(o: &ModelOutcome) -> String {
    if o.visits == 0 {
        return "no visits".to_owned();
    }
    let score = o
        .mean_score
        .map(|s| format!(", mean mask score {:.2}", s))
        .unwrap_or_default();
    format!(
        "{} visits, {} passed{score}",
        o.visits,
        format::percent(o.pass_rate)
    )
}

#[component]
fn ModelCard(model: Model) -> impl IntoView {
    let api = expect_context::<Api>();
    let auth = expect_context::<Auth>();
    let facts = ModelFacts::from_manifest(&model.manifest);
    let id = model.id;
    let open = RwSignal::new(false);
    // Bumped after a rollout, so the status below reloads.
    let changed = RwSignal::new(0u32);
    let status = LocalResource::new(move || {
        let show = open.get();
        changed.track();
        async move {
            if show {
                Some(
                    api.get::<RolloutStatus>(&format!("/api/v1/models/{id}/rollout"))
                        .await
                        .map_err(|f| f.describe()),
                )
            } else {
                None
            }
        }
    });
    let input = facts
        .input_size
        .map(|s| format!("{s}×{s} px input"))
        .unwrap_or_default();
    let labels = facts.labels.join(", ");
    view! {
        <article class="card model">
            <div class="door-head">
                <h2>{model.model_id()}</h2>
                <span class="muted">{model_facts::size(model.size_bytes)}</span>
            </div>
            <p class="facts-line">{facts.summary()}</p>
            <ul class="facts">
                <li>"Uploaded " {format::date_and_time(model.uploaded_at, crate::clock::offset_minutes(model.uploaded_at))} " by " {model.uploaded_by.clone()}</li>
                <li>{input} {(!labels.is_empty()).then(|| format!(" · labels: {labels}"))}</li>
                <li class="muted">"SHA-256 " <code>{model.sha256[..16.min(model.sha256.len())].to_owned()} "…"</code></li>
            </ul>
            <div class="copy-row">
                <button
                    type="button"
                    class="ghost"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    {move || if open.get() { "Hide rollout" } else { "Rollout" }}
                </button>
            </div>
            {move || open.get().then(|| view! {
                {move || match status.get().flatten() {
                    None => view! { <Loading what="the rollout"/> }.into_any(),
                    Some(Err(message)) => view! { <Problem message/> }.into_any(),
                    Some(Ok(status)) => view! { <RolloutView status/> }.into_any(),
                }}
                {move || auth.is_admin().then(|| view! { <RolloutForm id changed/> })}
            })}
        </article>
    }
}

/// Where a model is assigned and running, and how it does against the other models.
#[component]
fn RolloutView(status: RolloutStatus) -> impl IntoView {
    let since = format::date_and_time(status.since, crate::clock::offset_minutes(status.since));
    if status.devices.is_empty() {
        return view! {
            <p class="muted rollout-empty">"No door is assigned this model or runs it."</p>
        }
        .into_any();
    }
    view! {
        <div class="rollout">
            <p class="muted">
                "Since " {since} ". This model: " {outcome(&status.model_outcome)}
                ". Other models: " {outcome(&status.others)} "."
            </p>
            <ul class="rollout-doors">
                {status.devices.into_iter().map(|d| {
                    let state = match (d.assigned, d.running) {
                        (true, true) => "assigned and running",
                        (true, false) => "assigned, not running yet",
                        (false, true) => "running (no longer assigned)",
                        (false, false) => "not assigned",
                    };
                    view! {
                        <li>
                            <strong>{d.device.clone()}</strong> ": " {state} " · " {outcome(&d.outcome)}
                            {d.model_error.map(|e| view! { <span class="error">" · refused: " {e}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}

/// The admins' rollout form: some doors (a canary) or all of them.
#[component]
fn RolloutForm(id: i64, changed: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<Api>();
    let doors =
        LocalResource::new(move || async move { api.get::<DeviceList>("/api/v1/devices").await });
    let picked = RwSignal::new(Vec::<String>::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Outcome>);
    let send = move |rollout: Rollout| {
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            match api
                .post::<AssignmentList>(&format!("/api/v1/models/{id}/rollout"), Some(&rollout))
                .await
            {
                Ok(list) => {
                    let n = list.items.len();
                    message.try_set(Some(Outcome::Done(format!(
                        "Assigned to {n} door{}. Doors switch at their next check.",
                        if n == 1 { "" } else { "s" }
                    ))));
                    picked.try_set(Vec::new());
                    changed.try_update(|c| *c += 1);
                }
                Err(failure) => {
                    message.try_set(Some(Outcome::Failed(failure.describe())));
                }
            }
            busy.try_set(false);
        });
    };
    view! {
        <fieldset class="rollout-form">
            <legend>"Roll out"</legend>
            {move || match doors.get() {
                None => view! { <Loading what="doors"/> }.into_any(),
                Some(Err(f)) => view! { <Problem message=f.describe()/> }.into_any(),
                Some(Ok(list)) if list.items.is_empty() => view! {
                    <p class="muted">"No doors are registered yet."</p>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <div class="checks">
                        {list.items.into_iter().map(|d| {
                            let name = d.name.clone();
                            let checked = {
                                let name = name.clone();
                                move || picked.with(|p| p.contains(&name))
                            };
                            let toggle = {
                                let name = name.clone();
                                move |_| picked.update(|p| match p.iter().position(|x| *x == name) {
                                    Some(i) => { p.remove(i); }
                                    None => p.push(name.clone()),
                                })
                            };
                            view! {
                                <label class="check">
                                    <input type="checkbox" prop:checked=checked on:change=toggle/>
                                    {name}
                                </label>
                            }
                        }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
            <div class="copy-row">
                <button
                    type="button"
                    disabled=move || busy.get() || picked.with(Vec::is_empty)
                    on:click=move |_| send(Rollout { devices: picked.get_untracked(), all: false })
                >
                    "To the chosen doors"
                </button>
                <button
                    type="button"
                    class="primary"
                    disabled=move || busy.get()
                    on:click=move |_| send(Rollout { devices: Vec::new(), all: true })
                >
                    "To every door"
                </button>
            </div>
            <Notice outcome=message/>
        </fieldset>
    }
}
