//! The doors screen: each door's heartbeat, camera, queue and model, updated live; for
//! admins, registering a door (its token shown once, with its `edge.toml`), assigning a
//! model and rolling back.

use leptos::prelude::*;
use leptos::task::spawn_local;
use maskgate_api_types::{
    AssignModel, CreatedDevice, Device, DeviceList, ModelAssignment, ModelList, NewDevice,
};

use crate::api::Api;
use crate::auth::Auth;
use crate::components::{CopyBox, Empty, Loading, Notice, Outcome, Problem};
use crate::door_setup;
use crate::format;
use crate::live::{Live, Loaded};

/// Every registered door.
#[component]
pub fn DoorsPage() -> impl IntoView {
    let api = expect_context::<Api>();
    let live = expect_context::<Live>();
    let doors: RwSignal<Loaded<Vec<Device>>> = RwSignal::new(None);
    let load = move || {
        spawn_local(async move {
            let answer = api.get::<DeviceList>("/api/v1/devices").await;
            doors.try_set(Some(answer.map(|l| l.items).map_err(|f| f.describe())));
        });
    };
    load();
    // Heartbeats arrive on the stream: update that door in place.
    Effect::new(move |_| {
        if let Some(device) = live.last_device.get() {
            doors.update(|doors| {
                if let Some(Ok(doors)) = doors {
                    match doors.iter_mut().find(|d| d.id == device.id) {
                        Some(known) => *known = device,
                        None => {
                            doors.push(device);
                            doors.sort_by(|a, b| a.name.cmp(&b.name));
                        }
                    }
                }
            });
        }
    });
    let retry = Callback::new(move |()| load());
    let auth = expect_context::<Auth>();
    // The registry's models, for the admins' model pickers.
    let models = LocalResource::new(move || async move {
        if auth.is_admin() {
            api.get::<ModelList>("/api/v1/models")
                .await
                .map(|l| l.items)
                .unwrap_or_default()
        } else {
            Vec::new()
        }
    });
    let registered = Callback::new(move |device: Device| {
        doors.update(|doors| {
            if let Some(Ok(doors)) = doors
                && !doors.iter().any(|d| d.id == device.id)
            {
                doors.push(device);
                doors.sort_by(|a, b| a.name.cmp(&b.name));
            }
        });
    });
    view! {
        <div class="page">
            <h1>"Doors"</h1>
            {move || auth.is_admin().then(|| view! { <RegisterDoor registered/> })}
            {move || match doors.get() {
                None => view! { <Loading what="doors"/> }.into_any(),
                Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <Empty>
                        <p>"No doors are registered yet."</p>
                        <p class="muted">
                            {if auth.is_admin() {
                                "Register one above, or on the server with "
                            } else {
                                "An admin registers doors here, or on the server with "
                            }}
                            <code>"maskgate device add front-door"</code>
                            "."
                        </p>
                    </Empty>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <div class="list doors">
                        {list.into_iter().map(|device| view! { <DoorCard device models/> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
        </div>
    }
}

/// The admins' form that registers a door, then shows its token once.
#[component]
fn RegisterDoor(registered: Callback<Device>) -> impl IntoView {
    let api = expect_context::<Api>();
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<CreatedDevice>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = NewDevice {
            name: name.get_untracked().trim().to_owned(),
        };
        if request.name.is_empty() {
            error.set(Some("Give the door a name, such as front-door.".to_owned()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api
                .post::<CreatedDevice>("/api/v1/devices", Some(&request))
                .await
            {
                Ok(answer) => {
                    registered.run(answer.device.clone());
                    created.try_set(Some(answer));
                    name.try_set(String::new());
                }
                Err(failure) => {
                    error.try_set(Some(failure.describe()));
                }
            }
            busy.try_set(false);
        });
    };
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    view! {
        <section class="card register" aria-labelledby="register-title">
            <h2 id="register-title">"Register a door"</h2>
            {move || match created.get() {
                Some(answer) => {
                    let door = answer.device.name.clone();
                    view! {
                        <p class="notice" role="status">
                            <strong>{door.clone()}</strong>
                            " is registered. Copy its token now: it is shown only this once."
                        </p>
                        <CopyBox id="new-door-token" label="Token" text=answer.token.clone() rows=1/>
                        <CopyBox
                            id="new-door-commands"
                            label="On the door: store the token"
                            text=door_setup::token_commands(&answer.token)
                            rows=3
                        />
                        <CopyBox
                            id="new-door-config"
                            label=format!("On the door: {}", door_setup::CONFIG_PATH)
                            text=door_setup::edge_toml(&door, &origin)
                            rows=7
                        />
                        <button type="button" class="primary" on:click=move |_| created.set(None)>
                            "Done: I have stored the token"
                        </button>
                    }
                    .into_any()
                }
                None => view! {
                    <form class="inline-form" on:submit=submit>
                        <label>
                            "Door name"
                            <input
                                name="door-name"
                                placeholder="front-door"
                                autocapitalize="none"
                                spellcheck="false"
                                maxlength="64"
                                bind:value=name
                            />
                        </label>
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Registering…" } else { "Register" }}
                        </button>
                    </form>
                    {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                }
                .into_any(),
            }}
        </section>
    }
}

/// The admins' model picker of one door: assign a registry model (or the installed one)
/// and roll back one step.
#[component]
fn ModelControls(
    device: Device,
    models: LocalResource<Vec<maskgate_api_types::Model>>,
) -> impl IntoView {
    let api = expect_context::<Api>();
    let id = device.id;
    let assigned = RwSignal::new(device.assigned_model_id);
    let choice = RwSignal::new(
        device
            .assigned_model_id
            .map(|m| m.to_string())
            .unwrap_or_default(),
    );
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Outcome>);
    let name_of = move |model_id: Option<i64>| match model_id {
        None => "the model it was installed with".to_owned(),
        Some(m) => models
            .get()
            .and_then(|list| list.iter().find(|x| x.id == m).map(|x| x.model_id()))
            .unwrap_or_else(|| format!("model #{m}")),
    };
    let done = move |result: Result<Option<i64>, format::Failure>, what: &'static str| {
        match result {
            Ok(model_id) => {
                assigned.try_set(model_id);
                choice.try_set(model_id.map(|m| m.to_string()).unwrap_or_default());
                message.try_set(Some(Outcome::Done(format!(
                    "{what} {}. The door switches at its next check.",
                    name_of(model_id)
                ))));
            }
            Err(failure) => {
                message.try_set(Some(Outcome::Failed(failure.describe())));
            }
        }
        busy.try_set(false);
    };
    let assign = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let model_id = choice.get_untracked().parse::<i64>().ok();
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            let result = api
                .put::<ModelAssignment>(
                    &format!("/api/v1/devices/{id}/model"),
                    &AssignModel { model_id },
                )
                .await
                .map(|a| a.model_id);
            done(result, "Assigned");
        });
    };
    let rollback = move |_| {
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            let result = api
                .post::<ModelAssignment>(
                    &format!("/api/v1/devices/{id}/model/rollback"),
                    None::<&()>,
                )
                .await
                .map(|a| a.model_id);
            done(result, "Rolled back to");
        });
    };
    let select_id = format!("model-{id}");
    view! {
        <form class="inline-form model-controls" on:submit=assign>
            <label for=select_id.clone()>"Assigned model"</label>
            <select id=select_id prop:value=move || choice.get() on:change=move |ev| choice.set(event_target_value(&ev))>
                <option value="">"Installed model"</option>
                {move || models.get().map(|list| {
                    // `selected` too: the options arrive after the select got its value.
                    list.iter()
                        .map(|m| {
                            let value = m.id.to_string();
                            let selected = choice.get_untracked() == value;
                            view! { <option value=value selected=selected>{m.model_id()}</option> }
                        })
                        .collect_view()
                })}
            </select>
            <button
                type="submit"
                disabled=move || busy.get() || choice.get() == assigned.get().map(|m| m.to_string()).unwrap_or_default()
            >
                "Assign"
            </button>
            <button
                type="button"
                class="ghost"
                disabled=move || busy.get() || assigned.get().is_none()
                on:click=rollback
            >
                "Roll back"
            </button>
        </form>
        <Notice outcome=message/>
    }
}

#[component]
fn DoorCard(
    device: Device,
    models: LocalResource<Vec<maskgate_api_types::Model>>,
) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let controls = device.clone();
    let live = expect_context::<Live>();
    let status = device.status.clone();
    let online = {
        let status = status.clone();
        Memo::new(move |_| format::is_online(status.as_ref(), live.now.get()))
    };
    let details = status.map(|status| {
        let heartbeat = status.reported_at;
        let queue = {
            let status = status.clone();
            move || format::queue(&status, live.now.get())
        };
        let camera_ok = status.camera_state == maskgate_api_types::CameraState::Ok;
        let model = status
            .model_version
            .clone()
            .unwrap_or_else(|| "unknown model".to_owned());
        view! {
            <ul class="facts">
                <li>"Last heartbeat " {move || format::ago(heartbeat, live.now.get())}</li>
                <li class:warn=!camera_ok>{format::camera(status.camera_state)}</li>
                <li>{queue}</li>
                <li>"Model " <code>{model}</code></li>
            </ul>
            {status.model_error.clone().map(|e| view! {
                <p class="error">"Could not switch to its assigned model: " {e}</p>
            })}
        }
    });
    let never = device.status.is_none();
    view! {
        <article class="card door">
            <div class="door-head">
                <h2>{device.name.clone()}</h2>
                <span class=move || if online.get() { "pill live" } else { "pill reconnecting" }>
                    {move || if online.get() { "Online" } else if never { "Never reported" } else { "Silent" }}
                </span>
            </div>
            {match details {
                Some(details) => details.into_any(),
                None => view! {
                    <ul class="facts">
                        <li>"No heartbeat yet: the door has not reported since it was registered."</li>
                    </ul>
                }
                .into_any(),
            }}
            {move || auth.is_admin().then(|| view! { <ModelControls device=controls.clone() models/> })}
        </article>
    }
}
