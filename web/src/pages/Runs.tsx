import { useState } from "react";
import { path, type Project, type Run } from "../api";
import { isScoreColumn, scoreLabel } from "../generated/runFormat";
import { Empty, Status, fmt, useApi } from "../ui";

function headline(run: Run): string {
  const held = run.summary?.validation ?? run.summary?.test ?? Object.values(run.summary ?? {})[0] ?? null;
  if (!held) return "—";
  return Object.entries(held)
    .filter(([k]) => isScoreColumn(k))
    .slice(0, 2)
    .map(([k, v]) => `${scoreLabel(k)} ${fmt(v)}`)
    .join(" · ");
}

export function RunsPage() {
  const projects = useApi<Project[]>("/projects");
  const [picked, setPicked] = useState<Run[]>([]);
  const toggle = (run: Run) => setPicked((p) => (p.some((r) => r.id === run.id) ? p.filter((r) => r.id !== run.id) : [...p, run].slice(-2)));
  return (
    <section>
      <h1>Runs</h1>
      <Status value={projects} what="projects">
        {(data) =>
          !Array.isArray(data) || data.length === 0 ? (
            <Empty>
              No runs in this workspace yet. Evaluate a model: <code>leapscope evaluate examples/digits</code>
            </Empty>
          ) : (
            <>
              {data.map((project) => (
                <div className="card" key={project.name}>
                  <h2>{project.name}</h2>
                  {(project.versions ?? []).map((version) => (
                    <div key={version.name} className="version">
                      <h3>
                        {version.name} <small>model {version.model_hash} · code {version.code_hash}</small>
                      </h3>
                      <table className="runs">
                        <thead>
                          <tr><th>compare</th><th>run</th><th>status</th><th>samples</th><th>failed</th><th>headline (validation)</th><th>created</th></tr>
                        </thead>
                        <tbody>
                          {(version.runs ?? []).map((run) => (
                            <tr key={run.id} data-run={run.id}>
                              <td><input type="checkbox" aria-label={`compare ${run.id}`} checked={picked.some((r) => r.id === run.id)} onChange={() => toggle(run)} /></td>
                              <td>{run.status === "complete" ? <a href={path`#/runs/${run.id}/map`}>{run.id}</a> : run.id}</td>
                              <td><span className={`badge ${run.status}`}>{run.status}</span></td>
                              <td>{run.counts?.samples ?? "—"}</td>
                              <td>{run.counts?.failed ?? "—"}</td>
                              <td>{headline(run)}</td>
                              <td>{typeof run.created_at === "number" ? new Date(run.created_at * 1000).toLocaleString() : "—"}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </div>
                  ))}
                </div>
              ))}
              {picked.length === 2 ? <Compare runs={picked} /> : <p className="hint">Tick two runs to compare them.</p>}
            </>
          )
        }
      </Status>
    </section>
  );
}

/** A column header for a run: project (when the two differ), version and the run's time stamp, never "v1 / v1". */
function runLabel(run: Run, withProject: boolean): string {
  const stamp = /^\d{8}-(\d{6})/.exec(run.id)?.[1];
  const when = stamp ? `${stamp.slice(0, 2)}:${stamp.slice(2, 4)}:${stamp.slice(4, 6)}` : run.id;
  return `${withProject ? `${run.project} ` : ""}${run.version} · ${when}`;
}

function Compare({ runs }: { runs: Run[] }) {
  const [a, b] = runs;
  const otherProject = a.project !== b.project;
  const subsets = Array.from(new Set(runs.flatMap((r) => Object.keys(r.summary ?? {}))));
  const columnsOf = (r: Run) => new Set(Object.values(r.summary ?? {}).flatMap((row) => Object.keys(row ?? {})));
  const [ca, cb] = [columnsOf(a), columnsOf(b)];
  const shared = Array.from(ca).filter((c) => cb.has(c));
  const onlyOne = [...Array.from(ca).filter((c) => !cb.has(c)), ...Array.from(cb).filter((c) => !ca.has(c))];
  const scores = shared.filter((c) => c !== "samples" && c !== "failed");
  const labelA = runLabel(a, otherProject), labelB = runLabel(b, otherProject);
  return (
    <div className="card" id="compare">
      <h2>Compare {a.id} vs {b.id}</h2>
      {otherProject && (
        <p className="warning" role="alert" data-testid="compare-warning">
          These runs belong to different projects (<strong>{a.project}</strong> and <strong>{b.project}</strong>): their data and models differ, so the numbers below are not comparable.
          {scores.length === 0 ? " They share no metric or loss." : ""}
        </p>
      )}
      {onlyOne.length > 0 && <p className="hint" data-testid="compare-only-one">Only in one run (not compared): {onlyOne.join(", ")}</p>}
      <table>
        <thead>
          <tr><th>subset</th><th>column</th><th title={a.id}>{labelA}</th><th title={b.id}>{labelB}</th><th>Δ</th></tr>
        </thead>
        <tbody>
          {subsets.flatMap((s) =>
            shared.map((c) => {
              const va = a.summary?.[s]?.[c];
              const vb = b.summary?.[s]?.[c];
              return (
                <tr key={s + c}>
                  <td>{s}</td><td>{c}</td><td>{fmt(va)}</td><td>{fmt(vb)}</td>
                  <td>{typeof va === "number" && typeof vb === "number" ? fmt(vb - va) : "—"}</td>
                </tr>
              );
            }),
          )}
        </tbody>
      </table>
    </div>
  );
}
