// The alert rules editor end to end in headless Chromium: the real server (a fresh SQLite
// file), the built app. An admin writes a failed-check rule and a pass-rate rule through the
// form, is told in words what is wrong with a bad value (by the page and by the server),
// edits, disables and deletes rules; the API holds exactly what was typed; the failed-check
// rule then fires on a door's failed visits and its alert shows on the Alerts screen. A
// viewer is told only admins change rules. Screenshots wide and at 360 px, light and dark.
//
// Run by scripts/test-ui, which builds the app and the server first. Screenshots go to
// $SHOTS (default: ui/e2e/shots) for people to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, logInThroughTheApp, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";

const mg = new Maskgate({ name: "e2e-rules" });
let base;
let browser;
let admin;
const doors = {};

async function shot(page, name) {
  // From the top, so the sticky top bar is drawn at the top of the full-page picture.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** The stored rules as specs (what an admin wrote), by name. */
async function storedSpecs() {
  const { items } = await mg.api("GET", "/api/v1/alert-rules", admin);
  return items.map(({ id, created_by, created_at, updated_at, ...spec }) => spec);
}

/** The card of the rule named `name`. */
function card(page, name) {
  return page.locator("li.rule", { has: page.getByRole("heading", { name, exact: true }) });
}

/** The Alerts tab of the top bar (its name may carry the count of open alerts). */
function alertsTab(page) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Alerts/ });
}

/** The form's message about what is wrong. */
function formError(page) {
  return page.locator("form.rule-form [role=alert]");
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  mg.addUser("admin", PASSWORD);
  mg.addUser("watcher", PASSWORD, "viewer");
  doors["front-door"] = mg.addDoor("front-door");
  doors["back-door"] = mg.addDoor("back-door");
  await mg.start();
  base = mg.base;
  admin = (await mg.login("admin", PASSWORD)).token;
  // A channel to send to; nothing here fires it (it would post to a closed port).
  await mg.api("POST", "/api/v1/alert-channels", admin, {
    name: "ops-webhook",
    kind: "webhook",
    url: "http://127.0.0.1:9/maskgate",
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
});

async function loggedIn(viewport, colorScheme = "light", user = "admin") {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await logInThroughTheApp(page, base, user, PASSWORD);
  return { context, page, errors };
}

test("an admin writes, changes, switches off and deletes alert rules, and one fires", async () => {
  const { context, page, errors } = await loggedIn({ width: 1280, height: 900 });

  await alertsTab(page).click();
  await page.getByRole("link", { name: "Alert rules" }).click();
  await page.getByRole("heading", { name: "Alert rules" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/alerts/rules");
  await page.getByText("No alert rules yet.").waitFor();

  // A failed-check rule. The form opens with the focus on its name.
  await page.getByRole("button", { name: "New rule" }).click();
  await page.getByRole("heading", { name: "New rule" }).waitFor();
  await page.waitForFunction(() => document.activeElement?.id === "rule-name");
  await page.keyboard.type("front door fails");
  assert.equal(await page.getByLabel("Condition").inputValue(), "failed_check");
  await page.getByLabel("Failed checks", { exact: true }).fill("2");
  // A bad number is refused by the page in words, and nothing reaches the server.
  await page.getByLabel("Within (minutes)").fill("ten");
  await page.getByRole("button", { name: "Create rule" }).click();
  await formError(page).getByText("Within (minutes) must be a whole number.").waitFor();
  assert.deepEqual(await storedSpecs(), [], "nothing stored after the page's refusal");
  await shot(page, "rules-1-client-check");
  await page.getByLabel("Within (minutes)").fill("15");
  await page.getByLabel("Severity").selectOption("critical");
  await page.getByRole("group", { name: "Doors" }).getByLabel("front-door").check();
  await page.getByLabel("Cooldown (minutes)").fill("5");
  await page.getByRole("button", { name: "Create rule" }).click();
  await page.getByText("Rule “front door fails” saved.").waitFor();
  assert.equal(await page.locator("form.rule-form").count(), 0, "the form closes");
  const fails = card(page, "front door fails");
  await fails.getByText("2 failed checks within 15 minutes at a door").waitFor();
  assert.match(await fails.textContent(), /Critical.*Enabled/);
  assert.match(await fails.textContent(), /Doors: front-door/);

  // A pass-rate rule over all doors together, with quiet hours and a channel. The fields
  // change with the condition.
  await page.getByRole("button", { name: "New rule" }).click();
  await page.getByLabel("Name", { exact: true }).fill("site pass rate");
  await page.getByLabel("Condition").selectOption("pass_rate_below");
  assert.equal(await page.getByLabel("Within (minutes)").count(), 0, "the failed-check fields go");
  await page.getByLabel("Pass rate below (%)").fill("92.5");
  await page.getByLabel("Over (minutes)").fill("60");
  await page.getByLabel("At least (visits)").fill("20");
  await page.getByLabel("Count", { exact: true }).selectOption("site");
  const quiet = page.getByRole("group", { name: "Quiet hours" });
  await quiet.getByLabel("From").fill("22:00");
  await quiet.getByLabel("Until").fill("06:00");
  await page.getByRole("group", { name: "Send alerts to" }).getByLabel("ops-webhook").check();
  // A time zone only the server can check: its 422 shows in the form's words.
  await page.getByLabel("Time zone").fill("Mars/Olympus");
  await page.getByRole("button", { name: "Create rule" }).click();
  await formError(page)
    .getByText("Time zone “Mars/Olympus” is not an IANA time zone (such as Asia/Seoul).")
    .waitFor();
  assert.ok(!(await formError(page).textContent()).includes("`"), "no raw field names or backticks");
  await shot(page, "rules-2-server-check");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Create rule" }).click();
  await page.getByText("Rule “site pass rate” saved.").waitFor();
  const rate = card(page, "site pass rate");
  await rate
    .getByText("Pass rate below 92.5 % over 60 minutes (at least 20 visits), all doors together")
    .waitFor();
  assert.match(await rate.textContent(), /Doors: every door/);
  assert.match(await rate.textContent(), /Quiet 22:00–06:00 \(Europe\/Berlin\)/);
  assert.match(await rate.textContent(), /Sent to ops-webhook/);

  // The API holds exactly what was typed.
  const failsSpec = {
    name: "front door fails",
    condition: { kind: "failed_check", fails: 2, within_minutes: 15 },
    severity: "critical",
    devices: ["front-door"],
    quiet_hours: null,
    tz: null,
    cooldown_minutes: 5,
    escalate_after_minutes: null,
    enabled: true,
    channels: [],
    escalation_channels: [],
  };
  const rateSpec = {
    name: "site pass rate",
    condition: { kind: "pass_rate_below", percent: 92.5, window_minutes: 60, min_visits: 20, scope: "site" },
    severity: "warning",
    devices: [],
    quiet_hours: { start: "22:00", end: "06:00" },
    tz: "Europe/Berlin",
    cooldown_minutes: 30,
    escalate_after_minutes: null,
    enabled: true,
    channels: ["ops-webhook"],
    escalation_channels: [],
  };
  assert.deepEqual(await storedSpecs(), [failsSpec, rateSpec]);

  // Edit: the form comes filled in; a new threshold and an escalation.
  await rate.getByRole("button", { name: "Edit" }).click();
  await page.getByRole("heading", { name: "Edit “site pass rate”" }).waitFor();
  assert.equal(await page.getByLabel("Pass rate below (%)").inputValue(), "92.5");
  assert.equal(await page.getByLabel("Count", { exact: true }).inputValue(), "site");
  assert.equal(await page.getByLabel("Time zone").inputValue(), "Europe/Berlin");
  assert.ok(await page.getByRole("group", { name: "Send alerts to" }).getByLabel("ops-webhook").isChecked());
  await page.getByLabel("Pass rate below (%)").fill("95");
  // Escalation channels need the minutes: the page says so before the server would.
  await page.getByRole("group", { name: "On escalation, send to" }).getByLabel("ops-webhook").check();
  await page.getByRole("button", { name: "Save changes" }).click();
  await formError(page).getByText(/Escalate after \(minutes\) is needed/).waitFor();
  await page.getByLabel("Escalate after (minutes)").fill("20");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Rule “site pass rate” saved.").waitFor();
  await rate
    .getByText("Pass rate below 95 % over 60 minutes (at least 20 visits), all doors together")
    .waitFor();
  Object.assign(rateSpec, {
    condition: { ...rateSpec.condition, percent: 95 },
    escalate_after_minutes: 20,
    escalation_channels: ["ops-webhook"],
  });
  assert.deepEqual(await storedSpecs(), [failsSpec, rateSpec]);

  // Disable: the card says so in place and the button keeps the focus (keyboard).
  await rate.getByRole("button", { name: "Disable" }).focus();
  await page.keyboard.press("Enter");
  await rate.getByText("Disabled", { exact: true }).waitFor();
  await page.waitForFunction(() => document.activeElement?.textContent === "Enable");
  rateSpec.enabled = false;
  assert.deepEqual(await storedSpecs(), [failsSpec, rateSpec]);

  // Delete asks in the page first; "Keep it" keeps it.
  await page.getByRole("button", { name: "New rule" }).click();
  await page.getByLabel("Name", { exact: true }).fill("camera check");
  await page.getByLabel("Condition").selectOption("camera_problem");
  await page.getByLabel("For (minutes)").fill("20");
  await page.getByRole("button", { name: "Create rule" }).click();
  const camera = card(page, "camera check");
  await camera
    .getByText("A camera is too dark, covered or sends no pictures for 20 minutes")
    .waitFor();
  await camera.getByRole("button", { name: "Delete", exact: true }).click();
  await camera.getByText("Delete “camera check”?").waitFor();
  await page.waitForFunction(() => document.activeElement?.textContent === "Keep it");
  await shot(page, "rules-3-confirm-delete");
  await page.keyboard.press("Enter");
  await camera.getByText("Delete “camera check”?").waitFor({ state: "detached" });
  assert.equal((await storedSpecs()).length, 3, "kept");
  await camera.getByRole("button", { name: "Delete", exact: true }).click();
  await camera.getByRole("button", { name: "Delete rule" }).click();
  await page.getByText("Rule “camera check” deleted.").waitFor();
  await camera.waitFor({ state: "detached" });
  assert.deepEqual(await storedSpecs(), [failsSpec, rateSpec]);

  // The failed-check rule fires on the front door's two failed visits.
  const now = Date.now();
  await mg.postVisits(doors["front-door"], [
    visit(new Date(now - 2000), false, 0.04),
    visit(new Date(now - 1000), false, 0.06),
  ]);
  await page.getByRole("link", { name: "← All alerts" }).click();
  const alert = page.locator("article.alert", { hasText: "front door fails" });
  await alert.waitFor({ timeout: 5000 });
  assert.match(await alert.textContent(), /front-door/);
  assert.match(await alert.textContent(), /Critical/);
  const { items } = await mg.api("GET", "/api/v1/alerts", admin);
  assert.deepEqual(
    items.map((a) => [a.rule_name, a.device, a.kind]),
    [["front door fails", "front-door", "failed_check"]],
  );
  await shot(page, "rules-4-alert-fired");

  assert.deepEqual(errors, [], "no errors in the page");
  await context.close();
});

test("a viewer is told that only admins change alert rules", async () => {
  const { context, page, errors } = await loggedIn({ width: 1280, height: 800 }, "light", "watcher");
  await alertsTab(page).click();
  await page.getByRole("heading", { name: "Alerts" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Alert rules" }).count(), 0, "no link for viewers");
  await page.goto(`${base}/alerts/rules`);
  await page.getByText("Only admins can see and change alert rules.").waitFor();
  assert.equal(await page.getByRole("button", { name: "New rule" }).count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the rules read at 360 px and in the dark theme", async () => {
  for (const [name, viewport, scheme] of [
    ["rules-wide-light", { width: 1280, height: 800 }, "light"],
    ["rules-wide-dark", { width: 1280, height: 800 }, "dark"],
    ["rules-phone-light", { width: 360, height: 740 }, "light"],
    ["rules-phone-dark", { width: 360, height: 740 }, "dark"],
  ]) {
    const { context, page, errors } = await loggedIn(viewport, scheme);
    await page.goto(`${base}/alerts/rules`);
    await card(page, "front door fails").waitFor();
    // The form with the most fields: no visits while open.
    await page.getByRole("button", { name: "New rule" }).click();
    await page.getByLabel("Name", { exact: true }).fill("quiet entrance");
    await page.getByLabel("Condition").selectOption("no_visits_while_open");
    await page.getByRole("group", { name: "Open on" }).getByLabel("Sat").check();
    await page.getByRole("group", { name: "Doors" }).getByLabel("back-door").check();
    await page.getByLabel("For (minutes)").fill("abc");
    await page.getByRole("button", { name: "Create rule" }).click();
    await formError(page).getByText("For (minutes) must be a whole number.").waitFor();
    // Nothing on this screen wider than the screen: no sideways scrolling on a phone.
    const wider = await page.evaluate(() =>
      [...document.querySelectorAll("main *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    );
    assert.deepEqual(wider, [], `${name}: wider than the screen`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name}: the page (top bar included) is ${overflow} px wider than the screen`);
    await shot(page, name);
    assert.deepEqual(errors, [], `${name}: no errors in the page`);
    await context.close();
  }
});
