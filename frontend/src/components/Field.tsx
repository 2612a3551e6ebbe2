import { ApiError } from "../api/client";
import { t } from "../i18n";
import type { InputHTMLAttributes, ReactNode } from "react";

/** Field is a labelled form control with its error message right under it. */
export function Field({ id, label, error, children }: { id: string; label: string; error?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * errorsFor places a failed request's message: next to the field it names
 * when that field is on the form, else at the top of the form.
 */
export function errorsFor<K extends string>(err: unknown, fields: readonly K[]): Partial<Record<K | "form", string>> {
  const out: Partial<Record<K | "form", string>> = {};
  if (err instanceof ApiError && err.field && (fields as readonly string[]).includes(err.field)) {
    out[err.field as K] = err.message;
  } else {
    out.form = err instanceof Error ? err.message : t("error.generic");
  }
  return out;
}

/** InputProps are the attributes TextField passes on to its input. */
export type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange">;

/** TextField is a labelled text input whose error is announced and linked to it. */
export function TextField({ id, label, error, value, onValue, ...props }: { id: string; label: string; error?: string; value: string; onValue: (v: string) => void } & InputProps) {
  return (
    <Field id={id} label={label} error={error}>
      <input id={id} value={value} onChange={(e) => onValue(e.target.value)} aria-invalid={!!error} aria-describedby={error ? `${id}-error` : undefined} {...props} />
    </Field>
  );
}
