import { useEffect, useRef, useState } from "react";
import { get, path, post, send, url, type CreateTest, type Data, type Dismissal, type DismissRequest, type Insight, type Job, type RunDetail, type SampleBody } from "../api";
import { Empty, ErrorBox, Img, Loading, Status, Thumb, fmt, useApi } from "../ui";
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
          {pairsOf(insight).length > 0 && <PairList runId={runId} pairs={pairsOf(insight)} total={Number(insight.statistics?.n_pairs ?? pairsOf(insight).length)} visual={firstImageVisual(visuals.data?.visualizers ?? null)} project={project} />}
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

// --- pair insights (duplicates, data leakage): both samples side by side ----------------------

type PairSample = { subset: string; sample_id: string; row?: number };
/** One pair of `statistics.pairs` (analysis/insights/duplicates.py): both samples, the distance, the space, the threshold. */
type Pair = { a: PairSample; b: PairSample; distance: number | null; space: string; threshold: number | null };

function pairSample(v: unknown): PairSample | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  if (o.subset === undefined || o.sample_id === undefined) return null;
  return { subset: String(o.subset), sample_id: String(o.sample_id), row: typeof o.row === "number" ? o.row : undefined };
}

/** The pairs an insight carries (`statistics.pairs`), the malformed ones left out. */
export function pairsOf(insight: Insight): Pair[] {
  const raw = insight.statistics?.pairs;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((p: unknown) => {
    if (!p || typeof p !== "object") return [];
    const o = p as Record<string, unknown>;
    const a = pairSample(o.a), b = pairSample(o.b);
    if (!a || !b) return [];
    const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : null);
    return [{ a, b, distance: num(o.distance), space: String(o.space ?? "unknown space"), threshold: num(o.threshold) }];
  });
}

const PAIRS_SHOWN = 6;

function PairList({ runId, pairs, total, visual, project }: { runId: string; pairs: Pair[]; total: number; visual: string | null; project: string | null }) {
  const [shown, setShown] = useState(PAIRS_SHOWN);
  return (
    <div className="pairs" data-testid="pairs">
      <h3>
        Pairs ({total > pairs.length ? `first ${pairs.length} of ${total}` : pairs.length}) <small>check them side by side</small>
      </h3>
      {pairs.slice(0, shown).map((p) => (
        <PairView key={`${p.a.subset}/${p.a.sample_id}~${p.b.subset}/${p.b.sample_id}`} runId={runId} pair={p} visual={visual} project={project} />
      ))}
      {pairs.length > shown && <button onClick={() => setShown((n) => n + PAIRS_SHOWN)}>Show {Math.min(PAIRS_SHOWN, pairs.length - shown)} more pairs</button>}
    </div>
  );
}

function PairView({ runId, pair, visual, project }: { runId: string; pair: Pair; visual: string | null; project: string | null }) {
  const a = useApi<Partial<SampleBody>>(path`/runs/${runId}/samples/${pair.a.subset}/${pair.a.sample_id}`);
  const b = useApi<Partial<SampleBody>>(path`/runs/${runId}/samples/${pair.b.subset}/${pair.b.sample_id}`);
  const exact = pair.space === "input_hash";
  const rowA = a.data?.row ?? {};
  const rowB = b.data?.row ?? {};
  const columns = Array.from(new Set([...Object.keys(rowA), ...Object.keys(rowB)])).filter((k) => !["row", "subset", "sample_id", "input_hash", "error"].includes(k) && !Array.isArray(rowA[k]));
  return (
    <div className="pair card" data-pair={`${pair.a.sample_id}~${pair.b.sample_id}`}>
      <div className="pair-grid">
        <PairSide runId={runId} sample={pair.a} visual={visual} />
        <div className="pair-middle">
          <div className="pair-distance" data-testid="pair-distance">
            {exact ? "identical input (same hash)" : <>distance <strong>{fmt(pair.distance)}</strong> &lt; threshold <strong>{fmt(pair.threshold)}</strong></>}
          </div>
          <div className="hint">space: <code>{pair.space}</code></div>
          <Dismiss project={project} pair={pair} />
        </div>
        <PairSide runId={runId} sample={pair.b} visual={visual} />
      </div>
      {a.loading || b.loading ? (
        <Loading what="the two samples" />
      ) : a.error || b.error ? (
        <ErrorBox error={a.error ?? b.error ?? ""} />
      ) : (
        <table className="stats pair-table">
          <thead><tr><th>column</th><th>{pair.a.sample_id}</th><th>{pair.b.sample_id}</th></tr></thead>
          <tbody>
            {columns.map((k) => (
              <tr key={k} className={fmt(rowA[k]) !== fmt(rowB[k]) ? "differs" : ""}><th>{k}</th><td>{fmt(rowA[k])}</td><td>{fmt(rowB[k])}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function PairSide({ runId, sample, visual }: { runId: string; sample: PairSample; visual: string | null }) {
  return (
    <a className="pair-side" href={path`#/runs/${runId}/samples/${sample.subset}/${sample.sample_id}`} data-sample={sample.sample_id}>
      {visual ? <Img src={url(path`/runs/${runId}/samples/${sample.subset}/${sample.sample_id}/visuals/${visual}`)} width={128} height={128} alt={sample.sample_id} /> : null}
      <span>
        <strong>{sample.sample_id}</strong> <small>{sample.subset}</small>
      </span>
    </a>
  );
}

/**
 * "Not a duplicate": stores a dismissal of the pair for the project (POST /projects/{p}/dismissals);
 * the duplicates and leakage detectors of every later analysis of the project skip it. Undo forgets it.
 */
function Dismiss({ project, pair }: { project: string | null; pair: Pair }) {
  const [state, setState] = useState<"idle" | "sending" | "dismissed">("idle");
  const [error, setError] = useState<string | null>(null);
  if (!project) return null;
  const body: DismissRequest = { a: { subset: pair.a.subset, sample_id: pair.a.sample_id }, b: { subset: pair.b.subset, sample_id: pair.b.sample_id } };
  const act = async (undo: boolean) => {
    setError(null);
    setState("sending");
    try {
      if (undo) await send<Data<unknown>>("DELETE", path`/projects/${project}/dismissals`, body);
      else await post<Data<Dismissal>>(path`/projects/${project}/dismissals`, { ...body, reason: "marked in the UI: not a duplicate" });
      setState(undo ? "idle" : "dismissed");
    } catch (e) {
      setState(undo ? "dismissed" : "idle");
      setError((e as Error).message);
    }
  };
  return (
    <div className="dismiss" data-testid="dismiss" data-state={state}>
      {state === "dismissed" ? (
        <>
          <span className="ok">dismissed: later analyses of {project} skip this pair</span> <button onClick={() => act(true)}>Undo</button>
        </>
      ) : (
        <button onClick={() => act(false)} disabled={state === "sending"} title="the duplicates and leakage detectors will not report this pair again">
          Not a duplicate
        </button>
      )}
      {error && <ErrorBox error={error} />}
    </div>
  );
}
