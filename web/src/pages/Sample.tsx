import { useEffect, useState } from "react";
import { get, getRaw, path, url, type ChartPayload, type Data, type SampleBody, type SimilarSample, type Visualizer } from "../api";
import { Chart, Empty, ErrorBox, Status, Thumb, fmt, useApi } from "../ui";
import { firstImageVisual } from "./Map";

// the server sends every field; a proxy or an older server may not: render what there is
type SampleData = Partial<SampleBody>;

export function SamplePage({ runId, subset, sampleId }: { runId: string; subset: string; sampleId: string }) {
  const sample = useApi<SampleData>(path`/runs/${runId}/samples/${subset}/${sampleId}`);
  return (
    <section>
      <h1>
        Sample <span data-testid="sample-id">{sampleId}</span> <small>{subset}</small>
      </h1>
      <Status value={sample} what="sample">
        {(data) => <SampleView runId={runId} subset={subset} sampleId={sampleId} data={data} />}
      </Status>
    </section>
  );
}

function SampleView({ runId, subset, sampleId, data }: { runId: string; subset: string; sampleId: string; data: SampleData }) {
  const row = data.row ?? {};
  const visualizers = (data.visualizers ?? []).filter((v) => v && typeof v.name === "string");
  const methods = data.methods?.length ? data.methods : ["integrated_gradients"];
  const [method, setMethod] = useState(methods.includes("integrated_gradients") ? "integrated_gradients" : methods[0]);
  const [target, setTarget] = useState("");
  const [layer, setLayer] = useState("");
  const [heatState, setHeatState] = useState<"loading" | "ok" | "error">("loading");
  const [heatChart, setHeatChart] = useState<ChartPayload | null>(null);
  const similar = useApi<SimilarSample[]>(path`/runs/${runId}/samples/${subset}/${sampleId}/similar`, { k: 8 });
  const entries = Object.entries(row).filter(([k, v]) => !["row", "input_hash"].includes(k) && !Array.isArray(v));
  const heatPath = path`/runs/${runId}/samples/${subset}/${sampleId}/explanation`;
  const heatQuery = { method, target, layer };
  const heatUrl = url(heatPath, heatQuery);
  useEffect(() => {
    // images come back as PNG; token and feature attributions as JSON charts
    let alive = true;
    setHeatState("loading");
    setHeatChart(null);
    getRaw(heatPath, heatQuery).then(async (r) => {
      if (!alive) return;
      if (!r.ok) return setHeatState("error");
      if ((r.headers.get("content-type") ?? "").includes("json")) {
        const chart = ((await r.json().catch(() => null)) as Data<ChartPayload | null> | null)?.data ?? null;
        if (!alive) return;
        setHeatChart(chart);
        setHeatState(chart ? "ok" : "error");
      }
    }).catch(() => alive && setHeatState("error"));
    return () => {
      alive = false;
    };
  }, [heatUrl]);
  const thumb = firstImageVisual(visualizers);
  return (
    <div className="sample-layout">
      <div className="card">
        <h2>Visualizers</h2>
        <div className="visuals">
          {visualizers.length === 0 && <Empty>This run has no visualizers.</Empty>}
          {visualizers.map((v) => (
            <VisualView key={v.name} runId={runId} subset={subset} sampleId={sampleId} visual={v} />
          ))}
        </div>
      </div>
      <div className="card">
        <h2>Explanation</h2>
        <div className="toolbar">
          <select aria-label="method" value={method} onChange={(e) => setMethod(e.target.value)}>
            {methods.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
          <input aria-label="target" placeholder="target (predicted)" value={target} onChange={(e) => setTarget(e.target.value)} size={14} />
          <input aria-label="layer" placeholder="layer (gradcam)" value={layer} onChange={(e) => setLayer(e.target.value)} size={14} />
        </div>
        {heatState === "loading" && <div className="state loading"><span className="spinner" /> computing {method}…</div>}
        {heatState === "error" && <ErrorBox error={`could not compute ${method} for this sample/target/layer`} />}
        {heatChart ? (
          <div className="heatmap" data-method={method}><ChartBody chart={heatChart} /></div>
        ) : (
          <img className="heatmap" data-method={method} src={heatUrl} onLoad={() => setHeatState("ok")} onError={() => setHeatState(heatChart ? "ok" : "error")} alt={`${method} heatmap`} style={{ display: heatState === "ok" ? "block" : "none" }} />
        )}
      </div>
      <div className="card">
        <h2>Metadata and metrics</h2>
        <table className="stats">
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

function VisualView({ runId, subset, sampleId, visual }: { runId: string; subset: string; sampleId: string; visual: Visualizer }) {
  const visualPath = path`/runs/${runId}/samples/${subset}/${sampleId}/visuals/${visual.name}`;
  const isImage = ["image", "image_with_heatmap", "image_mask", "image_with_boxes", "video"].includes(visual.type);
  const [chart, setChart] = useState<ChartPayload | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (isImage) return;
    let alive = true;
    get<Data<ChartPayload | null>>(visualPath)
      .then((r) => alive && (r.body?.data ? setChart(r.body.data) : setError(`visualizer ${visual.name} sent no data`)))
      .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
  }, [visualPath, isImage, visual.name]);
  return (
    <figure className="visual" data-visual={visual.name}>
      <figcaption>{visual.name}</figcaption>
      {isImage && <img src={url(visualPath)} alt={visual.name} width={192} height={192} />}
      {error && <ErrorBox error={error} />}
      {chart && <ChartBody chart={chart} />}
    </figure>
  );
}

function ChartBody({ chart }: { chart: ChartPayload }) {
  if (chart.type === "horizontal_bar")
    return (
      <Chart
        data={[
          { type: "bar", orientation: "h", y: chart.labels, x: chart.body, name: "values", marker: { color: "#88c0d0" } },
          ...(chart.gt ? [{ type: "bar", orientation: "h", y: chart.labels, x: chart.gt, name: "ground truth", marker: { color: "#a3be8c" } }] : []),
        ]}
        layout={{ barmode: "group", height: Math.max(280, (chart.labels?.length ?? 0) * 14), width: 420, yaxis: { type: "category" } }}
      />
    );
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
