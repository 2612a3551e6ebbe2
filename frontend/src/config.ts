// Where the API lives. In a browser it is the page's own origin; in the
// desktop window the shell says, through its one bound method.

export interface Connection {
  base_url: string;
  mode?: string;
}

interface DesktopBinding {
  go?: { main?: { Desktop?: { Connection?: () => Promise<Connection> } } };
}

/** connection asks the desktop shell when there is one, else uses the page's origin. */
export async function connection(): Promise<Connection> {
  const desktop = (window as unknown as DesktopBinding).go?.main?.Desktop?.Connection;
  if (desktop) {
    const c = await desktop();
    return { ...c, base_url: c.base_url.replace(/\/+$/, "") };
  }
  return { base_url: window.location.origin, mode: "browser" };
}
