// Small shared pieces: async state, status blocks, sample thumbnails, charts.
import { Component, useEffect, useRef, useState, type ErrorInfo, type ReactNode } from "react";
import Plotly from "plotly.js-dist-min";
import { get, path, url } from "./api";

export type Async<T> = { loading: boolean; error: string | null; data: T | null };

export function useApi<T>(apiPath: string | null, query: Record<string, string | number | undefined | string[]> = {}, deps: unknown[] = []): Async<T> & { reload: () => void } {
  const [state, setState] = useState<Async<T>>({ loading: true, error: null, data: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (apiPath === null) return;
    let alive = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    get<{ data: T }>(apiPath, query)
      .then((r) => alive && setState({ loading: false, error: null, data: r.body?.data ?? null }))
      .catch((e: unknown) => alive && setState({ loading: false, error: e instanceof Error ? e.message : String(e), data: null }));
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [apiPath, tick, JSON.stringify(query), ...deps]);
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
  if (value.data === null || value.data === undefined) return value.loading ? <Loading what={what} /> : <ErrorBox error={`the server sent no ${what}`} />;
  return <>{children(value.data)}</>;
}

export function Thumb({ runId, subset, sampleId, visual, size = 64, label }: { runId: string; subset: string; sampleId: string; visual: string | null; size?: number; label?: string }) {
  return (
    <a className="thumb" href={path`#/runs/${runId}/samples/${subset}/${sampleId}`} title={`${subset} / ${sampleId}`} data-sample={sampleId}>
      {visual ? <img src={url(path`/runs/${runId}/samples/${subset}/${sampleId}/visuals/${visual}`)} width={size} height={size} loading="lazy" alt={sampleId} /> : <span className="noimg">{sampleId}</span>}
      <span className="caption">{label ?? sampleId}</span>
    </a>
  );
}

/**
 * Error boundary around one page: a render error shows a readable card with a retry button
 * (the nav bar, outside the boundary, stays), instead of unmounting the whole app.
 */
export class PageBoundary extends Component<{ page: string; children: ReactNode }, { error: Error | null; attempt: number }> {
  state: { error: Error | null; attempt: number } = { error: null, attempt: 0 };

  static getDerivedStateFromError(error: unknown) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error(`leapscope: the ${this.props.page} page failed to render`, error, info.componentStack);
  }

  retry = () => this.setState((s) => ({ error: null, attempt: s.attempt + 1 }));

  render() {
    const { error, attempt } = this.state;
    if (error)
      return (
        <div className="card state error page-error" role="alert" data-testid="page-error">
          <h2>The {this.props.page} page could not be shown</h2>
          <p>
            <code>{error.message || String(error)}</code>
          </p>
          <p className="hint">The data this page received is not in the shape it expects (an older or partly written run?). The rest of the app still works.</p>
          <button onClick={this.retry}>Retry</button> <a href="#/runs">Back to runs</a>
        </div>
      );
    // a new key on retry remounts the page, so its data is fetched again
    return <div key={attempt} className="page">{this.props.children}</div>;
  }
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
