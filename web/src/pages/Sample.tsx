import { useEffect, useState } from "react";
import { get, getRaw, isAbort, path, url, type ChartPayload, type Data, type SampleBody, type SimilarSample, type Visualizer } from "../api";
import { Chart, Empty, ErrorBox, Img, Loading, Status, Thumb, fmt, useApi, useDebounced } from "../ui";
import { firstImageVisual } from "./Map";
import { defaultTargetHint } from "../kinds";
import type { ExplainMethod, ExplainTarget, Layers, RunDetail } from "../api";

// the server sends every field; a proxy or an older server may not: render what there is
type SampleData = Partial<SampleBody>;

/** How long the target/layer boxes wait after the last keystroke before asking for a heatmap. */
export const TYPING_DEBOUNCE_MS = 400;

/** Methods that read a layer's feature map: offered only when the model has a spatial layer. */
const CAM_METHODS = ["gradcam", "layercam"];

/** One id per open sample page: the server drops this page's older heatmap request when a newer one comes. */
const newClientId = () => `sample-${Math.random().toString(36).slice(2, 10)}`;

export function SamplePage({ runId, subset, sampleId }: { runId: string; subset: string; sampleId: string }) {
  const sample = useApi<SampleData>(path`/runs/${runId}/samples/${subset}/${sampleId}`);
  const run = useApi<RunDetail>(path`/runs/${runId}`);
  // cheap work first: the layers (whose first answer loads the model in the server) once the sample is in
  const layers = useApi<Layers>(sample.data ? path`/runs/${runId}/layers` : null);
  const methodInfo = useApi<ExplainMethod[]>(sample.data ? path`/runs/${runId}/methods` : null);
  return (
    <section data-sample-page={`${subset}/${sampleId}`}>
      <h1>
        Sample <span data-testid="sample-id">{sampleId}</span> <small>{subset}</small>
      </h1>
      <Status value={sample} what="sample">
        {/* keyed by the sample: nothing of one sample (heatmap, chosen method, charts) survives into another */}
        {(data) => <SampleView key={`${runId}/${subset}/${sampleId}`} runId={runId} subset={subset} sampleId={sampleId} data={data} detail={run.data} layers={layers.data} methodInfo={methodInfo.data} />}
      </Status>
    </section>
  );
}

type Heat = { status: "loading" | "ok" | "error"; image: string | null; chart: ChartPayload | null; error: string | null };

function SampleView({ runId, subset, sampleId, data, detail, layers, methodInfo }: { runId: string; subset: string; sampleId: string; data: SampleData; detail: RunDetail | null; layers: Layers | null; methodInfo: ExplainMethod[] | null }) {
  const row = data.row ?? {};
  const visualizers = (data.visualizers ?? []).filter((v) => v && typeof v.name === "string");
  const targets = useApi<ExplainTarget[]>(path`/runs/${runId}/samples/${subset}/${sampleId}/targets`);
  const [client] = useState(newClientId);
  // which methods apply: the server says (e.g. no Grad-CAM without a spatial layer); an older
  // server only lists names, then the layers decide for the CAM methods
  const listed = data.methods?.length ? data.methods : ["integrated_gradients"];
  const info = Array.isArray(methodInfo) ? methodInfo : null;
  const noSpatial = layers ? !layers.default_cam_layer && !(layers.layers ?? []).some((l) => l.spatial) : false;
  const usable = (m: string) => (info ? info.find((i) => i.method === m)?.applies ?? listed.includes(m) : !(noSpatial && CAM_METHODS.includes(m)));
  const methods = listed.filter(usable);
  const unusable: [string, string][] = info
    ? info.filter((i) => !i.applies).map((i) => [i.method, i.reason ?? "does not apply to this model"])
    : noSpatial
      ? listed.filter((m) => CAM_METHODS.includes(m)).map((m) => [m, "the model has no spatial layer"])
      : [];
  const [method, setMethod] = useState(listed.includes("integrated_gradients") ? "integrated_gradients" : listed[0]);
  const spatialLayers = (layers?.layers ?? []).filter((l) => l.spatial && !l.hidden);
  const targetList = Array.isArray(targets.data) ? targets.data : [];
  const regions = Array.from(new Set(targetList.map((t) => t.region).filter((r): r is string => typeof r === "string" && r !== "" && !r.includes("x0"))));
  const [region, setRegion] = useState("");
  const [target, setTarget] = useState("");
  const [layer, setLayer] = useState("");
  // the boxes are debounced: one request when the typing stops, not one per keystroke
  const settledTarget = useDebounced(target.trim(), TYPING_DEBOUNCE_MS);
  const settledLayer = useDebounced(layer.trim(), TYPING_DEBOUNCE_MS);
  const [heat, setHeat] = useState<Heat>({ status: "loading", image: null, chart: null, error: null });
  // cheap work first: the heatmap is asked for once this sample's pictures are in (or after 1.5 s)
  const pictures = visualizers.filter((v) => IMAGE_TYPES.includes(v.type)).length;
  const [settled, setSettled] = useState(0);
  const [waited, setWaited] = useState(pictures === 0);
  useEffect(() => {
    const timer = setTimeout(() => setWaited(true), 1500);
    return () => clearTimeout(timer);
  }, []);
  const visualsIn = waited || settled >= pictures;
  const similar = useApi<SimilarSample[]>(path`/runs/${runId}/samples/${subset}/${sampleId}/similar`, { k: 8 });
  const entries = Object.entries(row).filter(([k, v]) => !["row", "input_hash"].includes(k) && !Array.isArray(v));
  const heatPath = path`/runs/${runId}/samples/${subset}/${sampleId}/explanation`;
  const heatQuery = { method, target: settledTarget, layer: CAM_METHODS.includes(method) ? settledLayer : "", region };
  const heatUrl = url(heatPath, heatQuery);
  useEffect(() => {
    if (!visualsIn) return;
    const query = { ...heatQuery, client };
    // one request per (method, target, layer); a superseded one is aborted (the server drops its work).
    // Images come back as PNG (shown from a blob: no second request), tokens/features as JSON charts.
    const abort = new AbortController();
    let objectUrl: string | null = null;
    setHeat({ status: "loading", image: null, chart: null, error: null });
    getRaw(heatPath, query, abort.signal)
      .then(async (r) => {
        if (r.status === 409) return; // superseded by this page's newer request: that one answers
        if (!r.ok) {
          const body = (await r.json().catch(() => null)) as { detail?: unknown } | null;
          const detail = typeof body?.detail === "string" ? body.detail : `HTTP ${r.status}`;
          return setHeat({ status: "error", image: null, chart: null, error: detail });
        }
        if ((r.headers.get("content-type") ?? "").includes("json")) {
          const chart = ((await r.json().catch(() => null)) as Data<ChartPayload | null> | null)?.data ?? null;
          return setHeat(chart ? { status: "ok", image: null, chart, error: null } : { status: "error", image: null, chart: null, error: "the server sent no heatmap" });
        }
        objectUrl = URL.createObjectURL(await r.blob());
        setHeat({ status: "ok", image: objectUrl, chart: null, error: null });
      })
      .catch((e: unknown) => {
        if (!isAbort(e)) setHeat({ status: "error", image: null, chart: null, error: e instanceof Error ? e.message : String(e) });
      });
    return () => {
      abort.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [heatUrl, visualsIn]);
  const thumb = firstImageVisual(visualizers);
  return (
    <div className="sample-layout">
      <div className="card">
        <h2>Visualizers</h2>
        <div className="visuals">
          {visualizers.length === 0 && <Empty>This run has no visualizers.</Empty>}
          {visualizers.map((v) => (
            <VisualView key={v.name} runId={runId} subset={subset} sampleId={sampleId} visual={v} onSettled={() => setSettled((n) => n + 1)} />
          ))}
        </div>
      </div>
      <div className="card">
        <h2>Explanation</h2>
        <div className="toolbar">
          <select aria-label="method" value={method} onChange={(e) => setMethod(e.target.value)}>
            {methods.map((m) => (
              <option key={m} value={m}>{m}</option>
            ))}
            {unusable.map(([name, reason]) => (
              <option key={name} value={name} disabled title={reason}>
                {name} (n/a: {reason})
              </option>
            ))}
          </select>
          <input aria-label="target" list={`targets-${client}`} placeholder={targetList.find((t) => t.default)?.label ?? defaultTargetHint(detail)} value={target} onChange={(e) => setTarget(e.target.value)} size={16} />
          <datalist id={`targets-${client}`}>
            {targetList.filter((t) => t.target).map((t, i) => (
              <option key={i} value={t.target ?? ""}>{t.label}</option>
            ))}
          </datalist>
          {regions.length > 0 && (
            <select aria-label="region" value={region} onChange={(e) => setRegion(e.target.value)}>
              <option value="">whole output</option>
              {regions.map((r) => (
                <option key={r} value={r}>{r}</option>
              ))}
            </select>
          )}
          {CAM_METHODS.includes(method) &&
            (layers ? (
              <select aria-label="layer" value={layer} onChange={(e) => setLayer(e.target.value)}>
                <option value="">default layer{layers.default_cam_layer ? ` (${layers.default_cam_layer})` : ""}</option>
                {spatialLayers.map((l) => (
                  <option key={l.name} value={l.name}>
                    {l.name} · {l.type}
                    {Array.isArray(l.output_shape) ? ` [${l.output_shape.map((d) => d ?? "?").join(", ")}]` : ""}
                  </option>
                ))}
              </select>
            ) : (
              <input aria-label="layer" placeholder="layer (default)" value={layer} onChange={(e) => setLayer(e.target.value)} size={14} />
            ))}
        </div>
        {heat.status === "loading" && (
          <div className="state loading heat-loading" data-testid="heat-loading"><span className="spinner" /> computing {method}{settledTarget ? ` for ${settledTarget}` : ""}…</div>
        )}
        {heat.status === "error" && <ErrorBox error={`could not compute ${method} for this sample/target/layer: ${heat.error ?? "unknown error"}`} />}
        {heat.chart && <div className="heatmap" data-method={method} data-url={heatUrl}><ChartBody chart={heat.chart} /></div>}
        {heat.image && <img className="heatmap" data-method={method} data-url={heatUrl} src={heat.image} alt={`${method} heatmap`} />}
      </div>
      <div className="card">
        <h2>Metadata and metrics</h2>
        <table className="stats" data-testid="sample-row">
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k} className={k === "error" && v ? "bad" : ""}><th>{k}</th><td>{fmt(v)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="card">
        <h2>Similar samples</h2>
        <Status value={similar} what="similar samples">
          {(list) => (!Array.isArray(list) || list.length === 0 ? <Empty>No neighbours.</Empty> : (
            <div className="grid">
              {list.map((s) => (
                <Thumb key={s.subset + s.sample_id} runId={runId} subset={s.subset} sampleId={s.sample_id} visual={thumb} size={64} label={`${s.sample_id} (${typeof s.distance === "number" ? s.distance.toFixed(3) : "?"})`} />
              ))}
            </div>
          ))}
        </Status>
      </div>
    </div>
  );
}

const IMAGE_TYPES = ["image", "image_with_heatmap", "image_mask", "image_with_boxes", "video"];

function VisualView({ runId, subset, sampleId, visual, onSettled }: { runId: string; subset: string; sampleId: string; visual: Visualizer; onSettled?: () => void }) {
  const visualPath = path`/runs/${runId}/samples/${subset}/${sampleId}/visuals/${visual.name}`;
  const isImage = IMAGE_TYPES.includes(visual.type);
  const [chart, setChart] = useState<ChartPayload | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (isImage) return;
    const abort = new AbortController();
    get<Data<ChartPayload | null>>(visualPath, {}, abort.signal)
      .then((r) => (r.body?.data ? setChart(r.body.data) : setError(`visualizer ${visual.name} sent no data`)))
      .catch((e: unknown) => !isAbort(e) && setError(e instanceof Error ? e.message : String(e)));
    return () => abort.abort();
  }, [visualPath, isImage, visual.name]);
  return (
    <figure className="visual" data-visual={visual.name}>
      <figcaption>{visual.name}</figcaption>
      {isImage && <Img src={url(visualPath)} alt={visual.name} width={192} height={192} onSettled={onSettled} />}
      {!isImage && !chart && !error && <Loading what={visual.name} />}
      {error && <ErrorBox error={error} />}
      {chart && <ChartBody chart={chart} />}
    </figure>
  );
}

const MAX_BARS = 40;

function ChartBody({ chart }: { chart: ChartPayload }) {
  if (chart.type === "horizontal_bar") {
    // a long output (a dense map flattened into thousands of "classes") shows its largest bars only
    const labels = chart.labels ?? (chart.body ?? []).map((_, i) => String(i));
    const body = chart.body ?? [];
    const order = body.map((v, i) => [Math.abs(v ?? 0), i] as [number, number]);
    const kept = body.length > MAX_BARS ? order.sort((a, b) => b[0] - a[0]).slice(0, MAX_BARS).map(([, i]) => i).sort((a, b) => a - b) : body.map((_, i) => i);
    const pick = <T,>(xs: T[] | null | undefined) => (xs ? kept.map((i) => xs[i]) : null);
    return (
      <>
        {kept.length < body.length && <p className="hint" data-testid="bars-cut">the {kept.length} largest of {body.length} values</p>}
        <Chart
          data={[
            { type: "bar", orientation: "h", y: pick(labels), x: pick(body), name: "values", marker: { color: "#88c0d0" } },
            ...(chart.gt ? [{ type: "bar", orientation: "h", y: pick(labels), x: pick(chart.gt), name: "ground truth", marker: { color: "#a3be8c" } }] : []),
          ]}
          layout={{ barmode: "group", height: Math.max(280, kept.length * 16 + 80), width: 440, yaxis: { type: "category", automargin: true }, margin: { l: 20, r: 20, t: 30, b: 40 } }}
        />
      </>
    );
  }
  if (chart.type === "graph") return <Chart data={[{ type: "scatter", y: chart.data }]} layout={{ width: 420 }} />;
  if (chart.type === "text") {
    const heat = (i: number): number | null => {
      const h = chart.heatmap?.[i];
      return typeof h === "number" && Number.isFinite(h) ? h : null;
    };
    const scale = Math.max(1e-9, ...(chart.tokens ?? []).map((_, i) => Math.abs(heat(i) ?? 0)));
    return (
      <p className="tokens">
        {(chart.tokens ?? []).map((t, i) => {
          const h = heat(i);
          const v = h === null ? 0 : h / scale;
          return <span key={i} title={h === null ? undefined : h.toPrecision(3)} style={{ background: v > 0 ? `rgba(191,97,106,${v})` : `rgba(94,129,172,${-v})` }}>{String(t)} </span>;
        })}
      </p>
    );
  }
  return <pre>{JSON.stringify(chart).slice(0, 400)}</pre>;
}
