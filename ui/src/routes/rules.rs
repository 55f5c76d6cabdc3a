//! The alert rules screen (`/alerts/rules`, admins only): every rule with what it watches in
//! words, and a form to write a new one or change, switch off or delete one.
//!
//! The form's fields change with the condition kind; doors come from `GET /api/v1/devices`,
//! channels from `GET /api/v1/alert-channels`. What can be checked before asking the server
//! is checked in `rule_form`; the server's 422 message is shown in words too.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use maskgate_api_types::{
    AlertChannelList, AlertRule, AlertRuleList, AlertRuleSpec, DeviceList, Role, Scope, Severity,
};

use crate::api::Api;
use crate::auth::Auth;
use crate::components::{Empty, Loading, Problem};
use crate::format::{self, Failure};
use crate::rule_form::{self, DAYS, Kind, RuleForm};

/// Which rule the form writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Editing {
    /// A new rule.
    New,
    /// The stored rule with this id.
    Rule(i64),
}

/// The alert rules; admins change them here, viewers are told they cannot.
#[component]
pub fn RulesPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let admin = move || {
        auth.session
            .with(|s| s.as_ref().is_some_and(|s| s.role == Role::Admin))
    };
    view! {
        <div class="page rules-page">
            <p class="rules-back"><A href="/alerts">"← All alerts"</A></p>
            <Show
                when=admin
                fallback=|| view! {
                    <h1>"Alert rules"</h1>
                    <p class="state">
                        "Only admins can see and change alert rules. Ask an admin if a rule \
                         should change."
                    </p>
                }
            >
                <RulesEditor/>
            </Show>
        </div>
    }
}

/// The list of rules and the form (admins).
#[component]
fn RulesEditor() -> impl IntoView {
    let api = expect_context::<Api>();
    let rules =
        LocalResource::new(
            move || async move { api.get::<AlertRuleList>("/api/v1/alert-rules").await },
        );
    let doors =
        LocalResource::new(move || async move { api.get::<DeviceList>("/api/v1/devices").await });
    let channels = LocalResource::new(move || async move {
        api.get::<AlertChannelList>("/api/v1/alert-channels").await
    });
    let editing = RwSignal::new(None::<Editing>);
    let form = RwSignal::new(RuleForm::default());
    let notice = RwSignal::new(None::<String>);
    let name_input = NodeRef::<leptos::html::Input>::new();
    let new_button = NodeRef::<leptos::html::Button>::new();

    let open = move |which: Editing, filled: RuleForm| {
        form.set(filled);
        editing.set(Some(which));
        notice.set(None);
        // Focus (and so scroll to) the form once it is drawn.
        request_animation_frame(move || {
            if let Some(input) = name_input.get_untracked() {
                let _ = input.focus();
            }
        });
    };
    let close = move |words: Option<String>| {
        editing.set(None);
        notice.set(words);
        request_animation_frame(move || {
            if let Some(button) = new_button.get_untracked() {
                let _ = button.focus();
            }
        });
    };
    let on_saved = Callback::new(move |rule: AlertRule| {
        close(Some(format!("Rule “{}” saved.", rule.spec.name)));
        rules.refetch();
    });
    let on_cancel = Callback::new(move |()| close(None));
    let on_edit = Callback::new(move |rule: AlertRule| {
        open(Editing::Rule(rule.id), RuleForm::from_rule(&rule.spec));
    });
    let on_deleted = Callback::new(move |(id, name): (i64, String)| {
        // The form stays open for another rule; a deleted rule has nothing left to save.
        if editing.get_untracked() == Some(Editing::Rule(id)) {
            editing.set(None);
        }
        notice.set(Some(format!("Rule “{name}” deleted.")));
        rules.refetch();
        request_animation_frame(move || {
            if let Some(button) = new_button.get_untracked() {
                let _ = button.focus();
            }
        });
    });
    let retry = Callback::new(move |()| rules.refetch());

    view! {
        <div class="page-head">
            <h1>"Alert rules"</h1>
            <button
                type="button"
                class="primary"
                node_ref=new_button
                on:click=move |_| open(Editing::New, RuleForm::default())
            >
                "New rule"
            </button>
        </div>
        <p class="muted rules-intro">
            "A rule says what the server watches at the doors and when it raises an alert. \
             Alerts show on the Live and Alerts screens and go to the channels a rule names."
        </p>
        <div class="rules-status" role="status" aria-live="polite">
            {move || notice.get().map(|words| view! { <p class="notice">{words}</p> })}
        </div>
        {move || editing.get().map(|which| view! {
            <RuleEditor which form doors channels name_input on_saved on_cancel/>
        })}
        {move || match rules.get() {
            None => view! { <Loading what="alert rules"/> }.into_any(),
            Some(Err(failure)) => {
                view! { <Problem message=failure.describe() retry/> }.into_any()
            }
            Some(Ok(list)) if list.items.is_empty() => view! {
                <Empty>
                    <p>
                        "No alert rules yet. Add one with “New rule”: for example an alert \
                         on every failed check, or when a door's pass rate drops."
                    </p>
                </Empty>
            }
            .into_any(),
            Some(Ok(list)) => view! {
                <ul class="rules" aria-label="Alert rules">
                    {list
                        .items
                        .into_iter()
                        .map(|rule| view! { <RuleCard rule on_edit on_deleted/> })
                        .collect_view()}
                </ul>
            }
            .into_any(),
        }}
    }
}

/// One rule in the list, with Edit, Enable/Disable and Delete (which asks first).
#[component]
fn RuleCard(
    rule: AlertRule,
    on_edit: Callback<AlertRule>,
    on_deleted: Callback<(i64, String)>,
) -> impl IntoView {
    let api = expect_context::<Api>();
    let id = rule.id;
    // Enabling and disabling change the card in place, so the button keeps the focus.
    let rule = RwSignal::new(rule);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let confirming = RwSignal::new(false);
    let keep_button = NodeRef::<leptos::html::Button>::new();
    let delete_button = NodeRef::<leptos::html::Button>::new();
    let name = move || rule.with(|r| r.spec.name.clone());
    let enabled = move || rule.with(|r| r.spec.enabled);
    let heading_id = format!("rule-{id}-name");

    let toggle = move |_| {
        if busy.get_untracked() {
            return;
        }
        let mut spec = rule.with_untracked(|r| r.spec.clone());
        spec.enabled = !spec.enabled;
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api
                .put::<AlertRule>(&format!("/api/v1/alert-rules/{id}"), &spec)
                .await
            {
                Ok(changed) => {
                    rule.try_set(changed);
                }
                Err(failure) => {
                    error.try_set(Some(refusal(&failure)));
                }
            }
            busy.try_set(false);
        });
    };
    let ask = move |_| {
        confirming.set(true);
        request_animation_frame(move || {
            if let Some(button) = keep_button.get_untracked() {
                let _ = button.focus();
            }
        });
    };
    let keep = move |_| {
        confirming.set(false);
        request_animation_frame(move || {
            if let Some(button) = delete_button.get_untracked() {
                let _ = button.focus();
            }
        });
    };
    let delete = move |_| {
        busy.set(true);
        error.set(None);
        let name = rule.with_untracked(|r| r.spec.name.clone());
        spawn_local(async move {
            match api.delete(&format!("/api/v1/alert-rules/{id}")).await {
                // Someone else deleted it first: gone is gone.
                Ok(()) | Err(Failure::Http { status: 404, .. }) => on_deleted.run((id, name)),
                Err(failure) => {
                    error.try_set(Some(failure.describe()));
                    busy.try_set(false);
                }
            }
        });
    };

    view! {
        <li class="card rule" class:off=move || !enabled()>
            <div class="rule-head">
                <h2 id=heading_id.clone()>{name}</h2>
                <span class=move || {
                    format!("badge severity-{}", rule.with(|r| rule_form::severity_key(r.spec.severity)))
                }>
                    {move || rule.with(|r| format::severity(r.spec.severity))}
                </span>
                <span class=move || if enabled() { "badge pass" } else { "badge off" }>
                    {move || if enabled() { "Enabled" } else { "Disabled" }}
                </span>
            </div>
            <p class="rule-summary">{move || rule.with(|r| rule_form::describe(&r.spec.condition))}</p>
            <ul class="rule-facts">
                {move || rule.with(|r| facts(&r.spec)).into_iter().map(|fact| view! { <li>{fact}</li> }).collect_view()}
            </ul>
            <div class="rule-actions">
                <button
                    type="button"
                    aria-describedby=heading_id.clone()
                    on:click=move |_| on_edit.run(rule.get_untracked())
                >
                    "Edit"
                </button>
                <button
                    type="button"
                    aria-describedby=heading_id.clone()
                    // Not `disabled`: a disabled button loses the keyboard focus.
                    aria-disabled=move || busy.get().to_string()
                    on:click=toggle
                >
                    {move || if enabled() { "Disable" } else { "Enable" }}
                </button>
                <button
                    type="button"
                    class="danger"
                    aria-describedby=heading_id.clone()
                    aria-expanded=move || confirming.get().to_string()
                    node_ref=delete_button
                    on:click=ask
                >
                    "Delete"
                </button>
            </div>
            {move || confirming.get().then(|| view! {
                <div class="rule-confirm" role="group" aria-label="Confirm deletion">
                    <p>
                        "Delete “" {name} "”? It stops watching at once; its past alerts stay on \
                         the Alerts screen."
                    </p>
                    <div class="rule-actions">
                        <button
                            type="button"
                            class="danger solid"
                            disabled=move || busy.get()
                            on:click=delete
                        >
                            "Delete rule"
                        </button>
                        <button type="button" node_ref=keep_button on:click=keep>
                            "Keep it"
                        </button>
                    </div>
                </div>
            })}
            {move || error.get().map(|message| view! { <p class="form-error" role="alert">{message}</p> })}
        </li>
    }
}

/// The rest of a rule in words: doors, quiet hours, cooldown, escalation, channels.
fn facts(spec: &AlertRuleSpec) -> Vec<String> {
    let mut facts = vec![
        format!("Doors: {}", rule_form::doors_words(&spec.devices)),
        rule_form::capitalised(&rule_form::quiet_words(
            spec.quiet_hours.as_ref(),
            spec.tz.as_deref(),
        )),
        format!("Cooldown {} min", spec.cooldown_minutes),
    ];
    if let Some(minutes) = spec.escalate_after_minutes {
        facts.push(format!("Escalates after {minutes} min"));
    }
    if !spec.channels.is_empty() {
        facts.push(format!("Sent to {}", spec.channels.join(", ")));
    }
    if !spec.escalation_channels.is_empty() {
        facts.push(format!(
            "Escalations to {}",
            spec.escalation_channels.join(", ")
        ));
    }
    facts
}

/// A refused rule in the form's words; anything else as every screen says it.
fn refusal(failure: &Failure) -> String {
    match failure {
        Failure::Http {
            code: Some(code),
            message: Some(message),
            ..
        } if code == "validation" || code == "conflict" => {
            rule_form::explain_server_message(message)
        }
        other => other.describe(),
    }
}

/// The form for a new rule or an edited one.
#[component]
fn RuleEditor(
    which: Editing,
    form: RwSignal<RuleForm>,
    doors: LocalResource<Result<DeviceList, Failure>>,
    channels: LocalResource<Result<AlertChannelList, Failure>>,
    name_input: NodeRef<leptos::html::Input>,
    on_saved: Callback<AlertRule>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let api = expect_context::<Api>();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Only a change of kind redraws the kind's fields, so typing keeps the focus.
    let kind = Memo::new(move |_| form.with(|f| f.kind));
    let title = match which {
        Editing::New => "New rule".to_owned(),
        Editing::Rule(_) => format!("Edit “{}”", form.with_untracked(|f| f.name.clone())),
    };

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let spec = match form.with_untracked(RuleForm::to_spec) {
            Ok(spec) => spec,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let answer = match which {
                Editing::New => {
                    api.post::<AlertRule>("/api/v1/alert-rules", Some(&spec))
                        .await
                }
                Editing::Rule(id) => {
                    api.put::<AlertRule>(&format!("/api/v1/alert-rules/{id}"), &spec)
                        .await
                }
            };
            busy.try_set(false);
            match answer {
                Ok(rule) => on_saved.run(rule),
                Err(failure) => {
                    error.try_set(Some(refusal(&failure)));
                }
            }
        });
    };

    let door_names = Memo::new(move |_| {
        names_with(
            doors
                .get()
                .and_then(Result::ok)
                .map(|list| list.items.into_iter().map(|d| d.name).collect()),
            form.with(|f| f.doors.clone()),
        )
    });
    let channel_names = Memo::new(move |_| {
        names_with(
            channels
                .get()
                .and_then(Result::ok)
                .map(|list| list.items.into_iter().map(|c| c.name).collect()),
            form.with(|f| {
                let mut named = f.channels.clone();
                named.extend(f.escalation_channels.iter().cloned());
                named
            }),
        )
    });
    let doors_state = move || {
        loaded_state(
            doors.get().map(|r| r.map(|list| list.items.len())),
            "doors",
            "No doors are registered yet: the rule will watch every door.",
        )
    };
    let channels_state = move || {
        loaded_state(
            channels.get().map(|r| r.map(|list| list.items.len())),
            "channels",
            "No channels are set up yet: alerts show in this app only.",
        )
    };

    view! {
        <form class="card rule-form" aria-labelledby="rule-form-title" on:submit=save novalidate>
            <h2 id="rule-form-title">{title}</h2>
            <div class="rule-grid">
                <div class="field wide">
                    <label for="rule-name">"Name"</label>
                    <input
                        id="rule-name"
                        type="text"
                        autocomplete="off"
                        maxlength="100"
                        node_ref=name_input
                        prop:value=move || form.with(|f| f.name.clone())
                        on:input=move |ev| form.update(|f| f.name = event_target_value(&ev))
                    />
                </div>
                <div class="field wide">
                    <label for="rule-kind">"Condition"</label>
                    <select
                        id="rule-kind"
                        on:change=move |ev| form.update(|f| f.kind = Kind::from_key(&event_target_value(&ev)))
                    >
                        {Kind::ALL
                            .into_iter()
                            .map(|k| view! {
                                <option value=k.key() prop:selected=move || kind.get() == k>{k.label()}</option>
                            })
                            .collect_view()}
                    </select>
                </div>
                {move || condition_fields(kind.get(), form)}
            </div>
            <div class="rule-grid">
                <div class="field">
                    <label for="rule-severity">"Severity"</label>
                    <select
                        id="rule-severity"
                        on:change=move |ev| form.update(|f| f.severity = rule_form::severity_from_key(&event_target_value(&ev)))
                    >
                        {[Severity::Info, Severity::Warning, Severity::Critical]
                            .into_iter()
                            .map(|s| view! {
                                <option
                                    value=rule_form::severity_key(s)
                                    prop:selected=move || form.with(|f| f.severity == s)
                                >
                                    {format::severity(s)}
                                </option>
                            })
                            .collect_view()}
                    </select>
                </div>
                {text_field(form, "rule-cooldown", "Cooldown (minutes)", "numeric",
                    Some("After an alert, the same rule stays quiet this long at that door."),
                    |f| &f.cooldown_minutes, |f| &mut f.cooldown_minutes)}
                {text_field(form, "rule-escalate", "Escalate after (minutes)", "numeric",
                    Some("Unacknowledged alerts escalate after this long. Empty: never."),
                    |f| &f.escalate_after_minutes, |f| &mut f.escalate_after_minutes)}
            </div>
            <fieldset class="rule-set" aria-describedby="rule-doors-hint">
                <legend>"Doors"</legend>
                <p class="hint" id="rule-doors-hint">"Tick none to watch every door, also doors added later."</p>
                {doors_state}
                <div class="checks">
                    {move || check_boxes(form, "door", door_names.get(), |f| &f.doors, |f| &mut f.doors)}
                </div>
            </fieldset>
            <fieldset class="rule-set">
                <legend>"Quiet hours"</legend>
                <p class="hint" id="rule-quiet-hint">
                    "No alerts between these times, every day. Leave both empty for none."
                </p>
                <div class="rule-grid">
                    {time_field(form, "rule-quiet-start", "From", |f| &f.quiet_start, |f| &mut f.quiet_start)}
                    {time_field(form, "rule-quiet-end", "Until", |f| &f.quiet_end, |f| &mut f.quiet_end)}
                    {text_field(form, "rule-tz", "Time zone", "text",
                        Some("For quiet and opening hours, such as Europe/Berlin. Empty: the site's."),
                        |f| &f.tz, |f| &mut f.tz)}
                </div>
            </fieldset>
            <fieldset class="rule-set">
                <legend>"Send alerts to"</legend>
                <p class="hint">"Alerts always show in this app; channels also get them."</p>
                {channels_state}
                <div class="checks">
                    {move || check_boxes(form, "channel", channel_names.get(), |f| &f.channels, |f| &mut f.channels)}
                </div>
            </fieldset>
            {move || (!channel_names.with(Vec::is_empty)).then(|| view! {
                <fieldset class="rule-set">
                    <legend>"On escalation, send to"</legend>
                    <p class="hint">"Needs “Escalate after (minutes)”."</p>
                    <div class="checks">
                        {move || check_boxes(form, "escalation", channel_names.get(), |f| &f.escalation_channels, |f| &mut f.escalation_channels)}
                    </div>
                </fieldset>
            })}
            <label class="check enabled">
                <input
                    type="checkbox"
                    prop:checked=move || form.with(|f| f.enabled)
                    on:change=move |ev| form.update(|f| f.enabled = event_target_checked(&ev))
                />
                "Enabled: the server watches this rule"
            </label>
            {move || error.get().map(|message| view! { <p class="form-error" role="alert">{message}</p> })}
            <div class="rule-actions">
                <button type="submit" class="primary" aria-disabled=move || busy.get().to_string()>
                    {move || match (which, busy.get()) {
                        (_, true) => "Saving…",
                        (Editing::New, false) => "Create rule",
                        (Editing::Rule(_), false) => "Save changes",
                    }}
                </button>
                <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </form>
    }
}

/// The fields of one condition kind.
fn condition_fields(kind: Kind, form: RwSignal<RuleForm>) -> AnyView {
    let minutes = |hint: &'static str| {
        text_field(
            form,
            "rule-minutes",
            "For (minutes)",
            "numeric",
            Some(hint),
            |f| &f.minutes,
            |f| &mut f.minutes,
        )
    };
    match kind {
        Kind::FailedCheck => view! {
            {text_field(form, "rule-fails", "Failed checks", "numeric",
                Some("1 alerts on every failed check."), |f| &f.fails, |f| &mut f.fails)}
            {text_field(form, "rule-within", "Within (minutes)", "numeric", None,
                |f| &f.within_minutes, |f| &mut f.within_minutes)}
        }
        .into_any(),
        Kind::PassRateBelow => view! {
            {text_field(form, "rule-percent", "Pass rate below (%)", "decimal", None,
                |f| &f.percent, |f| &mut f.percent)}
            {text_field(form, "rule-window", "Over (minutes)", "numeric", None,
                |f| &f.window_minutes, |f| &mut f.window_minutes)}
            {text_field(form, "rule-min-visits", "At least (visits)", "numeric",
                Some("Fewer visits in the window say nothing."), |f| &f.min_visits, |f| &mut f.min_visits)}
            <div class="field">
                <label for="rule-scope">"Count"</label>
                <select
                    id="rule-scope"
                    on:change=move |ev| form.update(|f| {
                        f.scope = if event_target_value(&ev) == "site" { Scope::Site } else { Scope::Door };
                    })
                >
                    <option value="door" prop:selected=move || form.with(|f| f.scope == Scope::Door)>
                        "Each door on its own"
                    </option>
                    <option value="site" prop:selected=move || form.with(|f| f.scope == Scope::Site)>
                        "All doors together"
                    </option>
                </select>
            </div>
        }
        .into_any(),
        Kind::DeviceSilent => minutes("A door sends a heartbeat every 30 seconds.").into_any(),
        Kind::CameraProblem => minutes("Too dark, covered or no pictures for this long.").into_any(),
        Kind::QueueGrowing => minutes("Visits a door could not send keep piling up this long.").into_any(),
        Kind::NoVisitsWhileOpen => view! {
            {minutes("No visit at all at a door for this long while the site is open.")}
            <fieldset class="rule-set wide">
                <legend>"Open on"</legend>
                <div class="checks days">
                    {DAYS
                        .into_iter()
                        .map(|(key, words)| view! {
                            <label class="check">
                                <input
                                    type="checkbox"
                                    prop:checked=move || form.with(|f| f.opening_days.iter().any(|d| d == key))
                                    on:change=move |ev| form.update(|f| f.set_day(key, event_target_checked(&ev)))
                                />
                                {words}
                            </label>
                        })
                        .collect_view()}
                </div>
            </fieldset>
            {time_field(form, "rule-opens", "Opens at", |f| &f.opening_start, |f| &mut f.opening_start)}
            {time_field(form, "rule-closes", "Closes at", |f| &f.opening_end, |f| &mut f.opening_end)}
        }
        .into_any(),
    }
}

/// A labelled text field bound to one of the form's strings.
fn text_field(
    form: RwSignal<RuleForm>,
    id: &'static str,
    label: &'static str,
    mode: &'static str,
    hint: Option<&'static str>,
    get: fn(&RuleForm) -> &String,
    set: fn(&mut RuleForm) -> &mut String,
) -> impl IntoView {
    let hint_id = hint.map(|_| format!("{id}-hint"));
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type="text"
                inputmode=mode
                autocomplete="off"
                aria-describedby=hint_id.clone()
                prop:value=move || form.with(|f| get(f).clone())
                on:input=move |ev| form.update(|f| *set(f) = event_target_value(&ev))
            />
            {hint.map(|hint| view! { <p class="hint" id=hint_id>{hint}</p> })}
        </div>
    }
}

/// A labelled time of day (`HH:MM`) bound to one of the form's strings.
fn time_field(
    form: RwSignal<RuleForm>,
    id: &'static str,
    label: &'static str,
    get: fn(&RuleForm) -> &String,
    set: fn(&mut RuleForm) -> &mut String,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type="time"
                prop:value=move || form.with(|f| get(f).clone())
                on:input=move |ev| form.update(|f| *set(f) = event_target_value(&ev))
            />
        </div>
    }
}

/// One checkbox per name, ticked when the form's list holds it.
fn check_boxes(
    form: RwSignal<RuleForm>,
    what: &'static str,
    names: Vec<String>,
    get: fn(&RuleForm) -> &Vec<String>,
    set: fn(&mut RuleForm) -> &mut Vec<String>,
) -> impl IntoView {
    names
        .into_iter()
        .map(|name| {
            let ticked = {
                let name = name.clone();
                move || form.with(|f| get(f).contains(&name))
            };
            let toggle = {
                let name = name.clone();
                move |ev| {
                    form.update(|f| rule_form::set_ticked(set(f), &name, event_target_checked(&ev)))
                }
            };
            view! {
                <label class="check" data-kind=what>
                    <input type="checkbox" prop:checked=ticked on:change=toggle/>
                    <span>{name}</span>
                </label>
            }
        })
        .collect_view()
}

/// The server's names, plus any the rule names that the server no longer lists (so they
/// can be unticked).
fn names_with(known: Option<Vec<String>>, named: Vec<String>) -> Vec<String> {
    let mut names = known.unwrap_or_default();
    for name in named {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Loading, failed or empty (`none`), in words, for the doors and channels lists.
fn loaded_state(
    state: Option<Result<usize, Failure>>,
    what: &'static str,
    none: &'static str,
) -> AnyView {
    match state {
        None => view! { <p class="hint" role="status">"Loading " {what} "…"</p> }.into_any(),
        Some(Err(failure)) => view! {
            <p class="form-error">"The " {what} " could not be loaded: " {failure.describe()}</p>
        }
        .into_any(),
        Some(Ok(0)) => view! { <p class="hint">{none}</p> }.into_any(),
        Some(Ok(_)) => ().into_any(),
    }
}
