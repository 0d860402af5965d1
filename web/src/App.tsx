import { path } from "./api";
import { useRoute } from "./router";
import { PageBoundary } from "./ui";
import { RunsPage } from "./pages/Runs";
import { MapPage } from "./pages/Map";
import { InsightsPage } from "./pages/Insights";
import { SamplePage } from "./pages/Sample";
import { DashboardsPage } from "./pages/Dashboards";
import { WiringPage } from "./pages/Wiring";

const TABS: [string, string][] = [["map", "Population"], ["insights", "Insights"], ["dashboards", "Dashboards"], ["wiring", "Wiring"]];

export function App() {
  const { parts, hash } = useRoute();
  const runId = parts[0] === "runs" && parts[1] ? parts[1] : null;
  const page = runId ? parts[2] ?? "map" : "runs";
  let body;
  let title: string;
  if (!runId) [body, title] = [<RunsPage />, "Runs"];
  else if (page === "samples") [body, title] = [<SamplePage runId={runId} subset={parts[3] ?? ""} sampleId={parts[4] ?? ""} />, "Sample"];
  else if (page === "insights") [body, title] = [<InsightsPage runId={runId} />, "Insights"];
  else if (page === "dashboards") [body, title] = [<DashboardsPage runId={runId} />, "Dashboards"];
  else if (page === "wiring") [body, title] = [<WiringPage runId={runId} />, "Wiring"];
  else [body, title] = [<MapPage runId={runId} />, "Population"];
  return (
    <div className="app">
      <header>
        <a className="brand" href="#/runs">leapscope</a>
        <nav>
          <a href="#/runs" className={!runId ? "active" : ""}>Runs</a>
          {runId &&
            TABS.map(([key, label]) => (
              <a key={key} href={path`#/runs/${runId}/${key}`} className={page === key ? "active" : ""} data-tab={key}>
                {label}
              </a>
            ))}
        </nav>
        {runId && <span className="runid">run {runId}</span>}
      </header>
      <main>
        {/* keyed by the route: moving to another page (or sample) clears a caught error */}
        <PageBoundary key={hash.split("?")[0]} page={title}>
          {body}
        </PageBoundary>
      </main>
    </div>
  );
}
