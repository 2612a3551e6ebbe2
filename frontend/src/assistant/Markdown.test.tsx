import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Markdown, safeHref } from "./Markdown";

afterEach(cleanup);

describe("Markdown", () => {
  it("renders headings, emphasis, lists, code and tables", () => {
    const { container } = render(<Markdown text={"# Title\n\nSome **bold** and *soft* `code`.\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"} />);
    expect(container.querySelector("h3")).toHaveTextContent("Title");
    expect(container.querySelector("strong")).toHaveTextContent("bold");
    expect(container.querySelector("em")).toHaveTextContent("soft");
    expect(container.querySelector("code")).toHaveTextContent("code");
    expect(container.querySelectorAll("li")).toHaveLength(2);
    expect(container.querySelector("td")).toHaveTextContent("1");
  });

  it("shows HTML from the model as text and never runs it", () => {
    const evil = '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2"> <b onclick="x()">hi</b>\n\n<iframe src="https://evil.example"></iframe>';
    const { container } = render(<Markdown text={evil} />);
    expect(container.querySelector("script, img, iframe, b")).toBeNull();
    expect(container.innerHTML).not.toMatch(/<(script|img|iframe|b)[\s>]/);
    expect(container.textContent).toContain("<script>window.pwned = 1</script>");
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it("keeps only http, https and mailto links, opened safely", () => {
    const { container } = render(
      <Markdown text={"[ok](https://clinic.example/a) [mail](mailto:desk@clinic.example) [bad](javascript:alert(1)) [data](data:text/html,x) [rel](/admin)"} />,
    );
    const links = [...container.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://clinic.example/a", "mailto:desk@clinic.example"]);
    for (const a of links) expect(a.getAttribute("rel")).toContain("noopener");
    expect(container.textContent).toContain("bad");
    expect(safeHref("JaVaScRiPt:alert(1)")).toBeNull();
  });

  it("turns citation markers into buttons that open the source", () => {
    const onCite = vi.fn();
    render(<Markdown text={"Bring your card [1] and the form [2]."} onCite={onCite} />);
    fireEvent.click(screen.getByRole("button", { name: "Source 2" }));
    expect(onCite).toHaveBeenCalledWith(2);
  });
});
