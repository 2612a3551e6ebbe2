import type { Operation } from "./schema";

/**
 * op names an API operation as the server's document lists it (the type
 * only admits those) and fills in its path parameters, returning the method
 * and the path to call.
 */
export function op(operation: Operation, params: Record<string, string> = {}, query?: URLSearchParams): [string, string] {
  const [method, template] = operation.split(" ", 2) as [string, string];
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`${operation}: no value for {${name}}`);
    return encodeURIComponent(params[name]);
  });
  const qs = query?.toString();
  return [method, qs ? `${path}?${qs}` : path];
}
