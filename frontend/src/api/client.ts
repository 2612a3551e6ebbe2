import { op } from "./operations";
import type { Credentials, ErrorBody, Me, TokenPair } from "./types";

/** ApiError is a failed request: the server's code and message, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const refreshKey = "healthhub.refresh";

/** TokenStore keeps the refresh token; the access token lives in memory only. */
export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
}

/** sessionTokens keeps the refresh token for this browser tab only. */
export const sessionTokens: TokenStore = {
  get: () => window.sessionStorage.getItem(refreshKey),
  set: (token) => (token ? window.sessionStorage.setItem(refreshKey, token) : window.sessionStorage.removeItem(refreshKey)),
};

type Fetch = typeof fetch;

/**
 * Client calls the HealthHub API. It adds the access token, turns error
 * bodies into ApiError, and on a 401 renews the tokens once with the
 * refresh token and repeats the request.
 */
export class Client {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  /** onSignedOut runs when the session ends without the user asking (refresh refused). */
  onSignedOut: () => void = () => {};

  constructor(
    readonly baseURL: string,
    private readonly tokens: TokenStore = sessionTokens,
    private readonly fetchFn: Fetch = (...args) => fetch(...args),
  ) {}

  get signedIn(): boolean {
    return this.access !== null || this.tokens.get() !== null;
  }

  async login(c: Credentials): Promise<TokenPair> {
    const pair = await this.send<TokenPair>(...op("POST /api/v1/auth/login"), c, false);
    this.keep(pair);
    return pair;
  }

  async logout(): Promise<void> {
    try {
      if (this.access) {
        await this.send(...op("POST /api/v1/auth/logout"), undefined, true);
      }
    } finally {
      this.access = null;
      this.tokens.set(null);
    }
  }

  me(): Promise<Me> {
    return this.request<Me>(...op("GET /api/v1/me"));
  }

  /** accessToken returns a current access token, renewing it when needed (for the WebSocket). */
  async accessToken(): Promise<string | null> {
    if (!this.access && this.tokens.get()) await this.renew();
    return this.access;
  }

  /** expireAccess forgets the access token so the next call renews it. */
  expireAccess() {
    this.access = null;
  }

  /** request calls the API as the signed-in user. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.withRenewal(() => this.send<T>(method, path, body, true));
  }

  /** requestWith is request with extra headers, such as an Idempotency-Key. */
  requestWith<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<T> {
    return this.withRenewal(() => this.send<T>(method, path, body, true, headers));
  }

  /**
   * open calls the API as the signed-in user and returns the response for
   * the caller to read, such as a stream of events or a download.
   */
  open(method: string, path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Response> {
    return this.withRenewal(async () => {
      const res = await this.fetchRaw(method, path, body, true, accept, signal);
      if (!res.ok) throw await errorOf(res);
      return res;
    });
  }

  /** withRenewal runs call, renewing the tokens first or after a 401 when a refresh token is kept. */
  private async withRenewal<T>(call: () => Promise<T>): Promise<T> {
    if (!this.access && this.tokens.get()) {
      await this.renew();
    }
    try {
      return await call();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401 && this.tokens.get() && (await this.renew())) {
        return call();
      }
      throw err;
    }
  }

  private keep(pair: TokenPair) {
    this.access = pair.access_token;
    this.tokens.set(pair.refresh_token);
  }

  /** renew trades the refresh token for a new pair, once at a time. */
  private renew(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const refresh = this.tokens.get();
        if (!refresh) return false;
        try {
          this.keep(await this.send<TokenPair>(...op("POST /api/v1/auth/refresh"), { refresh_token: refresh }, false));
          return true;
        } catch (err) {
          if (err instanceof ApiError && err.status !== 0) {
            this.access = null;
            this.tokens.set(null);
            this.onSignedOut();
          }
          return false;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  private async send<T>(method: string, path: string, body: unknown, auth: boolean, extra: Record<string, string> = {}): Promise<T> {
    const res = await this.fetchRaw(method, path, body, auth, "application/json", undefined, extra);
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async fetchRaw(method: string, path: string, body: unknown, auth: boolean, accept: string, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra, Accept: accept };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.access) headers.Authorization = `Bearer ${this.access}`;
    try {
      return await this.fetchFn(this.baseURL + path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiError(0, "network", "The server cannot be reached. Check the connection and try again.");
    }
  }
}

/** errorOf reads a failed response's error body. */
async function errorOf(res: Response): Promise<ApiError> {
  let e: ErrorBody["error"] | undefined;
  try {
    e = ((await res.json()) as ErrorBody | undefined)?.error;
  } catch {
    e = undefined;
  }
  return new ApiError(res.status, e?.code ?? "http_" + res.status, e?.message ?? `The server answered ${res.status}.`, e?.field);
}
