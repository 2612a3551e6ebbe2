// Scenario: a patient registers, chats with the assistant in offline mode
// (no language model), gets an answer quoting the starter documents with
// numbered sources, opens a source, and finds the conversation again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkAccessibility, describeViolations, screenshot, withServerAndBrowser } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

test("patient chats in offline mode and gets an answer with sources", async () => {
  const res = await fetch(`${ctx.server.url}/api/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "pat@example.org", password: "blue kettle morning tide", name: "Pat Patient" }),
  });
  assert.equal(res.status, 201, await res.text());

  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${ctx.server.url}/login`);
  await page.getByLabel("E-mail address").fill("pat@example.org");
  await page.getByLabel("Password").fill("blue kettle morning tide");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Assistant" }).click();
  await page.getByRole("button", { name: "New chat" }).click();
  await page.getByText(/not a diagnosis|medical advice|emergency/i).first().waitFor();

  await page.getByLabel("Message").fill("How do I order a repeat prescription?");
  await page.getByRole("button", { name: "Send" }).click();

  // The answer is saved and shown with its numbered sources.
  const answer = page.locator(".message.assistant").last();
  await answer.locator(".sources li").first().waitFor();
  await page.getByRole("button", { name: "Ask again" }).waitFor();
  const text = await answer.textContent();
  assert.match(text, /prescription/i);
  assert.ok((await answer.locator(".sources li").count()) >= 1, "no sources listed");
  // Once saved, the question and the answer show once each.
  assert.equal(await page.locator(".message.user").count(), 1);
  assert.equal(await page.locator(".message.assistant").count(), 1);

  const bad = await checkAccessibility(page, "assistant");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "assistant-answer");

  // A source opens the passage it quotes.
  await answer.locator(".sources li button").first().click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.locator("blockquote").textContent(), /\S/);
  await screenshot(page, "assistant-source");
  await dialog.getByRole("button", { name: "Close" }).click();

  // The conversation is titled after the question and found by search.
  await page.getByLabel("Search conversations").fill("repeat");
  await page.locator(".conversation-list a").first().waitFor();
  assert.match(await page.locator(".conversation-list a").first().textContent(), /\S/);
  await page.getByLabel("Search conversations").fill("zebrafinch");
  await page.getByText("No conversation matches.").waitFor();

  // A long history comes a page at a time.
  const login = await fetch(`${ctx.server.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "pat@example.org", password: "blue kettle morning tide" }),
  });
  const { access_token: token } = await login.json();
  for (let i = 0; i < 52; i++) {
    const made = await fetch(`${ctx.server.url}/api/v1/conversations`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ title: `Question ${i}` }),
    });
    assert.equal(made.status, 201, await made.text());
  }
  await page.getByLabel("Search conversations").fill("");
  await page.reload();
  await page.getByRole("button", { name: "Show older conversations" }).waitFor();
  assert.equal(await page.locator(".conversation-list a").count(), 50);
  await page.getByRole("button", { name: "Show older conversations" }).click();
  await page.locator(".conversation-list a").nth(52).waitFor();
  assert.equal(await page.locator(".conversation-list a").count(), 53);
  assert.equal(await page.getByRole("button", { name: "Show older conversations" }).count(), 0);

  assert.deepEqual(errors, []);
});
