import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { BarChart, horizontal, vertical, type Series } from "./charts";

afterEach(cleanup);

const bar = (container: HTMLElement, category: string, series: string) => container.querySelector(`rect[data-category="${category}"][data-series="${series}"]`);
const height = (el: Element | null) => Number(el?.getAttribute("height"));
const width = (el: Element | null) => Number(el?.getAttribute("width"));

function chart(series: Series[], categories: string[], orientation: "vertical" | "horizontal" = "vertical") {
  return render(<BarChart label="Messages per day" categories={categories} categoryHeader="Day" series={series} orientation={orientation} empty="Nothing yet." />);
}

describe("BarChart", () => {
  it("scales bars so the largest fills the plot and the others are in proportion", () => {
    const { container } = chart([{ name: "Messages", tone: 1, values: [2, 4, 1] }], ["mon", "tue", "wed"]);
    const full = vertical.height - vertical.top - vertical.bottom;
    expect(height(bar(container, "tue", "Messages"))).toBeCloseTo(full);
    expect(height(bar(container, "mon", "Messages"))).toBeCloseTo(full / 2);
    expect(height(bar(container, "wed", "Messages"))).toBeCloseTo(full / 4);
    // The bars stand on the same baseline.
    const bottom = (el: Element | null) => Number(el?.getAttribute("y")) + height(el);
    expect(bottom(bar(container, "mon", "Messages"))).toBeCloseTo(bottom(bar(container, "tue", "Messages")));
  });

  it("stacks series and scales to the largest total, not the largest part", () => {
    const { container } = chart(
      [
        { name: "Seen", tone: 1, values: [3, 1] },
        { name: "No-show", tone: 3, values: [1, 1] },
      ],
      ["mon", "tue"],
    );
    const full = vertical.height - vertical.top - vertical.bottom;
    expect(height(bar(container, "mon", "Seen")) + height(bar(container, "mon", "No-show"))).toBeCloseTo(full);
    expect(height(bar(container, "tue", "Seen"))).toBeCloseTo(full / 4);
    // The second series sits on top of the first.
    expect(Number(bar(container, "mon", "No-show")?.getAttribute("y")) + height(bar(container, "mon", "No-show"))).toBeCloseTo(
      Number(bar(container, "mon", "Seen")?.getAttribute("y")),
    );
    expect(container.querySelector(".chart-legend")?.textContent).toBe("SeenNo-show");
  });

  it("draws horizontal bars in proportion to the widest", () => {
    const { container } = chart([{ name: "Tokens", tone: 2, values: [500, 125] }], ["Cloud", "Local"], "horizontal");
    const plot = 600 - horizontal.valueSpace;
    expect(width(bar(container, "Cloud", "Tokens"))).toBeCloseTo(plot);
    expect(width(bar(container, "Local", "Tokens"))).toBeCloseTo(plot / 4);
    expect(container.querySelector("svg")?.textContent).toContain("Cloud");
  });

  it("is named for assistive technology and gives its numbers as a table", () => {
    chart(
      [
        { name: "Tokens in", tone: 1, values: [1200, 30] },
        { name: "Tokens out", tone: 2, values: [800, 0] },
      ],
      ["Cloud", "Local"],
    );
    expect(screen.getByRole("img", { name: "Messages per day" })).toBeInTheDocument();
    const table = screen.getByRole("table", { name: "Messages per day" });
    const header = within(table).getAllByRole("columnheader").map((h) => h.textContent);
    expect(header).toEqual(["Day", "Tokens in", "Tokens out", "Total"]);
    const cloud = within(table).getByRole("row", { name: /Cloud/ });
    expect(within(cloud).getAllByRole("cell").map((c) => c.textContent)).toEqual([(1200).toLocaleString(), (800).toLocaleString(), (2000).toLocaleString()]);
    const local = within(table).getByRole("row", { name: /Local/ });
    expect(within(local).getAllByRole("cell").map((c) => c.textContent)).toEqual(["30", "0", "30"]);
  });

  it("shows the empty message, and no chart or table, when every value is zero", () => {
    const { container } = chart([{ name: "Messages", tone: 1, values: [0, 0, 0] }], ["mon", "tue", "wed"]);
    expect(screen.getByText("Nothing yet.")).toBeInTheDocument();
    expect(container.querySelector("svg")).toBeNull();
    expect(screen.queryByRole("table")).toBeNull();
  });

  it("shows the empty message when there is nothing to draw", () => {
    chart([{ name: "Tokens", tone: 1, values: [] }], [], "horizontal");
    expect(screen.getByText("Nothing yet.")).toBeInTheDocument();
  });
});
