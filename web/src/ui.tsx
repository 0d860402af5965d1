// Small shared pieces: async state, status blocks, sample thumbnails, charts.
import { useEffect, useRef, useState } from "react";
import Plotly from "plotly.js-dist-min";
import { get, url } from "./api";

export type Async<T> = { loading: boolean; error: string | null; data: T | null };

export function useApi<T>(path: string | null, query: Record<string, string | number | undefined | string[]> = {}, deps: unknown[] = []): Async<T> & { reload: () => void } {
  const [state, setState] = useState<Async<T>>({ loading: true, error: null, data: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let alive = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    get<{ data: T }>(path, query)
      .then((r) => alive && setState({ loading: false, error: null, data: r.body.data }))
      .catch((e: Error) => alive && setState({ loading: false, error: e.message, data: null }));
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, tick, JSON.stringify(query), ...deps]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="state loading" role="status">
      <span className="spinner" /> Loading {what}…
    </div>
  );
}

export function ErrorBox({ error }: { error: string }) {
  return (
    <div className="state error" role="alert">
      <strong>Something went wrong.</strong> {error}
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <div className="state empty">{children}</div>;
}

export function Status<T>({ value, what, children }: { value: Async<T>; what: string; children: (data: T) => React.ReactNode }) {
  if (value.error) return <ErrorBox error={value.error} />;
  if (value.loading && value.data === null) return <Loading what={what} />;
  if (value.data === null) return <Loading what={what} />;
  return <>{children(value.data)}</>;
}

export function Thumb({ runId, subset, sampleId, visual, size = 64, label }: { runId: string; subset: string; sampleId: string; visual: string | null; size?: number; label?: string }) {
  return (
    <a className="thumb" href={`#/runs/${runId}/samples/${subset}/${sampleId}`} title={`${subset} / ${sampleId}`} data-sample={sampleId}>
      {visual ? <img src={url(`/runs/${runId}/samples/${subset}/${sampleId}/visuals/${visual}`)} width={size} height={size} loading="lazy" alt={sampleId} /> : <span className="noimg">{sampleId}</span>}
      <span className="caption">{label ?? sampleId}</span>
    </a>
  );
}

export function Chart({ data, layout, id }: { data: object[]; layout?: object; id?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    Plotly.react(ref.current, data, { margin: { l: 60, r: 20, t: 30, b: 50 }, height: 320, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: "#d8dee9" }, ...layout }, { displayModeBar: false, responsive: true });
  }, [data, layout]);
  return <div ref={ref} className="chart" id={id} />;
}

export function fmt(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
