// Doors and models end to end in headless Chromium: an admin registers a door (its token
// shown once, with the edge.toml for it), uploads the shipped model (and a broken copy,
// refused in words), rolls it out to the door, then assigns and rolls back on the Doors
// screen. Every step is checked against the server's API too. A viewer sees the lists but no
// admin controls.
//
// Run by scripts/test-ui. Screenshots go to $SHOTS (default: ui/e2e/shots).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Maskgate, launchChromium, logInThroughTheApp, root, shotsDir as shots, visit } from "./server.mjs";

const PASSWORD = "e2e-password-1";
const MANIFEST = join(root, "models/maskgate-cnn-v1.json");
const MODEL = join(root, "models/maskgate-cnn-v1.onnx");

const mg = new Maskgate({ name: "e2e-doors" });
let browser;
let admin;

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  mg.addUser("admin", PASSWORD);
  mg.addUser("viewer", PASSWORD, "viewer");
  await mg.start();
  admin = (await mg.login("admin", PASSWORD)).token;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mg.dispose();
});

test("an admin registers a door, uploads a model, rolls it out, assigns and rolls back", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await logInThroughTheApp(page, mg.base, "admin", PASSWORD);

  // Register: a bad name is refused in the server's words; a good one shows its token once.
  await page.getByRole("link", { name: "Doors" }).click();
  await page.getByText("No doors are registered yet.").waitFor();
  await page.getByLabel("Door name").fill("front door!");
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator(".register .error").waitFor();
  assert.match(await page.locator(".register .error").textContent(), /name/i);
  await page.getByLabel("Door name").fill("front-door");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText("is registered. Copy its token now").waitFor();
  const token = await page.locator("#new-door-token").inputValue();
  assert.match(token, /^mgd_/);
  const commands = await page.locator("#new-door-commands").inputValue();
  assert.ok(commands.includes(`'${token}'`), "the commands store this token");
  const config = await page.locator("#new-door-config").inputValue();
  assert.ok(config.includes(`url = "${mg.base}"`), `edge.toml points here: ${config}`);
  assert.ok(config.includes('token_file = "/etc/maskgate-edge/device-token"'));
  await page.getByRole("heading", { name: "front-door" }).waitFor();
  await shot(page, "doors-1-registered");
  // The token works: the door posts a visit with it.
  await mg.postVisits(token, [visit(new Date(), true, 0.93)]);
  await page.getByRole("button", { name: "Done: I have stored the token" }).click();
  await page.locator("#new-door-token").waitFor({ state: "detached" });

  // Upload: a manifest whose hash does not match the file is refused in words.
  await page.getByRole("link", { name: "Models" }).click();
  await page.getByText("No models are in the registry yet.").waitFor();
  const manifest = JSON.parse(readFileSync(MANIFEST, "utf8"));
  const broken = join(mg.work, "broken.json");
  writeFileSync(broken, JSON.stringify({ ...manifest, sha256: "0".repeat(64) }));
  await page.getByLabel("Manifest (.json)").setInputFiles(broken);
  await page.getByLabel("Model (.onnx)").setInputFiles(MODEL);
  await page.getByRole("button", { name: "Upload" }).click();
  await page.locator(".upload .error").waitFor();
  assert.match(await page.locator(".upload .error").textContent(), /sha-?256/i);
  // Then the real one.
  await page.getByLabel("Manifest (.json)").setInputFiles(MANIFEST);
  await page.getByLabel("Model (.onnx)").setInputFiles(MODEL);
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByText("maskgate-cnn@1.0.0 is in the registry.").waitFor();
  const card = page.locator("article.model", { hasText: "maskgate-cnn@1.0.0" });
  await card.getByText("98.2 % accurate on 797 test photos · 1.1 % false passes · 2.4 % false rejects").waitFor();
  const { items: models } = await mg.api("GET", "/api/v1/models", admin);
  assert.equal(models.length, 1);
  const modelId = models[0].id;

  // Roll out to the chosen door (a canary); the rollout view says so.
  await card.getByRole("button", { name: "Rollout" }).click();
  await card.getByText("No door is assigned this model or runs it.").waitFor();
  await card.getByLabel("front-door").check();
  await card.getByRole("button", { name: "To the chosen doors" }).click();
  await card.getByText("Assigned to 1 door.").waitFor();
  await card.getByText("assigned, not running yet").waitFor();
  const { items: doors } = await mg.api("GET", "/api/v1/devices", admin);
  assert.equal(doors[0].assigned_model_id, modelId);
  await shot(page, "models-1-rollout");

  // Doors: the picker shows the assignment; back to the installed model, then roll back.
  await page.getByRole("link", { name: "Doors" }).click();
  const picker = page.getByLabel("Assigned model");
  await picker.waitFor();
  assert.equal(await picker.inputValue(), String(modelId));
  await picker.selectOption("");
  await page.getByRole("button", { name: "Assign", exact: true }).click();
  await page.getByText("Assigned the model it was installed with.").waitFor();
  assert.equal((await mg.api("GET", "/api/v1/devices", admin)).items[0].assigned_model_id, null);
  assert.ok(await page.getByRole("button", { name: "Roll back" }).isDisabled(), "nothing to roll back to");
  await picker.selectOption(String(modelId));
  await page.getByRole("button", { name: "Assign", exact: true }).click();
  await page.getByText("Assigned maskgate-cnn@1.0.0.").waitFor();
  await page.getByRole("button", { name: "Roll back" }).click();
  await page.getByText("Rolled back to the model it was installed with.").waitFor();
  assert.equal(await picker.inputValue(), "");
  const history = await mg.api("GET", `/api/v1/devices/${doors[0].id}/model-history`, admin);
  assert.deepEqual(
    history.assignments.map((a) => [a.action, a.model_id]),
    [["rollback", null], ["assign", modelId], ["assign", null], ["assign", modelId]],
  );
  await shot(page, "doors-2-rolled-back");

  // At 360 px the forms fit the screen.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ["/doors", "/models"]) {
    await page.goto(`${mg.base}${path}`);
    await page.getByRole("heading", { name: path === "/doors" ? "front-door" : "maskgate-cnn@1.0.0" }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path}: ${overflow} px wider than the screen`);
    await shot(page, `${path.slice(1)}-phone`);
  }

  assert.deepEqual(errors, [], "no errors in the page");
  await context.close();
});

test("a viewer sees doors and models but no admin controls", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
  const page = await context.newPage();
  await logInThroughTheApp(page, mg.base, "viewer", PASSWORD);
  await page.getByRole("link", { name: "Doors" }).click();
  await page.getByRole("heading", { name: "front-door" }).waitFor();
  assert.equal(await page.getByText("Register a door").count(), 0);
  assert.equal(await page.getByLabel("Assigned model").count(), 0);
  await page.getByRole("link", { name: "Models" }).click();
  await page.getByRole("heading", { name: "maskgate-cnn@1.0.0" }).waitFor();
  assert.equal(await page.getByText("Upload a model").count(), 0);
  await page.getByRole("button", { name: "Rollout" }).click();
  await page.getByText("No door is assigned this model or runs it.").waitFor();
  assert.equal(await page.getByRole("button", { name: "To every door" }).count(), 0);
  await shot(page, "models-2-viewer-dark");
  await context.close();
});
