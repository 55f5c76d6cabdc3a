// End to end in headless Chromium: the real server (a fresh SQLite file), the built app
// (ui/dist), a door posting through the API.
//
// Run by scripts/test-ui, which builds the app and the server first. Screenshots of each
// step go to $SHOTS (default: ui/e2e/shots) for people to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";
const mg = new Maskgate({ name: "e2e-live" });
let doorToken;
let browser;

async function postVisit(passed, maskScore) {
  await mg.postVisits(doorToken, [visit(new Date(), passed, maskScore)]);
  return Date.now();
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  mg.addUser("admin", PASSWORD);
  doorToken = mg.addDoor("front-door");
  await mg.start();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
});

test("a manager logs in, sees visits arrive live, acknowledges an alert, and rides out a server restart", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${mg.base}/`);
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
  // ECharts (1 MB) is for the Charts screen only.
  assert.equal(await page.evaluate(() => typeof window.echarts), "undefined", "Live loads no ECharts");
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
  const admin = (await mg.login("admin", PASSWORD)).token;
  await mg.api("POST", "/api/v1/alert-rules", admin, {
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
  const { items } = await mg.api("GET", "/api/v1/alerts?state=acknowledged", admin);
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
  await mg.stop();
  await page.getByText("Connection lost: reconnecting…").waitFor({ timeout: 5000 });
  await shot(page, "5-reconnecting");
  await mg.start();
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
