// Typed access to the leapscope REST API (/api/v1). The token, when the server
// needs one, comes from ?token= in the page URL and is kept for the session.
const params = new URLSearchParams(window.location.search);
if (params.get("token")) sessionStorage.setItem("leapscope-token", params.get("token")!);
const token = () => sessionStorage.getItem("leapscope-token");

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export function url(path: string, query: Record<string, string | number | undefined | string[]> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  if (token()) q.set("token", token()!);
  const s = q.toString();
  return `/api/v1${path}${s ? "?" + s : ""}`;
}

export async function get<T>(path: string, query: Record<string, string | number | undefined | string[]> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url(path, query));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.detail ?? res.statusText);
  return { status: res.status, body };
}

export async function post<T>(path: string, payload?: unknown): Promise<T> {
  const res = await fetch(url(path), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.detail ?? res.statusText);
  return body;
}

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

export interface RunDetail extends Run {
  manifest: {
    wiring: { target: string; kind: string; argument: string; source: string }[];
    latent_spaces: Record<string, { layer: string }>;
    predictions: { name: string; labels: string[] | null }[];
    subsets: Record<string, { count: number }>;
    model: { framework: string; inputs: { name: string; shape: (number | null)[] }[]; outputs: { name: string }[] };
    integration: { parts: { kind: string; name: string; function: string }[] };
  };
  columns?: { name: string; type: string }[];
  metadata_columns?: string[];
  explanations?: string[];
  analyzed?: boolean;
}

export interface Insight {
  index: number;
  type: string;
  severity: number;
  subset: string;
  rows: number[];
  sample_ids: string[];
  statistics: Record<string, unknown>;
  explanation: string;
  title: string;
  suggested_test: { filter: string; metric: string; min?: number; max?: number; current?: number } | null;
  samples: { subset: string; sample_id: string }[];
}

export interface Visualizer {
  name: string;
  type: string;
}
