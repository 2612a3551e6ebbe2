import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { LoadError } from "./LoadError";

describe("LoadError", () => {
  it("shows nothing without an error", () => {
    const { container } = render(<LoadError error={null} onRetry={() => undefined} />);
    expect(container).toBeEmptyDOMElement();
  });

  it("announces the message and retries on request", () => {
    const retry = vi.fn();
    render(<LoadError error={new Error("The server could not be reached.")} onRetry={retry} />);
    expect(screen.getByRole("alert")).toHaveTextContent("The server could not be reached.");
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(retry).toHaveBeenCalledOnce();
  });
});
