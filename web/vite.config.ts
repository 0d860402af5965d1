import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands in the Python package, which serves it at /.
// Plotly (~4.6 MB) is imported dynamically by the Chart component (src/ui.tsx): it becomes its own
// chunk, fetched by the pages that draw a chart, never with the first page (tests/e2e/test_web_source.py).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/leapscope/server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 5000,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8040" } },
});
