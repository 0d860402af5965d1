import { useEffect, useState } from "react";
import { RunsPage } from "./pages/Runs";
import { MapPage } from "./pages/Map";
import { InsightsPage } from "./pages/Insights";
import { SamplePage } from "./pages/Sample";
import { DashboardsPage } from "./pages/Dashboards";
import { WiringPage } from "./pages/Wiring";

// Hash routes: #/runs, #/runs/:id/(map|insights|dashboards|wiring), #/runs/:id/samples/:subset/:sample
function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return parts;
}

export function hashQuery(): URLSearchParams {
  return new URLSearchParams(window.location.hash.split("?")[1] ?? "");
}

export function App() {
  const parts = useRoute();
  const runId = parts[0] === "runs" && parts[1] ? parts[1] : null;
  const page = runId ? parts[2] ?? "map" : "runs";
  const tabs: [string, string][] = [["map", "Population"], ["insights", "Insights"], ["dashboards", "Dashboards"], ["wiring", "Wiring"]];
  let body;
  if (!runId) body = <RunsPage />;
  else if (page === "samples") body = <SamplePage runId={runId} subset={parts[3]} sampleId={parts[4]} />;
  else if (page === "insights") body = <InsightsPage runId={runId} />;
  else if (page === "dashboards") body = <DashboardsPage runId={runId} />;
  else if (page === "wiring") body = <WiringPage runId={runId} />;
  else body = <MapPage runId={runId} />;
  return (
    <div className="app">
      <header>
        <a className="brand" href="#/runs">leapscope</a>
        <nav>
          <a href="#/runs" className={!runId ? "active" : ""}>Runs</a>
          {runId &&
            tabs.map(([key, label]) => (
              <a key={key} href={`#/runs/${runId}/${key}`} className={page === key ? "active" : ""} data-tab={key}>
                {label}
              </a>
            ))}
        </nav>
        {runId && <span className="runid">run {runId}</span>}
      </header>
      <main>{body}</main>
    </div>
  );
}
