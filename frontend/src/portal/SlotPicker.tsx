import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { Slot } from "../api/types";
import { useSession } from "../auth/session";
import { Field } from "../components/Field";
import { t } from "../i18n";
import { formatHour, freeSlots, localDay, todayString } from "./api";
import { LoadError } from "../components/LoadError";
import { useDoctorZones } from "./zones";

/** SlotPicker chooses a day (today, or initialDay when that is later) and then one of the doctor's free times on it. */
export function SlotPicker({ doctorID, slot, onSlot, idPrefix = "", initialDay }: { doctorID: string; slot: Slot | null; onSlot: (s: Slot | null) => void; idPrefix?: string; initialDay?: string }) {
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
  const zone = useDoctorZones([doctorID])(doctorID);
  const dayID = `${idPrefix}day`;
  return (
    <>
      <Field id={dayID} label={t("book.day")}>
        <input id={dayID} type="date" min={todayString()} value={day} onChange={(e) => { setDay(e.target.value); onSlot(null); }} />
      </Field>
      <fieldset className="slots">
        <legend>{t("book.slots")}</legend>
        <LoadError error={slots.error} onRetry={() => slots.refetch()} />
        {slots.data?.length === 0 && <p className="muted">{t("book.noSlots")}</p>}
        <div className="slot-grid">
          {slots.data?.map((s) => (
            <label key={s.start} className={slot?.start === s.start ? "slot chosen" : "slot"}>
              <input type="radio" name={`${idPrefix}slot`} value={s.start} checked={slot?.start === s.start} onChange={() => onSlot(s)} />
              {formatHour(s.start, zone)}
            </label>
          ))}
        </div>
      </fieldset>
    </>
  );
}
