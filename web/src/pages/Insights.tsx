import { useEffect, useRef, useState } from "react";
import { get, path, post, type CreateTest, type Data, type Insight, type Job, type RunDetail } from "../api";
import { Empty, ErrorBox, Status, Thumb, fmt, useApi } from "../ui";
import { firstImageVisual, useVisuals } from "./Map";

export function InsightsPage({ runId }: { runId: string }) {
  const insights = useApi<Insight[]>(path`/runs/${runId}/insights`);
  const run = useApi<RunDetail>(path`/runs/${runId}`);
  const [job, setJob] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  const analyze = async () => {
    setError(null);
    try {
      const started = await post<Data<Job>>(path`/runs/${runId}/insights`);
      const id = started?.data?.id;
      if (!id) throw new Error("the server started no analysis job");
      setJob("running");
      const poll = async () => {
        if (!alive.current) return;
        try {
          const r = (await get<Data<Job>>(path`/jobs/${id}`)).body.data;
          if (!alive.current) return;
          if (r?.status === "running") {
            setJob(`analyzing… ${r.seconds ?? 0}s`);
            setTimeout(poll, 1000);
          } else {
            setJob(null);
            if (r?.status === "failed") setError(r.error ?? "the analysis failed");
            insights.reload();
          }
        } catch (e) {
          if (!alive.current) return;
          setJob(null);
          setError((e as Error).message);
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
          !Array.isArray(list) || list.length === 0 ? (
            <Empty>No insights stored. Press “Analyze run” (or run <code>leapscope analyze {runId}</code>).</Empty>
          ) : (
            <div className="insights">
              {list.map((insight, i) => (
                <InsightCard key={insight.index ?? i} runId={runId} insight={insight} project={run.data?.project ?? null} />
              ))}
            </div>
          )
        }
      </Status>
    </section>
  );
}

function InsightCard({ runId, insight, project }: { runId: string; insight: Insight; project: string | null }) {
  const [open, setOpen] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const samples = insight.samples ?? [];
  const type = insight.type ?? "insight";
  const severity = typeof insight.severity === "number" && Number.isFinite(insight.severity) ? insight.severity : 0;
  const visuals = useVisuals(runId, open && samples.length ? samples[0] : null);
  const stats = Object.entries(insight.statistics ?? {}).filter(([, v]) => typeof v !== "object");
  const test = insight.suggested_test ?? null;
  const save = async () => {
    if (!test || !project) return;
    setSaveError(null);
    try {
      const body: CreateTest = { name: `${type}-${insight.index}`, metric: test.metric, filter: test.filter ?? null, min: test.min ?? null, max: test.max ?? null };
      await post<Data<CreateTest>>(path`/projects/${project}/tests`, body);
      setSaved(`saved as ${type}-${insight.index}: runs on every new run of ${project}`);
    } catch (e) {
      setSaveError((e as Error).message);
    }
  };
  return (
    <article className={`card insight ${type}`} data-insight={insight.index}>
      <header onClick={() => setOpen(!open)} role="button" aria-expanded={open}>
        <span className="severity" style={{ width: `${Math.round(severity * 100)}%` }} />
        <span className="type">{type.replace(/_/g, " ")}</span>
        <strong>{insight.title ?? type}</strong>
        <span className="count">{(insight.rows ?? insight.sample_ids ?? samples).length} samples · severity {severity.toFixed(2)}</span>
      </header>
      {open && (
        <div className="body">
          <p className="explanation">{insight.explanation ?? ""}</p>
          <table className="stats">
            <tbody>
              {stats.map(([k, v]) => (
                <tr key={k}><th>{k}</th><td>{fmt(v)}</td></tr>
              ))}
            </tbody>
          </table>
          <p>
            <a href={`${path`#/runs/${runId}/map`}?insight=${encodeURIComponent(insight.index)}`}>Show these samples on the map</a>
          </p>
          {test && (
            <div className="suggested">
              Suggested regression test: mean <code>{test.metric}</code>{" "}
              {typeof test.min === "number" ? `≥ ${test.min}` : typeof test.max === "number" ? `≤ ${test.max}` : ""}
              {test.filter ? <> where <code>{test.filter}</code></> : null}{" "}
              <button onClick={save} disabled={!project}>Save test</button> {saved && <span className="ok">{saved}</span>}
              {saveError && <ErrorBox error={saveError} />}
            </div>
          )}
          <div className="grid">
            {samples.slice(0, 40).map((sample) => (
              <Thumb key={sample.subset + "/" + sample.sample_id} runId={runId} subset={String(sample.subset)} sampleId={String(sample.sample_id)} visual={firstImageVisual(visuals.data?.visualizers ?? null)} size={56} />
            ))}
          </div>
        </div>
      )}
    </article>
  );
}
