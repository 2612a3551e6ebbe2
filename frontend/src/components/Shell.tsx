import { useEffect, useState, type ReactNode } from "react";
import { NavLink, useLocation } from "react-router-dom";
import type { Role } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { useLiveUpdates } from "../live";
import { useTheme, type Theme } from "../theme";
import { ErrorBoundary } from "./ErrorBoundary";
import { desktop, type DesktopConnection } from "../desktop";
import { SyncIndicator } from "../sync/SyncIndicator";
import { PrivacyNavItem } from "../emergency/EmergencyAccess";

/** A page of the app and the roles that see it in the navigation. */
export interface NavItem {
  to: string;
  label: MessageKey;
  roles: Role[];
}

export const navItems: NavItem[] = [
  { to: "/", label: "shell.home", roles: ["patient", "doctor", "staff", "admin"] },
  { to: "/appointments", label: "appts.nav", roles: ["patient"] },
  { to: "/book", label: "book.nav", roles: ["patient"] },
  { to: "/record", label: "record.nav", roles: ["patient"] },
  { to: "/schedule", label: "schedule.nav", roles: ["doctor"] },
  { to: "/hours", label: "hours.nav", roles: ["doctor"] },
  { to: "/patients", label: "patients.nav", roles: ["staff"] },
  { to: "/clinic-day", label: "day.nav", roles: ["staff"] },
  { to: "/assistant", label: "assistant.nav", roles: ["patient", "doctor", "staff", "admin"] },
  { to: "/admin/users", label: "users.nav", roles: ["admin"] },
  { to: "/admin/knowledge", label: "knowledge.nav", roles: ["admin"] },
  { to: "/admin/audit", label: "audit.nav", roles: ["admin"] },
  { to: "/admin/assistant", label: "providers.nav", roles: ["admin"] },
  { to: "/admin/figures", label: "figures.nav", roles: ["admin"] },
  { to: "/admin/emergency-access", label: "emergency.nav", roles: ["admin"] },
  { to: "/admin/retention", label: "retention.nav", roles: ["admin"] },
];

/** Shell frames every signed-in page: navigation for the user's role, theme, the desktop app's connection, sign-out, and the idle warning. */
export function Shell({ server, connection, children }: { server: string; connection?: DesktopConnection; children: ReactNode }) {
  const { client, user, logout, warnIn, stayActive } = useSession();
  const [theme, setTheme] = useTheme();
  const online = useOnline();
  const live = useLiveUpdates(client);
  const { pathname } = useLocation();
  if (!user) return null;
  // The connection (mode, server, the button to change it) belongs to the
  // desktop app, which chooses it; a browser is already at its server.
  const inDesktop = desktop() !== null && connection !== undefined;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t("app.skip")}
      </a>
      <header className="topbar">
        <span className="brand">{t("app.name")}</span>
        <nav aria-label={t("shell.nav")}>
          <ul>
            {navItems
              .filter((n) => n.roles.includes(user.role))
              .map((n) => (
                <li key={n.to}>
                  <NavLink to={n.to} end={n.to === "/"}>
                    {t(n.label)}
                  </NavLink>
                </li>
              ))}
            <PrivacyNavItem />
          </ul>
        </nav>
        <div className="topbar-end">
          {inDesktop && connection.mode && (
            <span className={connection.offline ? "mode-badge offline" : "mode-badge"}>
              {connection.offline ? t("connect.offlineBadge") : t(`connect.modeLabel.${connection.mode}` as MessageKey)}
            </span>
          )}
          {inDesktop && connection.mode !== "standalone" && (
            <span className="server" title={t("shell.server", { server })}>
              {t("shell.server", { server })}
            </span>
          )}
          {inDesktop && (
            <button type="button" onClick={() => { window.location.hash = "connection"; window.location.reload(); }}>
              {t("connect.settings")}
            </button>
          )}
          {user.role !== "patient" && <SyncIndicator />}
          <label className="theme">
            <span className="visually-hidden">{t("shell.theme")}</span>
            <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
              <option value="system">{t("shell.themeSystem")}</option>
              <option value="light">{t("shell.themeLight")}</option>
              <option value="dark">{t("shell.themeDark")}</option>
            </select>
          </label>
          <span className="who">{t("shell.signedInAs", { name: user.name, role: t(`role.${user.role}` as MessageKey) })}</span>
          <button type="button" onClick={() => void logout()}>
            {t("shell.signOut")}
          </button>
        </div>
      </header>
      {(!online || live === "closed") && (
        <p className="offline-banner" role="status">
          {online ? t("shell.reconnecting") : t("shell.offline")}
        </p>
      )}
      <main id="main" className="content">
        <ErrorBoundary key={pathname}>{children}</ErrorBoundary>
      </main>
      {warnIn !== null && (
        <div className="dialog-backdrop">
          <div className="card dialog" role="alertdialog" aria-modal="true" aria-labelledby="idle-title" aria-describedby="idle-body">
            <h2 id="idle-title">{t("idle.title")}</h2>
            <p id="idle-body">{t("idle.body", { seconds: warnIn })}</p>
            <button type="button" className="primary" onClick={stayActive} autoFocus>
              {t("idle.stay")}
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

function useOnline(): boolean {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);
  return online;
}
