//! The doors screen: each door's heartbeat, camera, queue and model, updated live.

use leptos::prelude::*;
use leptos::task::spawn_local;
use maskgate_api_types::{Device, DeviceList};

use crate::api::Api;
use crate::components::{Empty, Loading, Problem};
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
    view! {
        <div class="page">
            <h1>"Doors"</h1>
            {move || match doors.get() {
                None => view! { <Loading what="doors"/> }.into_any(),
                Some(Err(message)) => view! { <Problem message retry/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <Empty>
                        <p>"No doors are registered yet."</p>
                        <p class="muted">
                            "Register one on the server with "
                            <code>"maskgate device add front-door"</code>
                            " and put its token in the door's edge.toml."
                        </p>
                    </Empty>
                }
                .into_any(),
                Some(Ok(list)) => view! {
                    <div class="list doors">
                        {list.into_iter().map(|device| view! { <DoorCard device/> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
        </div>
    }
}

#[component]
fn DoorCard(device: Device) -> impl IntoView {
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
        </article>
    }
}
