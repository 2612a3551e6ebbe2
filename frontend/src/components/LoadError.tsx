import { t } from "../i18n";

/** LoadError shows why something could not be loaded, with a retry; nothing when there is no error. */
export function LoadError({ error, onRetry }: { error: Error | null | undefined; onRetry: () => unknown }) {
  if (!error) return null;
  return (
    <div className="error-banner" role="alert">
      <p>{error.message}</p>
      <button type="button" onClick={() => void onRetry()}>{t("error.retry")}</button>
    </div>
  );
}
