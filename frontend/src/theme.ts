import { useEffect, useState } from "react";

export type Theme = "system" | "light" | "dark";
const key = "healthhub.theme";

function stored(): Theme {
  const v = window.localStorage.getItem(key);
  return v === "light" || v === "dark" ? v : "system";
}

/** applyTheme sets data-theme on the document; "system" follows the OS. */
export function applyTheme(theme: Theme = stored()) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
}

/** useTheme is the chosen theme, remembered on this computer. */
export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(stored);
  useEffect(() => {
    applyTheme(theme);
    if (theme === "system") window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, theme);
  }, [theme]);
  return [theme, setTheme];
}
