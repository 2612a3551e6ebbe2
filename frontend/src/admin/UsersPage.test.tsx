import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { admin, invalid, renderAsAdmin, type Answer, type Call } from "./testing";
import { UsersPage } from "./UsersPage";

afterEach(cleanup);

const sam = { id: "u-sam", name: "Sam Staff", email: "sam@clinic.example", role: "staff", disabled: false, mfa_enabled: false, created_at: "", updated_at: "" };

const settings = { self_registration: false, mfa_required_roles: [], idle_timeout_minutes: 15, time_zone: "Europe/Berlin" };

function server(refuse?: Answer) {
  let role = sam.role;
  return (c: Call): Answer => {
    if (c.method === "GET" && c.path === "/api/v1/settings") return { body: settings };
    if (c.method === "GET" && c.path === "/api/v1/users") return { body: { users: [admin, { ...sam, role }], doctors_without_profile: [] } };
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
    // A new doctor needs a specialization; the time zone starts as the clinic's.
    await vi.waitFor(() => expect(within(dialog).getByLabelText("Time zone")).toHaveValue("Europe/Berlin"));
    fireEvent.change(within(dialog).getByLabelText("Specialization"), { target: { value: "Dermatology" } });

    await act(async () => fireEvent.click(confirm));
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ role: "doctor", specialization: "Dermatology", time_zone: "Europe/Berlin" });
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

describe("UsersPage makes bookable doctors", () => {
  const bare = { id: "u-bare", name: "Dr. Bare", email: "bare@clinic.example", role: "doctor", disabled: false, mfa_enabled: false, created_at: "", updated_at: "" };

  function doctorServer(opts: { refuseCreate?: Answer } = {}) {
    let incomplete = [bare.id];
    return (c: Call): Answer => {
      if (c.method === "GET" && c.path === "/api/v1/settings") return { body: settings };
      if (c.method === "GET" && c.path === "/api/v1/users") return { body: { users: [admin, bare], doctors_without_profile: incomplete } };
      if (c.method === "POST" && c.path === "/api/v1/users") {
        if (opts.refuseCreate) return opts.refuseCreate;
        const b = c.body as { name: string; email: string; role: string };
        return { status: 201, body: { id: "u-new", name: b.name, email: b.email, role: b.role, disabled: false, mfa_enabled: false, created_at: "", updated_at: "" } };
      }
      if (c.method === "POST" && c.path === "/api/v1/doctors") {
        incomplete = [];
        return { status: 201, body: { id: "d-1", user_id: bare.id, name: bare.name, specialization: "Neurology", qualifications: [], years_experience: 0, created_at: "", updated_at: "" } };
      }
      return undefined;
    };
  }

  it("asks for the specialization and time zone when the role is doctor, the zone defaulting to the clinic's", async () => {
    const calls = await renderAsAdmin(<UsersPage />, doctorServer());
    await screen.findByText("Dr. Bare");
    expect(screen.queryByLabelText("Specialization")).toBeNull();
    fireEvent.change(screen.getByLabelText("Full name"), { target: { value: "Ada Lovelace" } });
    fireEvent.change(screen.getByLabelText("E-mail address"), { target: { value: "ada@clinic.example" } });
    fireEvent.change(screen.getByLabelText("Password (at least 10 characters)"), { target: { value: "correct horse battery" } });
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "doctor" } });
    const zone = screen.getByLabelText("Time zone");
    await vi.waitFor(() => expect(zone).toHaveValue("Europe/Berlin"));
    expect(within(zone).getByRole("option", { name: "America/New York" })).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Specialization"), { target: { value: "General practice" } });
    fireEvent.change(zone, { target: { value: "America/New_York" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Create account" })));
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/users")?.body).toEqual({
      name: "Ada Lovelace", email: "ada@clinic.example", password: "correct horse battery", role: "doctor",
      specialization: "General practice", time_zone: "America/New_York",
    });
    expect(screen.getByRole("status")).toHaveTextContent("Doctor account created for Ada Lovelace");
  });

  it("shows the server's refusal next to the field it names", async () => {
    await renderAsAdmin(<UsersPage />, doctorServer({ refuseCreate: invalid("specialization", "Enter the specialization.") }));
    await screen.findByText("Dr. Bare");
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "doctor" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Create account" })));
    expect(screen.getByLabelText("Specialization")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Enter the specialization.")).toBeTruthy();
  });

  it("marks a doctor account without a profile and completes it", async () => {
    const calls = await renderAsAdmin(<UsersPage />, doctorServer());
    await screen.findByText("Dr. Bare");
    expect(row(bare.email)).toHaveTextContent("no doctor profile: patients cannot book");
    expect(within(row(admin.email)).queryByRole("button", { name: /Complete doctor profile/ })).toBeNull();

    await act(async () => fireEvent.click(within(row(bare.email)).getByRole("button", { name: "Complete doctor profile of Dr. Bare" })));
    const dialog = screen.getByRole("dialog", { name: "Doctor profile of Dr. Bare" });
    fireEvent.change(within(dialog).getByLabelText("Specialization"), { target: { value: "Neurology" } });
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Save doctor profile" })));
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/doctors")?.body).toEqual({
      email: "bare@clinic.example", name: "Dr. Bare", specialization: "Neurology", time_zone: "Europe/Berlin",
    });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent("Dr. Bare has a doctor profile");
    await vi.waitFor(() => expect(row(bare.email)).not.toHaveTextContent("no doctor profile"));
  });
});
