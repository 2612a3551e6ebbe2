import { Link } from "react-router-dom";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { briefly, isSet, shownState, useSyncStatus } from "./api";

/** conflictsPath is the front desk's page of bookings to rebook. */
export const conflictsPath = "/conflicts";

/**
 * SyncIndicator tells the clinic, in the top bar, how this installation's
 * sync with its main server goes: the state in words, when it last
 * succeeded, how many changes wait and how many bookings must be rebooked.
 * It shows only on an enrolled installation, to staff, doctors and admins;
 * for the front desk and admins it opens the Conflicts page.
 */
export function SyncIndicator() {
  const { user } = useSession();
  const status = useSyncStatus();
  const st = status.data;
  if (!user || !st?.enrolled) return null;
  const state = shownState(st);
  const last = isSet(st.last_success) ? briefly(st.last_success) : t("sync.never");
  const words = t(`sync.state.${state}` as MessageKey);
  const title = `${t(`sync.explain.${state}` as MessageKey)} ${t("sync.indicatorTitle", { state: words, time: last, queued: st.queued, conflicts: st.open_conflicts })}`;
  const className = `sync-indicator ${state}`;
  const body = (
    <>
      <span className="sync-dot" aria-hidden="true" />{" "}
      <span className="sync-state">{t("sync.label")}: {words}</span>{" "}
      <span className="sync-detail">{t("sync.lastShort", { time: last })}</span>
      {st.queued > 0 && <>{" "}<span className="sync-detail">{t("sync.waiting", { n: st.queued })}</span></>}
      {st.open_conflicts > 0 && <>{" "}<span className="sync-conflicts">{t("sync.conflictsCount", { n: st.open_conflicts })}</span></>}
    </>
  );
  // Doctors see the state; conflicts are the front desk's to rebook.
  if (user.role === "doctor") {
    return (
      <span className={className} title={title}>
        {body}
      </span>
    );
  }
  return (
    <Link to={conflictsPath} className={className} title={title}>
      {body}
    </Link>
  );
}
