import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAsAdmin, type Answer, type Call } from "./testing";
import { UsersPage } from "./UsersPage";

afterEach(cleanup);

const sam = { id: "u-sam", name: "Sam Staff", email: "sam@clinic.example", role: "staff", disabled: false, mfa_enabled: false, created_at: "", updated_at: "" };

function server(refuse?: Answer) {
  let role = sam.role;
  return (c: Call): Answer => {
    if (c.method === "GET" && c.path === "/api/v1/users") return { body: { users: [admin, { ...sam, role }] } };
    if (c.method === "PATCH" && c.path === "/api/v1/users/u-sam") {
      if (refuse) return refuse;
      role = (c.body as { role: string }).role;
      return { body: { ...sam, role } };
    }
    return undefined;
  };
}

const row = (email: string) => document.querySelector(`.user-row[data-email="${email}"]`) as HTMLElement;

describe("UsersPage role change", () => {
  it("changes another account's role after confirmation and shows the new role", async () => {
    const calls = await renderAsAdmin(<UsersPage />, server());
    await screen.findByText("Sam Staff");
    expect(within(row(admin.email)).queryByRole("button", { name: /Change role/ })).toBeNull();

    await act(async () => fireEvent.click(within(row(sam.email)).getByRole("button", { name: "Change role of Sam Staff" })));
    const dialog = screen.getByRole("dialog", { name: "Change the role of Sam Staff" });
    const confirm = within(dialog).getByRole("button", { name: "Change role" });
    expect(confirm).toBeDisabled(); // the role has not changed yet
    fireEvent.change(within(dialog).getByLabelText("New role"), { target: { value: "doctor" } });
    expect(dialog).toHaveTextContent("Sam Staff becomes doctor and is signed out everywhere");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    await act(async () => fireEvent.click(confirm));
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ role: "doctor" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent("Sam Staff is now doctor.");
    await vi.waitFor(() => expect(row(sam.email)).toHaveTextContent("sam@clinic.example · doctor"));
  });

  it("leaves the role as it was when the admin cancels, and shows a refusal in the dialog", async () => {
    const calls = await renderAsAdmin(<UsersPage />, server({ status: 409, body: { error: { code: "conflict", message: "This is the last active admin account; make another admin first." } } }));
    await screen.findByText("Sam Staff");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Change role of Sam Staff" })));
    fireEvent.change(screen.getByLabelText("New role"), { target: { value: "patient" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Cancel" })));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Change role of Sam Staff" })));
    fireEvent.change(screen.getByLabelText("New role"), { target: { value: "patient" } });
    await act(async () => fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Change role" })));
    expect(within(screen.getByRole("dialog")).getByRole("alert")).toHaveTextContent("last active admin");
    expect(row(sam.email)).toHaveTextContent("sam@clinic.example · staff");
  });
});
