import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { builtIn, deleteProvider, listProviders, myModels, type LLMProvider } from "./api";
import { Dialog } from "./Dialog";
import { LimitsForm } from "./LimitsForm";
import { TranscriptionSettingsForm } from "../consult/TranscriptionSettingsForm";
import { ProviderForm, roles } from "./ProviderForm";
import "./admin.css";

/**
 * ProvidersPage: the admin chooses which language model providers answer
 * in the assistant, which roles may use each model, and the assistant's
 * limits.
 */
export function ProvidersPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const providers = useQuery({ queryKey: ["ai", "providers"], queryFn: () => listProviders(client) });
  const usable = useQuery({ queryKey: ["ai", "models"], queryFn: () => myModels(client) });
  const [editing, setEditing] = useState<LLMProvider | null>(null);
  const [removing, setRemoving] = useState<LLMProvider | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const formHeading = useRef<HTMLHeadingElement>(null);

  const refresh = () => queries.invalidateQueries({ queryKey: ["ai"] });

  function edit(p: LLMProvider) {
    setStatus(null);
    setEditing(p);
    // The form re-renders with the provider first; then bring it into view.
    requestAnimationFrame(() => {
      formHeading.current?.scrollIntoView?.({ block: "start" });
      formHeading.current?.focus();
    });
  }

  async function remove(p: LLMProvider) {
    setRemoveError(null);
    try {
      await deleteProvider(client, p.id);
      setRemoving(null);
      if (editing?.id === p.id) setEditing(null);
      setStatus(t("providers.deleted", { name: p.name }));
      await refresh();
    } catch (err) {
      setRemoveError(err instanceof Error ? err.message : t("error.generic"));
    }
  }

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="providers-title">
        <h1 id="providers-title">{t("providers.title")}</h1>
        <p className="muted">{t("providers.intro")}</p>
        {status && (
          <p className="notice" role="status">
            {status}
          </p>
        )}
        <LoadError error={providers.error} onRetry={() => providers.refetch()} />
        {providers.isPending && <p className="muted">{t("admin.loading")}</p>}
        <ul className="provider-list" aria-label={t("providers.listLabel")}>
          {providers.data?.map((p) => (
            <ProviderRow key={p.id} p={p} onEdit={() => edit(p)} onDelete={() => {
                setRemoveError(null);
                setRemoving(p);
              }} />
          ))}
        </ul>
        {usable.data && (
          <p className="help for-you">
            {usable.data.length === 0
              ? t("providers.noneForYou")
              : t("providers.forYou", { models: usable.data.map((m) => `${m.id} (${m.provider})`).join(", ") })}
          </p>
        )}
      </section>

      <section className="card">
        <ProviderForm
          key={editing?.id ?? "new"}
          heading={formHeading}
          editing={editing}
          onCancel={() => setEditing(null)}
          onSaved={(p) => {
            setStatus(editing ? t("providers.saved", { name: p.name }) : t("providers.added", { name: p.name }));
            setEditing(null);
            void refresh();
          }}
        />
      </section>

      <section className="card">
        <LimitsForm />
      </section>

      <TranscriptionSettingsForm />

      {removing && (
        <Dialog title={t("providers.deleteTitle", { name: removing.name })} onClose={() => setRemoving(null)}>
          <p>{t("providers.deleteBody")}</p>
          {removeError && (
            <p className="error-banner" role="alert">
              {removeError}
            </p>
          )}
          <div className="form-actions">
            <button type="button" onClick={() => setRemoving(null)}>
              {t("providers.keep")}
            </button>
            <button type="button" className="danger solid" onClick={() => void remove(removing)}>
              {t("providers.deleteConfirm")}
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}

function ProviderRow({ p, onEdit, onDelete }: { p: LLMProvider; onEdit: () => void; onDelete: () => void }) {
  const where = p.kind === "openai" ? p.base_url || t("providers.openaiDefaultAddress") : p.kind === "bedrock" ? t("providers.inRegion", { region: p.region ?? "" }) : t("providers.onThisServer");
  const titleID = `provider-${p.id}`;
  return (
    <li className={p.enabled ? "provider" : "provider off"} aria-labelledby={titleID} data-provider={p.name}>
      <div className="provider-head">
        <div>
          <h2 id={titleID} className="h3">
            {p.name}
          </h2>
          <p className="provider-where">{p.kind === "offline" ? where : `${t(`providers.kind.${p.kind}` as MessageKey)} · ${where}`}</p>
        </div>
        <ul className="tags" aria-label={t("providers.tags", { name: p.name })}>
          {p.default && <li className="tag strong">{t("providers.tagDefault")}</li>}
          {p.enabled ? <li className="tag">{t("providers.tagEnabled")}</li> : <li className="tag warn">{t("providers.tagDisabled")}</li>}
          {p.external ? <li className="tag">{t("providers.tagExternal")}</li> : <li className="tag">{t("providers.tagLocal")}</li>}
          {p.kind === "openai" && <li className="tag">{p.has_api_key ? t("providers.tagKey") : t("providers.tagNoKey")}</li>}
          {builtIn(p) && <li className="tag">{t("providers.tagBuiltIn")}</li>}
        </ul>
      </div>
      <dl className="model-roles">
        {p.models.map((m) => (
          <div key={m.name}>
            <dt>{m.name}</dt>
            <dd>
              {m.roles.length === 0 ? (
                <span className="muted">{t("providers.nobody")}</span>
              ) : (
                <ul className="tags" aria-label={t("providers.whoMayUseModel", { model: m.name })}>
                  {roles
                    .filter((r) => m.roles.includes(r))
                    .map((r) => (
                      <li key={r} className="tag role">
                        {t(`providers.role.${r}` as MessageKey)}
                      </li>
                    ))}
                </ul>
              )}
            </dd>
          </div>
        ))}
      </dl>
      {builtIn(p) ? (
        <p className="help">{p.kind === "offline" ? t("providers.builtInOffline") : t("providers.builtInServer")}</p>
      ) : (
        <div className="actions">
          <button type="button" onClick={onEdit} aria-label={t("providers.editNamed", { name: p.name })}>
            {t("providers.edit")}
          </button>
          <button type="button" className="danger" onClick={onDelete} aria-label={t("providers.deleteNamed", { name: p.name })}>
            {t("providers.delete")}
          </button>
        </div>
      )}
    </li>
  );
}
