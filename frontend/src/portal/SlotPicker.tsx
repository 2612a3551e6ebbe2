import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Slot } from "../api/types";
import { useSession } from "../auth/session";
import { Field } from "../components/Field";
import { t } from "../i18n";
import { slotMark, useLeases, type SlotMark } from "../sync/leases";
import { formatHour, freeSlots, localDay, todayString } from "./api";
import { LoadError } from "../components/LoadError";
import { useDoctorZones } from "./zones";

/**
 * SlotPicker chooses a day (today, or initialDay when that is later) and then one of the doctor's free times on it.
 * On an installation that syncs with a main server, the front desk sees which free times are lent to another
 * site (not bookable here) and, when booking (not moving), which lie in this installation's own lease
 * (confirmed at once).
 */
export function SlotPicker({ doctorID, slot, onSlot, idPrefix = "", initialDay, moving = false }: {
  doctorID: string;
  slot: Slot | null;
  onSlot: (s: Slot | null) => void;
  idPrefix?: string;
  initialDay?: string;
  moving?: boolean;
}) {
  const { client } = useSession();
  const [day, setDay] = useState(() => (initialDay && initialDay > todayString() ? initialDay : todayString()));
  const slots = useQuery({
    queryKey: ["slots", doctorID, day],
    enabled: !!doctorID && !!day,
    queryFn: () => {
      const from = localDay(day);
      const to = new Date(from.getTime() + 24 * 3600_000);
      return freeSlots(client, doctorID, from < new Date() ? new Date() : from, to);
    },
  });
  const leases = useLeases().data;
  const zone = useDoctorZones([doctorID])(doctorID);
  const dayID = `${idPrefix}day`;
  const now = new Date();
  const marks = new Map<string, SlotMark>((slots.data ?? []).map((s) => {
    const m = slotMark(s, doctorID, leases, now);
    return [s.start, moving && m === "own" ? null : m];
  }));
  const marked = [...marks.values()].some(Boolean);
  // A chosen time that another site's lease now holds cannot be booked: choose again.
  const chosenHeld = !!slot && marks.get(slot.start) === "held";
  useEffect(() => {
    if (chosenHeld) onSlot(null);
  }, [chosenHeld, onSlot]);
  const helpID = `${idPrefix}slots-help`;
  return (
    <>
      <Field id={dayID} label={t("book.day")}>
        <input id={dayID} type="date" min={todayString()} value={day} onChange={(e) => { setDay(e.target.value); onSlot(null); }} />
      </Field>
      <fieldset className="slots" aria-describedby={marked ? helpID : undefined}>
        <legend>{t("book.slots")}</legend>
        <LoadError error={slots.error} onRetry={() => slots.refetch()} />
        {slots.data?.length === 0 && <p className="muted">{t("book.noSlots")}</p>}
        {marked && <p id={helpID} className="muted slots-help">{t("lease.slotsHelp")}</p>}
        <div className="slot-grid">
          {slots.data?.map((s) => {
            const mark = marks.get(s.start);
            const held = mark === "held";
            const cls = ["slot", slot?.start === s.start ? "chosen" : "", held ? "held" : "", mark === "own" ? "own" : ""].filter(Boolean).join(" ");
            return (
              <label key={s.start} className={cls}>
                <input type="radio" name={`${idPrefix}slot`} value={s.start} checked={slot?.start === s.start} disabled={held} onChange={() => onSlot(s)} />
                {formatHour(s.start, zone)}
                {mark && <>{" "}<span className="slot-hint">{t(held ? "lease.slotHeld" : "lease.slotOwn")}</span></>}
              </label>
            );
          })}
        </div>
      </fieldset>
    </>
  );
}
