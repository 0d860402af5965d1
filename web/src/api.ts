import type { components } from "./generated/api";

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
export async function get<T>(apiPath: string, query: Query = {}, signal?: AbortSignal): Promise<{ status: number; body: T }> {
  const res = await fetch(url(apiPath, query), { signal });
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

/**
 * GET an API path whose answer is a picture or a JSON chart (visuals, explanations): the raw
 * response (check `ok` and the content type); never throws on a non-2xx answer.
 */
export function getRaw(apiPath: string, query: Query = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url(apiPath, query), { signal });
}

/** True for the rejection of a request that was aborted on purpose (a superseded or unmounted one). */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

export const post = <T>(apiPath: string, payload: unknown = {}) => send<T>("POST", apiPath, payload);

// Types of the API, generated from its OpenAPI schema (web/openapi.json -> src/generated/api.d.ts:
// `npm run gen:api`; never edit them by hand). Fields read back from run files (manifest, insights,
// rows) are all optional there: runs written by older or newer versions, or a partly written
// manifest, must render (with "unknown") rather than throw.
export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type Run = Schemas["RunBody"];
export type RunDetail = Schemas["RunDetail"];
export type Project = Schemas["ProjectBody"];
export type Manifest = Schemas["Manifest"];
/** A model input/output; `shape` is batched, `null` where the model does not declare it (a torch `nn.Module`), a `null` dim is dynamic. */
export type TensorSpec = Schemas["TensorSpec"];
export type Insight = Schemas["Insight"];
export type InsightsEnvelope = Schemas["InsightsEnvelope"];
export type Visualizer = Schemas["Visualizer"];
export type SampleBody = Schemas["SampleBody"];
export type SimilarSample = Schemas["SimilarSample"];
export type ChartPayload = Schemas["ChartPayload"];
export type Job = Schemas["JobBody"];
export type Projection = Schemas["Projection"];
export type ProjectionPending = Schemas["ProjectionPending"];
export type SavedTest = Schemas["SavedTest"];
export type CreateTest = Schemas["CreateTestRequestBody"];
export type AggregateRow = Schemas["AggregateRow"];
export type Confusion = Schemas["Confusion"];
export type Points = Schemas["PointsEnvelope"]["data"];
/** The run model's layers for the layer picker (canonical names; `spatial`: Grad-CAM/LayerCAM can use it). */
export type Layers = Schemas["Layers"];
export type Layer = Schemas["Layer"];
/** An attribution method and whether it applies to the run's model. */
export type ExplainMethod = Schemas["ExplainMethod"];
/** Something one sample can be explained for (a class, a channel, a region, a loss). */
export type ExplainTarget = Schemas["ExplainTarget"];
export type Dismissal = Schemas["Dismissal"];
export type DismissRequest = Schemas["DismissRequestBody"];
/** The `{data}` envelope of every JSON answer. */
export type Data<T> = { data: T };

/** `[?, 1, 8, 8]` for a batched shape with a dynamic first dim; `[?] (dynamic)` when the shape is unknown. */
export function formatShape(shape: (number | null | undefined)[] | null | undefined): string {
  if (!Array.isArray(shape)) return "[?] (dynamic)";
  return `[${shape.map((d) => (typeof d === "number" && Number.isFinite(d) ? String(d) : "?")).join(", ")}]`;
}
