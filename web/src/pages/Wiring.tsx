import { formatShape, path, type RunDetail, type TensorSpec } from "../api";
import { Empty, Status, useApi } from "../ui";

// The integration's wiring graph as columns: sources -> model -> predictions -> consumers.
export function WiringPage({ runId }: { runId: string }) {
  const run = useApi<RunDetail>(path`/runs/${runId}`);
  return <Status value={run} what="run">{(detail) => <Wiring detail={detail} />}</Status>;
}

function Wiring({ detail }: { detail: RunDetail }) {
  const edges = (detail.manifest?.wiring ?? []).filter((e) => e && typeof e.source === "string");
  const model = detail.manifest?.model ?? null;
  if (!edges.length) return <><Empty>This run stored no wiring.</Empty><ModelCard model={model} /></>;
  const inputs = Array.from(new Set(edges.filter((e) => e.source.startsWith("input:")).map((e) => e.source)));
  const gts = Array.from(new Set(edges.filter((e) => e.source.startsWith("gt:")).map((e) => e.source)));
  const preds = Array.from(new Set(edges.filter((e) => e.source.startsWith("prediction:")).map((e) => e.source)));
  const consumers = Array.from(new Set(edges.filter((e) => e.kind !== "model").map((e) => `${e.kind}:${e.target}`)));
  const columns: [string, string[]][] = [["inputs & ground truths", [...inputs, ...gts]], ["model", ["model"]], ["predictions", preds], ["metrics, losses, visualizers", consumers]];
  const W = 1200, colW = W / columns.length, rowH = 56;
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach(([, nodes], c) => nodes.forEach((n, r) => pos.set(n, { x: c * colW + 20, y: 40 + r * rowH })));
  const height = Math.max(1, ...columns.map(([, n]) => n.length)) * rowH + 60;
  const links: { from: string; to: string; label: string }[] = [];
  for (const e of edges) {
    if (e.kind === "model") links.push({ from: e.source, to: "model", label: e.argument });
    else links.push({ from: e.source, to: `${e.kind}:${e.target}`, label: e.argument });
  }
  preds.forEach((p) => links.push({ from: "model", to: p, label: "" }));
  const boxW = colW - 90;
  const incoming = new Map<string, number[]>();
  links.forEach((l, i) => l.label && incoming.set(l.to, [...(incoming.get(l.to) ?? []), i]));
  return (
    <section>
      <h1>Wiring</h1>
      <p className="hint">Derived from the integration test by tracing: every arrow is an argument leapscope passes during evaluate.</p>
      <svg className="wiring" viewBox={`0 0 ${W} ${height}`} width="100%" role="img" aria-label="wiring graph">
        {columns.map(([title], c) => (
          <text key={title} x={c * colW + 20} y={20} className="coltitle">{title}</text>
        ))}
        {links.map((l, i) => {
          const a = pos.get(l.from), b = pos.get(l.to);
          if (!a || !b) return null;
          // each edge enters its target at its own height, its label (the argument) just before it:
          // labels of one target stack instead of overlapping in the middle of the graph
          const into = incoming.get(l.to) ?? [];
          const k = into.indexOf(i);
          const step = into.length > 1 ? Math.min(12, 28 / (into.length - 1)) : 0;
          const ey = b.y + 18 + (k - (into.length - 1) / 2) * step;
          return (
            <g key={i} data-edge={`${l.from}->${l.to}`}>
              <path d={`M${a.x + boxW},${a.y + 18} C${a.x + boxW + 60},${a.y + 18} ${b.x - 90},${ey} ${b.x},${ey}`} className="edge" />
              {l.label && <text x={b.x - 6} y={ey - 2} textAnchor="end" className="edgelabel">{l.label}</text>}
            </g>
          );
        })}
        {Array.from(pos.entries()).map(([name, p]) => (
          <g key={name} className={`node ${name.split(":")[0]}`} data-node={name}>
            <rect x={p.x} y={p.y} width={boxW} height={36} rx={6} />
            <text x={p.x + 10} y={p.y + 23}>{name}</text>
          </g>
        ))}
      </svg>
      <ModelCard model={model} />
    </section>
  );
}

function spec(t: TensorSpec | null | undefined, fallback: string): string {
  return `${t?.name ?? fallback} ${formatShape(t?.shape)}`;
}

// Model signature: a dynamic dim is `?` (not always the batch), an undeclared shape `[?] (dynamic)`.
function ModelCard({ model }: { model: NonNullable<RunDetail["manifest"]>["model"] | null }) {
  const inputs = model?.inputs ?? [];
  const outputs = model?.outputs ?? [];
  return (
    <div className="card" data-testid="model-signature">
      <h2>Model</h2>
      <p>
        {model?.framework ?? "unknown framework"}: {inputs.length ? inputs.map((i, n) => spec(i, `input ${n}`)).join(", ") : "inputs unknown"} →{" "}
        {outputs.length ? outputs.map((o, n) => spec(o, `output ${n}`)).join(", ") : "outputs unknown"}
      </p>
    </div>
  );
}
