// End to end in headless Chromium: the real server (a fresh SQLite file), the built app
// (ui/dist), a door posting through the API.
//
// Run by scripts/test-ui, which builds the app and the server first. Screenshots of each
// step go to $SHOTS (default: ui/e2e/shots) for people to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const bin = process.env.MASKGATE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug/maskgate");
const uiDir = process.env.MASKGATE_UI_DIR ?? join(root, "ui/dist");
const shots = process.env.SHOTS ?? join(import.meta.dirname, "shots");
const PASSWORD = "e2e-password-1";

const work = mkdtempSync(join(tmpdir(), "maskgate-e2e-"));
const env = {
  ...process.env,
  MASKGATE_DATABASE_URL: `sqlite://${join(work, "maskgate.db")}`,
  MASKGATE_UI_DIR: uiDir,
  MASKGATE_TZ: "UTC",
  RUST_LOG: "warn",
};
let server;
let base;
let doorToken;
let browser;

function cli(args, input) {
  const run = spawnSync(bin, args, { env, input, encoding: "utf8" });
  assert.equal(run.status, 0, `maskgate ${args.join(" ")}: ${run.stderr}`);
  return run.stdout.trim();
}

async function freePort() {
  return new Promise((done) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

async function startServer(port) {
  server = spawn(bin, ["serve"], {
    env: { ...env, MASKGATE_BIND: `127.0.0.1:${port}` },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not start");
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once("exit", r));
  server.kill("SIGTERM");
  await exited;
}

async function api(method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function adminToken() {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "admin", password: PASSWORD }),
  });
  return (await response.json()).token;
}

async function postVisit(passed, maskScore) {
  const visit = {
    id: randomUUID(),
    captured_at: new Date().toISOString(),
    passed,
    mask_score: maskScore,
    model: "maskgate-cnn@1",
  };
  await api("POST", "/api/v1/visits", doorToken, { visits: [visit] });
  return Date.now();
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  cli(["user", "add", "admin", "--role", "admin", "--password-stdin"], `${PASSWORD}\n`);
  doorToken = cli(["device", "add", "front-door"]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer(port);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
});

after(async () => {
  await browser?.close();
  await stopServer();
  rmSync(work, { recursive: true, force: true });
});

test("a manager logs in, sees visits arrive live, acknowledges an alert, and rides out a server restart", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${base}/`);
  await page.getByLabel("User name").fill("admin");
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("Wrong user name or password.").waitFor();
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Today" }).waitFor();
  await page.getByText("No visits yet.").waitFor();
  await page.locator(".pill.live").waitFor();
  assert.equal(new URL(page.url()).pathname, "/live");
  await shot(page, "1-live-empty");

  // Keyboard: the first Tab reaches "Skip to content", which moves focus to the page.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement.id === "main");

  // A visit posted by the door shows in the feed and in today's numbers within 2 s.
  const posted = await postVisit(true, 0.777);
  await page.getByText("mask 77.7 %").waitFor({ timeout: 2000 });
  const seenAfter = Date.now() - posted;
  assert.ok(seenAfter <= 2000, `the visit took ${seenAfter} ms to show`);
  await page.locator(".number.pass dd", { hasText: "1" }).waitFor({ timeout: 2000 });

  // A failed check fires the rule; the alert shows on top and can be acknowledged.
  const admin = await adminToken();
  await api("POST", "/api/v1/alert-rules", admin, {
    name: "every failed check",
    condition: { kind: "failed_check", fails: 1, within_minutes: 10 },
    severity: "critical",
  });
  await postVisit(false, 0.05);
  const card = page.locator(".open-alerts article", { hasText: "front-door" });
  await card.waitFor({ timeout: 5000 });
  await page.getByRole("link", { name: /Alerts\s*1/ }).waitFor();
  await shot(page, "2-live-alert");
  await card.getByRole("button", { name: "Acknowledge" }).click();
  await card.waitFor({ state: "detached", timeout: 5000 });
  const { items } = await api("GET", "/api/v1/alerts?state=acknowledged", admin);
  assert.equal(items.length, 1);
  assert.equal(items[0].acked_by, "admin");
  await page.getByText("Alert acknowledged").waitFor();

  // The Alerts screen lists it with who acknowledged it; the Doors screen shows the door.
  await page.getByRole("link", { name: "Alerts" }).click();
  await page.getByText("Acknowledged by admin").waitFor();
  await shot(page, "3-alerts");
  await page.getByRole("link", { name: "Doors" }).click();
  await page.getByRole("heading", { name: "front-door" }).waitFor();
  await shot(page, "4-doors");
  await page.getByRole("link", { name: "Live" }).click();

  // The server goes away: the app says so, reconnects when it is back, and catches up.
  await stopServer();
  await page.getByText("Connection lost: reconnecting…").waitFor({ timeout: 5000 });
  await shot(page, "5-reconnecting");
  await startServer(new URL(base).port);
  await page.locator(".pill.live").waitFor({ timeout: 20000 });
  await postVisit(true, 0.888);
  await page.getByText("mask 88.8 %").waitFor({ timeout: 2000 });

  // A session the server no longer accepts sends the user to the login screen, saying why.
  await page.evaluate(() => {
    const session = JSON.parse(localStorage.getItem("maskgate.session"));
    session.token = "mgu_revoked";
    localStorage.setItem("maskgate.session", JSON.stringify(session));
  });
  await page.reload();
  await page.getByText("You have been signed out. Please log in again.").waitFor();
  await page.getByLabel("User name").waitFor();
  await shot(page, "6-signed-out");

  assert.deepEqual(errors, [], "no errors in the page");
  await page.close();
});
