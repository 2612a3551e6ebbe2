import type { ReactNode } from "react";
import { Link } from "react-router-dom";
import type { Appointment } from "../api/types";
import { formatTime } from "../time";
import { patientPath } from "./day";

/** VisitRow is one appointment of a day: its time, the patient's name opening their page, a line about it, and any actions. */
export function VisitRow({ a, patient, about, next = false, actions }: { a: Appointment; patient: string; about: ReactNode; next?: boolean; actions?: ReactNode }) {
  return (
    <li className={next ? "appointment next" : "appointment"}>
      <div>
        <strong>{formatTime(a.start)}</strong> <Link to={patientPath(a.patient_id)}>{patient}</Link>
        <div className="muted">{about}</div>
      </div>
      {actions && <div className="actions">{actions}</div>}
    </li>
  );
}
