// Small bar charts drawn as SVG. Each comes with its numbers as a table,
// so what the picture shows can also be read out, copied and checked.
import { useId, useLayoutEffect, useRef, useState } from "react";
import { t } from "../i18n";
import "./admin.css";

/** Tone picks one of the chart colours of admin.css (both themes). */
export type Tone = 1 | 2 | 3 | 4;

/** Series is one quantity drawn for every category; several series stack. */
export interface Series {
  name: string;
  tone: Tone;
  values: number[];
}

export interface BarChartProps {
  /** label names the chart to assistive technology and captions its table. */
  label: string;
  /** categories are the bars, such as days or providers. */
  categories: string[];
  /** categoryHeader heads the table's first column. */
  categoryHeader: string;
  /** tick is a category's short label on the axis; full is its label in the table and tooltip. */
  tick?: (category: string) => string;
  full?: (category: string) => string;
  series: Series[];
  /** vertical bars suit days; horizontal bars suit named things. */
  orientation?: "vertical" | "horizontal";
  /** empty is shown instead of the chart when every value is zero. */
  empty: string;
}

const numbers = new Intl.NumberFormat();
const same = (c: string) => c;

/** totals are the stacked height of each category. */
export function totals(series: Series[], count: number): number[] {
  return Array.from({ length: count }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
}

/** BarChart draws stacked bars scaled so the largest category fills the plot. */
export function BarChart({ label, categories, categoryHeader, tick = same, full = tick, series, orientation = "vertical", empty }: BarChartProps) {
  const [frame, width] = useWidth(600);
  const sums = totals(series, categories.length);
  const max = Math.max(0, ...sums);
  return (
    <figure className="chart" ref={frame}>
      {max === 0 ? (
        <p className="muted chart-empty">{empty}</p>
      ) : (
        <>
          {series.length > 1 && (
            <ul className="chart-legend">
              {series.map((s) => (
                <li key={s.name}>
                  <span className={`swatch tone-${s.tone}`} aria-hidden="true" />
                  {s.name}
                </li>
              ))}
            </ul>
          )}
          {orientation === "vertical" ? (
            <VerticalBars label={label} categories={categories} tick={tick} full={full} series={series} max={max} width={width} />
          ) : (
            <HorizontalBars label={label} categories={categories} full={full} series={series} sums={sums} max={max} width={width} />
          )}
          <NumbersTable label={label} categories={categories} categoryHeader={categoryHeader} full={full} series={series} sums={sums} />
        </>
      )}
    </figure>
  );
}

interface Drawing {
  label: string;
  categories: string[];
  full: (c: string) => string;
  series: Series[];
  max: number;
  width: number;
}

/** The vertical chart's frame, in pixels. */
export const vertical = { height: 220, top: 12, bottom: 26, right: 8 };

function VerticalBars({ label, categories, tick, full, series, max, width }: Drawing & { tick: (c: string) => string }) {
  const { height, top, bottom, right } = vertical;
  const ticks = max >= 2 && max % 2 === 0 ? [0, max / 2, max] : [0, max];
  const left = 10 + 7.5 * numbers.format(max).length;
  const plotW = Math.max(40, width - left - right);
  const plotH = height - top - bottom;
  const band = plotW / categories.length;
  const barW = Math.max(2, Math.min(48, band * 0.72));
  const every = Math.ceil(categories.length / Math.max(2, Math.floor(plotW / 64)));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  return (
    <svg className={barW < 6 ? "chart-svg thin" : "chart-svg"} role="img" aria-label={label} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
      {ticks.map((v) => (
        <g key={v}>
          <line className="chart-grid" x1={left} x2={left + plotW} y1={y(v)} y2={y(v)} />
          <text className="chart-axis" x={left - 6} y={y(v) + 4} textAnchor="end">
            {numbers.format(v)}
          </text>
        </g>
      ))}
      {categories.map((c, i) => {
        const x = left + i * band + (band - barW) / 2;
        let base = 0;
        return (
          <g key={c}>
            <title>{describe(full(c), series, i)}</title>
            {series.map((s) => {
              const v = s.values[i] ?? 0;
              const h = (v / max) * plotH;
              base += h;
              return v > 0 ? (
                <rect key={s.name} className={`bar tone-${s.tone}`} data-category={c} data-series={s.name} data-value={v} x={x} width={barW} y={top + plotH - base} height={h} />
              ) : null;
            })}
            {i % every === 0 && (
              <text className="chart-axis" x={left + i * band + band / 2} y={height - 8} textAnchor="middle">
                {tick(c)}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

/** The horizontal chart's rows, in pixels: a label line, then the bar. */
export const horizontal = { label: 18, bar: 16, gap: 14, valueSpace: 80 };

function HorizontalBars({ label, categories, full, series, sums, max, width }: Drawing & { sums: number[] }) {
  const row = horizontal.label + horizontal.bar + horizontal.gap;
  const height = categories.length * row;
  const plotW = Math.max(40, width - horizontal.valueSpace);
  const fits = Math.max(8, Math.floor(width / 7.5));
  return (
    <svg className="chart-svg" role="img" aria-label={label} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
      {categories.map((c, i) => {
        const top = i * row;
        const name = full(c);
        let start = 0;
        return (
          <g key={c}>
            <title>{describe(name, series, i)}</title>
            <text className="chart-label" x={0} y={top + 13}>
              {name.length > fits ? `${name.slice(0, fits - 1)}…` : name}
            </text>
            <line className="chart-grid" x1={0} x2={0} y1={top + horizontal.label - 2} y2={top + horizontal.label + horizontal.bar + 2} />
            {series.map((s) => {
              const v = s.values[i] ?? 0;
              const w = (v / max) * plotW;
              const x = start;
              start += w;
              return v > 0 ? (
                <rect key={s.name} className={`bar tone-${s.tone}`} data-category={c} data-series={s.name} data-value={v} x={x} width={w} y={top + horizontal.label} height={horizontal.bar} />
              ) : null;
            })}
            <text className="chart-axis" x={start + 6} y={top + horizontal.label + 12}>
              {numbers.format(sums[i])}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function describe(name: string, series: Series[], i: number): string {
  return `${name}: ${series.map((s) => `${s.name} ${numbers.format(s.values[i] ?? 0)}`).join(", ")}`;
}

function NumbersTable({ label, categories, categoryHeader, full, series, sums }: Omit<Drawing, "max" | "width"> & { categoryHeader: string; sums: number[] }) {
  const id = useId();
  return (
    <details className="chart-table">
      <summary>
        {t("charts.showNumbers")}
        <span className="visually-hidden"> ({label})</span>
      </summary>
      <div className="table-scroll">
        <table aria-describedby={id}>
          <caption id={id} className="visually-hidden">
            {label}
          </caption>
          <thead>
            <tr>
              <th scope="col">{categoryHeader}</th>
              {series.map((s) => (
                <th scope="col" key={s.name}>
                  {s.name}
                </th>
              ))}
              {series.length > 1 && <th scope="col">{t("charts.total")}</th>}
            </tr>
          </thead>
          <tbody>
            {categories.map((c, i) => (
              <tr key={c} data-category={c}>
                <th scope="row">{full(c)}</th>
                {series.map((s) => (
                  <td key={s.name}>{numbers.format(s.values[i] ?? 0)}</td>
                ))}
                {series.length > 1 && <td>{numbers.format(sums[i])}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

/** useWidth follows the width of an element, so the SVG's text keeps its size at any width. */
function useWidth(fallback: number) {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(fallback);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const w = Math.floor(el.clientWidth);
      if (w > 0) setWidth(w);
    };
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const watch = new ResizeObserver(measure);
    watch.observe(el);
    return () => watch.disconnect();
  }, []);
  return [ref, width] as const;
}
