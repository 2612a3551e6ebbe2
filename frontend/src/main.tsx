import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { connection } from "./config";
import { desktop, desktopTokens, rememberWindowSize, setConnection, type DesktopConnection } from "./desktop";
import { t } from "./i18n";
import { ConnectPage } from "./pages/ConnectPage";
import { applyTheme } from "./theme";
import "./styles.css";

applyTheme();
const root = createRoot(document.getElementById("root")!);

/** The connection screen is asked for with #connection (the Connection menu). */
const connectionHash = "#connection";

async function start() {
  const d = desktop();
  if (d) rememberWindowSize(d);
  const c = await connection();
  if (d && (c.state !== "ready" || window.location.hash === connectionHash)) {
    const ready = (next: DesktopConnection) => {
      // The UI starts again on the new connection, on its home page (or
      // the first administrator's setup page on a new standalone clinic).
      window.location.replace(next.setup_token ? `/setup?token=${encodeURIComponent(next.setup_token)}` : "/");
    };
    root.render(
      <StrictMode>
        <ConnectPage desktop={d} initial={c} onReady={ready} onCancel={c.state === "ready" ? () => window.location.replace("/") : undefined} />
      </StrictMode>,
    );
    void d.PageShown("/connection").catch(() => undefined);
    return;
  }
  if (d && c.setup_token && window.location.pathname === "/") {
    window.location.replace(`/setup?token=${encodeURIComponent(c.setup_token)}`);
    return;
  }
  setConnection(d ? c : null);
  const tokens = d ? desktopTokens(d, (await d.LoadSession().catch(() => "")) || null) : undefined;
  root.render(
    <StrictMode>
      <ErrorBoundary>
        <App baseURL={c.base_url!} connection={c} tokens={tokens} />
      </ErrorBoundary>
    </StrictMode>,
  );
}

start().catch((err: unknown) => {
  root.render(<p role="alert">{t("error.noServer", { message: err instanceof Error ? err.message : String(err) })}</p>);
});
