import type { Appointment } from "../api/types";
import { t, type MessageKey } from "../i18n";

/**
 * AppointmentStatus is an appointment's status in words, with its reason
 * when it has one. A booking waiting for the main server's confirmation
 * (pending, made on a workstation that syncs) stands out as a badge.
 */
export function AppointmentStatus({ a, withReason = true }: { a: Pick<Appointment, "status" | "reason">; withReason?: boolean }) {
  const status = t(`status.${a.status}` as MessageKey);
  const reason = withReason && a.reason ? ` · ${a.reason}` : "";
  if (a.status !== "pending") return <>{status}{reason}</>;
  return (
    <>
      <span className="status-badge pending">{status}</span>
      {reason}
    </>
  );
}
