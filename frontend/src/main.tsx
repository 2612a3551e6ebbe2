import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { connection } from "./config";
import { applyTheme } from "./theme";
import "./styles.css";

applyTheme();
const root = createRoot(document.getElementById("root")!);
connection()
  .then((c) => root.render(<StrictMode><App baseURL={c.base_url} /></StrictMode>))
  .catch((err: unknown) => {
    root.render(<p role="alert">HealthHub could not find its server: {err instanceof Error ? err.message : String(err)}</p>);
  });
