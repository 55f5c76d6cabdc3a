// The Tauri app end to end, driven over WebDriver (tauri-driver + Debian's WebKitWebDriver):
// log in inside the app's window, let a door's failed check fire an alert, see the native
// notification the admin UI raises (on the session bus, shown by dunst), click it, and land on
// that alert's page in the window.
//
// Run by scripts/test-tauri, which starts the server, Xvfb, a private session bus with dunst and
// tauri-driver, and passes everything in the environment:
//   WEBDRIVER_URL   tauri-driver, e.g. http://127.0.0.1:4444
//   APP_BIN         the app (maskgate-admin)
//   SERVER_URL      the running MaskGate server (the app gets it as MASKGATE_SERVER_URL)
//   ADMIN_PASSWORD  the password of its `admin` user
//   DOOR_TOKEN      the token of a registered door
//   DBUS_LOG        where dbus-monitor writes the session bus's Notify calls
//   SHOTS           where screenshots go
// No npm packages: WebDriver is plain HTTP, so fetch does.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (scripts/test-tauri sets it)`);
  return value;
};
const driver = env("WEBDRIVER_URL");
const server = env("SERVER_URL");
const shots = env("SHOTS");
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One WebDriver command; its `value`, or an error naming the command. */
async function wd(method, path, body) {
  const response = await fetch(`${driver}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`WebDriver ${method} ${path}: ${response.status} ${JSON.stringify(answer.value ?? answer)}`);
  }
  return answer.value;
}

/** Polls `check` (async, truthy when done) for up to `ms`; fails with `what`. */
async function until(what, ms, check) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

async function api(method, path, token, body) {
  const response = await fetch(`${server}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.status === 204 ? null : response.json();
}

function screenshot(name) {
  const out = join(shots, `tauri-${name}.png`);
  execFileSync("import", ["-window", "root", out]);
  console.log(`[alert_click] screenshot ${out}`);
}

const session = await wd("POST", "/session", {
  capabilities: { alwaysMatch: { "tauri:options": { application: env("APP_BIN") } } },
});
const sid = session.sessionId;
const s = (path) => `/session/${sid}${path}`;
const find = async (css) => (await wd("POST", s("/element"), { using: "css selector", value: css }))[ELEMENT];
const text = async (css) => wd("POST", s("/execute/sync"), {
  script: "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
  args: [css],
});

try {
  // The app starts on the server's login screen (MASKGATE_SERVER_URL).
  const login = await until("the login form", 60000, () => find("#username"));
  await wd("POST", s(`/element/${login}/value`), { text: "admin" });
  await wd("POST", s(`/element/${await find("#password")}/value`), { text: env("ADMIN_PASSWORD") });
  await wd("POST", s(`/element/${await find("button[type=submit]")}/click`), {});
  await until("the Live screen", 20000, async () => (await text("main"))?.includes("Today"));
  await until("the live stream", 20000, () => text(".pill.live"));
  console.log("[alert_click] logged in inside the app; the live stream is connected");

  // A rule, then a door's failed check: the alert fires and the UI asks for a notification.
  const admin = (
    await (
      await fetch(`${server}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "admin", password: env("ADMIN_PASSWORD") }),
      })
    ).json()
  ).token;
  await api("POST", "/api/v1/alert-rules", admin, {
    name: "no mask at the loading dock",
    condition: { kind: "failed_check", fails: 1, within_minutes: 10 },
    severity: "critical",
  });
  const now = new Date().toISOString();
  await api("POST", "/api/v1/visits", env("DOOR_TOKEN"), {
    visits: [{ id: randomUUID(), captured_at: now, passed: false, mask_score: 0.04, model: "maskgate-cnn@1" }],
  });
  const alert = await until("the alert", 10000, async () => (await api("GET", "/api/v1/alerts?state=open", admin)).items[0]);
  await until("the alert in the window", 10000, async () => (await text(".open-alerts"))?.includes(alert.message));
  await until("the notification on the session bus", 10000, () =>
    readFileSync(env("DBUS_LOG"), "utf8").includes(`string "${alert.message}"`));
  console.log(`[alert_click] alert #${alert.id} fired; the app sent its notification over D-Bus`);

  // Away from the alert, then a click on the notification brings it back.
  await wd("POST", s("/url"), { url: `${server}/history` });
  await until("the History screen", 20000, async () => new URL(await wd("GET", s("/url"))).pathname === "/history");
  const popup = await until("dunst's popup", 10000, () => {
    try {
      return execFileSync("xdotool", ["search", "--onlyvisible", "--class", "Dunst"], { encoding: "utf8" }).split("\n")[0];
    } catch {
      return null;
    }
  });
  screenshot("alert-notification");
  execFileSync("xdotool", ["mousemove", "--window", popup, "40", "20", "click", "1"]);
  await until(`the window at /alerts/${alert.id}`, 15000, async () =>
    new URL(await wd("GET", s("/url"))).pathname === `/alerts/${alert.id}`);
  await until("the alert's page", 20000, async () => (await text("main h1"))?.includes(`Alert #${alert.id}`));
  await until("its message", 5000, async () => (await text(".alert-title"))?.includes(alert.message));
  await sleep(500);
  screenshot("alert-opened");
  console.log(`[alert_click] PASS: the click opened /alerts/${alert.id} in the app's window`);
} finally {
  await wd("DELETE", s("")).catch(() => {});
}
