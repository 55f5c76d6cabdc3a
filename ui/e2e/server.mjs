// What the end-to-end scripts share: a real `maskgate` server on a free port over a fresh
// SQLite file, its CLI, its HTTP API, and Debian's Chromium.
//
// The server binary is $MASKGATE_BIN (default: the debug build in the cargo target dir, or
// the release build with `{ release: true }`), serving the built app in $MASKGATE_UI_DIR
// (default ui/dist).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const root = resolve(import.meta.dirname, "../..");

/** Where screenshots go: $SHOTS, default ui/e2e/shots. */
export const shotsDir = process.env.SHOTS ?? join(import.meta.dirname, "shots");

async function freePort() {
  return new Promise((done) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** A visit as a door posts it. */
export function visit(capturedAt, passed, maskScore, model = "maskgate-cnn@1") {
  return { id: randomUUID(), captured_at: capturedAt.toISOString(), passed, mask_score: maskScore, model };
}

/** A MaskGate server of the test's own: fresh database, free port, started by `start()`. */
export class Maskgate {
  /**
   * @param {object} options
   * @param {string} options.name  tells the temporary folders apart
   * @param {boolean} [options.release]  default to the release binary (benchmarks)
   * @param {string} [options.tz]  the site's time zone
   */
  constructor({ name, release = false, tz = "UTC" }) {
    const target = process.env.CARGO_TARGET_DIR ?? join(root, "target");
    this.bin = process.env.MASKGATE_BIN ?? join(target, release ? "release/maskgate" : "debug/maskgate");
    this.uiDir = process.env.MASKGATE_UI_DIR ?? join(root, "ui/dist");
    this.work = mkdtempSync(join(tmpdir(), `maskgate-${name}-`));
    this.env = {
      ...process.env,
      MASKGATE_DATABASE_URL: `sqlite://${join(this.work, "maskgate.db")}`,
      MASKGATE_UI_DIR: this.uiDir,
      MASKGATE_TZ: tz,
      RUST_LOG: "warn",
    };
    this.server = null;
    this.port = null;
    this.base = null;
  }

  /** Runs `maskgate ARGS` on the same database; its stdout, trimmed. */
  cli(args, input) {
    const run = spawnSync(this.bin, args, { env: this.env, input, encoding: "utf8" });
    assert.equal(run.status, 0, `maskgate ${args.join(" ")}: ${run.stderr}`);
    return run.stdout.trim();
  }

  /** Adds a user with a password; returns nothing. */
  addUser(username, password, role = "admin") {
    this.cli(["user", "add", username, "--role", role, "--password-stdin"], `${password}\n`);
  }

  /** Registers a door; returns its token. */
  addDoor(name) {
    return this.cli(["device", "add", name]);
  }

  /** Starts `maskgate serve` (on the same port as before, after a stop) and waits for health. */
  async start() {
    this.port ??= await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.server = spawn(this.bin, ["serve"], {
      env: { ...this.env, MASKGATE_BIND: `127.0.0.1:${this.port}` },
      stdio: ["ignore", "inherit", "inherit"],
    });
    for (let i = 0; i < 150; i++) {
      if (this.server.exitCode !== null) throw new Error(`maskgate serve exited with ${this.server.exitCode}`);
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the server did not start within 15 s");
  }

  /** Stops the server (SIGTERM) and waits for it to exit. */
  async stop() {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }

  /** Stops the server and removes its database. */
  async dispose() {
    await this.stop();
    rmSync(this.work, { recursive: true, force: true });
  }

  /** A JSON request that must succeed; the parsed answer (null for 204). */
  async api(method, path, token, body) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
    return response.status === 204 ? null : response.json();
  }

  /** Logs in through the API; the answer (token, role, expires_at). */
  async login(username, password) {
    const response = await fetch(`${this.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    assert.ok(response.ok, `login as ${username}: ${response.status}`);
    return response.json();
  }

  /** Posts visits as the door with `token`. */
  async postVisits(token, visits) {
    return this.api("POST", "/api/v1/visits", token, { visits });
  }
}

/** Debian's Chromium, headless ($CHROMIUM overrides the path). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
}

/** Logs in through the app's login screen and waits for the Live screen. */
export async function logInThroughTheApp(page, base, username, password) {
  await page.goto(`${base}/`);
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Today" }).waitFor();
}
