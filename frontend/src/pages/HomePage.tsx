import { useSession } from "../auth/session";
import { t } from "../i18n";

export function HomePage() {
  const { user } = useSession();
  if (!user) return null;
  return (
    <section className="card">
      <h1>{t("home.title", { name: user.name })}</h1>
      <p>{t("home.intro")}</p>
    </section>
  );
}
