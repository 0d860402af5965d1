// Typed access to the leapscope REST API (/api/v1). The token, when the server
// needs one, comes from ?token= in the page URL and is kept for the session.
// (storage can be disabled: then the token lives in memory for this page only)
let memoryToken: string | null = new URLSearchParams(window.location.search).get("token");
try {
  if (memoryToken) sessionStorage.setItem("leapscope-token", memoryToken);
  else memoryToken = sessionStorage.getItem("leapscope-token");
} catch {
  /* storage unavailable: keep the in-memory token */
}
const token = () => memoryToken;

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

type Query = Record<string, string | number | undefined | string[]>;

/**
 * One path segment built from data (run id, subset, sample id, project, visualizer name), so that
 * `/ ? # %` (and `../../x`) never change the route. (A segment that is exactly `.` or `..` is still
 * collapsed by the browser's URL parser in an API path; hash routes keep it.)
 */
export function seg(value: string | number | boolean | null | undefined): string {
  return encodeURIComponent(String(value ?? ""));
}

/** Tagged template for API paths and hash routes: every `${value}` is encoded as one path segment. */
export function path(strings: TemplateStringsArray, ...values: (string | number | boolean | null | undefined)[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? seg(values[i]) : ""), "");
}

/** Inverse of {@link seg} for the router: a malformed escape (a bare `%` typed into the address bar) is kept as typed instead of throwing. */
export function unseg(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function url(apiPath: string, query: Query = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  if (token()) q.set("token", token()!);
  const s = q.toString();
  return `/api/v1${apiPath}${s ? "?" + s : ""}`;
}

async function parse<T>(res: Response): Promise<T> {
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, typeof body?.detail === "string" ? body.detail : JSON.stringify(body?.detail ?? res.statusText));
  return body as T;
}

/** GET an API path (build it with {@link path}); throws {@link ApiError} on a non-2xx answer. */
export async function get<T>(apiPath: string, query: Query = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url(apiPath, query));
  return { status: res.status, body: await parse<T>(res) };
}

/**
 * The one client function for state-changing requests: always `Content-Type: application/json`
 * with a JSON body (`{}` when there is no payload), the session token in the URL, same origin.
 */
export async function send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", apiPath: string, payload: unknown = {}): Promise<T> {
  const res = await fetch(url(apiPath), {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(payload ?? {}),
    credentials: "same-origin",
  });
  return parse<T>(res);
}

export const post = <T>(apiPath: string, payload: unknown = {}) => send<T>("POST", apiPath, payload);

export interface Run {
  id: string;
  project: string;
  version: string;
  status: string;
  created_at: number;
  seconds: number | null;
  counts: { samples: number; failed: number } | null;
  summary: Record<string, Record<string, number | null>> | null;
  error: string | null;
}

/** A model input/output; `shape` is batched, `null` where the model does not declare it (a torch `nn.Module`), a `null` dim is dynamic. */
export interface TensorSpec {
  name?: string | null;
  shape?: (number | null)[] | null;
  dtype?: string | null;
  layout?: string | null;
}

// Every manifest field is optional: runs written by older or newer versions, or a partly written
// manifest, must render (with "unknown") rather than throw.
export interface Manifest {
  wiring?: { target: string; kind: string; argument: string; source: string }[] | null;
  latent_spaces?: Record<string, { layer: string }> | null;
  predictions?: { name: string; labels: string[] | null }[] | null;
  subsets?: Record<string, { count: number }> | null;
  model?: { framework?: string | null; inputs?: TensorSpec[] | null; outputs?: TensorSpec[] | null; source?: string | null } | null;
  integration?: { parts?: { kind: string; name: string; function: string }[] | null } | null;
}

export interface RunDetail extends Run {
  manifest?: Manifest | null;
  columns?: { name: string; type: string }[] | null;
  metadata_columns?: string[] | null;
  explanations?: string[] | null;
  analyzed?: boolean;
}

/** `[?, 1, 8, 8]` for a batched shape with a dynamic first dim; `[?] (dynamic)` when the shape is unknown. */
export function formatShape(shape: (number | null | undefined)[] | null | undefined): string {
  if (!Array.isArray(shape)) return "[?] (dynamic)";
  return `[${shape.map((d) => (typeof d === "number" && Number.isFinite(d) ? String(d) : "?")).join(", ")}]`;
}

export interface Insight {
  index: number;
  type?: string | null;
  severity?: number | null;
  subset?: string | null;
  rows?: number[] | null;
  sample_ids?: string[] | null;
  statistics?: Record<string, unknown> | null;
  explanation?: string | null;
  title?: string | null;
  suggested_test?: { filter?: string | null; metric: string; min?: number | null; max?: number | null; current?: number | null } | null;
  samples?: { subset: string; sample_id: string }[] | null;
}

export interface Visualizer {
  name: string;
  type: string;
}
