// The admin console in a real headless Chromium against the built server
// on a real database (SQLite, or PostgreSQL with E2E_DATABASE=postgres),
// signed in through a test OpenID provider started here. Screenshots of
// each screen go to target/e2e-screenshots/.
//
//   cargo build && (cd tests/e2e && npm ci && npm test)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { startProvider } from "./oidc-provider.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.SCIM_BRIDGE_BIN || path.join(root, "target/debug/scim-bridge");
const backend = process.env.E2E_DATABASE || "sqlite";
const shots = path.join(root, "target/e2e-screenshots", backend);
const CLIENT_ID = "scim-bridge-console";
const ADMIN = "admin@example.com";

// Script errors and CSP refusals seen in the browser: none allowed.
const problems = [];
// axe-core's serious and critical findings, page by page: none allowed.
const inaccessible = [];
// axe-core, run in the page. The console's CSP refuses an inline <script>
// (page.addScriptTag), so the source is evaluated through the debugger
// protocol instead, which the CSP does not govern.
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
let tmp, provider, server, base, browser, page, dbUrl, schema;
// Pages met on the way, surveyed together near the end: [name, url].
let jobUrl, whyUrl;
// A webhook receiver: what it got, and the statuses it answers next (then 204).
let receiver, hookUrl;
const hooks = [];
const hookReplies = [];

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

function database() {
  if (backend === "postgres") {
    const pg = process.env.SCIM_BRIDGE_TEST_POSTGRES || "postgres://postgres@127.0.0.1:5432/test";
    schema = `e2e_${Date.now()}_${process.pid}`;
    execFileSync("psql", [pg, "-qAtc", `CREATE SCHEMA ${schema}`], { stdio: "pipe" });
    const sep = pg.includes("?") ? "&" : "?";
    return `${pg}${sep}options=-c%20search_path%3D${schema}`;
  }
  return `sqlite://${path.join(tmp, "e2e.db")}`;
}

async function waitHealthy(url) {
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error("the server never became healthy");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const nav = (name) => page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name });

async function shot(name) {
  // caret "initial": hiding the caret would inject a style the CSP refuses.
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true, caret: "initial" });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scim-bridge-e2e-"));
  fs.rmSync(shots, { recursive: true, force: true });
  fs.mkdirSync(shots, { recursive: true });
  provider = await startProvider({ clientId: CLIENT_ID, email: ADMIN });
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      hooks.push({ headers: req.headers, body });
      res.writeHead(hookReplies.shift() ?? 204);
      res.end();
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  dbUrl = database();
  execFileSync(bin, ["--database", dbUrl, "admin", "bootstrap", "--email", ADMIN, "--name", "Ada Admin"], { stdio: "pipe" });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    SCIM_BRIDGE_PUBLIC_URL: base,
    SCIM_BRIDGE_OIDC_ISSUER: provider.issuer,
    SCIM_BRIDGE_OIDC_AUDIENCE: "scim-bridge-api",
    SCIM_BRIDGE_OIDC_JWKS_URL: `${provider.issuer}/jwks`,
    SCIM_BRIDGE_OIDC_CLIENT_ID: CLIENT_ID,
    SCIM_BRIDGE_TOKEN_CACHE_MS: "0",
    // The receiver above, on loopback; a failure is kept at once.
    SCIM_BRIDGE_EVENT_ALLOW_HTTP: '["127.0.0.1"]',
    SCIM_BRIDGE_EVENT_ALLOW_PRIVATE: '["127.0.0.1"]',
    SCIM_BRIDGE_EVENT_RETRY_HOURS: "0",
  };
  server = spawn(bin, ["--database", dbUrl, "serve", "--bind", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  server.stderr.on("data", (d) => { log += d; });
  server.on("exit", (code) => { if (code) console.error(`server exited ${code}\n${log}`); });
  await waitHealthy(base);
  const profile = fs.mkdtempSync(path.join(tmp, "profile-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    // A zone that is not UTC (and has no daylight saving): times shown in
    // the browser's zone then differ from the UTC the server writes.
    timezoneId: "Asia/Kolkata",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(10000);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
      problems.push(`CSP refusal on ${page.url()}: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    const missing = r.status() === 404 && !r.url().endsWith("/favicon.ico");
    if (missing || r.status() >= 500) problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  provider?.close();
  receiver?.close();
  if (schema) {
    const pg = process.env.SCIM_BRIDGE_TEST_POSTGRES || "postgres://postgres@127.0.0.1:5432/test";
    execFileSync("psql", [pg, "-qAtc", `DROP SCHEMA ${schema} CASCADE`], { stdio: "pipe" });
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

// The focused element: its id, or its accessible text.
async function focused(what) {
  return page.evaluate((what) => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    if (what === "id") return el.id;
    return (el.getAttribute("aria-label") || el.innerText || el.value || "").trim();
  }, what);
}

// The id of the dialog open as a modal, or null.
const modal = () => page.evaluate(() => document.querySelector("dialog:modal")?.id ?? null);

// Tab (forward and back) until the named control has focus.
async function tabTo(name) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    if ((await focused("text")) === name) return;
  }
  throw new Error(`Tab never reached "${name}"`);
}

// Tab until the control with this id has focus (a field without text).
async function tabToId(id) {
  for (let i = 0; i < 80; i++) {
    if ((await focused("id")) === id) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached #${id}`);
}

// Tab and Shift+Tab round a modal dialog: focus never leaves it.
async function focusStaysIn(id) {
  for (const key of ["Tab", "Tab", "Tab", "Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]) {
    await page.keyboard.press(key);
    const inside = await page.evaluate((id) => !!document.activeElement?.closest(`dialog#${id}`), id);
    assert.ok(inside, `focus left ${id} after ${key}`);
  }
}

// Reloads the page until `ready()` holds (at most 10 s).
async function reloadUntil(ready, what) {
  for (let i = 0; i < 100; i++) {
    if (await ready()) return;
    await page.waitForTimeout(100);
    await page.reload();
  }
  throw new Error(`never: ${what}`);
}

// Nothing on the page is wider than the screen (names what sticks out).
async function fitsWidth(name) {
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const culprits = await page.evaluate(() => Array.from(document.querySelectorAll("body *"))
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5)
    .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : ""}`));
  assert.ok(wide <= 0, `${name} is ${wide}px wider than the screen: ${culprits.join(", ")}`);
}

// axe-core on the page as it is: each serious or critical violation is
// kept (rule, help, the nodes it names) for the walk's last step.
async function accessible(name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n      ${v.nodes.map((n) => n.target.join(" ")).join("\n      ")}`));
  for (const f of found) inaccessible.push(`${name} (${page.url().replace(base, "")}) ${f}`);
}

// A console page at a phone's and a laptop's width: nothing wider than
// the screen, Sign out on screen, no serious accessibility violation, and a
// screenshot of each.
async function survey(name, url) {
  for (const [width, height] of [[390, 844], [1366, 900]]) {
    await page.setViewportSize({ width, height });
    await page.goto(url);
    await page.getByRole("heading", { level: 1 }).waitFor();
    await fitsWidth(`${name} at ${width} px`);
    const out = await page.evaluate(() => {
      const button = document.querySelector(".signout button");
      if (!button) return false; // signed out, or an error page: no frame
      const b = button.getBoundingClientRect();
      return b.right > window.innerWidth || b.left < 0;
    });
    assert.ok(!out, `Sign out is off screen on ${name} at ${width} px`);
    await accessible(`${name} at ${width} px`);
    await shot(`${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

// A dialog the console's script opens as a modal (`open()` clicks what
// opens it), at a phone's and a laptop's width: modal, focus where it
// belongs (`focus`: "Cancel" for a destructive confirmation, else a
// field's id or a button's text), nothing wider than the screen, the dialog inside it, no
// serious accessibility violation with it open, and a screenshot. Escape
// closes it.
async function dialogSurvey(name, url, id, focus, open) {
  for (const [width, height] of [[390, 844], [1366, 900]]) {
    await page.setViewportSize({ width, height });
    await page.goto(url);
    await page.getByRole("heading", { level: 1 }).waitFor();
    await open();
    await page.waitForFunction((id) => document.querySelector("dialog:modal")?.id === id, id);
    const at = (await focused("id")) || (await focused("text"));
    assert.equal(at, focus, `${name} at ${width} px opens with focus on ${focus}`);
    await fitsWidth(`${name} dialog at ${width} px`);
    const clipped = await page.evaluate((id) => {
      const b = document.getElementById(id).getBoundingClientRect();
      return b.left < 0 || b.right > window.innerWidth;
    }, id);
    assert.ok(!clipped, `the ${name} dialog fits at ${width} px`);
    await accessible(`${name} dialog at ${width} px`);
    await shot(`dialog-${name}-${width}`);
    await page.keyboard.press("Escape");
    assert.equal(await modal(), null, `Escape closes ${name}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

// The text a <time> shows: the browser's zone (here UTC+05:30), to the
// second, its exact UTC value as its title.
async function localTime(time) {
  // The script converts each <time data-local> once the page (or the
  // part htmx swapped in) has loaded, and then drops data-local.
  await page.waitForFunction((el) => !el.hasAttribute("data-local"), await time.elementHandle());
  const title = await time.getAttribute("title");
  const utc = new Date(title);
  assert.ok(!isNaN(utc), `a <time> with its UTC value as title: ${title}`);
  const k = new Date(utc.getTime() + 330 * 60000).toISOString();
  const want = `${k.slice(0, 10)} ${k.slice(11, 19)}`;
  const shown = (await time.innerText()).trim();
  assert.ok(shown.startsWith(want), `${shown} is ${title} in the browser's zone (${want})`);
  return shown;
}

// A download started by clicking `link`: its saved path.
async function download(link) {
  const [d] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const file = path.join(tmp, `${Date.now()}-${d.suggestedFilename()}`);
  await d.saveAs(file);
  return file;
}

// Steps run in order and the first failure ends the walk (each step
// builds on the one before).
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    await shot(`failed-${name.replace(/[^a-z0-9]+/gi, "-")}`).catch(() => {});
    e.message = `${name}: ${e.message}`;
    // What axe-core found before the failure, so as not to lose it.
    if (inaccessible.length && !e.message.includes("axe-core found")) e.message += `\naxe-core found meanwhile:\n  ${inaccessible.join("\n  ")}`;
    throw e;
  }
}

test("an administrator walks every flow of the console", async () => {
  await step("sign in through the identity provider", async () => {
    await page.goto(`${base}/admin/users`);
    await page.waitForURL(/\/admin\/signin$/);
    await shot("01-sign-in");
    await survey("page-signin", `${base}/admin/signin`);
    await page.goto(`${base}/admin/users`);
    await page.waitForURL(/\/admin\/signin$/);
    await page.getByRole("link", { name: "Sign in with your identity provider" }).click();
    await page.waitForURL(/\/admin\/users$/);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    assert.match(await page.locator(".me").innerText(), /admin@example.com/);
    const cookies = await browser.cookies(`${base}/admin/users`);
    const session = cookies.find((c) => c.name === "scim_bridge_session");
    assert.ok(session.httpOnly && session.sameSite === "Strict");
    await shot("02-users");
  });

  await step("create an IAM to migrate to", async () => {
    await nav("IAMs").click();
    await page.getByLabel("Name", { exact: true }).fill("okta");
    await page.getByLabel("Display name").fill("Okta");
    await page.getByRole("button", { name: "Create IAM" }).click();
    await page.getByRole("heading", { name: /^okta/ }).waitFor();
  });

  await step("New User, from the keyboard; an error stays in the dialog", async () => {
    await nav("Users").click();
    await page.getByRole("link", { name: "New User" }).click();
    const dialog = page.getByRole("dialog", { name: "New User" });
    await dialog.waitFor();
    await shot("03-new-user");
    // Focus starts in Full Name; Tab to Email; Enter submits.
    await page.keyboard.type("Compliance One");
    await page.keyboard.press("Tab");
    await page.keyboard.type("admin@example.com"); // taken: the server refuses
    await page.getByRole("button", { name: "Create" }).click();
    await dialog.getByRole("alert").waitFor();
    await shot("04-new-user-error");
    await dialog.getByLabel("Email").fill("c1@example.com");
    await dialog.getByLabel("Email").press("Enter");
    await page.getByRole("heading", { name: "Compliance One" }).waitFor();
    await shot("05-user");
  });

  await step("add and remove GOVERNANCE", async () => {
    await page.getByRole("link", { name: "Add Permissions" }).click();
    const dialog = page.getByRole("dialog", { name: "Add Permissions" });
    await dialog.getByLabel("Select Permission").selectOption("GOVERNANCE");
    await shot("06-add-permissions");
    await dialog.getByRole("button", { name: "Add" }).click();
    const remove = page.getByRole("button", { name: "Remove GOVERNANCE" });
    await remove.waitFor();
    await page.getByRole("cell", { name: "GOVERNANCE", exact: true }).waitFor();
    await remove.click();
    await remove.waitFor({ state: "detached" });
    assert.equal(await page.getByRole("cell", { name: "GOVERNANCE", exact: true }).count(), 0);
  });

  await step("disable; found only with Include disabled accounts", async () => {
    await page.getByText("Actions").click();
    await page.getByRole("link", { name: "Disable" }).click();
    await shot("07-disable");
    await page.getByRole("dialog").getByRole("button", { name: "Disable" }).click();
    await page.locator("h1 .badge", { hasText: "Disabled" }).waitFor();
    await nav("Users").click();
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByLabel("Search users").fill("c1@");
    await page.getByLabel("Search users").press("Enter");
    await page.getByRole("caption").filter({ hasText: "No users match." }).waitFor();
    await page.getByLabel("Include disabled accounts").check();
    await page.getByRole("link", { name: "Compliance One" }).waitFor();
    await shot("08-users-with-disabled");
    await page.getByRole("link", { name: "Compliance One" }).click();
    await page.getByRole("heading", { name: "Compliance One" }).waitFor();
  });

  await step("migrate to another IAM", async () => {
    await page.getByText("Actions").click();
    await page.getByRole("link", { name: "Migrate User" }).click();
    const dialog = page.getByRole("dialog", { name: "Migrate User" });
    await dialog.getByLabel("IAM").selectOption("okta");
    await dialog.getByLabel("Username").fill("c1@okta.example");
    await shot("09-migrate");
    await dialog.getByRole("button", { name: "Migrate User" }).click();
    await page.getByText("c1@okta.example").first().waitFor();
    assert.match(await page.locator(".facts").innerText(), /okta/);
  });

  await step("permanently delete: refused until Delete is typed", async () => {
    await page.getByText("Actions").click();
    await page.getByRole("link", { name: "Permanently Delete" }).click();
    const dialog = page.getByRole("dialog");
    const confirm = dialog.getByRole("button", { name: "Confirm Permanent Delete" });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.getByLabel("Type Delete to confirm").fill("delete");
    assert.equal(await confirm.isDisabled(), true, "the wrong case does not enable it");
    await shot("10-delete-refused");
    await dialog.getByLabel("Type Delete to confirm").fill("Delete");
    assert.equal(await confirm.isDisabled(), false);
    await shot("11-delete-ready");
    await confirm.click();
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByLabel("Search users").fill("c1@");
    await page.getByLabel("Search users").press("Enter");
    await page.getByLabel("Include disabled accounts").check();
    await page.getByRole("caption").filter({ hasText: "No users match." }).waitFor();
  });

  await step("issue a SCIM token, shown once, then revoke it", async () => {
    await nav("IAMs").click();
    await page.getByRole("link", { name: "okta" }).click();
    await page.getByRole("link", { name: "Issue SCIM token" }).click();
    const issue = page.getByRole("dialog", { name: "Issue SCIM token" });
    await issue.getByLabel("Label").fill("Okta provisioning");
    await shot("12-issue-token");
    await issue.getByRole("button", { name: "Issue token" }).click();
    const token = await page.getByLabel("Token", { exact: true }).inputValue();
    assert.equal(await page.getByLabel("SCIM base URL").inputValue(), `${base}/scim/v2`);
    await shot("13-token-once");
    const ok = await fetch(`${base}/scim/v2/Users`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    // The identity provider sends a group: the Groups page opens on it.
    const group = await fetch(`${base}/scim/v2/Groups`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Engineering" }),
    });
    assert.equal(group.status, 201, await group.text());
    await page.reload();
    assert.equal((await page.content()).includes(token), false, "never shown again");
    await page.getByRole("link", { name: /^Revoke/ }).click();
    const revoke = page.getByRole("dialog", { name: "Revoke SCIM token?" });
    assert.match(await revoke.innerText(), /Okta provisioning/);
    await shot("14-revoke-token");
    await revoke.getByRole("button", { name: "Revoke token" }).click();
    await page.getByText(/^revoked/).waitFor();
    await shot("15-token-revoked");

    // A settings error keeps what was typed, and says what is wrong there.
    const settings = page.getByRole("region", { name: "Settings" });
    await settings.getByLabel("AUDIT", { exact: true }).check();
    await settings.getByLabel("Delete the account permanently").check();
    await settings.getByLabel(/^Attribute mapping/).fill("nonsense");
    await settings.getByLabel(/^Group permissions/).fill("Engineering = GOVERNANCE");
    await settings.getByRole("button", { name: "Save settings" }).click();
    await settings.getByRole("alert").filter({ hasText: "Attribute mapping: each line is 'left = right' ('nonsense' is not)" }).waitFor();
    assert.equal(await settings.getByLabel(/^Attribute mapping/).inputValue(), "nonsense");
    // Tied to its field: marked invalid, described by the error, focused.
    assert.equal(await settings.getByLabel(/^Attribute mapping/).getAttribute("aria-invalid"), "true");
    assert.equal(await settings.getByLabel(/^Attribute mapping/).getAttribute("aria-describedby"), "settings-error");
    // htmx focuses the [autofocus] field once the page has settled.
    await page.waitForFunction(() => document.activeElement?.id === "attributeMapping");
    assert.equal(await settings.getByLabel(/^Group permissions/).inputValue(), "Engineering = GOVERNANCE");
    assert.ok(await settings.getByLabel("AUDIT", { exact: true }).isChecked(), "the ticked permission stays ticked");
    assert.ok(await settings.getByLabel("Delete the account permanently").isChecked(), "the chosen delete mode stays chosen");
    await shot("15-iam-settings-error");
    await accessible("iam settings error");
    // Put right, saved, and said so.
    await settings.getByLabel(/^Attribute mapping/).fill("");
    await settings.getByRole("button", { name: "Save settings" }).click();
    await page.getByRole("status").filter({ hasText: "Saved the settings of okta." }).waitFor();
    assert.equal(await settings.getByLabel(/^Group permissions/).inputValue(), "Engineering = GOVERNANCE\n");
    assert.ok(await settings.getByLabel("AUDIT", { exact: true }).isChecked());
    const refused = await fetch(`${base}/scim/v2/Users`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(refused.status, 401);
  });

  await step("metrics: the chart, then download the last 7 days", async () => {
    // The touches so far reach the server (the script batches them).
    const reported = page.waitForResponse((r) => r.url().endsWith("/admin/ui-events") && r.status() === 204);
    await nav("Metrics").click();
    await reported;
    await page.reload();
    await page.getByRole("heading", { name: "Metrics" }).waitFor();
    assert.equal(await page.locator("svg.chart rect.bar").count(), 30);
    // Axes and values written out, read without hovering.
    const ticks = await page.locator("svg.chart .y-axis text.tick").allTextContents();
    assert.ok(ticks.length >= 2 && ticks[0].trim() === "0", `y axis: ${ticks}`);
    const values = await page.locator("svg.chart text.value").allTextContents();
    assert.ok(values.length >= 1 && values.every((v) => Number(v) > 0), `values: ${values}`);
    const dates = await page.locator("svg.chart > text.tick").allTextContents();
    assert.ok(dates.length >= 5 && dates.every((d) => /^\d\d-\d\d$/.test(d.trim())), `dates: ${dates}`);
    await page.getByText("The chart's numbers, day by day").click();
    await page.getByRole("cell", { name: values[0].trim(), exact: true }).first().waitFor();
    await shot("16-metrics");
    await page.getByRole("link", { name: "Download metrics" }).click();
    const dialog = page.getByRole("dialog", { name: "Download Metrics" });
    await dialog.getByLabel("Number of Days").fill("7");
    await shot("17-download-metrics");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      dialog.getByRole("button", { name: "Download" }).click(),
    ]);
    const file = path.join(tmp, download.suggestedFilename());
    await download.saveAs(file);
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(doc.schemaVersion, 1);
    assert.equal(doc.days.length, 7);
    const today = doc.days.at(-1);
    assert.ok(today.workflows["user.created"] >= 1, JSON.stringify(today));
    assert.ok(today.workflows["user.deleted"] >= 1 || Object.keys(today.workflows).some((k) => k.includes("delete")), JSON.stringify(today));
    assert.ok(today.ui["new-user"] >= 1, JSON.stringify(today.ui));
    assert.ok(!JSON.stringify(doc).includes("c1@"), "anonymous");
  });

  await step("governance: grant GOVERNANCE to oneself, then the new sections show", async () => {
    await nav("Users").click();
    await page.getByLabel("Search users").fill("admin@");
    await page.getByLabel("Search users").press("Enter");
    // The search's page first: a click on the list before it comes races it.
    await page.waitForURL(/[?&]q=admin%40/);
    await page.getByRole("link", { name: "Ada Admin" }).click();
    await page.getByRole("heading", { name: "Ada Admin" }).waitFor();
    assert.equal(await nav("Tags").count(), 0, "no Tags without GOVERNANCE");
    await page.getByRole("link", { name: "Add Permissions" }).click();
    const dialog = page.getByRole("dialog", { name: "Add Permissions" });
    await dialog.getByLabel("Select Permission").selectOption("GOVERNANCE");
    await dialog.getByRole("button", { name: "Add" }).click();
    await page.getByRole("button", { name: "Remove GOVERNANCE" }).waitFor();
    await nav("Tags").waitFor();
    await nav("Data sources").waitFor();
    await nav("Policies").waitFor();
  });

  await step("governance: create tags, a child creating its parent", async () => {
    await nav("Tags").click();
    await page.getByRole("heading", { name: "Tags" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Environment.Dev");
    await page.getByLabel("Description").fill("Development data");
    await page.getByRole("button", { name: "Create tag" }).click();
    await page.locator("th.depth-1 .leaf", { hasText: "Dev" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Environment..Prod");
    await page.getByRole("button", { name: "Create tag" }).click();
    await page.locator("#tag-name-error").waitFor();
    assert.equal(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), "true");
    await shot("30-tag-error");
    await page.getByLabel("Name", { exact: true }).fill("Environment.Prod");
    await page.getByRole("button", { name: "Create tag" }).click();
    // The create's page first: a click on the link before it comes races it.
    await page.locator("th.depth-1 .leaf", { hasText: "Prod" }).waitFor();
    await nav("Tags").click();
    await page.locator("th.depth-0 .leaf", { hasText: "Environment" }).waitFor();
    assert.equal(await page.locator("th.depth-1 .leaf").count(), 2);
    await shot("31-tags");
    // Delete, confirmed in a dialog the script points at the tag.
    await page.getByLabel("Name", { exact: true }).fill("Scratch");
    await page.getByRole("button", { name: "Create tag" }).click();
    await page.locator("th.depth-0 .leaf", { hasText: "Scratch" }).waitFor();
    await page.getByRole("link", { name: "Delete Scratch" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete tag?" });
    assert.match(await dialog.innerText(), /Scratch and every tag below it/);
    await dialog.getByRole("button", { name: "Delete tag" }).click();
    await page.locator("th.depth-0 .leaf", { hasText: "Scratch" }).waitFor({ state: "detached" });
    await page.locator("th.depth-0 .leaf", { hasText: "Environment" }).waitFor();
  });

  await step("governance: register a data source", async () => {
    await nav("Data sources").click();
    await page.getByRole("heading", { name: "Data sources" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Sales");
    await page.getByLabel("Tags", { exact: true }).fill("Environment.Dev");
    await page.getByLabel("Columns").fill("email: Environment.Prod");
    await shot("32-register-data-source");
    await page.getByRole("button", { name: "Register data source" }).click();
    await page.getByRole("heading", { name: "Sales" }).waitFor();
    await page.getByRole("button", { name: "Remove tag Environment.Dev" }).waitFor();
    await page.getByRole("rowheader", { name: "email" }).waitFor();
    await shot("33-data-source");
  });

  await step("governance: build a policy; the advanced rule's error beside it; the job", async () => {
    await nav("Policies").click();
    await page.getByRole("link", { name: "New policy" }).click();
    await page.getByRole("heading", { name: "New policy" }).waitFor();
    await page.getByLabel("Key").fill("dev-only");
    await page.getByLabel("Name", { exact: true }).fill("Dev data only");
    await page.getByLabel("Tags on the data source").fill("Environment");
    await page.getByLabel("An advanced rule").check();
    assert.ok(await page.getByLabel("Groups", { exact: true }).isHidden(), "the builder's fields give way");
    await page.getByLabel("Advanced rule", { exact: true }).fill("@hasAttribute('Environment', 'Dev') AND");
    await page.getByRole("button", { name: "Create policy" }).click();
    const error = page.locator("#advanced-error");
    await error.waitFor();
    assert.match(await error.innerText(), /at column 40/);
    await shot("34-policy-error");
    await page.getByLabel("Groups and attribute values").check();
    await page.getByLabel("Attribute values", { exact: true }).fill("Environment=Dev");
    await page.getByRole("button", { name: "Create policy" }).click();
    await page.getByRole("link", { name: "follow the job" }).click();
    await page.getByRole("heading", { name: "Re-evaluating subscriptions" }).waitFor();
    await page.locator("[data-job-state]", { hasText: "done" }).waitFor();
    jobUrl = page.url();
    await shot("35-job");
    await nav("Policies").click();
    await page.getByRole("link", { name: "Dev data only" }).waitFor();
    await shot("36-policies");
  });

  await step("governance: why can this person see this data source", async () => {
    await nav("Users").click();
    await page.getByLabel("Search users").fill("admin@");
    await page.getByLabel("Search users").press("Enter");
    // The search's page first: a click on the list before it comes races it.
    await page.waitForURL(/[?&]q=admin%40/);
    await page.getByRole("link", { name: "Ada Admin" }).click();
    await page.getByLabel("Attribute", { exact: true }).fill("Environment");
    await page.getByLabel("Value", { exact: true }).fill("Dev");
    await page.getByRole("button", { name: "Add value" }).click();
    await page.getByRole("button", { name: "Remove Environment value Dev" }).waitFor();
    // Added, and subscribed by the policy before the write was answered.
    await page.getByText("(subscriber, policy:dev-only)").waitFor();
    await page.getByLabel("Data source", { exact: true }).selectOption({ label: "Sales" });
    await page.getByRole("button", { name: "Explain" }).click();
    await page.getByRole("heading", { name: "Why can Ada Admin see Sales?" }).waitFor();
    assert.match(await page.locator(".decision").innerText(), /May subscribe/);
    await page.getByText("attribute Environment=Dev (managed)").first().waitFor();
    await shot("37-why");
    whyUrl = page.url();
  });

  await step("audit: the bootstrap admin opens the log by granting itself AUDIT", async () => {
    await nav("Audit").click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await shot("50-audit-closed");
    await survey("page-audit-closed", `${base}/admin/audit`);
    await page.getByRole("button", { name: "Grant myself AUDIT" }).click();
    await page.getByRole("status").filter({ hasText: "Granted yourself AUDIT" }).waitFor();
    await page.getByRole("search", { name: "Filter the audit log" }).waitFor();
  });

  await step("audit: a person's history on their page, then their records found by email and exported", async () => {
    await nav("Users").click();
    await page.getByRole("link", { name: "New User" }).click();
    const dialog = page.getByRole("dialog", { name: "New User" });
    await dialog.getByLabel("Full Name").fill("Audit Subject");
    await dialog.getByLabel("Email").fill("audit.subject@example.com");
    await dialog.getByLabel("Email").press("Enter");
    await page.getByRole("heading", { name: "Audit Subject" }).waitFor();
    await page.getByRole("link", { name: "Add Permissions" }).click();
    const grant = page.getByRole("dialog", { name: "Add Permissions" });
    await grant.getByLabel("Select Permission").selectOption("GOVERNANCE");
    await grant.getByRole("button", { name: "Add" }).click();
    await page.getByRole("button", { name: "Remove GOVERNANCE" }).waitFor();
    // The history: newest first, the admin by name with a link.
    const history = page.locator("#history");
    await history.getByRole("caption").filter({ hasText: "Changes to this account, newest first" }).waitFor();
    const actions = await history.locator("tbody tr td:nth-child(3)").allInnerTexts();
    assert.equal(actions.at(-1), "user.created", `oldest last: ${actions}`);
    assert.equal(actions[0], "permission.added", `newest first: ${actions}`);
    await history.getByRole("link", { name: "Ada Admin" }).first().waitFor();
    await shot("51-user-history");

    // The audit log, searched by the email address.
    await nav("Audit").click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.getByLabel("Person", { exact: true }).fill("audit.subject@example.com");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("Records by or about Audit Subject").waitFor();
    const rows = page.locator("table.audit tbody tr");
    const n = await rows.count();
    assert.ok(n >= 2, `records: ${n}`);
    for (const cell of await page.locator("table.audit tbody td[data-target]").allInnerTexts()) {
      assert.equal(cell.trim(), "Audit Subject", "every record is about her");
    }
    await page.getByRole("caption").filter({ hasText: `Records 1–${n} of ${n}, newest first` }).waitFor();
    await page.locator("table.audit tbody td[data-actor]").getByRole("link", { name: "Ada Admin" }).first().waitFor();
    // The action, picked from the list.
    await page.getByLabel("Action", { exact: true }).selectOption("user.created");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByRole("caption").filter({ hasText: "Records 1–1 of 1, newest first" }).waitFor();
    await shot("52-audit-search");
    // The download carries the same filter.
    const csv = fs.readFileSync(await download(page.getByRole("link", { name: "CSV" })), "utf8").trim().split(/\r?\n/);
    assert.equal(csv.length, 2, csv.join("\n"));
    assert.match(csv[0], /^seq,id,at,actor,actorName,action,targetKind,target,targetName,/);
    assert.match(csv[1], /,Ada Admin,user\.created,User,[0-9a-f-]{36},Audit Subject,success,/);
    const json = JSON.parse(fs.readFileSync(await download(page.getByRole("link", { name: "JSON" })), "utf8"));
    assert.equal(json.count, 1);
    assert.equal(json.records[0].action, "user.created");
    assert.equal(json.records[0].targetName, "Audit Subject");
    // Somebody nobody is: said so.
    await page.getByLabel("Person", { exact: true }).fill("nobody@example.com");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No one matches “nobody@example.com”").waitFor();
    for (const [width, height] of [[390, 844], [1366, 900]]) {
      await page.setViewportSize({ width, height });
      await page.goto(`${base}/admin/audit?person=audit.subject%40example.com`);
      await page.getByRole("heading", { name: "Audit log" }).waitFor();
      await fitsWidth(`audit at ${width} px`);
      await shot(`53-audit-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step("users: filter by permission, bulk disable with one confirmation, export the list", async () => {
    for (const who of ["Bulk One", "Bulk Two"]) {
      await nav("Users").click();
      await page.getByRole("link", { name: "New User" }).click();
      const dialog = page.getByRole("dialog", { name: "New User" });
      await dialog.getByLabel("Full Name").fill(who);
      await dialog.getByLabel("Email").fill(`${who.toLowerCase().replace(" ", ".")}@example.com`);
      await dialog.getByLabel("Email").press("Enter");
      await page.getByRole("heading", { name: who }).waitFor();
    }
    await nav("Users").click();
    await page.getByLabel("Search users").fill("bulk.");
    await page.getByLabel("Search users").press("Enter");
    await page.getByRole("caption").filter({ hasText: "Users 1–2 of 2" }).waitFor();
    await page.getByLabel("Select Bulk One").check();
    await page.getByLabel("Select Bulk Two").check();
    await page.getByLabel("With the selected users").selectOption("disable");
    await page.getByRole("button", { name: "Apply to selected" }).click();
    const dialog = page.getByRole("dialog", { name: "Disable 2 accounts?" });
    await dialog.waitFor();
    // The page comes with the dialog open; the script then makes it modal.
    await page.waitForFunction(() => document.querySelector("dialog:modal")?.id === "dlg-bulk");
    assert.equal(await focused("text"), "Cancel", "the confirmation starts on Cancel");
    assert.deepEqual(await dialog.getByRole("listitem").allInnerTexts(), ["Bulk One", "Bulk Two"]);
    await shot("54-bulk-confirm");
    // Enter on Cancel: nothing changes.
    await page.keyboard.press("Enter");
    assert.equal(await modal(), null);
    assert.equal(await page.locator("td[data-ui=bridge-state]", { hasText: "Disabled" }).count(), 0);
    await page.getByRole("button", { name: "Apply to selected" }).click();
    await dialog.getByRole("button", { name: "Disable 2 accounts" }).click();
    await page.getByRole("status").filter({ hasText: "Disabled 2 accounts." }).waitFor();
    const states = await page.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [
      tr.querySelector("td:nth-child(2)").innerText.trim(), tr.querySelector("td[data-ui=bridge-state]").innerText.trim()]));
    assert.deepEqual(states, [["Bulk One", "Disabled"], ["Bulk Two", "Disabled"]]);
    await shot("55-bulk-done");

    // Filter by permission: the holders of GOVERNANCE, then export them.
    await page.getByLabel("Search users").fill("");
    await page.getByLabel("Permission", { exact: true }).selectOption("GOVERNANCE");
    await page.getByRole("button", { name: "Apply", exact: true }).click();
    await page.getByRole("link", { name: "Audit Subject" }).waitFor();
    const names = await page.locator("tbody tr td:nth-child(2)").allInnerTexts();
    assert.ok(names.includes("Ada Admin") && !names.includes("Bulk One"), names.join(", "));
    const csv = fs.readFileSync(await download(page.getByRole("link", { name: "Download this list (CSV)" })), "utf8").trim().split(/\r?\n/);
    assert.equal(csv.length, names.length + 1, csv.join("\n"));
    assert.ok(csv.some((l) => l.includes(",audit.subject@example.com,Audit Subject,bim,")), csv.join("\n"));
    for (const [width, height] of [[390, 844], [1366, 900]]) {
      await page.setViewportSize({ width, height });
      await page.reload();
      await page.getByRole("heading", { name: "Users" }).waitFor();
      await fitsWidth(`users at ${width} px`);
      await shot(`56-users-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step("event streams: refused, created with its secret once, a failure retried, paused, deleted", async () => {
    await nav("Event streams").click();
    await page.getByRole("heading", { name: "Event streams", level: 1 }).waitFor();
    await page.getByLabel("Endpoint").fill("https://169.254.169.254/latest/meta-data/");
    await page.getByLabel("user.created").check();
    await page.getByRole("button", { name: "Create event stream" }).click();
    assert.match(await page.locator("#stream-endpoint-error").innerText(), /internal address/);
    assert.ok(await page.getByLabel("user.created").isChecked(), "kept as ticked");
    await shot("40-event-stream-refused");
    await page.getByLabel("Endpoint").fill(hookUrl);
    await page.getByRole("button", { name: "Create event stream" }).click();
    const secret = await page.getByLabel("Signing secret").inputValue();
    assert.match(secret, /^whsec_/);
    await shot("41-event-stream-secret");
    await page.reload();
    assert.equal((await page.content()).includes(secret), false, "never shown again");
    const stream = page.url();

    // A user created here is an event; the receiver fails it once.
    hookReplies.push(500);
    await nav("Users").click();
    await page.getByRole("link", { name: "New User" }).click();
    const dialog = page.getByRole("dialog", { name: "New User" });
    await dialog.getByLabel("Full Name").fill("Watched One");
    await dialog.getByLabel("Email").fill("watched@example.com");
    await dialog.getByLabel("Email").press("Enter");
    await page.getByRole("heading", { name: "Watched One" }).waitFor();
    await nav("Event streams").click();
    await reloadUntil(async () => (await page.getByRole("link", { name: "1", exact: true }).count()) > 0, "a failed delivery");
    await shot("42-event-streams");
    await page.getByRole("link", { name: "1", exact: true }).click();
    await page.getByRole("cell", { name: /HTTP 500/ }).waitFor();
    await shot("43-event-stream-failed");
    await page.getByRole("button", { name: /^Retry/ }).click();
    await page.getByRole("caption").filter({ hasText: "No failed deliveries." }).waitFor();
    for (let i = 0; i < 100 && hooks.length < 2; i++) await page.waitForTimeout(100);
    assert.equal(hooks.length, 2);
    assert.equal(hooks[1].headers["webhook-id"], hooks[0].headers["webhook-id"], "the same event again");
    await page.getByRole("link", { name: "delivered" }).click();
    await page.getByRole("cell", { name: "HTTP 204" }).waitFor();

    await page.getByRole("button", { name: "Pause" }).click();
    await page.locator("#stream-state").filter({ hasText: "paused" }).waitFor();
    await page.getByRole("button", { name: "Enable" }).waitFor();

    // Surveyed here: the stream is deleted next.
    await survey("page-event-streams", `${base}/admin/event-streams`);
    await survey("page-event-stream", stream);
    await dialogSurvey("event-stream-delete", stream, "dlg-delete", "Cancel",
      () => page.getByRole("link", { name: "Delete", exact: true }).click());
    await page.goto(stream);

    // Delete: the dialog opens on Cancel; Enter there keeps the stream.
    await page.getByRole("link", { name: "Delete", exact: true }).click();
    const del = page.getByRole("dialog", { name: "Delete this event stream?" });
    await del.waitFor();
    assert.equal(await modal(), "dlg-delete");
    assert.equal(await focused("text"), "Cancel");
    await focusStaysIn("dlg-delete");
    await shot("45-event-stream-delete");
    await page.getByRole("link", { name: "Cancel" }).focus();
    await page.keyboard.press("Enter");
    assert.equal(await modal(), null);
    await page.getByRole("link", { name: "Delete", exact: true }).click();
    await del.getByRole("button", { name: "Delete event stream" }).click();
    await page.getByRole("caption").filter({ hasText: "No event streams yet." }).waitFor();
  });

  await step("every page at 390 and 1366 px: fits, Sign out on screen, accessible, a screenshot", async () => {
    const user = whyUrl.split("/access")[0];
    await nav("Data sources").click();
    await page.getByRole("link", { name: "Sales" }).click();
    const dataSource = page.url();
    await nav("Groups").click();
    await page.getByRole("link", { name: "Engineering" }).click();
    await page.getByRole("heading", { name: "Engineering" }).waitFor();
    const group = page.url();
    const pages = [
      ["users", `${base}/admin/users`],
      ["users-new-user", `${base}/admin/users?dialog=new-user`],
      ["user", user],
      ["user-permissions", `${user}?dialog=permissions`],
      ["user-migrate", `${user}?dialog=migrate`],
      ["user-delete", `${user}?dialog=delete`],
      ["why", whyUrl],
      ["groups", `${base}/admin/groups`],
      ["group", group],
      ["iams", `${base}/admin/iams`],
      ["iam", `${base}/admin/iams/okta`],
      ["iam-issue-token", `${base}/admin/iams/okta?dialog=issue`],
      ["audit", `${base}/admin/audit`],
      ["metrics", `${base}/admin/metrics`],
      ["metrics-download", `${base}/admin/metrics?dialog=download`],
      ["event-streams", `${base}/admin/event-streams`],
      ["tags", `${base}/admin/tags`],
      ["data-sources", `${base}/admin/data-sources`],
      ["data-source", dataSource],
      ["policies", `${base}/admin/policies`],
      ["policy-new", `${base}/admin/policies/new`],
      ["policy", `${base}/admin/policies/dev-only`],
      ["job", jobUrl],
    ];
    for (const [name, url] of pages) await survey(`page-${name}`, url);
    // A dialog fits the phone's screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${user}?dialog=delete`);
    await page.locator("#dlg-delete").waitFor();
    const clipped = await page.evaluate(() => {
      const b = document.getElementById("dlg-delete").getBoundingClientRect();
      return b.left < 0 || b.right > window.innerWidth || b.width < 300;
    });
    assert.ok(!clipped, "the delete dialog fits at 390 px");
    await page.keyboard.press("Escape");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step("groups and sign-out", async () => {
    await nav("Groups").click();
    await page.getByRole("heading", { name: "Groups" }).waitFor();
    // Opened on the identity provider that has groups, not the empty built-in IAM.
    await page.getByRole("caption").filter({ hasText: "1 group in okta" }).waitFor();
    await page.getByRole("link", { name: "Engineering" }).waitFor();
    await shot("18-groups");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/admin\/signin$/);
    await page.goto(`${base}/admin/users`);
    await page.waitForURL(/\/admin\/signin$/);
  });

  await step("keyboard only: sign in, create a user, grant, disable, delete", async () => {
    await page.goto(`${base}/admin/signin`);
    await tabTo("Sign in with your identity provider");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/admin\/users$/);

    // New User: modal, focus in the first field and kept inside; Escape
    // closes it and gives focus back to the button; then create for real.
    await tabTo("New User");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "new-user-dialog");
    assert.equal(await focused("id"), "fullName");
    await focusStaysIn("new-user-dialog");
    await page.keyboard.press("Escape");
    assert.equal(await modal(), null);
    assert.equal(await focused("text"), "New User");
    await page.keyboard.press("Enter");
    assert.equal(await focused("id"), "fullName");
    assert.equal(await page.locator("#fullName").inputValue(), "", "opened afresh");
    await page.keyboard.type("Keyboard Person");
    await page.keyboard.press("Tab");
    await page.keyboard.type("kb@example.com");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Keyboard Person" }).waitFor();

    // Add Permissions: choose GOVERNANCE with the arrow keys.
    await tabTo("Add Permissions");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-permissions");
    assert.equal(await focused("id"), "permission");
    for (let i = 0; i < 20 && (await page.locator("#permission").inputValue()) !== "GOVERNANCE"; i++) {
      await page.keyboard.press("ArrowDown");
    }
    assert.equal(await page.locator("#permission").inputValue(), "GOVERNANCE");
    await shot("20-keyboard-add-permission");
    await tabTo("Add Permission");
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Remove GOVERNANCE" }).waitFor();

    // Disable, from the Actions menu: Escape first (focus back on the menu
    // item), then confirm with Enter (focus starts on Disable).
    await tabTo("Actions");
    await page.keyboard.press("Enter");
    await tabTo("Disable");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-disable");
    assert.equal(await focused("text"), "Cancel", "a destructive confirmation starts on Cancel");
    await focusStaysIn("dlg-disable");
    await page.keyboard.press("Escape");
    assert.equal(await modal(), null);
    assert.equal(await focused("text"), "Disable");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-disable");
    // One Enter on Cancel closes it; nothing is disabled.
    await page.keyboard.press("Enter");
    assert.equal(await modal(), null);
    assert.equal(await page.locator("h1 .badge", { hasText: "Disabled" }).count(), 0);
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-disable");
    await page.keyboard.press("Tab");
    assert.equal(await focused("text"), "Disable");
    await page.keyboard.press("Enter");
    await page.locator("h1 .badge", { hasText: "Disabled" }).waitFor();
    await page.getByRole("status").filter({ hasText: "Disabled the account" }).waitFor();

    // Permanently Delete: Enter does nothing until the word is typed.
    await tabTo("Actions");
    await page.keyboard.press("Enter");
    await tabTo("Permanently Delete");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-delete");
    assert.equal(await focused("id"), "confirm");
    const confirm = page.locator("#confirm-delete");
    assert.equal(await confirm.isDisabled(), true);
    await focusStaysIn("dlg-delete");
    await tabToId("confirm");
    await page.keyboard.type("delete");
    await page.keyboard.press("Enter");
    assert.equal(await modal(), "dlg-delete", "refused: still open");
    assert.equal(await confirm.isDisabled(), true);
    await page.keyboard.press("Control+A");
    await page.keyboard.type("Delete");
    assert.equal(await confirm.isDisabled(), false);
    await shot("21-keyboard-delete-ready");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByLabel("Search users").fill("kb@");
    await page.getByLabel("Include disabled accounts").check();
    await page.getByRole("caption").filter({ hasText: "No users match." }).waitFor();
  });

  // Issue 22's fixes one by one, as a person sees them, at each width.
  for (const [width, height] of [[390, 844], [1366, 900]]) {
    await step(`issue 22's fixes at ${width} px: both states, names, local times, notices, safe defaults, migration`, async () => {
      await page.setViewportSize({ width, height });
      const scim = async (method, url, body, token) => {
        const r = await fetch(`${base}/scim/v2${url}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          body: body && JSON.stringify(body),
        });
        const text = await r.text();
        assert.ok(r.ok, `${method} ${url}: ${r.status} ${text}`);
        return text ? JSON.parse(text) : null;
      };
      // A token for okta, from its dialog.
      await page.goto(`${base}/admin/iams/okta`);
      await page.getByRole("link", { name: "Issue SCIM token" }).click();
      await page.getByRole("dialog", { name: "Issue SCIM token" }).getByLabel("Label").fill(`Walk ${width}`);
      await page.getByRole("button", { name: "Issue token" }).click();
      const token = await page.getByLabel("Token", { exact: true }).inputValue();

      // A settings error sits beside its field, marked invalid, focused.
      const settings = page.getByRole("region", { name: "Settings" });
      const groupsField = settings.getByLabel(/^Group permissions/);
      await groupsField.fill("Engineering = GOVERNANCE\nTeam = NO_SUCH_PERMISSION");
      await settings.getByRole("button", { name: "Save settings" }).click();
      const error = settings.locator("#settings-error");
      await error.filter({ hasText: "no permission named 'NO_SUCH_PERMISSION'" }).waitFor();
      assert.equal(await error.getAttribute("role"), "alert");
      assert.equal(await groupsField.getAttribute("aria-invalid"), "true");
      assert.equal(await groupsField.getAttribute("aria-describedby"), "settings-error");
      assert.equal(await settings.getByLabel(/^Attribute mapping/).getAttribute("aria-invalid"), null);
      // htmx focuses the [autofocus] field once the page has settled.
      await page.waitForFunction(() => document.activeElement?.id === "groupPermissions");
      // Beside it: right above the field, below its label.
      const [eb, fb] = [await error.boundingBox(), await groupsField.boundingBox()];
      assert.ok(fb.y - (eb.y + eb.height) < 24 && fb.y > eb.y, `the error is beside the field: ${JSON.stringify([eb, fb])}`);
      await shot(`60-settings-error-${width}`);
      // Each default permission says what it allows.
      for (const box of await settings.getByRole("group", { name: "Default permissions of new users" }).getByRole("checkbox").all()) {
        const described = await box.evaluate((b) => document.getElementById(b.getAttribute("aria-describedby"))?.innerText.trim() ?? "");
        assert.ok(described.length >= 10, `${await box.getAttribute("value")} is described: "${described}"`);
      }
      await groupsField.fill("Engineering = GOVERNANCE");
      await settings.getByRole("button", { name: "Save settings" }).click();
      await page.getByRole("status").filter({ hasText: "Saved the settings of okta." }).waitFor();

      // The identity provider sends a person it has deactivated, in two groups.
      const who = `idp${width}`;
      const user = await scim("POST", "/Users", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: `${who}@okta.example`,
        name: { formatted: `Idp Person ${width}` },
        displayName: `Idp Person ${width}`,
        emails: [{ value: `${who}@example.com`, primary: true, type: "work" }],
        active: false,
      }, token);
      const team = await scim("POST", "/Groups", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        displayName: `Team ${width}`,
        members: [{ value: user.id }],
      }, token);
      const eng = (await scim("GET", `/Groups?filter=${encodeURIComponent('displayName eq "Engineering"')}`, null, token)).Resources[0];
      await scim("PATCH", `/Groups/${eng.id}`, {
        schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        Operations: [{ op: "add", path: "members", value: [{ value: user.id }] }],
      }, token);

      // The list: the identity provider's state and the bridge's apart.
      await page.goto(`${base}/admin/users?q=${who}`);
      const row = page.locator("tbody tr", { has: page.getByRole("link", { name: `Idp Person ${width}` }) });
      await row.waitFor();
      assert.equal((await row.locator("td[data-ui=idp-state]").innerText()).trim(), "Deactivated");
      assert.equal((await row.locator("td[data-ui=bridge-state]").innerText()).trim(), "Enabled");
      const headers = await page.locator("thead th").allInnerTexts();
      assert.ok(headers.includes("Identity provider") && headers.includes("Bridge"), headers.join("|"));
      await fitsWidth(`users with both states at ${width} px`);
      await shot(`61-both-states-${width}`);

      // Their page: names with links, times in the browser's zone.
      await row.getByRole("link", { name: `Idp Person ${width}` }).click();
      await page.getByRole("heading", { name: `Idp Person ${width}` }).waitFor();
      await page.locator("[data-ui=idp-deactivated]").waitFor();
      const perms = page.locator("#permissions");
      await perms.getByRole("link", { name: "group Engineering" }).waitFor();
      assert.match(await perms.getByRole("link", { name: "group Engineering" }).getAttribute("href"), /^\/admin\/groups\/[0-9a-f-]{36}$/);
      assert.ok(!/group:[0-9a-f]{8}-/.test(await perms.innerText()), "no raw group id as a source");
      const audit = perms.locator("tbody tr", { has: page.getByRole("cell", { name: "AUDIT", exact: true }) });
      assert.equal((await audit.locator("td:nth-child(2)").innerText()).trim(), "default of okta");
      const facts = page.locator(".facts");
      await localTime(facts.locator("dt:text-is('Created') + dd time"));
      const groups = page.getByRole("region", { name: "Groups" });
      await groups.getByRole("link", { name: `Team ${width}` }).waitFor();
      await localTime(groups.locator("tbody tr", { hasText: `Team ${width}` }).locator("time"));
      // A default permission can be removed; the notice says so.
      await page.getByRole("button", { name: "Remove AUDIT" }).click();
      await page.getByRole("status").filter({ hasText: "Removed the permission AUDIT." }).waitFor();
      assert.equal(await perms.getByRole("cell", { name: "AUDIT", exact: true }).count(), 0);
      // No permission pre-selected, each described; a grant says it worked.
      await page.getByRole("link", { name: "Add Permissions" }).click();
      const grant = page.getByRole("dialog", { name: "Add Permissions" });
      const select = grant.getByLabel("Select Permission");
      assert.equal(await select.inputValue(), "", "nothing chosen until the admin chooses");
      const options = (await select.locator("option:not([disabled])").allInnerTexts()).map((o) => o.trim());
      assert.ok(options.length >= 5, options.join("|"));
      for (const o of options) assert.match(o, /^[A-Z_]+ — \S.{9,}/, `described: ${o}`);
      await select.selectOption("AUDIT");
      await grant.getByRole("button", { name: "Add Permission" }).click();
      await page.getByRole("status").filter({ hasText: "Granted AUDIT." }).waitFor();
      await shot(`62-names-and-times-${width}`);

      // Migration: the dialog says what ends (plural right) and what stays.
      await page.getByText("Actions").click();
      await page.getByRole("link", { name: "Migrate User" }).click();
      const migrate = page.getByRole("dialog", { name: "Migrate User" });
      await page.waitForFunction(() => document.querySelector("dialog:modal")?.id === "dlg-migrate");
      assert.match(await migrate.innerText(), /email addresses stay/);
      const warning = (await migrate.locator("[data-ui=migrate-groups-warning]").innerText()).trim();
      assert.match(warning, new RegExp(`^Its memberships in 2 groups of okta end: (Engineering, Team ${width}|Team ${width}, Engineering)\\.`));
      await fitsWidth(`migrate dialog at ${width} px`);
      await shot(`63-migrate-${width}`);
      await migrate.getByLabel("IAM").selectOption("bim");
      await migrate.getByLabel("Username").fill(`${who}.moved@example.com`);
      await migrate.getByRole("button", { name: "Migrate User" }).click();
      await page.getByRole("status").filter({ hasText: `Moved the account to bim as ${who}.moved@example.com.` }).waitFor();
      const moved = await facts.innerText();
      assert.match(moved, new RegExp(`Email\\s+${who}@example.com`), `the email stays: ${moved}`);
      assert.match(moved, /IAM\s+bim/);
      assert.equal(await groups.getByRole("link", { name: `Team ${width}` }).count(), 0, "the provider's groups are left");
      const userUrl = page.url();

      // An expired session: a search sends the browser to sign in, and
      // back to the search after.
      await page.goto(`${base}/admin/users`);
      const [cookie] = (await browser.cookies(`${base}/admin/users`)).filter((c) => c.name === "scim_bridge_session");
      await browser.addCookies([{ ...cookie, value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }]);
      const redirected = page.waitForResponse((r) => r.request().headers()["hx-request"] === "true" && r.headers()["hx-redirect"] === "/admin/signin");
      await page.getByLabel("Search users").fill(who);
      await redirected;
      await page.waitForURL(/\/admin\/signin$/);
      await shot(`64-expired-${width}`);
      await page.getByRole("link", { name: "Sign in with your identity provider" }).click();
      await page.waitForURL(new RegExp(`/admin/users\\?.*q=${who}`));
      assert.equal(await page.getByLabel("Search users").inputValue(), who, "back where it was");
      await page.getByRole("link", { name: `Idp Person ${width}` }).waitFor();

      // Delete: the notice, kept across the redirect to the list.
      await page.goto(userUrl);
      await page.getByText("Actions").click();
      await page.getByRole("link", { name: "Permanently Delete" }).click();
      await page.getByLabel("Type Delete to confirm").fill("Delete");
      await page.getByRole("button", { name: "Confirm Permanent Delete" }).click();
      await page.getByRole("heading", { name: "Users" }).waitFor();
      const notice = page.getByRole("status").filter({ hasText: "Permanently deleted the account." });
      await notice.waitFor();
      assert.equal(await notice.getAttribute("aria-live"), "polite");
      await page.goto(`${base}/admin/users`);
      await page.getByRole("heading", { name: "Users" }).waitFor();
      assert.equal(await notice.count(), 0, "a notice is shown once");

      // The last USER_ADMIN has no remove control for it; the built-in IAM
      // is "built in", not "created 1970-01-01"; a favicon.
      await page.getByLabel("Search users").fill("admin@");
      await page.getByLabel("Search users").press("Enter");
      await page.waitForURL(/[?&]q=admin%40/);
      await page.getByRole("link", { name: "Ada Admin" }).click();
      await page.getByRole("cell", { name: "USER_ADMIN", exact: true }).waitFor();
      assert.equal(await page.getByRole("button", { name: "Remove USER_ADMIN" }).count(), 0);
      await page.getByRole("button", { name: "Remove GOVERNANCE" }).waitFor();
      await nav("IAMs").click();
      const bim = page.locator("tbody tr", { has: page.getByRole("link", { name: "bim", exact: true }) });
      assert.equal((await bim.locator("td").last().innerText()).trim(), "built in");
      assert.ok(!(await page.content()).includes("1970-01-01"));
      await localTime(page.locator("tbody tr", { has: page.getByRole("link", { name: "okta", exact: true }) }).locator("time"));
      const icon = await page.locator("link[rel=icon]").getAttribute("href");
      const fav = await fetch(new URL(icon, base));
      assert.equal(fav.status, 200);
      assert.match(fav.headers.get("content-type"), /^image\/svg\+xml/);
      await page.setViewportSize({ width: 1280, height: 900 });
    });
  }

  await step("every dialog the script opens, at 390 and 1366 px: focus, fits, accessible, a screenshot", async () => {
    await page.goto(`${base}/admin/users?q=admin%40`);
    await page.getByRole("link", { name: "Ada Admin" }).click();
    await page.getByRole("heading", { name: "Ada Admin" }).waitFor();
    const user = page.url();
    const action = (name) => async () => {
      await page.getByText("Actions").click();
      await page.getByRole("link", { name, exact: true }).click();
    };
    const click = (role, name) => () => page.getByRole(role, { name, exact: true }).first().click();
    await dialogSurvey("new-user", `${base}/admin/users`, "new-user-dialog", "fullName", click("link", "New User"));
    await dialogSurvey("bulk", `${base}/admin/users?q=bulk.&includeDisabled=on`, "dlg-bulk", "Cancel", async () => {
      await page.getByLabel("Select Bulk One").check();
      await page.getByLabel("Select Bulk Two").check();
      await page.getByLabel("With the selected users").selectOption("enable");
      await page.getByRole("button", { name: "Apply to selected" }).click();
    });
    await page.goto(`${base}/admin/users?q=bulk.&includeDisabled=on`);
    await page.getByRole("link", { name: "Bulk One" }).click();
    await page.getByRole("heading", { name: "Bulk One" }).waitFor();
    await dialogSurvey("enable", page.url(), "dlg-enable", "Enable", action("Enable"));
    await dialogSurvey("add-permissions", user, "dlg-permissions", "permission", click("link", "Add Permissions"));
    await dialogSurvey("disable", user, "dlg-disable", "Cancel", action("Disable"));
    await dialogSurvey("revoke-sessions", user, "dlg-revoke", "Cancel", action("Revoke Sessions"));
    await dialogSurvey("migrate", user, "dlg-migrate", "migrate-iam", action("Migrate User"));
    await dialogSurvey("delete", user, "dlg-delete", "confirm", action("Permanently Delete"));
    const okta = `${base}/admin/iams/okta`;
    await dialogSurvey("issue-token", okta, "dlg-issue", "token-label", click("link", "Issue SCIM token"));
    await dialogSurvey("revoke-token", okta, "dlg-revoke", "Cancel", () => page.getByRole("link", { name: /^Revoke/ }).first().click());
    await dialogSurvey("download-metrics", `${base}/admin/metrics`, "dlg-download", "download-days", click("link", "Download metrics"));
    await dialogSurvey("delete-tag", `${base}/admin/tags`, "dlg-delete-tag", "Cancel", click("link", "Delete Environment"));
    await page.goto(`${base}/admin/data-sources`);
    await page.getByRole("link", { name: "Sales" }).click();
    await page.getByRole("heading", { name: "Sales" }).waitFor();
    await dialogSurvey("delete-data-source", page.url(), "dlg-delete", "Cancel", click("link", "Delete"));
    await dialogSurvey("delete-policy", `${base}/admin/policies/dev-only`, "dlg-delete", "Cancel", click("link", "Delete"));
    // Every dialog of every page was opened above (or, for the event
    // stream's, in its own step): none is left out.
    const seen = fs.readdirSync(shots).filter((f) => /^dialog-.*-390\.png$/.test(f)).length;
    assert.equal(seen, 15, "every dialog the console has");
  });

  await step("no script error and no CSP refusal on any page", async () => {
    assert.deepEqual(problems, []);
  });

  await step("no serious or critical accessibility violation (axe-core) on any page", async () => {
    assert.ok(inaccessible.length === 0, `axe-core found:\n  ${inaccessible.join("\n  ")}`);
  });
});
