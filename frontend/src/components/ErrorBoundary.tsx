import { Component, type ErrorInfo, type ReactNode } from "react";
import { t } from "../i18n";

/**
 * ErrorBoundary keeps a fault in one page from blanking the window: it
 * shows what went wrong and a way on instead of the page that failed.
 * Give it a key that changes with the page so that moving on resets it.
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("page failed", error, info.componentStack);
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <section className="card error-page" role="alert" aria-labelledby="page-error-title">
        <h1 id="page-error-title">{t("error.pageTitle")}</h1>
        <p>{t("error.pageBody")}</p>
        <p className="muted">{error.message}</p>
        <div className="actions">
          <button type="button" className="primary" onClick={() => window.location.reload()}>{t("error.reload")}</button>
          <button type="button" onClick={() => this.setState({ error: null })}>{t("error.retry")}</button>
        </div>
      </section>
    );
  }
}
