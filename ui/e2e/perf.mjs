// The admin app's performance budget in headless Chromium: bytes transferred (gzip) for the
// app's wasm and JavaScript, and the time to first render of the Live screen, cold (empty
// cache, one new browser context per run) and warm (the same context, reloaded).
//
// Baseline in the same run: the app's HTML shell alone (DOMContentLoaded of index.html, before
// any wasm), so the ratio says what loading and starting the wasm app costs on top of it.
//
//   scripts/build-ui && cargo build --release -p maskgate-api --bin maskgate
//   (cd ui/e2e && npm ci) && node ui/e2e/perf.mjs [--runs 15]
//
// Prints a markdown report for bench/RESULTS.md. Uses $MASKGATE_BIN (default
// target/release/maskgate) and $MASKGATE_UI_DIR (default ui/dist).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Maskgate, launchChromium, visit } from "./server.mjs";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
const PASSWORD = "perf-password-1";
const mg = new Maskgate({ name: "perf", release: true });
const { bin, uiDir } = mg;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const max = (xs) => Math.max(...xs);
const kb = (bytes) => (bytes / 1024).toFixed(1);

// Records, inside the page, when the Live screen has rendered today's numbers.
const WATCH = () => {
  const seen = () => {
    const dd = document.querySelector(".number.pass dd");
    if (dd && /\d/.test(dd.textContent)) {
      window.__liveRendered ??= performance.now();
      return true;
    }
    return false;
  };
  new MutationObserver(() => seen()).observe(document, { childList: true, subtree: true });
};

async function main() {
  mg.addUser("admin", PASSWORD);
  const doorToken = mg.addDoor("front-door");
  await mg.start();
  const base = mg.base;
  try {
    // A realistic morning: 200 visits today, so the numbers and the feed have data.
    const now = Date.now();
    const visits = Array.from({ length: 200 }, (_, i) =>
      visit(new Date(now - i * 60_000), i % 9 !== 0, i % 9 !== 0 ? 0.91 : 0.08),
    );
    await mg.postVisits(doorToken, visits);
    const login = await mg.login("admin", PASSWORD);
    const session = JSON.stringify({
      token: login.token,
      username: "admin",
      role: login.role,
      expires_at: login.expires_at,
    });

    const browser = await launchChromium();
    const cold = { shell: [], live: [], warm: [], wasm: [], js: [], wasmRaw: [] };
    for (let run = 0; run < RUNS; run++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addInitScript(
        ([key, value]) => localStorage.setItem(key, value),
        ["maskgate.session", session],
      );
      await context.addInitScript(WATCH);
      const page = await context.newPage();
      await page.goto(`${base}/live`);
      await page.waitForFunction(() => window.__liveRendered !== undefined, null, { timeout: 10000 });
      const m = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const resources = performance.getEntriesByType("resource");
        const sum = (re, field) =>
          resources.filter((r) => re.test(new URL(r.name).pathname)).reduce((a, r) => a + r[field], 0);
        return {
          shell: nav.domContentLoadedEventEnd,
          live: window.__liveRendered,
          wasm: sum(/\.wasm$/, "encodedBodySize"),
          wasmRaw: sum(/\.wasm$/, "decodedBodySize"),
          js: sum(/\.js$/, "encodedBodySize"),
        };
      });
      for (const k of Object.keys(m)) cold[k].push(m[k]);
      await page.reload();
      await page.waitForFunction(() => window.__liveRendered !== undefined, null, { timeout: 10000 });
      cold.warm.push(await page.evaluate(() => window.__liveRendered));
      await context.close();
    }
    await browser.close();

    const version = spawnSync("/usr/bin/chromium", ["--version"], { encoding: "utf8" }).stdout.trim();
    const index = readFileSync(join(uiDir, "index.html"), "utf8");
    const wasmFile = (index.match(/[\w.-]+\.wasm/) ?? ["?"])[0];
    console.log(`## Admin app: transfer size and first render (node ui/e2e/perf.mjs --runs ${RUNS})`);
    console.log();
    console.log(`- date: ${new Date().toISOString()}; ${cpus().length} cores (${cpus()[0].model}); ${version}, headless`);
    console.log(`- server: ${bin} (${/\/debug\//.test(bin) ? "debug build" : "release build"}), SQLite, 200 visits today; app: ${uiDir} (${wasmFile})`);
    console.log(`- each cold run is a new browser context (empty cache); warm = the same context reloaded`);
    console.log();
    console.log("| measure | median | max | goal |");
    console.log("|---|---|---|---|");
    console.log(`| wasm transferred (gzip) | ${kb(median(cold.wasm))} KiB | ${kb(max(cold.wasm))} KiB | ≤ 1024 KiB |`);
    console.log(`| wasm decoded | ${kb(median(cold.wasmRaw))} KiB | ${kb(max(cold.wasmRaw))} KiB | |`);
    console.log(`| JavaScript transferred (gzip) | ${kb(median(cold.js))} KiB | ${kb(max(cold.js))} KiB | |`);
    console.log(`| baseline: HTML shell DOMContentLoaded, cold | ${median(cold.shell).toFixed(0)} ms | ${max(cold.shell).toFixed(0)} ms | |`);
    console.log(`| Live screen with today's numbers, cold | ${median(cold.live).toFixed(0)} ms | ${max(cold.live).toFixed(0)} ms | ≤ 1000 ms |`);
    console.log(`| Live screen with today's numbers, warm | ${median(cold.warm).toFixed(0)} ms | ${max(cold.warm).toFixed(0)} ms | |`);
    console.log();
    console.log(
      `Ratio cold first render / HTML shell (medians): ${(median(cold.live) / Math.max(median(cold.shell), 1)).toFixed(1)}×; ` +
        `warm / cold: ${(median(cold.warm) / median(cold.live)).toFixed(2)}.`,
    );
  } finally {
    await mg.dispose();
  }
}

await main();
