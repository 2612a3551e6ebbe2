// The desktop shell's bindings (window.go.main.Desktop), present only in
// the desktop window. Everything here is a no-op in a browser.
import type { TokenStore } from "./api/client";

export interface Problem {
  kind: "unreachable" | "untrusted" | "certificate_changed" | "incompatible" | "data_folder" | "setup";
  message: string;
  advice: string;
  server?: string;
}

/** DesktopConnection is the shell's answer to "where is the API?". */
export interface DesktopConnection {
  state: "ready" | "choose" | "problem";
  mode?: "standalone" | "clinic" | "hosted";
  server?: string;
  base_url?: string;
  version?: string;
  setup_token?: string;
  problem?: Problem;
  offline?: boolean;
}

export interface Identity {
  server: string;
  fingerprint: string;
  subject: string;
  public: boolean;
  version: string;
}

export interface DesktopBinding {
  Connection(): Promise<DesktopConnection>;
  Probe(mode: string, server: string): Promise<Identity>;
  Choose(mode: string, server: string, fingerprint: string): Promise<DesktopConnection>;
  WorkOffline(): Promise<DesktopConnection>;
  Retry(): Promise<DesktopConnection>;
  PickFolder(title: string): Promise<string>;
  Notify(n: { title: string; body: string }): Promise<void>;
  SaveSession(token: string): Promise<void>;
  LoadSession(): Promise<string>;
  ClearSession(): Promise<void>;
  PageShown(path: string): Promise<void>;
  SaveWindowSize(): Promise<void>;
}

let current: DesktopConnection | null = null;

/** setConnection records the desktop connection in use (main does, at start). */
export function setConnection(c: DesktopConnection | null): void {
  current = c;
}

/** localServer is true in the desktop app's standalone mode: the server reads this computer's folders. */
export function localServer(): boolean {
  return current?.mode === "standalone" && desktop() !== null;
}

/** desktop returns the shell's bindings, or null in a browser. */
export function desktop(): DesktopBinding | null {
  return (window as unknown as { go?: { main?: { Desktop?: DesktopBinding } } }).go?.main?.Desktop ?? null;
}

/** desktopTokens keeps the refresh token in the OS keychain through the shell, starting from the one it had kept. */
export function desktopTokens(d: DesktopBinding, initial: string | null): TokenStore {
  let current = initial;
  return {
    get: () => current,
    set: (token) => {
      current = token;
      void (token ? d.SaveSession(token) : d.ClearSession()).catch(() => undefined);
    },
  };
}

/** notify shows an OS notification in the desktop app; in a browser it does nothing. */
export function notify(title: string, body: string): void {
  void desktop()?.Notify({ title, body }).catch(() => undefined);
}

/** rememberWindowSize has the shell save the window's size a moment after each resize. */
export function rememberWindowSize(d: DesktopBinding, delay = 500): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onResize = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void d.SaveWindowSize().catch(() => undefined), delay);
  };
  window.addEventListener("resize", onResize);
  return () => {
    clearTimeout(timer);
    window.removeEventListener("resize", onResize);
  };
}
