import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Client, type TokenStore } from "../api/client";
import { SessionProvider } from "../auth/session";
import { LoginPage } from "./LoginPage";

afterEach(cleanup);

function setup(fetchFn: typeof fetch) {
  const tokens: TokenStore = { get: () => null, set: () => {} };
  const client = new Client("http://clinic.test", tokens, fetchFn);
  render(
    <MemoryRouter>
      <SessionProvider client={client}>
        <LoginPage />
      </SessionProvider>
    </MemoryRouter>,
  );
  return client;
}

function type(label: string, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

describe("LoginPage", () => {
  it("shows what is wrong next to each field and sends nothing", async () => {
    const fetchFn = vi.fn<typeof fetch>();
    setup(fetchFn);
    type("E-mail address", "not-an-address");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Sign in" })));
    expect(screen.getByLabelText("E-mail address")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/Enter an e-mail address such as/)).toHaveAttribute("id", "email-error");
    expect(screen.getByText("Enter your password.")).toHaveAttribute("id", "password-error");
    expect(fetchFn).not.toHaveBeenCalled();
  });

  it("asks for the authenticator code when the account has one, then signs in with it", async () => {
    const bodies: unknown[] = [];
    const fetchFn = vi.fn<typeof fetch>(async (url, init) => {
      if (String(url).endsWith("/auth/login")) {
        const body = JSON.parse(String(init?.body));
        bodies.push(body);
        if (!body.totp_code) {
          return new Response(JSON.stringify({ error: { code: "unauthorized", message: "Enter the 6-digit code from your authenticator app.", field: "totp_code" } }), { status: 401 });
        }
        return new Response(JSON.stringify({ access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900, user: { id: "u", name: "Ann", role: "patient" } }), { status: 200 });
      }
      return new Response(JSON.stringify({ id: "u", name: "Ann", role: "patient", idle_timeout_minutes: 15 }), { status: 200 });
    });
    setup(fetchFn);
    type("E-mail address", "ann@example.org");
    type("Password", "correct horse");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Sign in" })));
    expect(screen.getByLabelText("Code from your authenticator app")).toBeInTheDocument();
    type("Code from your authenticator app", "12");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Verify" })));
    expect(screen.getByText("Enter the 6-digit code.")).toBeInTheDocument();
    type("Code from your authenticator app", "123456");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Verify" })));
    expect(bodies).toEqual([
      { email: "ann@example.org", password: "correct horse" },
      { email: "ann@example.org", password: "correct horse", totp_code: "123456" },
    ]);
  });

  it("shows a server error as a readable message", async () => {
    setup(async () => new Response(JSON.stringify({ error: { code: "unauthorized", message: "The e-mail address or password is not correct." } }), { status: 401 }));
    type("E-mail address", "ann@example.org");
    type("Password", "wrong");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Sign in" })));
    expect(screen.getByRole("alert")).toHaveTextContent("The e-mail address or password is not correct.");
  });
});
