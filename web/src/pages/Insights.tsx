import { useState } from "react";
import { post, type Insight, type RunDetail } from "../api";
import { Empty, ErrorBox, Status, Thumb, fmt, useApi } from "../ui";
import { firstImageVisual, useVisuals } from "./Map";

export function InsightsPage({ runId }: { runId: string }) {
  const insights = useApi<Insight[]>(`/runs/${runId}/insights`);
  const run = useApi<RunDetail>(`/runs/${runId}`);
  const [job, setJob] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const analyze = async () => {
    setError(null);
    try {
      const started = await post<{ data: { id: string } }>(`/runs/${runId}/insights`);
      setJob("running");
      const poll = async () => {
        const r = await fetch(`/api/v1/jobs/${started.data.id}${window.location.search}`).then((x) => x.json());
        if (r.data.status === "running") {
          setJob(`analyzing… ${r.data.seconds}s`);
          setTimeout(poll, 1000);
        } else {
          setJob(null);
          if (r.data.status === "failed") setError(r.data.error);
          insights.reload();
        }
      };
      poll();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section>
      <h1>Insights</h1>
      <div className="toolbar">
        <button onClick={analyze} disabled={job !== null}>{job ?? "Analyze run"}</button>
        <span className="hint">ranked by severity; each opens onto its samples</span>
      </div>
      {error && <ErrorBox error={error} />}
      <Status value={insights} what="insights">
        {(list) =>
          list.length === 0 ? (
            <Empty>No insights stored. Press “Analyze run” (or run <code>leapscope analyze {runId}</code>).</Empty>
          ) : (
            <div className="insights">
              {list.map((insight) => (
                <InsightCard key={insight.index} runId={runId} insight={insight} project={run.data?.project ?? ""} />
              ))}
            </div>
          )
        }
      </Status>
    </section>
  );
}

function InsightCard({ runId, insight, project }: { runId: string; insight: Insight; project: string }) {
  const [open, setOpen] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const visuals = useVisuals(runId, open && insight.samples.length ? insight.samples[0] : null);
  const stats = Object.entries(insight.statistics).filter(([, v]) => typeof v !== "object");
  const save = async () => {
    if (!insight.suggested_test) return;
    const t = insight.suggested_test;
    await post(`/projects/${project}/tests`, { name: `${insight.type}-${insight.index}`, metric: t.metric, filter: t.filter, min: t.min ?? null, max: t.max ?? null });
    setSaved(`saved as ${insight.type}-${insight.index}: runs on every new run of ${project}`);
  };
  return (
    <article className={`card insight ${insight.type}`} data-insight={insight.index}>
      <header onClick={() => setOpen(!open)} role="button" aria-expanded={open}>
        <span className="severity" style={{ width: `${Math.round(insight.severity * 100)}%` }} />
        <span className="type">{insight.type.replace(/_/g, " ")}</span>
        <strong>{insight.title}</strong>
        <span className="count">{insight.rows.length} samples · severity {insight.severity.toFixed(2)}</span>
      </header>
      {open && (
        <div className="body">
          <p className="explanation">{insight.explanation}</p>
          <table className="stats">
            <tbody>
              {stats.map(([k, v]) => (
                <tr key={k}><th>{k}</th><td>{fmt(v)}</td></tr>
              ))}
            </tbody>
          </table>
          <p>
            <a href={`#/runs/${runId}/map?insight=${insight.index}`}>Show these samples on the map</a>
          </p>
          {insight.suggested_test && (
            <div className="suggested">
              Suggested regression test: mean <code>{insight.suggested_test.metric}</code>{" "}
              {insight.suggested_test.min !== undefined ? `≥ ${insight.suggested_test.min}` : `≤ ${insight.suggested_test.max}`} where <code>{insight.suggested_test.filter}</code>{" "}
              <button onClick={save}>Save test</button> {saved && <span className="ok">{saved}</span>}
            </div>
          )}
          <div className="grid">
            {insight.samples.slice(0, 40).map((sample) => (
              <Thumb key={sample.subset + sample.sample_id} runId={runId} subset={sample.subset} sampleId={sample.sample_id} visual={firstImageVisual(visuals.data?.visualizers ?? null)} size={56} />
            ))}
          </div>
        </div>
      )}
    </article>
  );
}
