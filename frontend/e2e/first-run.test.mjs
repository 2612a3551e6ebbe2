// Scenario: a new installation. The administrator opens the setup link the
// server printed, creates the first account, lands signed in, signs out
// and signs in again; every page passes axe-core without serious or
// critical violations.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkAccessibility, describeViolations, screenshot, withServerAndBrowser } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

test("first administrator: setup, sign out, sign in", async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${ctx.server.url}/setup?token=${ctx.server.token}`);
  await page.getByRole("heading", { name: "Create the first administrator" }).waitFor();
  let bad = await checkAccessibility(page, "setup");
  assert.equal(bad.length, 0, describeViolations(bad));

  // Mistakes are shown next to their fields and nothing is sent.
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.getByText("Enter your name.").waitFor();
  assert.equal(await page.getByLabel("Your name").getAttribute("aria-invalid"), "true");

  await page.getByLabel("Your name").fill("Ada Admin");
  await page.getByLabel("E-mail address").fill("ada@clinic.example");
  await page.getByLabel("Password (at least 10 characters)").fill("correct horse battery");
  await page.getByLabel("Password again").fill("correct horse battery");
  await page.getByRole("button", { name: "Create administrator" }).click();

  await page.getByRole("heading", { name: "Welcome, Ada Admin" }).waitFor();
  assert.match(await page.getByText(/Signed in as/).textContent(), /Ada Admin \(administrator\)/);
  bad = await checkAccessibility(page, "home");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "first-run-home");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/login");
  bad = await checkAccessibility(page, "login");
  assert.equal(bad.length, 0, describeViolations(bad));

  await page.getByLabel("E-mail address").fill("ada@clinic.example");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".error-banner").waitFor();
  await screenshot(page, "first-run-wrong-password");

  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Welcome, Ada Admin" }).waitFor();

  // A reload keeps the session of this tab.
  await page.reload();
  await page.getByRole("heading", { name: "Welcome, Ada Admin" }).waitFor();

  // The setup link cannot be used twice.
  const again = await ctx.browser.newPage();
  await again.goto(`${ctx.server.url}/setup?token=${ctx.server.token}`);
  await again.getByText("An administrator exists already. Sign in instead.").waitFor();

  assert.deepEqual(errors, []);
});

test("phone width: the sign-in page fits and stays usable", async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 375, height: 700 } });
  await page.goto(`${ctx.server.url}/login`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, "the page scrolls sideways at phone width");
  await screenshot(page, "login-phone");
});
