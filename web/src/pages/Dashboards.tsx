import { useState } from "react";
import { path, type AggregateRow, type Confusion, type RunDetail, type SavedTest } from "../api";
import { isScoreColumn } from "../generated/runFormat";
import { Chart, Empty, Status, fmt, useApi } from "../ui";
import { hasClassOutput, predictionKinds } from "../kinds";

/** Group values in their natural order: 2 < 10 < 44 < 128 (numbers as numbers, then text). */
function natural(values: unknown[]): string[] {
  return Array.from(new Set(values.map(String))).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

export function DashboardsPage({ runId }: { runId: string }) {
  const run = useApi<RunDetail>(path`/runs/${runId}`);
  return <Status value={run} what="run">{(detail) => <Dashboards detail={detail} />}</Status>;
}

function Dashboards({ detail }: { detail: RunDetail }) {
  const runId = detail.id ?? "";
  const project = detail.project ?? null;
  const numeric = (detail.columns ?? []).filter((c) => isScoreColumn(c.name)).map((c) => c.name);
  const [column, setColumn] = useState(numeric[0] ?? "");
  const [by, setBy] = useState(detail.metadata_columns?.[0] ?? "subset");
  const [kind, setKind] = useState("bar");
  const [cmSubset, setCmSubset] = useState(() => {
    const names = Object.keys(detail.summary ?? {});
    return names.includes("validation") ? "validation" : names[0] ?? "validation";
  });
  const agg = useApi<AggregateRow[]>(column ? path`/runs/${runId}/aggregate` : null, { column, by: `subset,${by}` });
  // a confusion matrix only for class outputs (dense maps, regression values, boxes have none)
  const classes = hasClassOutput(detail);
  const confusion = useApi<Confusion>(classes ? path`/runs/${runId}/confusion` : null, { subset: cmSubset });
  const across = useApi<AggregateRow[]>(column && project ? path`/projects/${project}/compare` : null, { column, by: "subset" });
  const tests = useApi<SavedTest[]>(project ? path`/projects/${project}/tests` : null);
  const subsets = Object.keys(detail.summary ?? {});
  const summaryKeys = Array.from(new Set(Object.values(detail.summary ?? {}).flatMap((row) => Object.keys(row ?? {}))));
  if (!numeric.length) return <Empty>This run has no metric or loss columns to chart.</Empty>;
  return (
    <section>
      <h1>Dashboards</h1>
      <div className="card">
        <h2>Per-subset summary</h2>
        <table>
          <thead>
            <tr><th>subset</th>{summaryKeys.map((k) => <th key={k}>{k}</th>)}</tr>
          </thead>
          <tbody>
            {Object.entries(detail.summary ?? {}).map(([s, row]) => (
              <tr key={s}><td>{s}</td>{summaryKeys.map((k) => <td key={k}>{fmt(row?.[k])}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="card">
        <h2>{column} by {by}</h2>
        <div className="toolbar">
          <select aria-label="metric" value={column} onChange={(e) => setColumn(e.target.value)}>{numeric.map((c) => <option key={c}>{c}</option>)}</select>
          <select aria-label="group by" value={by} onChange={(e) => setBy(e.target.value)}>{["subset", ...(detail.metadata_columns ?? [])].map((c) => <option key={c}>{c}</option>)}</select>
          <select aria-label="chart" value={kind} onChange={(e) => setKind(e.target.value)}><option>bar</option><option>line</option><option>heatmap</option></select>
        </div>
        <Status value={agg} what="aggregate">
          {(data) => {
            const rows = Array.isArray(data) ? data : [];
            if (kind === "heatmap") {
              const xs = natural(rows.map((r) => r[by]));
              return <Chart id="by-metadata" layout={{ xaxis: { type: "category", title: { text: by }, automargin: true }, yaxis: { automargin: true } }} data={[{ type: "heatmap", x: xs, y: subsets, z: subsets.map((s) => xs.map((x) => rows.find((r) => r.subset === s && String(r[by]) === x)?.value ?? null)), colorscale: "Viridis", colorbar: { title: { text: column } } }]} />;
            }
            return (
              <Chart
                id="by-metadata"
                data={subsets.map((s) => {
                  const order = natural(rows.map((r) => r[by]));
                  const mine = rows.filter((r) => r.subset === s).sort((a, b) => order.indexOf(String(a[by])) - order.indexOf(String(b[by])));
                  return { type: kind === "line" ? "scatter" : "bar", name: s, x: mine.map((r) => String(r[by])), y: mine.map((r) => r.value), customdata: mine.map((r) => r.n ?? null), hovertemplate: `${by} %{x}<br>${column} %{y:.4g}<br>%{customdata} samples<extra>${s}</extra>` };
                })}
                layout={{ barmode: "group", xaxis: { title: { text: by }, type: "category", categoryorder: "array", categoryarray: natural(rows.map((r) => r[by])), automargin: true, tickangle: natural(rows.map((r) => r[by])).length > 12 ? -45 : 0 }, yaxis: { title: { text: column }, automargin: true } }}
              />
            );
          }}
        </Status>
      </div>
      {classes ? (
      <div className="card" data-testid="confusion-card">
        <h2>Confusion matrix</h2>
        <select aria-label="confusion subset" value={cmSubset} onChange={(e) => setCmSubset(e.target.value)}>{subsets.map((s) => <option key={s}>{s}</option>)}</select>
        <Status value={confusion} what="confusion matrix">
          {(cm) => !Array.isArray(cm.labels) || !Array.isArray(cm.matrix) || cm.labels.length === 0 ? <Empty>No confusion matrix for this subset.</Empty> : <Chart id="confusion" data={[{ type: "heatmap", x: cm.labels, y: cm.labels, z: cm.matrix, colorscale: "Blues", reversescale: true, showscale: true, colorbar: { title: { text: "samples" } }, ...(cm.labels.length <= 20 ? { texttemplate: "%{z}", textfont: { size: 11 } } : {}), hovertemplate: "ground truth %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>" }]} layout={{ xaxis: { title: { text: "predicted" }, type: "category", automargin: true }, yaxis: { title: { text: "ground truth" }, autorange: "reversed", type: "category", automargin: true }, height: 460 }} />}
        </Status>
      </div>
      ) : (
        <p className="hint" data-testid="no-confusion">No confusion matrix: this run's predictions are {predictionKinds(detail).join(", ") || "not class scores"} (a confusion matrix needs class outputs).</p>
      )}
      <div className="card" id="tests">
        <h2>Regression tests of {project ?? "this project"}</h2>
        <Status value={tests} what="tests">
          {(list) =>
            !Array.isArray(list) || list.length === 0 ? (
              <Empty>No saved test. Save one from an insight's suggested test, or <code>leapscope test RUN --metric … --save NAME</code>.</Empty>
            ) : (
              <table>
                <thead><tr><th>test</th><th>condition</th><th>this run</th><th>runs passed</th></tr></thead>
                <tbody>
                  {list.map((t) => {
                    const results = t.results ?? [];
                    const mine = results.find((r) => r.run_id === runId);
                    return (
                      <tr key={t.id}>
                        <td>{t.name}</td>
                        <td>mean <code>{t.metric}</code> {typeof t.min === "number" ? `≥ ${t.min}` : ""} {typeof t.max === "number" ? `≤ ${t.max}` : ""} {t.filter ? <>where <code>{t.filter}</code></> : null}</td>
                        <td>{mine ? <span className={`badge ${mine.passed ? "complete" : "failed"}`}>{mine.passed ? "pass" : "fail"} {fmt(mine.value)}</span> : "not run"}</td>
                        <td>{results.filter((r) => r.passed).length} / {results.length}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )
          }
        </Status>
      </div>
      <div className="card">
        <h2>{column} across runs of {project ?? "this project"}</h2>
        <Status value={across} what="runs">
          {(data) => {
            const rows = Array.isArray(data) ? data : [];
            return (
            <Chart
              id="across-runs"
              data={subsets.map((s) => {
                const mine = rows.filter((r) => r.subset === s);
                return { type: "scatter", mode: "lines+markers", name: s, x: mine.map((r) => `${r.version ?? ""} ${String(r.run ?? "").slice(9, 15)}`), y: mine.map((r) => r.value) };
              })}
            />
            );
          }}
        </Status>
      </div>
    </section>
  );
}
