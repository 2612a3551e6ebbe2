import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { t } from "./i18n";
import { connection } from "./config";
import { applyTheme } from "./theme";
import "./styles.css";

applyTheme();
const root = createRoot(document.getElementById("root")!);
connection()
  .then((c) =>
    root.render(
      <StrictMode>
        <ErrorBoundary>
          <App baseURL={c.base_url} />
        </ErrorBoundary>
      </StrictMode>,
    ),
  )
  .catch((err: unknown) => {
    root.render(<p role="alert">{t("error.noServer", { message: err instanceof Error ? err.message : String(err) })}</p>);
  });
