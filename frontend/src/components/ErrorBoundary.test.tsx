import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorBoundary } from "./ErrorBoundary";

afterEach(cleanup);

let fail = true;
function Fragile() {
  if (fail) throw new Error("citations missing");
  return <p>The page</p>;
}

describe("ErrorBoundary", () => {
  it("shows what failed instead of a blank page, and tries again on request", () => {
    const quiet = vi.spyOn(console, "error").mockImplementation(() => undefined);
    fail = true;
    render(
      <ErrorBoundary>
        <Fragile />
      </ErrorBoundary>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("This page could not be shown");
    expect(screen.getByRole("alert")).toHaveTextContent("citations missing");
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(screen.getByText("The page")).toBeInTheDocument();
    quiet.mockRestore();
  });
});
