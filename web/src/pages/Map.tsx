import { useEffect, useMemo, useRef, useState } from "react";
import createScatterplot from "regl-scatterplot";
import { get, path, url, type Data, type Insight, type Points, type Projection, type ProjectionPending, type RunDetail, type SampleBody, type Visualizer } from "../api";
import { isScoreColumn } from "../generated/runFormat";
import { hashQuery } from "../router";
import { Empty, ErrorBox, Img, Loading, Status, Thumb, fmt, useApi } from "../ui";
import { hasClassOutput } from "../kinds";

const PALETTE = ["#5e81ac", "#bf616a", "#a3be8c", "#ebcb8b", "#b48ead", "#88c0d0", "#d08770", "#8fbcbb", "#e5e9f0", "#4c566a", "#81a1c1", "#ff7f50"];
const RAMP = ["#2e3440", "#3b4f7a", "#5e81ac", "#88c0d0", "#ebcb8b", "#d08770", "#bf616a"];

export function firstImageVisual(visuals: Visualizer[] | null): string | null {
  if (!Array.isArray(visuals)) return null;
  return visuals.find((v) => v?.type === "image" || v?.type === "image_with_heatmap")?.name ?? null;
}

export function useVisuals(runId: string, sample: { subset: string; sample_id: string } | null) {
  return useApi<Partial<SampleBody>>(sample ? path`/runs/${runId}/samples/${sample.subset}/${sample.sample_id}` : null);
}

/** The method the map opens on: the one the URL names, else the best one already cached for the
 * default latent space (UMAP, then t-SNE), else PCA (computed inline, never a wait). */
export function initialMethod(detail: RunDetail, named: string | null): string {
  const methods = ["pca", "umap", "tsne"];
  if (named !== null && methods.includes(named)) return named;
  const space = Object.keys(detail.manifest?.latent_spaces ?? {})[0];
  const cached = new Set((Array.isArray(detail.projections) ? detail.projections : []).filter((p) => p?.space === space).map((p) => p.method));
  return ["umap", "tsne"].find((m) => cached.has(m)) ?? "pca";
}

export function MapPage({ runId }: { runId: string }) {
  const run = useApi<RunDetail>(path`/runs/${runId}`);
  return <Status value={run} what="run">{(detail) => <MapView detail={detail} />}</Status>;
}

function MapView({ detail }: { detail: RunDetail }) {
  const runId = detail.id ?? "";
  const highlight = hashQuery().get("insight");
  const [method, setMethod] = useState(() => initialMethod(detail, hashQuery().get("projection")));
  const [selectMode, setSelectMode] = useState<"freeform" | "rectangle">("rectangle");
  const [colorBy, setColorBy] = useState("subset");
  const [only, setOnly] = useState("");
  const [sizeBy, setSizeBy] = useState("");
  const [selected, setSelected] = useState<number[]>([]);
  const [hover, setHover] = useState<number | null>(null);
  const [projection, setProjection] = useState<{ x: number[]; y: number[] } | null>(null);
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const numeric = (detail.columns ?? []).filter((c) => isScoreColumn(c.name)).map((c) => c.name);
  const metadata = detail.metadata_columns ?? [];
  // numeric metadata can size the points too (Arrow types: int*, uint*, float, double)
  const numericMetadata = (detail.columns ?? []).filter((c) => metadata.includes(c.name) && /^(u?int\d*|float|double|halffloat)/.test(c.type)).map((c) => c.name);
  // `correct` only means something for class outputs
  const colorOptions = ["subset", ...(hasClassOutput(detail) ? ["correct"] : []), "cluster", ...numeric, ...metadata];
  const raw = useApi<Points>(path`/runs/${runId}/points`, { columns: colorOptions.join(",") });
  // a run with no rows (or an answer without the id columns) shows an empty map, not a crash
  const pointsData = useMemo(() => {
    const d = raw.data;
    if (!d || !Array.isArray(d.subset) || !Array.isArray(d.sample_id)) return raw.data ? ({ subset: [], sample_id: [] } as Points) : null;
    return d;
  }, [raw.data]);
  const points = { ...raw, data: pointsData };
  const insight = useApi<Insight[]>(highlight !== null ? path`/runs/${runId}/insights` : null);
  const sampleForVisuals = points.data && points.data.subset.length ? { subset: String(points.data.subset[0]), sample_id: String(points.data.sample_id[0]) } : null;
  const visuals = useVisuals(runId, sampleForVisuals);
  const thumbVisual = firstImageVisual(visuals.data?.visualizers ?? null);

  useEffect(() => {
    let alive = true;
    setError(null);
    // the old layout goes at once: a t-SNE being computed never shows under the PCA points
    setProjection(null);
    setPending(null);
    const poll = async () => {
      try {
        const r = await get<Data<Projection | ProjectionPending>>(path`/runs/${runId}/projection`, { method });
        if (!alive) return;
        if (r.status === 202) {
          const pending = r.body?.data as ProjectionPending | undefined; // 202: a job computes it
          const seconds = Math.round(pending?.job?.seconds ?? 0);
          setPending(`computing ${METHOD_NAMES[method] ?? method}… ${seconds} s${method === "umap" ? " (the first UMAP compiles for ~30 s)" : ""}`);
          setTimeout(poll, 1000);
        } else {
          setPending(null);
          const ready = r.body?.data as Projection | undefined;
          const x = ready?.x, y = ready?.y;
          if (!Array.isArray(x) || !Array.isArray(y)) throw new Error(`the ${method} projection came back without coordinates`);
          // a non-finite coordinate comes as null; the scatter takes the arrays as they are
          setProjection({ x: x as number[], y: y as number[] });
        }
      } catch (e) {
        if (alive) setError((e as Error).message);
      }
    };
    poll();
    return () => {
      alive = false;
    };
  }, [runId, method]);

  const highlighted = useMemo(() => {
    if (highlight !== null && Array.isArray(insight.data)) return new Set(insight.data[Number(highlight)]?.rows ?? []);
    if (only && points.data) return new Set(points.data.subset.flatMap((s, i) => (s === only ? [i] : [])));
    return null;
  }, [highlight, insight.data, only, points.data]);
  const subsetNames = points.data ? Array.from(new Set(points.data.subset.map(String))) : [];

  return (
    <section className="map-page">
      <div className="toolbar">
        <label>
          projection{" "}
          <select value={method} onChange={(e) => setMethod(e.target.value)} aria-label="projection">
            <option value="pca">PCA</option>
            <option value="umap">UMAP</option>
            <option value="tsne">t-SNE</option>
          </select>
        </label>
        <label>
          color by{" "}
          <select value={colorBy} onChange={(e) => setColorBy(e.target.value)} aria-label="color by">
            {colorOptions.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          size by{" "}
          <select value={sizeBy} onChange={(e) => setSizeBy(e.target.value)} aria-label="size by">
            <option value="">—</option>
            {[...numeric, ...numericMetadata].map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          select{" "}
          <select value={selectMode} onChange={(e) => setSelectMode(e.target.value as "freeform" | "rectangle")} aria-label="selection">
            <option value="rectangle">box</option>
            <option value="freeform">lasso</option>
          </select>
        </label>
        <label>
          filter{" "}
          <select value={only} onChange={(e) => setOnly(e.target.value)} aria-label="filter subset">
            <option value="">all subsets</option>
            {subsetNames.map((s) => (
              <option key={s} value={s}>{s} only</option>
            ))}
          </select>
        </label>
        <span className="hint">click a point to open it · shift+drag to {selectMode === "rectangle" ? "box-select" : "lasso"} points</span>
        {highlight !== null && <span className="badge running">highlighting insight {highlight}</span>}
      </div>
      {error && <ErrorBox error={error} />}
      {pending && (
        <div className="state loading projection-progress" role="status" data-testid="projection-progress">
          <span className="spinner" /> {pending}
          <div className="progress"><i /></div>
        </div>
      )}
      {points.error && <ErrorBox error={points.error} />}
      {!projection || !points.data ? (
        !error && !pending && <Loading what="map" />
      ) : (
        <div className="map-layout">
          <Scatter
            x={projection.x}
            y={projection.y}
            values={Array.isArray(points.data[colorBy]) ? points.data[colorBy] : points.data.subset}
            sizes={sizeBy && Array.isArray(points.data[sizeBy]) ? (points.data[sizeBy] as (number | null)[]) : null}
            highlighted={highlighted}
            selectMode={selectMode}
            onSelect={(rows) => {
              if (rows.length === 1) window.location.hash = path`#/runs/${runId}/samples/${points.data!.subset[rows[0]]}/${points.data!.sample_id[rows[0]]}`;
              else setSelected(rows);
            }}
            onHover={setHover}
          />
          <aside className="side">
            {hover !== null ? (
              <div className="hover" data-testid="hover">
                <strong>{String(points.data.subset[hover])} / {String(points.data.sample_id[hover])}</strong>
                {thumbVisual && <Img src={url(path`/runs/${runId}/samples/${points.data.subset[hover]}/${points.data.sample_id[hover]}/visuals/${thumbVisual}`)} width={128} height={128} alt="hovered sample" />}
                <div>{colorBy}: <span data-testid="hover-value">{fmt(points.data[colorBy]?.[hover])}</span></div>
                {sizeBy && <div>{sizeBy}: {fmt(points.data[sizeBy]?.[hover])}</div>}
              </div>
            ) : (
              <Empty>Hover a point to see its sample.</Empty>
            )}
            <h3>Selection ({selected.length})</h3>
            {selected.length === 0 ? (
              <Empty>{selectMode === "rectangle" ? "Box-select" : "Lasso"} (shift+drag) points to list them here.</Empty>
            ) : (
              <div className="grid">
                {selected.slice(0, 60).map((i) => (
                  <Thumb key={i} runId={runId} subset={String(points.data!.subset[i])} sampleId={String(points.data!.sample_id[i])} visual={thumbVisual} size={56} />
                ))}
              </div>
            )}
          </aside>
        </div>
      )}
    </section>
  );
}

const METHOD_NAMES: Record<string, string> = { pca: "PCA", umap: "UMAP", tsne: "t-SNE" };

/** A number for a legend tick: 3 significant digits, no float noise (0.0317, 1.20e+4). */
function tick(v: number): string {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(3)));
}

type Legend = { kind: "categories"; items: [string, string][]; more: number } | { kind: "ramp"; ticks: string[]; low: boolean; high: boolean };

function colorsFor(values: (string | number | boolean | null)[]): { z: number[]; colors: string[]; legend: Legend } {
  const numericValues = values.every((v) => v === null || typeof v === "number") && new Set(values).size > 12;
  if (numericValues) {
    const nums = values.map((v) => (typeof v === "number" ? v : NaN)).filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    const lo = nums[Math.floor(nums.length * 0.02)] ?? 0;
    const hi = nums[Math.floor(nums.length * 0.98)] ?? 1;
    const z = values.map((v) => (typeof v === "number" ? Math.max(0, Math.min(RAMP.length - 1, Math.round(((v - lo) / (hi - lo || 1)) * (RAMP.length - 1)))) : 0));
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => tick(lo + f * (hi - lo)));
    return { z, colors: RAMP, legend: { kind: "ramp", ticks, low: nums[0] < lo, high: nums[nums.length - 1] > hi } };
  }
  const categories = Array.from(new Set(values.map(String))).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const z = values.map((v) => categories.indexOf(String(v)));
  return { z, colors: categories.map((_, i) => PALETTE[i % PALETTE.length]), legend: { kind: "categories", items: categories.slice(0, 14).map((c, i) => [c, PALETTE[i % PALETTE.length]]), more: Math.max(0, categories.length - 14) } };
}

function Scatter({ x, y, values, sizes, highlighted, selectMode, onSelect, onHover }: { x: number[]; y: number[]; values: (string | number | boolean | null)[]; sizes: (number | null)[] | null; highlighted: Set<number> | null; selectMode: "freeform" | "rectangle"; onSelect: (rows: number[]) => void; onHover: (row: number | null) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const plot = useRef<ReturnType<typeof createScatterplot> | null>(null);
  const { z, colors, legend } = useMemo(() => colorsFor(values), [values]);
  const norm = useMemo(() => {
    const fx = x.filter((v) => v !== null && Number.isFinite(v));
    const fy = y.filter((v) => v !== null && Number.isFinite(v));
    const [x0, x1, y0, y1] = [Math.min(...fx), Math.max(...fx), Math.min(...fy), Math.max(...fy)];
    const sx = (v: number) => ((v - x0) / (x1 - x0 || 1)) * 1.8 - 0.9;
    const sy = (v: number) => ((v - y0) / (y1 - y0 || 1)) * 1.8 - 0.9;
    return x.map((v, i) => [v === null ? 0 : sx(v), y[i] === null ? 0 : sy(y[i])]);
  }, [x, y]);
  useEffect(() => {
    if (!canvas.current) return;
    const rect = canvas.current.getBoundingClientRect();
    const sp = createScatterplot({ canvas: canvas.current, width: rect.width, height: rect.height, pointSize: 5, pointSizeSelected: 9, lassoColor: "#ebcb8b" });
    plot.current = sp;
    // lets tests (and the console) locate a point on screen: leapscopeMap.getScreenPosition(i)
    (window as unknown as { leapscopeMap: unknown }).leapscopeMap = sp;
    sp.subscribe("select", ({ points }: { points: number[] }) => onSelect(points));
    sp.subscribe("pointOver", (i: number) => onHover(i));
    sp.subscribe("pointOut", () => onHover(null));
    return () => {
      sp.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    // box (rectangle) or lasso (freeform) selection, both with shift+drag
    (plot.current as unknown as { set: (o: object) => void } | null)?.set({ lassoType: selectMode });
  }, [selectMode]);
  // valueB carries either the highlight (opacity) or the size field (ranked to [0, 1])
  const sizeRank = useMemo(() => {
    if (!sizes) return null;
    const order = sizes.map((v, i) => [v ?? -Infinity, i] as [number, number]).sort((a, b) => a[0] - b[0]);
    const rank = new Array<number>(sizes.length);
    order.forEach(([, i], r) => (rank[i] = r / Math.max(1, order.length - 1)));
    return rank;
  }, [sizes]);
  useEffect(() => {
    const sp = plot.current;
    if (!sp) return;
    const sizing = !highlighted && sizeRank !== null;
    sp.set({
      colorBy: "valueA",
      pointColor: colors,
      opacityBy: highlighted ? "valueB" : null,
      opacity: highlighted ? [0.08, 1] : 0.85,
      sizeBy: sizing ? "valueB" : null,
      pointSize: sizing ? Array.from({ length: 8 }, (_, i) => 3 + i * 1.5) : 5,
    });
    sp.draw(norm.map(([px, py], i) => [px, py, z[i], highlighted ? (highlighted.has(i) ? 1 : 0) : sizing ? sizeRank![i] : 0]));
  }, [norm, z, colors, highlighted, sizeRank]);
  return (
    <div className="scatter-wrap">
      <canvas ref={canvas} className="scatter" data-testid="map" />
      {legend.kind === "categories" ? (
        <div className="legend" data-testid="legend">
          {legend.items.map(([label, color]) => (
            <span key={label}>
              <i style={{ background: color }} />
              {label}
            </span>
          ))}
          {legend.more > 0 && <span className="hint">+{legend.more} more</span>}
        </div>
      ) : (
        <div className="legend ramp" data-testid="legend">
          <div className="ramp-bar" style={{ background: `linear-gradient(90deg, ${RAMP.join(", ")})` }} />
          <div className="ramp-ticks">
            {legend.ticks.map((t, i) => (
              <span key={i}>{i === 0 && legend.low ? "≤ " : i === legend.ticks.length - 1 && legend.high ? "≥ " : ""}{t}</span>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}
