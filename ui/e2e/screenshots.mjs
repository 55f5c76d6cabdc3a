// Screenshots of every screen, wide and phone-sized, light and dark, for people to look at.
//
//   MASKGATE_URL=http://127.0.0.1:8080 MASKGATE_USER=admin MASKGATE_PASSWORD=... \
//   SHOTS=/tmp/shots node screenshots.mjs
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.MASKGATE_URL ?? "http://127.0.0.1:8080";
const out = process.env.SHOTS ?? "shots";
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  for (const [size, viewport] of [["wide", { width: 1280, height: 800 }], ["phone", { width: 360, height: 740 }]]) {
    for (const scheme of ["light", "dark"]) {
      const page = await browser.newPage({ viewport, colorScheme: scheme });
      page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
      await page.goto(`${base}/live`);
      await page.screenshot({ path: `${out}/login-${size}-${scheme}.png` });
      await page.getByLabel("User name").fill(process.env.MASKGATE_USER ?? "admin");
      await page.getByLabel("Password").fill(process.env.MASKGATE_PASSWORD ?? "");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Today" }).waitFor();
      await page.getByText("Pass rate").waitFor();
      await page.waitForTimeout(500);
      await page.screenshot({ path: `${out}/live-${size}-${scheme}.png`, fullPage: true });
      for (const name of ["History", "Charts", "Alerts", "Doors", "Models"]) {
        await page.getByRole("link", { name, exact: false }).first().click();
        await page.getByRole("heading", { name, exact: true }).waitFor();
        // Charts load ECharts on first use, then animate in.
        await page.waitForTimeout(name === "Charts" ? 2500 : 500);
        await page.screenshot({ path: `${out}/${name.toLowerCase()}-${size}-${scheme}.png`, fullPage: true });
      }
      await page.close();
    }
  }
} finally {
  await browser.close();
}
