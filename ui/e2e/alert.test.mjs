// End to end in headless Chromium: one alert's page (/alerts/{id}), and the native
// notification the app asks its Tauri shell for when an alert fires.
//
// The shell (src-tauri) injects `window.__TAURI__.notification.sendNotification`; here the page
// gets a recorder in its place, so the test sees exactly what the app hands the shell. The
// shell's side (a real notification daemon, a click that opens /alerts/{id}) is tested by
// scripts/test-tauri.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, logInThroughTheApp, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";
const mg = new Maskgate({ name: "e2e-alert" });
let browser;
let doorToken;
let admin;
let hook;
const received = [];

before(async () => {
  mkdirSync(shots, { recursive: true });
  // A webhook endpoint that takes every delivery, so the page has a delivery to show.
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push(body);
      res.writeHead(200).end("ok");
    });
  });
  await new Promise((r) => hook.listen(0, "127.0.0.1", r));
  mg.addUser("admin", PASSWORD);
  doorToken = mg.addDoor("side-door");
  await mg.start();
  admin = (await mg.login("admin", PASSWORD)).token;
  await mg.api("POST", "/api/v1/alert-channels", admin, {
    name: "ops-hook",
    kind: "webhook",
    url: `http://127.0.0.1:${hook.address().port}/maskgate`,
  });
  await mg.api("POST", "/api/v1/alert-rules", admin, {
    name: "no mask at the side door",
    condition: { kind: "failed_check", fails: 1, within_minutes: 10 },
    severity: "critical",
    channels: ["ops-hook"],
    escalation_channels: [],
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
  await new Promise((r) => hook.close(r));
});

test("a fired alert asks the shell for a notification naming it, and its page shows it, who was told, and its acknowledgement", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    window.__notifications = [];
    window.__TAURI__ = { notification: { sendNotification: (options) => window.__notifications.push(options) } };
  });
  await logInThroughTheApp(page, mg.base, "admin", PASSWORD);
  await page.locator(".pill.live").waitFor();

  await mg.postVisits(doorToken, [visit(new Date(), false, 0.04)]);
  const card = page.locator(".open-alerts article", { hasText: "side-door" });
  await card.waitFor({ timeout: 5000 });
  const { items } = await mg.api("GET", "/api/v1/alerts?state=open", admin);
  assert.equal(items.length, 1);
  const alert = items[0];

  // One notification, for the newly fired alert, carrying its id for the shell's click.
  await page.waitForFunction(() => window.__notifications.length > 0, null, { timeout: 5000 });
  const sent = await page.evaluate(() => window.__notifications);
  assert.equal(sent.length, 1, JSON.stringify(sent));
  assert.equal(sent[0].title, "no mask at the side door");
  assert.equal(sent[0].body, alert.message);
  assert.deepEqual(sent[0].extra, { alertId: alert.id });

  // The card's message links to the alert's own page.
  await card.getByRole("link", { name: alert.message }).click();
  await page.getByRole("heading", { name: `Alert #${alert.id}` }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/alerts/${alert.id}`);
  await page.getByRole("heading", { name: "Who was told" }).waitFor();
  // The webhook's delivery: the server logs it once the endpoint answered.
  await page.waitForFunction(() => document.querySelector(".deliveries")?.textContent.includes("Delivered (HTTP 200)"), null, {
    timeout: 10000,
  }).catch(async () => {
    await page.reload();
    await page.getByText("Delivered (HTTP 200)").waitFor({ timeout: 5000 });
  });
  const row = page.locator(".deliveries li", { hasText: "ops-hook" });
  await row.getByText("fired").waitFor();
  assert.ok(received.length >= 1, "the webhook endpoint got the alert");
  await page.screenshot({ path: join(shots, "alert-1-page.png"), fullPage: true });

  // Acknowledged from its page; the page then says by whom.
  await page.getByRole("button", { name: "Acknowledge" }).click();
  await page.getByText("Acknowledged by admin").waitFor({ timeout: 5000 });
  await page.getByRole("button", { name: "Acknowledge" }).waitFor({ state: "detached" });
  const after = await mg.api("GET", `/api/v1/alerts/${alert.id}`, admin);
  assert.equal(after.acked_by, "admin");
  // An acknowledgement is not a new alert: still one notification.
  assert.equal(await page.evaluate(() => window.__notifications.length), 1);

  // Opened straight from its address (as the shell does on a click), on a phone.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${mg.base}/alerts/${alert.id}`);
  await page.getByRole("heading", { name: `Alert #${alert.id}` }).waitFor();
  await page.getByText("Acknowledged by admin").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the alert page is ${overflow} px wider than a 360 px screen`);
  await page.screenshot({ path: join(shots, "alert-2-phone.png"), fullPage: true });

  // Addresses that name no alert say so in words.
  await page.goto(`${mg.base}/alerts/999999`);
  await page.getByText("There is no alert #999999. It may have been removed.").waitFor();
  await page.goto(`${mg.base}/alerts/not-a-number`);
  await page.getByText("This address does not name an alert.").waitFor();
  await page.screenshot({ path: join(shots, "alert-3-unknown.png"), fullPage: true });

  assert.deepEqual(errors, [], "no errors in the page");
  await page.close();
});
