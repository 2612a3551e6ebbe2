import { keepPreviousData, useQuery, type UseQueryResult } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { appointmentStats, usageBetween } from "./api";
import { BarChart } from "./charts";
import { dayIn, daysOf, messagesPerDay, outcomeTotals, periods, rangeEnding, tokensPerProvider, type Period } from "./figures";
import "./admin.css";

const numbers = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
// Days are calendar days, so they are formatted as such, whatever the computer's zone.
const shortDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const longDay = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const asDate = (day: string) => new Date(`${day}T00:00:00Z`);
const tick = (day: string) => shortDay.format(asDate(day));
const full = (day: string) => longDay.format(asDate(day));

/** browserTimeZone is the IANA zone the figures' days are counted in. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** FiguresPage: the assistant's use and the clinic's appointments over a recent period, as charts. */
export function FiguresPage() {
  const { client } = useSession();
  const [period, setPeriod] = useState<Period>(30);
  const timeZone = browserTimeZone();
  const { from, to } = rangeEnding(dayIn(new Date(), timeZone), period);
  const days = daysOf(from, to);
  // The assistant counts use per UTC day; appointments are counted in the
  // browser's zone. Near midnight the two can differ by a day at the edges.
  const usage = useQuery({ queryKey: ["figures", "usage", from, to], queryFn: () => usageBetween(client, from, to), placeholderData: keepPreviousData });
  const appts = useQuery({
    queryKey: ["figures", "appointments", from, to, timeZone],
    queryFn: () => appointmentStats(client, from, to, timeZone),
    placeholderData: keepPreviousData,
  });

  const perDay = usage.data ? messagesPerDay(usage.data, days) : [];
  const perProvider = usage.data ? tokensPerProvider(usage.data) : [];
  const statDays = appts.data?.days ?? [];
  const outcomes = outcomeTotals(statDays);
  const rate = appts.data?.no_show_rate ?? null;
  const range = t("figures.range", { from: full(from), to: full(to) });
  // Each figure says which days it counts, in which zone: the assistant's
  // use is kept per UTC day, appointments are counted in the browser's zone,
  // and today's later bookings have not happened yet.
  const usageRange = t("figures.countsUsage", { range });
  const apptRange = t("figures.countsAppointments", { range, zone: timeZone });

  return (
    <div className="stack-wide">
      <section className="card page-head" aria-labelledby="figures-title">
        <div>
          <h1 id="figures-title">{t("figures.title")}</h1>
          <p className="muted">
            {range} · {t("figures.timeZone", { zone: timeZone })}
          </p>
        </div>
        <div className="segmented" role="group" aria-label={t("figures.period")}>
          {periods.map((p) => (
            <button key={p} type="button" aria-pressed={period === p} onClick={() => setPeriod(p)}>
              {t("figures.lastDays", { n: p })}
            </button>
          ))}
        </div>
      </section>

      <div className="figures">
        <Figure id="fig-messages" title={t("figures.messages")} counts={usageRange} total={usage.data && t("figures.messagesTotal", { n: numbers.format(sum(perDay)) })} query={usage}>
          <BarChart
            label={t("figures.messagesLabel", { range })}
            categories={days}
            categoryHeader={t("figures.day")}
            tick={tick}
            full={full}
            series={[{ name: t("figures.messagesSeries"), tone: 1, values: perDay }]}
            empty={t("figures.noMessages")}
          />
        </Figure>

        <Figure
          id="fig-tokens"
          title={t("figures.tokens")}
          counts={usageRange}
          total={usage.data && t("figures.tokensTotal", { n: numbers.format(perProvider.reduce((s, p) => s + p.tokensIn + p.tokensOut, 0)) })}
          query={usage}
        >
          <BarChart
            label={t("figures.tokensLabel", { range })}
            orientation="horizontal"
            categories={perProvider.map((p) => p.provider)}
            categoryHeader={t("figures.provider")}
            full={(p) => p || t("figures.unknownProvider")}
            series={[
              { name: t("figures.tokensIn"), tone: 1, values: perProvider.map((p) => p.tokensIn) },
              { name: t("figures.tokensOut"), tone: 2, values: perProvider.map((p) => p.tokensOut) },
            ]}
            empty={t("figures.noTokens")}
          />
        </Figure>

        <Figure id="fig-appointments" title={t("figures.appointments")} counts={apptRange} total={appts.data && t("figures.appointmentsTotal", { n: numbers.format(outcomes.total) })} query={appts}>
          <BarChart
            label={t("figures.appointmentsLabel", { range })}
            categories={statDays.map((d) => d.day)}
            categoryHeader={t("figures.day")}
            tick={tick}
            full={full}
            series={[
              { name: t("figures.fulfilled"), tone: 1, values: statDays.map((d) => d.fulfilled) },
              { name: t("figures.noshow"), tone: 3, values: statDays.map((d) => d.noshow) },
              { name: t("figures.open"), tone: 2, values: statDays.map((d) => d.open) },
              { name: t("figures.cancelled"), tone: 4, values: statDays.map((d) => d.cancelled) },
            ]}
            empty={t("figures.noAppointments")}
          />
        </Figure>

        <Figure id="fig-noshow" title={t("figures.noShowRate")} counts={apptRange} query={appts}>
          <p className="big-figure" data-testid="no-show-rate">
            {rate === null ? <span aria-hidden="true">—</span> : percent.format(rate)}
          </p>
          <p className="help">{rate === null ? t("figures.noRate") : t("figures.rateHelp")}</p>
          <dl className="figure-facts">
            <div>
              <dt>{t("figures.fulfilled")}</dt>
              <dd data-testid="fulfilled-count">{numbers.format(outcomes.fulfilled)}</dd>
            </div>
            <div>
              <dt>{t("figures.noshow")}</dt>
              <dd data-testid="noshow-count">{numbers.format(outcomes.noshow)}</dd>
            </div>
          </dl>
        </Figure>
      </div>
    </div>
  );
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Figure is one chart's card: its title, the days it counts, its total, or why it cannot be shown yet. */
function Figure({ id, title, counts, total, query, children }: { id: string; title: string; counts: string; total?: string | false; query: UseQueryResult<unknown>; children: ReactNode }) {
  return (
    <section className="card" aria-labelledby={id} aria-busy={query.isFetching}>
      <div className="figure-head">
        <h2 id={id} className="h2">
          {title}
        </h2>
        {total && <p className="figure-total">{total}</p>}
      </div>
      <p className="muted figure-range">{counts}</p>
      {query.isError ? (
        <LoadError error={query.error} onRetry={() => query.refetch()} />
      ) : query.data === undefined ? (
        <p className="muted">{t("admin.loading")}</p>
      ) : (
        children
      )}
    </section>
  );
}
