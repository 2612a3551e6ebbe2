// Where the API lives. In a browser it is the page's own origin; in the
// desktop window the shell says, through its bound Connection method.
import { desktop, type DesktopConnection } from "./desktop";

export interface Connection extends DesktopConnection {
  base_url: string;
}

/** connection asks the desktop shell when there is one, else uses the page's origin. */
export async function connection(): Promise<DesktopConnection> {
  const d = desktop();
  if (d) {
    const c = await d.Connection();
    return c.base_url ? { ...c, base_url: c.base_url.replace(/\/+$/, "") } : c;
  }
  return { state: "ready", base_url: window.location.origin };
}
