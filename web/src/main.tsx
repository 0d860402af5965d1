import { createRoot } from "react-dom/client";
import { App } from "./App";
import { PageBoundary } from "./ui";
import "./styles.css";

// The outer boundary is a last resort (the router itself failing); each page has its own inside App.
createRoot(document.getElementById("root")!).render(
  <PageBoundary page="leapscope">
    <App />
  </PageBoundary>,
);
