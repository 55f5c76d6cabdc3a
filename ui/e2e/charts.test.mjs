// The charts screen end to end in headless Chromium: the real server (a fresh SQLite file),
// the built app (ui/dist) with ECharts from our own origin, two doors posting through the API.
//
// Run by scripts/test-ui. Screenshots (desktop light and dark, 360 px phone) go to $SHOTS
// (default: ui/e2e/shots) for people to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";
const CHARTS = ["chart-volume", "chart-rate", "chart-doors", "chart-peaks"];

const mg = new Maskgate({ name: "e2e-charts" });
let base;
let browser;
const doors = {};

async function post(door, passed, count) {
  const visits = Array.from({ length: count }, () => visit(new Date(), passed, passed ? 0.95 : 0.1));
  await mg.postVisits(doors[door], visits);
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Waits until every chart is drawn, then returns what each one shows. */
async function drawn(page) {
  await page.waitForFunction(
    (ids) =>
      ids.every((id) => {
        const el = document.getElementById(id);
        // ECharts itself arrives when the first chart draws.
        const chart = el && window.echarts && window.echarts.getInstanceByDom(el);
        const canvas = el?.querySelector("canvas");
        return chart && canvas && canvas.width > 0 && canvas.height > 0;
      }),
    CHARTS,
    { timeout: 10000 },
  );
  return page.evaluate((ids) => {
    const out = {};
    for (const id of ids) {
      const el = document.getElementById(id);
      const option = window.echarts.getInstanceByDom(el).getOption();
      // Painted pixels: the canvas is transparent where nothing is drawn.
      const canvas = el.querySelector("canvas");
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
      out[id] = {
        series: option.series.map((s) => ({ name: s.name, data: s.data })),
        categories: (option.yAxis?.[0]?.data ?? []).slice(),
        width: el.clientWidth,
        painted,
      };
    }
    return out;
  }, CHARTS);
}

const sum = (data) => data.reduce((a, v) => a + (typeof v === "number" ? v : 0), 0);

before(async () => {
  mkdirSync(shots, { recursive: true });
  mg.addUser("admin", PASSWORD);
  doors.front = mg.addDoor("front-door");
  doors.back = mg.addDoor("back-door");
  await mg.start();
  base = mg.base;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
});

test("the charts show the posted visits per hour, per door and by weekday and hour", async () => {
  await post("front", true, 3);
  await post("front", false, 1);
  await post("back", true, 1);
  await post("back", false, 2);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/charts?range=today`);
  await page.getByLabel("User name").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Charts" }).waitFor();

  let charts = await drawn(page);
  for (const id of CHARTS) {
    assert.ok(charts[id].painted > 500, `${id} has drawn pixels (${charts[id].painted})`);
  }
  const [passed, failed] = charts["chart-volume"].series;
  assert.equal(passed.name, "Passed");
  assert.equal(passed.data.length, 24, "today in hours");
  assert.equal(sum(passed.data), 4, "passes per hour add up to what was posted");
  assert.equal(sum(failed.data), 3, "fails per hour add up to what was posted");
  const rates = charts["chart-rate"].series[0].data.filter((v) => typeof v === "number");
  assert.ok(rates.length >= 1 && rates.every((r) => r >= 0 && r <= 100), `rates ${rates}`);
  if (rates.length === 1) assert.equal(rates[0], 57.1, "4 of 7 passed");
  const byDoor = charts["chart-doors"];
  const at = (name) => byDoor.categories.indexOf(name);
  assert.deepEqual([...byDoor.categories].sort(), ["back-door", "front-door"]);
  assert.equal(byDoor.series[0].data[at("front-door")], 3);
  assert.equal(byDoor.series[1].data[at("front-door")], 1);
  assert.equal(byDoor.series[0].data[at("back-door")], 1);
  assert.equal(byDoor.series[1].data[at("back-door")], 2);
  const cells = charts["chart-peaks"].series[0].data;
  assert.equal(cells.length, 7 * 24);
  assert.equal(cells.reduce((a, c) => a + c[2], 0), 7, "the heatmap counts every visit");
  await page.getByText("7 visits, 57.1 % passed").waitFor();
  await shot(page, "charts-1-today-desktop");

  // One door: the URL keeps the choice; the door chart still compares both.
  await page.getByRole("combobox", { name: /^Door/ }).selectOption("back-door");
  await page.waitForURL(/door=back-door/);
  await page.getByText("3 visits, 33.3 % passed").waitFor();
  charts = await drawn(page);
  assert.equal(sum(charts["chart-volume"].series[0].data), 1);
  assert.equal(sum(charts["chart-volume"].series[1].data), 2);

  // The last 7 days, per day, all doors; then the dark theme.
  await page.getByRole("combobox", { name: /^Door/ }).selectOption("");
  await page.getByRole("combobox", { name: /^Range/ }).selectOption("7d");
  await page.waitForURL(/range=7d/);
  // A range of days reads "21 Nov – 27 Nov 2026 · all doors · …" (today's has no dash).
  await page.getByText(/ – .* · all doors · 7 visits, 57\.1 % passed/).waitFor();
  charts = await drawn(page);
  assert.equal(charts["chart-volume"].series[0].data.length, 7, "7 days");
  assert.equal(sum(charts["chart-volume"].series[0].data), 4);
  assert.equal(sum(charts["chart-volume"].series[1].data), 3);
  await shot(page, "charts-2-week-desktop");
  await page.getByRole("button", { name: /Dark theme/ }).click();
  await page.waitForTimeout(500);
  charts = await drawn(page);
  assert.equal(sum(charts["chart-volume"].series[0].data), 4, "redrawn in the dark theme");
  await shot(page, "charts-3-week-dark");

  // A phone: charts stack and fit the width.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.waitForTimeout(500);
  charts = await drawn(page);
  for (const id of CHARTS) {
    assert.ok(charts[id].width <= 340 && charts[id].width > 250, `${id} fits 360 px (${charts[id].width})`);
  }
  await shot(page, "charts-4-week-phone-dark");
  await page.getByRole("button", { name: /Dark theme/ }).click();
  await page.waitForTimeout(300);
  await shot(page, "charts-5-week-phone");

  // Empty and wrong ranges say so in words.
  await page.goto(`${base}/charts?range=custom&from=2020-01-01&to=2020-01-07`);
  await page.getByText("No visits in this range.").waitFor();
  await shot(page, "charts-6-empty-phone");
  await page.goto(`${base}/charts?range=custom&from=2020-01-07&to=2020-01-01`);
  await page.getByText("The first day must be on or before the last day.").waitFor();

  assert.deepEqual(errors, [], "no errors in the page");
  await page.close();
});
