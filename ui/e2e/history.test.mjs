// The History screen end to end in headless Chromium: the real server (a fresh SQLite
// file), the built app (ui/dist), two doors posting passes and fails through the API.
// Filters by door, result and day, kept in the URL through reload and back; paging; the
// CSV download of the filtered range; screenshots wide and at 360 px, light and dark.
//
// Run by scripts/test-ui, which builds the app and the server first. Screenshots go to
// $SHOTS (default: ui/e2e/shots) for people to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, logInThroughTheApp, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";
// The browser runs in Seoul, the site in UTC: days and times on screen are the browser's.
const BROWSER_TZ = "Asia/Seoul";
const ODD_MODEL = 'cnn, "v2"@1';

const mg = new Maskgate({ name: "e2e-history" });
let base;
let browser;
const doors = {};
const posted = [];

async function post(door, visits) {
  await mg.postVisits(doors[door], visits);
  for (const v of visits) posted.push({ ...v, door });
}

/** The day of `at` in the browser's zone, as a date input writes it (YYYY-MM-DD). */
function browserDay(at) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: BROWSER_TZ }).format(at);
}

/** RFC 4180, as the export writes it. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += c;
  }
  assert.equal(field + row.join(""), "", "the CSV ends with CRLF");
  return rows;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Door names of the rows the table shows, top to bottom. */
async function shownDoors(page) {
  return page.locator("table.history tbody td.door").allTextContents();
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  mg.addUser("admin", PASSWORD);
  doors["front-door"] = mg.addDoor("front-door");
  doors["back-door"] = mg.addDoor("back-door");
  await mg.start();
  base = mg.base;
  const now = Date.now();
  const ago = (ms) => new Date(now - ms);
  // Today: each door passes and fails once; the back door's failure used an odd model name.
  await post("front-door", [visit(ago(60_000), true, 0.91), visit(ago(120_000), false, 0.08)]);
  await post("back-door", [visit(ago(90_000), true, 0.95), visit(ago(150_000), false, 0.11, ODD_MODEL)]);
  // Three days ago: 56 more at the back door, every other one failed.
  const old = [];
  for (let i = 0; i < 56; i++) old.push(visit(ago(3 * 86_400_000 + i * 1000), i % 2 === 0, 0.5));
  await post("back-door", old);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
});

async function loggedIn(viewport, colorScheme = "light") {
  const context = await browser.newContext({ viewport, colorScheme, timezoneId: BROWSER_TZ, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await logInThroughTheApp(page, base, "admin", PASSWORD);
  return { context, page, errors };
}

test("a manager filters the history by door, result and day, pages, and downloads the CSV", async () => {
  const { context, page, errors } = await loggedIn({ width: 1280, height: 800 });

  await page.getByRole("link", { name: "History" }).click();
  await page.getByRole("heading", { name: "History" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/history");

  // All visits: a page of 50, newest first, then the rest on demand.
  await page.getByText("50 visits shown so far").waitFor();
  assert.equal((await shownDoors(page)).length, 50);
  const first = page.locator("table.history tbody tr").first();
  assert.equal(await first.locator("td.door").textContent(), "front-door");
  assert.match(await first.locator("td.result").textContent(), /Passed/);
  assert.match(await first.locator("td.score").textContent(), /91 %/);
  // The time is the browser's (Seoul), not the site's (UTC).
  const newest = posted.find((v) => v.mask_score === 0.91);
  const seoulTime = new Intl.DateTimeFormat("en-GB", {
    timeZone: BROWSER_TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(new Date(newest.captured_at));
  assert.match(await first.locator("td.time").textContent(), new RegExp(seoulTime));
  await page.getByRole("button", { name: "Show older visits" }).click();
  await page.getByText("60 visits, newest first").waitFor();
  assert.equal((await shownDoors(page)).length, 60);
  assert.equal(await page.getByRole("button", { name: "Show older visits" }).count(), 0, "no more pages");

  // By door: only the front door's two, and the URL says so.
  await page.getByLabel("Door").selectOption("front-door");
  await page.getByText("2 visits, newest first").waitFor();
  assert.deepEqual(await shownDoors(page), ["front-door", "front-door"]);
  assert.equal(new URL(page.url()).searchParams.get("door"), "front-door");

  // And failed only: the one failure, which survives a reload.
  await page.getByLabel("Result").selectOption("fail");
  await page.getByText("1 visit, newest first").waitFor();
  const failRow = page.locator("table.history tbody tr");
  assert.match(await failRow.locator("td.result").textContent(), /Failed/);
  assert.match(await failRow.locator("td.score").textContent(), /8 %/);
  assert.equal(new URL(page.url()).search, "?door=front-door&result=fail");
  await page.reload();
  await page.getByText("1 visit, newest first").waitFor();
  assert.equal(await page.getByLabel("Door").inputValue(), "front-door");
  assert.equal(await page.getByLabel("Result").inputValue(), "fail");
  await shot(page, "history-1-front-door-failed");

  // Back: the door filter alone again.
  await page.goBack();
  await page.getByText("2 visits, newest first").waitFor();
  assert.equal(await page.getByLabel("Result").inputValue(), "all");

  // Fails at every door. The filters are plain form fields in reading order: Tab goes
  // from the door to the result.
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByText("50 visits shown so far").waitFor();
  await page.getByLabel("Door").focus();
  await page.keyboard.press("Tab");
  assert.ok(await page.getByLabel("Result").evaluate((el) => el === document.activeElement), "Tab reaches Result");
  await page.getByLabel("Result").selectOption("fail");
  await page.getByText("30 visits, newest first").waitFor();
  const results = await page.locator("table.history tbody td.result").allTextContents();
  assert.ok(results.every((r) => r.includes("Failed")), "failed only");

  // Days: from today on (in the browser's zone) leaves out the visits of three days ago.
  const today = browserDay(new Date(newest.captured_at));
  await page.getByLabel("First day").fill(today);
  await page.getByText("2 visits, newest first").waitFor();
  assert.deepEqual(await shownDoors(page), ["front-door", "back-door"]);
  const oldDay = browserDay(new Date(Date.now() - 3 * 86_400_000));
  await page.getByLabel("First day").fill(oldDay);
  await page.getByLabel("Last day").fill(oldDay);
  await page.getByText("28 visits, newest first").waitFor();
  await page.getByLabel("Door").selectOption("front-door");
  await page.getByText("No visits match these filters.").waitFor();
  // A last day before the first is refused in words, and nothing is asked of the server.
  await page.getByLabel("Last day").fill(browserDay(new Date(Date.now() - 4 * 86_400_000)));
  await page.getByText("The last day is before the first day.").waitFor();
  assert.equal(await page.getByRole("link", { name: "Export CSV" }).count(), 0, "no export of a wrong range");

  // The CSV of the back door's failures: the download the link starts.
  await page.goto(`${base}/history?door=back-door&result=fail`);
  await page.getByText("29 visits, newest first").waitFor();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Export CSV" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^maskgate-visits-start-\d{4}-\d{2}-\d{2}\.csv$/);
  const rows = parseCsv(readFileSync(await download.path(), "utf8"));
  assert.deepEqual(rows[0], ["id", "captured_at", "local_time", "door", "passed", "mask_score", "model", "decision_ms"]);
  const expected = posted
    .filter((v) => v.door === "back-door" && !v.passed)
    .sort((a, b) => b.captured_at.localeCompare(a.captured_at));
  assert.deepEqual(rows.slice(1).map((r) => r[0]), expected.map((v) => v.id), "the filtered visits, newest first");
  assert.ok(rows.slice(1).every((r) => r[3] === "back-door" && r[4] === "false"));
  assert.equal(rows[1][6], ODD_MODEL, "a model name with a comma and quotes survives");
  await shot(page, "history-2-back-door-failed");

  // The link with today's range, fetched with the session token, as a script would.
  await page.getByLabel("First day").fill(today);
  await page.getByText("1 visit, newest first").waitFor();
  const href = await page.getByRole("link", { name: "Export CSV" }).getAttribute("href");
  assert.match(href, /from=.*&device=back-door&passed=false&access_token=mgu_/);
  const response = await fetch(`${base}${href}`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-disposition"), /filename="maskgate-visits-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"/);
  const todays = parseCsv(await response.text());
  assert.equal(todays.length, 2, "the header and today's one failure at the back door");
  assert.equal(todays[1][0], expected[0].id);

  assert.deepEqual(errors, [], "no errors in the page");
  await context.close();
});

test("the history reads at 360 px and in the dark theme", async () => {
  for (const [name, viewport, scheme] of [
    ["history-wide-light", { width: 1280, height: 800 }, "light"],
    ["history-wide-dark", { width: 1280, height: 800 }, "dark"],
    ["history-phone-light", { width: 360, height: 740 }, "light"],
    ["history-phone-dark", { width: 360, height: 740 }, "dark"],
  ]) {
    const { context, page, errors } = await loggedIn(viewport, scheme);
    await page.goto(`${base}/history?result=all`);
    await page.getByText("50 visits shown so far").waitFor();
    // Nothing wider than the screen: no sideways scrolling on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the screen`);
    await shot(page, name);
    assert.deepEqual(errors, [], `${name}: no errors in the page`);
    await context.close();
  }
});
