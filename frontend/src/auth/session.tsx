import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Client } from "../api/client";
import type { Credentials, User } from "../api/types";

export interface Session {
  client: Client;
  user: User | null;
  /** loading is true while a stored session is being resumed. */
  loading: boolean;
  /** idleSignedOut is set when the last session ended for inactivity. */
  idleSignedOut: boolean;
  login(c: Credentials): Promise<void>;
  logout(): Promise<void>;
  /** warnIn is the seconds left before automatic logoff, while the warning shows. */
  warnIn: number | null;
  stayActive(): void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

/** The warning shows this long before the automatic logoff. */
const warningSeconds = 60;
const activityEvents = ["pointerdown", "keydown", "wheel", "touchstart"] as const;

/**
 * SessionProvider holds the signed-in user, resumes a session kept in this
 * tab, and signs the user out after the server's idle period, warning a
 * minute before.
 */
export function SessionProvider({ client, children, now = () => Date.now() }: { client: Client; children: ReactNode; now?: () => number }) {
  const [user, setUser] = useState<User | null>(null);
  const [loading, setLoading] = useState(client.signedIn);
  const [idleMinutes, setIdleMinutes] = useState(15);
  const [warnIn, setWarnIn] = useState<number | null>(null);
  const [idleSignedOut, setIdleSignedOut] = useState(false);
  const lastActive = useRef(now());

  useEffect(() => {
    client.onSignedOut = () => setUser(null);
    if (!client.signedIn) return;
    client
      .me()
      .then((me) => {
        setUser(me);
        if (me.idle_timeout_minutes > 0) setIdleMinutes(me.idle_timeout_minutes);
      })
      .catch(() => setUser(null))
      .finally(() => setLoading(false));
  }, [client]);

  const login = useCallback(
    async (c: Credentials) => {
      const pair = await client.login(c);
      lastActive.current = now();
      setIdleSignedOut(false);
      setUser(pair.user);
      client
        .me()
        .then((me) => me.idle_timeout_minutes > 0 && setIdleMinutes(me.idle_timeout_minutes))
        .catch(() => {});
    },
    [client, now],
  );

  const logout = useCallback(async () => {
    setWarnIn(null);
    try {
      await client.logout();
    } finally {
      setUser(null);
    }
  }, [client]);

  const stayActive = useCallback(() => {
    lastActive.current = now();
    setWarnIn(null);
  }, [now]);

  // Activity keeps the session; the warning itself must be answered.
  useEffect(() => {
    if (!user) return;
    const mark = () => {
      if (warnIn === null) lastActive.current = now();
    };
    for (const e of activityEvents) window.addEventListener(e, mark, { passive: true });
    const timer = window.setInterval(() => {
      const left = Math.round((lastActive.current + idleMinutes * 60_000 - now()) / 1000);
      if (left <= 0) {
        setIdleSignedOut(true);
        void logout();
      } else if (left <= warningSeconds) {
        setWarnIn(left);
      }
    }, 1000);
    return () => {
      for (const e of activityEvents) window.removeEventListener(e, mark);
      window.clearInterval(timer);
    };
  }, [user, idleMinutes, warnIn, logout, now]);

  const value = useMemo<Session>(
    () => ({ client, user, loading, idleSignedOut, login, logout, warnIn, stayActive }),
    [client, user, loading, idleSignedOut, login, logout, warnIn, stayActive],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
