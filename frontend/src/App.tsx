import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useMemo } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { Client, type TokenStore } from "./api/client";
import { desktop, type DesktopConnection } from "./desktop";
import { SessionProvider, useSession } from "./auth/session";
import { Shell } from "./components/Shell";
import { t } from "./i18n";
import { LoginPage } from "./pages/LoginPage";

// The sign-in page comes with the first script; every other page is a
// script of its own, fetched once the sign-in page is up (preloadPages) or
// when first opened. The window is usable sooner, and in a browser the
// pages have arrived while the user types.
const pages = {
  HomePage: () => import("./pages/HomePage").then((m) => ({ default: m.HomePage })),
  AssistantPage: () => import("./assistant/AssistantPage").then((m) => ({ default: m.AssistantPage })),
  BookPage: () => import("./portal/BookPage").then((m) => ({ default: m.BookPage })),
  RecordPage: () => import("./portal/RecordPage").then((m) => ({ default: m.RecordPage })),
  HoursPage: () => import("./portal/HoursPage").then((m) => ({ default: m.HoursPage })),
  AppointmentsPage: () => import("./portal/AppointmentsPage").then((m) => ({ default: m.AppointmentsPage })),
  SchedulePage: () => import("./portal/SchedulePage").then((m) => ({ default: m.SchedulePage })),
  PatientsPage: () => import("./staff/PatientsPage").then((m) => ({ default: m.PatientsPage })),
  ClinicDayPage: () => import("./staff/ClinicDayPage").then((m) => ({ default: m.ClinicDayPage })),
  PatientPage: () => import("./staff/PatientPage").then((m) => ({ default: m.PatientPage })),
  KnowledgePage: () => import("./admin/KnowledgePage").then((m) => ({ default: m.KnowledgePage })),
  AuditPage: () => import("./admin/AuditPage").then((m) => ({ default: m.AuditPage })),
  UsersPage: () => import("./admin/UsersPage").then((m) => ({ default: m.UsersPage })),
  ProvidersPage: () => import("./admin/ProvidersPage").then((m) => ({ default: m.ProvidersPage })),
  FiguresPage: () => import("./admin/FiguresPage").then((m) => ({ default: m.FiguresPage })),
  EmergencyReviewPage: () => import("./admin/EmergencyReviewPage").then((m) => ({ default: m.EmergencyReviewPage })),
  RetentionPage: () => import("./admin/RetentionPage").then((m) => ({ default: m.RetentionPage })),
  ConsultationPage: () => import("./consult/ConsultationPage").then((m) => ({ default: m.ConsultationPage })),
  ConflictsPage: () => import("./sync/ConflictsPage").then((m) => ({ default: m.ConflictsPage })),
  SetupPage: () => import("./pages/SetupPage").then((m) => ({ default: m.SetupPage })),
  RegisterPage: () => import("./pages/RegisterPage").then((m) => ({ default: m.RegisterPage })),
};
const HomePage = lazy(pages.HomePage);
const AssistantPage = lazy(pages.AssistantPage);
const BookPage = lazy(pages.BookPage);
const RecordPage = lazy(pages.RecordPage);
const HoursPage = lazy(pages.HoursPage);
const AppointmentsPage = lazy(pages.AppointmentsPage);
const SchedulePage = lazy(pages.SchedulePage);
const PatientsPage = lazy(pages.PatientsPage);
const ClinicDayPage = lazy(pages.ClinicDayPage);
const PatientPage = lazy(pages.PatientPage);
const KnowledgePage = lazy(pages.KnowledgePage);
const AuditPage = lazy(pages.AuditPage);
const UsersPage = lazy(pages.UsersPage);
const ProvidersPage = lazy(pages.ProvidersPage);
const FiguresPage = lazy(pages.FiguresPage);
const EmergencyReviewPage = lazy(pages.EmergencyReviewPage);
const RetentionPage = lazy(pages.RetentionPage);
const ConsultationPage = lazy(pages.ConsultationPage);
const ConflictsPage = lazy(pages.ConflictsPage);
const SetupPage = lazy(pages.SetupPage);
const RegisterPage = lazy(pages.RegisterPage);

/** preloadPages fetches every page's script, once the browser is idle. */
export function preloadPages() {
  const load = () => {
    for (const page of Object.values(pages)) void page().catch(() => undefined);
  };
  if (typeof window.requestIdleCallback === "function") window.requestIdleCallback(load, { timeout: 2000 });
  else window.setTimeout(load, 200);
}

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
            <Route path="/setup" element={<Later><SetupPage /></Later>} />
            <Route path="/register" element={<RegisterRoute />} />
            <Route
              path="*"
              element={
                <RequireUser>
                  <Shell server={connection?.server && connection.mode !== "standalone" ? new URL(connection.server).host : new URL(baseURL).host} connection={connection}>
                    <Later>
                    <Routes>
                      <Route path="/" element={<HomePage />} />
                      <Route path="/assistant" element={<AssistantPage />} />
                      <Route path="/book" element={<BookPage />} />
                      <Route path="/record" element={<RecordPage />} />
                      <Route path="/hours" element={<HoursPage />} />
                      <Route path="/appointments" element={<AppointmentsPage />} />
                      <Route path="/schedule" element={<SchedulePage />} />
                      <Route path="/patients" element={<PatientsPage />} />
                      <Route path="/patients/:id" element={<PatientPage />} />
                      <Route path="/clinic-day" element={<ClinicDayPage />} />
                      <Route path="/consultations/:id" element={<ConsultationPage />} />
                      <Route path="/conflicts" element={<ConflictsPage />} />
                      <Route path="/admin/knowledge" element={<KnowledgePage />} />
                      <Route path="/admin/audit" element={<AuditPage />} />
                      <Route path="/admin/users" element={<UsersPage />} />
                      <Route path="/admin/assistant" element={<ProvidersPage />} />
                      <Route path="/admin/figures" element={<FiguresPage />} />
                      <Route path="/admin/emergency-access" element={<EmergencyReviewPage />} />
                      <Route path="/admin/retention" element={<RetentionPage />} />
                      <Route path="/assistant/:id" element={<AssistantPage />} />
                      <Route path="*" element={<Navigate to="/" replace />} />
                    </Routes>
                    </Later>
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

/** Later shows a page whose script is still arriving as a short note. */
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
  const signingIn = !loading && !user;
  useEffect(() => {
    if (signingIn) preloadPages();
  }, [signingIn]);
  if (loading) return null;
  return user ? <Navigate to={from} replace /> : <LoginPage />;
}

function RegisterRoute() {
  const { user } = useSession();
  return user ? <Navigate to="/" replace /> : <Later><RegisterPage /></Later>;
}

function RequireUser({ children }: { children: React.ReactNode }) {
  const { user, loading } = useSession();
  const location = useLocation();
  if (loading) return null;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}
