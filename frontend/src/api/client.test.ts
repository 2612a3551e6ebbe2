import { describe, expect, it, vi } from "vitest";
import { ApiError, Client, type TokenStore } from "./client";

function memoryTokens(initial: string | null = null): TokenStore & { value: string | null } {
  const s = { value: initial, get: () => s.value, set: (v: string | null) => void (s.value = v) };
  return s;
}

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const user = { id: "u1", email: "a@example.org", name: "Ann", role: "patient", mfa_enabled: false, disabled: false, created_at: "", updated_at: "" };
const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: "Bearer", expires_in: 900, user });

describe("Client", () => {
  it("signs in, keeps the refresh token and sends the access token", async () => {
    const tokens = memoryTokens();
    const fetchFn = vi.fn<typeof fetch>(async (url, init) => {
      if (String(url).endsWith("/api/v1/auth/login")) {
        expect(JSON.parse(String(init?.body))).toEqual({ email: "a@example.org", password: "pw" });
        return json(200, pair(1));
      }
      expect(new Headers(init?.headers).get("Authorization")).toBe("Bearer access-1");
      return json(200, { ...user, idle_timeout_minutes: 15 });
    });
    const c = new Client("http://clinic.test", tokens, fetchFn);
    await c.login({ email: "a@example.org", password: "pw" });
    expect(tokens.value).toBe("refresh-1");
    expect((await c.me()).name).toBe("Ann");
    expect(fetchFn).toHaveBeenCalledTimes(2);
    expect(String(fetchFn.mock.calls[1][0])).toBe("http://clinic.test/api/v1/me");
  });

  it("turns an error body into an ApiError with its code, message and field", async () => {
    const c = new Client("", memoryTokens(), async () =>
      json(401, { error: { code: "unauthorized", message: "Enter the 6-digit code from your authenticator app.", field: "totp_code" } }),
    );
    const err = await c.login({ email: "a@example.org", password: "pw" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthorized", field: "totp_code", message: "Enter the 6-digit code from your authenticator app." });
  });

  it("reports a network failure as status 0 with a readable message", async () => {
    const c = new Client("", memoryTokens(), async () => {
      throw new TypeError("Failed to fetch");
    });
    const err = await c.login({ email: "a@example.org", password: "pw" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, code: "network" });
    expect((err as Error).message).toMatch(/cannot be reached/);
  });

  it("renews the tokens once on a 401 and repeats the request", async () => {
    const tokens = memoryTokens("refresh-1");
    let meCalls = 0;
    const fetchFn = vi.fn<typeof fetch>(async (url, init) => {
      const path = new URL(String(url)).pathname;
      if (path === "/api/v1/auth/refresh") {
        expect(JSON.parse(String(init?.body))).toEqual({ refresh_token: "refresh-1" });
        return json(200, pair(2));
      }
      meCalls++;
      const auth = new Headers(init?.headers).get("Authorization");
      return auth === "Bearer access-2" ? json(200, { ...user, idle_timeout_minutes: 15 }) : json(401, { error: { code: "unauthorized", message: "expired" } });
    });
    const c = new Client("http://clinic.test", tokens, fetchFn);
    // A session resumed from the tab: no access token yet, so it renews first.
    expect((await c.me()).id).toBe("u1");
    expect(tokens.value).toBe("refresh-2");
    expect(meCalls).toBe(1);
  });

  it("ends the session when the refresh token is refused, without looping", async () => {
    const tokens = memoryTokens("refresh-old");
    const signedOut = vi.fn();
    const fetchFn = vi.fn<typeof fetch>(async () => json(401, { error: { code: "unauthorized", message: "Sign in again." } }));
    const c = new Client("http://clinic.test", tokens, fetchFn);
    c.onSignedOut = signedOut;
    await expect(c.me()).rejects.toMatchObject({ status: 401 });
    expect(tokens.value).toBeNull();
    expect(signedOut).toHaveBeenCalledOnce();
    expect(fetchFn.mock.calls.length).toBeLessThanOrEqual(2);
    expect(c.signedIn).toBe(false);
  });

  it("shares one renewal between requests that fail at once", async () => {
    const tokens = memoryTokens("refresh-1");
    let refreshes = 0;
    const fetchFn = vi.fn<typeof fetch>(async (url) => {
      if (String(url).endsWith("/auth/refresh")) {
        refreshes++;
        return json(200, pair(2));
      }
      return json(200, { ...user, idle_timeout_minutes: 15 });
    });
    const c = new Client("", tokens, fetchFn);
    await Promise.all([c.me(), c.me(), c.me()]);
    expect(refreshes).toBe(1);
  });

  it("forgets the tokens on sign-out even when the server cannot be reached", async () => {
    const tokens = memoryTokens();
    let reachable = true;
    const c = new Client("", tokens, async () => {
      if (!reachable) throw new TypeError("offline");
      return json(200, pair(1));
    });
    await c.login({ email: "a@example.org", password: "pw" });
    reachable = false;
    await expect(c.logout()).rejects.toBeInstanceOf(ApiError);
    expect(tokens.value).toBeNull();
    expect(c.signedIn).toBe(false);
  });
});
