// Small shared pieces: async state, status blocks, sample thumbnails, charts.
import { Component, useEffect, useRef, useState, type ErrorInfo, type ReactNode } from "react";
import { get, isAbort, path, url } from "./api";

export type Async<T> = { loading: boolean; error: string | null; data: T | null };

type Tagged<T> = { key: string | null; tick: number; error: string | null; data: T | null };

/**
 * GET `apiPath` and follow it: the answer belongs to the path + query it was asked for, so when
 * they change (another sample, run, column) the old data is gone at once (`data: null`,
 * `loading: true`) — a page never shows one sample's header over another sample's table — and the
 * superseded request is aborted. `reload()` asks again for the same key and keeps the data meanwhile.
 */
export function useApi<T>(apiPath: string | null, query: Record<string, string | number | undefined | string[]> = {}, deps: unknown[] = []): Async<T> & { reload: () => void } {
  const key = apiPath === null ? null : JSON.stringify([apiPath, query, ...deps]);
  const [state, setState] = useState<Tagged<T>>({ key: null, tick: -1, error: null, data: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (apiPath === null) return;
    const abort = new AbortController();
    get<{ data: T }>(apiPath, query, abort.signal)
      .then((r) => setState({ key, tick, error: null, data: r.body?.data ?? null }))
      .catch((e: unknown) => {
        if (!isAbort(e)) setState({ key, tick, error: e instanceof Error ? e.message : String(e), data: null });
      });
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  const reload = () => setTick((t) => t + 1);
  if (key === null || state.key !== key) return { loading: true, error: null, data: null, reload };
  return { loading: state.tick !== tick, error: state.error, data: state.data, reload };
}

/** `value`, once it has stopped changing for `ms` (typing "loss" gives one value, not four). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * A picture from the API with a placeholder while it loads (a pulsing box, never a black square)
 * and a readable note when it fails. `onSettled` fires once it has loaded or failed.
 */
export function Img({ src, width, height, alt, className, onSettled }: { src: string; width: number; height: number; alt: string; className?: string; onSettled?: () => void }) {
  const [state, setState] = useState<{ src: string; status: "loading" | "ok" | "error" }>({ src, status: "loading" });
  const status = state.src === src ? state.status : "loading";
  const settle = (s: "ok" | "error") => {
    setState({ src, status: s });
    onSettled?.();
  };
  return (
    <span className={`img-wrap ${status}`} style={{ width, height }} data-status={status}>
      <img src={src} width={width} height={height} alt={alt} className={className} onLoad={() => settle("ok")} onError={() => settle("error")} />
      {status === "error" && <span className="img-note">no picture</span>}
    </span>
  );
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
      {visual ? <Img src={url(path`/runs/${runId}/samples/${subset}/${sampleId}/visuals/${visual}`)} width={size} height={size} alt={sampleId} /> : <span className="noimg">{sampleId}</span>}
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

// Plotly is ~4.6 MB: loaded on the first chart, in its own chunk, never with the first page.
type PlotlyModule = { react: (el: HTMLElement, data: object[], layout: object, config: object) => Promise<unknown>; purge: (el: HTMLElement) => void };
let plotly: Promise<PlotlyModule> | null = null;
export function loadPlotly(): Promise<PlotlyModule> {
  plotly ??= import("plotly.js-dist-min").then((m) => (m.default ?? m) as PlotlyModule);
  return plotly;
}

export function Chart({ data, layout, id }: { data: object[]; layout?: object; id?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [drawn, setDrawn] = useState(false);
  useEffect(() => {
    let alive = true;
    loadPlotly()
      .then((P) => {
        if (!alive || !ref.current) return;
        return P.react(ref.current, data, { margin: { l: 60, r: 20, t: 30, b: 50 }, height: 320, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: "#d8dee9" }, ...layout }, { displayModeBar: false, responsive: true }).then(() => alive && setDrawn(true));
      })
      .catch((e: unknown) => alive && setFailed(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
  }, [data, layout]);
  useEffect(() => {
    const el = ref.current;
    return () => {
      if (el && plotly) plotly.then((P) => P.purge(el)).catch(() => undefined);
    };
  }, []);
  return (
    <>
      {!drawn && !failed && <div className="state loading chart-loading"><span className="spinner" /> drawing chart…</div>}
      {failed && <ErrorBox error={`the chart could not be drawn: ${failed}`} />}
      <div ref={ref} className="chart" id={id} />
    </>
  );
}

export function fmt(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
