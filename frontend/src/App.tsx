import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useMemo } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { Client, type TokenStore } from "./api/client";
import { desktop, type DesktopConnection } from "./desktop";
import { SessionProvider, useSession } from "./auth/session";
import { AuditPage } from "./admin/AuditPage";
import { KnowledgePage } from "./admin/KnowledgePage";
import { UsersPage } from "./admin/UsersPage";
import { AssistantPage } from "./assistant/AssistantPage";
import { Shell } from "./components/Shell";
import { AppointmentsPage } from "./portal/AppointmentsPage";
import { BookPage } from "./portal/BookPage";
import { HoursPage } from "./portal/HoursPage";
import { RecordPage } from "./portal/RecordPage";
import { SchedulePage } from "./portal/SchedulePage";
import { ClinicDayPage } from "./staff/ClinicDayPage";
import { PatientsPage } from "./staff/PatientsPage";
import { HomePage } from "./pages/HomePage";
import { t } from "./i18n";
import { LoginPage } from "./pages/LoginPage";
import { RegisterPage } from "./pages/RegisterPage";
import { SetupPage } from "./pages/SetupPage";

// Pages few people open load when first visited, keeping the first page small.
const ProvidersPage = lazy(() => import("./admin/ProvidersPage").then((m) => ({ default: m.ProvidersPage })));
const FiguresPage = lazy(() => import("./admin/FiguresPage").then((m) => ({ default: m.FiguresPage })));

/** App is the whole UI for one server. */
export function App({ baseURL, connection, tokens }: { baseURL: string; connection?: DesktopConnection; tokens?: TokenStore }) {
  const client = useMemo(() => new Client(baseURL, tokens), [baseURL, tokens]);
  const queries = useMemo(() => new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } }), []);
  return (
    <QueryClientProvider client={queries}>
      <SessionProvider client={client}>
        <BrowserRouter>
          <RouteReporter />
          <Routes>
            <Route path="/login" element={<LoginRoute />} />
            <Route path="/setup" element={<SetupPage />} />
            <Route path="/register" element={<RegisterRoute />} />
            <Route
              path="*"
              element={
                <RequireUser>
                  <Shell server={connection?.server && connection.mode !== "standalone" ? new URL(connection.server).host : new URL(baseURL).host} connection={connection}>
                    <Routes>
                      <Route path="/" element={<HomePage />} />
                      <Route path="/assistant" element={<AssistantPage />} />
                      <Route path="/book" element={<BookPage />} />
                      <Route path="/record" element={<RecordPage />} />
                      <Route path="/hours" element={<HoursPage />} />
                      <Route path="/appointments" element={<AppointmentsPage />} />
                      <Route path="/schedule" element={<SchedulePage />} />
                      <Route path="/patients" element={<PatientsPage />} />
                      <Route path="/clinic-day" element={<ClinicDayPage />} />
                      <Route path="/admin/knowledge" element={<KnowledgePage />} />
                      <Route path="/admin/audit" element={<AuditPage />} />
                      <Route path="/admin/users" element={<UsersPage />} />
                      <Route path="/admin/assistant" element={<Later><ProvidersPage /></Later>} />
                      <Route path="/admin/figures" element={<Later><FiguresPage /></Later>} />
                      <Route path="/assistant/:id" element={<AssistantPage />} />
                      <Route path="*" element={<Navigate to="/" replace />} />
                    </Routes>
                  </Shell>
                </RequireUser>
              }
            />
          </Routes>
        </BrowserRouter>
      </SessionProvider>
    </QueryClientProvider>
  );
}

/** Later shows a page loaded on first use, with a note while it arrives. */
function Later({ children }: { children: React.ReactNode }) {
  return <Suspense fallback={<p className="muted">{t("admin.loading")}</p>}>{children}</Suspense>;
}

/** RouteReporter tells the desktop shell each page shown (it logs when the window became usable). */
function RouteReporter() {
  const { pathname } = useLocation();
  useEffect(() => {
    void desktop()?.PageShown(pathname).catch(() => undefined);
  }, [pathname]);
  return null;
}

function LoginRoute() {
  const { user, loading } = useSession();
  const from = (useLocation().state as { from?: string } | null)?.from ?? "/";
  if (loading) return null;
  return user ? <Navigate to={from} replace /> : <LoginPage />;
}

function RegisterRoute() {
  const { user } = useSession();
  return user ? <Navigate to="/" replace /> : <RegisterPage />;
}

function RequireUser({ children }: { children: React.ReactNode }) {
  const { user, loading } = useSession();
  const location = useLocation();
  if (loading) return null;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}
