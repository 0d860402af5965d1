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

function Compare({ runs }: { runs: Run[] }) {
  const subsets = Array.from(new Set(runs.flatMap((r) => Object.keys(r.summary ?? {}))));
  const columns = Array.from(new Set(runs.flatMap((r) => Object.values(r.summary ?? {}).flatMap((row) => Object.keys(row ?? {})))));
  return (
    <div className="card" id="compare">
      <h2>Compare {runs[0].id} vs {runs[1].id}</h2>
      <table>
        <thead>
          <tr><th>subset</th><th>column</th><th>{runs[0].version}</th><th>{runs[1].version}</th><th>Δ</th></tr>
        </thead>
        <tbody>
          {subsets.flatMap((s) =>
            columns.map((c) => {
              const a = runs[0].summary?.[s]?.[c];
              const b = runs[1].summary?.[s]?.[c];
              return (
                <tr key={s + c}>
                  <td>{s}</td><td>{c}</td><td>{fmt(a)}</td><td>{fmt(b)}</td>
                  <td>{typeof a === "number" && typeof b === "number" ? fmt(b - a) : "—"}</td>
                </tr>
              );
            }),
          )}
        </tbody>
      </table>
    </div>
  );
}
